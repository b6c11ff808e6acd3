"""The edge never answers with a traceback (issue 18, item 5): non-finite config numbers, Ctrl-C in
training, --resume over a broken checkpoint, run-time failures, keys from indices, and the API's
ValueErrors (σ, n, x0) and census counts for bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import Field

import ghostjax as gj
from ghostjax import checkpoints
from ghostjax.config import (
    ConfigError,
    RunFailed,
    Section,
    apply_overrides,
    build,
    cli_guard,
    load_config,
)
from ghostjax.losses import Loss
from ghostjax.nets import make_net
from ghostjax.training import Interrupted, Optim, TrainingDiverged, fit

GM = gj.GaussianMixture.opposite_corners(2, std=0.3)


# ------------------------------------------------------------------ configs refuse inf and nan
class Inner(Section):
    std: float = Field(0.3, gt=0)
    ws: tuple[float, ...] = (0.0,)


class Outer(Section):
    lr: float = 1.0
    data: Inner = Inner()


@pytest.mark.parametrize("text, key, shown", [
    ("lr = inf", "lr", "inf"), ("lr = -inf", "lr", "-inf"), ("lr = nan", "lr", "nan"),
    ("[data]\nstd = inf", "data.std", "inf"), ("[data]\nws = [1.0, nan]", "data.ws", "nan"),
])
def test_config_refuses_non_finite_numbers(tmp_path, text, key, shown):
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=rf"^{key}: must be finite, got {shown}$"):
        load_config(Outer, path)


def test_overrides_and_prefixed_build_refuse_non_finite_numbers():
    with pytest.raises(ConfigError, match=r"^data\.std: must be finite, got inf$"):
        load_config(Outer, None, ["data.std=inf"])
    with pytest.raises(ConfigError, match=r"^data\.ws: must be finite, got nan$"):
        build(Outer, apply_overrides({}, ["data.ws=[0.0, nan]"]))
    with pytest.raises(ConfigError, match=r"^sub\.std: must be finite, got -inf$"):
        build(Inner, {"std": -math.inf}, prefix="sub.")
    assert build(Outer, {"lr": 1e308, "data": {"ws": [-1e300]}}).lr == 1e308  # large but finite is fine


# ------------------------------------------------------------------ cli_guard: one line and an exit status
def _guarded(exc: BaseException, capsys) -> tuple[int, list[str]]:
    def main():
        raise exc
    code = cli_guard(main)()
    return code, capsys.readouterr().err.strip().splitlines()


def test_cli_guard_exit_statuses(capsys):
    assert _guarded(Interrupted(20, "ck"), capsys) == (130, ["interrupted at step 20; resume with --resume"])
    assert _guarded(Interrupted(7), capsys) == (130, ["interrupted at step 7"])
    assert _guarded(KeyboardInterrupt(), capsys) == (130, ["interrupted"])
    assert _guarded(RunFailed("results are non-finite\n(detail)"), capsys) == (1, ["error: results are non-finite"])
    assert _guarded(TrainingDiverged("loss became nan at step 3"), capsys) == (1, ["error: loss became nan at step 3"])
    assert _guarded(ConfigError("x: bad"), capsys) == (2, ["error: x: bad"])
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli_guard(lambda: 1 / 0)()


def test_finite_metrics_names_the_first_bad_metric():
    from ghostjax.studies import finite_metrics

    assert finite_metrics({"a": 1.0, "b": [0.5, None], "c": np.arange(3.0), "n": 4, "s": "x"}) is None
    assert finite_metrics({"rows": [{"ghost_fraction": 0.1}, {"ghost_fraction": float("nan")}]}, "metrics.") \
        == "metrics.rows.1.ghost_fraction"
    assert finite_metrics({"x": jnp.asarray([0.0, jnp.inf])}) == "x"


# ------------------------------------------------------------------ Ctrl-C and --resume in training.fit
SPEC = Loss(sigma_data=float(GM.data_std()), band_lo=0.03, band_hi=0.3)
OPT = Optim(lr=3e-3, warmup=2, total_steps=20, ema_decay=0.9)


def _fit(**kw):
    net = make_net("joint", 2, key=jax.random.PRNGKey(0), width=8, depth=1, embed_dim=4,
                   sigma_data=float(GM.data_std()))
    args = dict(seed=0, steps=20, batch=16, steps_per_call=10, progress=False)
    return fit(net, GM, SPEC, OPT, **{**args, **kw})


def _ctrl_c_at(step):
    def hook(state):
        if int(state.step) == step:
            raise KeyboardInterrupt
    return hook


def test_ctrl_c_in_fit_checkpoints_and_names_the_step(tmp_path):
    with pytest.raises(Interrupted) as info:  # checkpoint_every > steps: the interruption writes it
        _fit(ckpt_dir=tmp_path, checkpoint_every=1000, on_chunk=_ctrl_c_at(10))
    e = info.value
    assert isinstance(e, KeyboardInterrupt) and e.step == 10 and e.checkpoint == tmp_path
    assert str(e) == "interrupted at step 10; resume with --resume"
    assert checkpoints.read_meta(tmp_path)["step"] == 10
    with pytest.raises(Interrupted, match=r"^interrupted at step 10$"):  # nothing to resume from
        _fit(on_chunk=_ctrl_c_at(10))


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    _fit(ckpt_dir=folder, stop_after=10)
    return folder, _snapshot(folder)


def _broken(tmp_path, saved, edit):
    folder, files = saved
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    edit(tmp_path, files)
    return _snapshot(tmp_path)


BLOB = "ckpt_000000010.eqx"


@pytest.mark.parametrize("edit, file, what", [
    (lambda d, f: (d / BLOB).write_bytes(f[BLOB][: len(f[BLOB]) // 2]), BLOB, "is corrupt"),
    (lambda d, f: (d / BLOB).write_bytes(f[BLOB] + b"junk"), BLOB, "is corrupt"),
    (lambda d, f: (d / BLOB).unlink(), BLOB, "is missing"),
    (lambda d, f: (d / "latest.json").write_bytes(f["latest.json"][:40]), "latest.json", "is corrupt"),
    (lambda d, f: (d / "latest.json").write_text("[1, 2]"), "latest.json", "is corrupt"),
    (lambda d, f: (d / "latest.json").unlink(), "latest.json", "does not exist"),
], ids=["blob-truncated", "blob-trailing", "blob-missing", "pointer-truncated", "pointer-not-a-pointer",
        "pointer-missing"])
def test_resume_over_a_broken_checkpoint_is_one_line_and_writes_nothing(tmp_path, saved, edit, file, what):
    before = _broken(tmp_path, saved, edit)
    with pytest.raises(ConfigError) as info:
        _fit(ckpt_dir=tmp_path, resume=True)
    msg = str(info.value)
    assert msg.startswith(f"--resume: {tmp_path / file} {what}") and "\n" not in msg
    assert isinstance(info.value, checkpoints.CheckpointError)
    assert _snapshot(tmp_path) == before  # nothing overwritten, nothing added


def test_resume_with_another_models_checkpoint(saved):
    folder, files = saved
    for like in ({"w": jnp.zeros(3)}, {"w": jnp.zeros(10**6)}):  # bytes left over / too few bytes
        with pytest.raises(checkpoints.CheckpointError, match=rf"^--resume: .*{BLOB} is corrupt or from another model"):
            checkpoints.load(folder, like)
    assert _snapshot(folder) == files


# keys from indices for guidance_distortion: tests/test_guidance_regime.py


# ------------------------------------------------------------------ the API: ValueError naming the argument
FULL = gj.FullCovMixture.from_diagonal(GM)


@pytest.mark.parametrize("method", ["score", "factorized_score", "log_prob", "denoise", "factorized_denoise",
                                    "marginal_log_prob", "log_responsibilities"])
@pytest.mark.parametrize("sigma", [-0.3, float("nan"), float("inf")])
def test_mixture_methods_refuse_bad_sigma(method, sigma):
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match=r"^sigma: must be finite and non-negative"):
        getattr(GM, method)(x, sigma)
    if hasattr(FULL, method):
        with pytest.raises(ValueError, match=r"^sigma: must be finite and non-negative"):
            getattr(FULL, method)(x, sigma)


def test_sigma_checks_stay_traceable():
    x = jnp.ones(2)
    ok = np.asarray(GM.score(x, 0.5))
    # traced σ: no check, the density reads σ² only (documented), so −σ gives the score at σ
    np.testing.assert_allclose(np.asarray(jax.jit(lambda y, s: GM.score(y, s))(x, -0.5)), ok, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda y, s: FULL.score(y, s))(x, -0.5)), ok, rtol=1e-5)
    vals = jax.vmap(GM.log_prob, in_axes=(None, 0))(x, jnp.asarray([0.1, 1.0]))
    assert np.all(np.isfinite(np.asarray(vals)))
    with pytest.raises(ValueError, match="^sigma:"):  # a concrete σ inside jit is still checked
        jax.jit(lambda y: GM.score(y, -0.5))(x)
    with pytest.raises(ValueError, match="^sigma:"):
        GM.conditional_score(x, -1.0, jnp.asarray(0))


def test_prior_and_sample_refuse_bad_input():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match=r"^n: must be a non-negative integer, got -1"):
        gj.prior(key, -1, 2, 1.0)
    with pytest.raises(ValueError, match=r"^dim: "):
        gj.prior(key, 4, 0, 1.0)
    with pytest.raises(ValueError, match=r"^sigma_max: must be finite and non-negative, got nan"):
        gj.prior(key, 4, 2, float("nan"))
    assert gj.prior(key, 0, 2, 1.0).shape == (0, 2)
    grid = jnp.asarray([1.0, 0.5, 0.0])
    x0 = gj.prior(key, 8, 2, 1.0)
    with pytest.raises(ValueError, match=r"^x_init: must be finite"):
        gj.sample(GM.score, x0.at[3, 1].set(jnp.nan), grid, key=key)
    with pytest.raises(ValueError, match=r"^x_init: must be finite"):
        gj.sample(GM.score, jnp.full((2, 2), jnp.inf), grid, key=key)
    for bad in ([1.0, -0.5, -1.0], [1.0, float("nan"), 0.0]):
        with pytest.raises(ValueError, match=r"^sigmas: must be finite and non-negative"):
            gj.sample(GM.score, x0, jnp.asarray(bad), key=key)


# ------------------------------------------------------------------ census: non-finite rows, empty input
def test_census_counts_non_finite_rows_apart():
    x = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [0.0, 0.0], [np.nan, 1.0], [np.inf, np.inf]], np.float32)
    c = gj.census(x, GM)
    counts = {k: int(c[k]) for k in ("real", "ghost", "off", "non_finite")}
    assert counts == {"real": 2, "ghost": 1, "off": 1, "non_finite": 2} and c["n"] == 6
    assert float(c["non_finite_fraction"]) == pytest.approx(2 / 6) and float(c["off_fraction"]) == pytest.approx(1 / 6)
    assert sum(float(c[f"{k}_fraction"]) for k in counts) == pytest.approx(1.0)


def test_census_refuses_an_empty_input():
    with pytest.raises(ValueError, match=r"^x: empty"):
        gj.census(np.zeros((0, 2), np.float32), GM)

"""Class-conditional training with label dropout (ghostjax.conditional), the conditional network and
its score wrappers (ghostjax.nets.conditional), and the guidance_learned study entry point."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ghostjax import train as train_cli
from ghostjax.conditional import LabelledMixture, conditional_dsm_loss
from ghostjax.config import cli_guard
from ghostjax.guidance import Constant, NegativeWindow
from ghostjax.losses import Loss
from ghostjax.mixtures import GaussianMixture
from ghostjax.nets.conditional import ConditionalMLP, CondScore, UncondScore, guided

D, M = 3, 4


def _data(p):
    gm = GaussianMixture.random_classes(D, M, key=jax.random.PRNGKey(3), mean_std=2.0, std=0.7)
    return LabelledMixture(gm, p)


def _net():
    return ConditionalMLP(D, M, key=jax.random.PRNGKey(5), width=16, depth=2, embed_dim=8, sigma_data=1.5)


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_objective_equals_an_independent_conditional_dsm(p):
    """The loss against a float64 NumPy evaluation of (1/n) Σ λ(σ)/σ² · σ²‖s(x_σ, σ, c) + ε/σ‖²/D with
    the EDM λ = σ²(σ² + σ_d²)/σ_d², the network called one example at a time, the batch drawn with
    the key layout the module documents, the labels dropped by u < p."""
    data, net, n = _data(p), _net(), 16
    spec = Loss().resolve(data)
    key = jax.random.PRNGKey(11)
    loss, aux = eqx.filter_jit(conditional_dsm_loss)(net, data, key=key, spec=spec, batch=n)
    one = eqx.filter_jit(net)
    k_data, k_sig, k_eps, k_drop = jax.random.split(key, 4)
    x0, labels = data.gm.sample(k_data, n, return_labels=True)
    lnsig = spec.p_mean + spec.p_std * np.asarray(jax.random.normal(jax.random.split(k_sig, 3)[0], (n,)), np.float64)
    sig = np.exp(lnsig)
    eps = np.asarray(jax.random.normal(k_eps, (n, D)), np.float64)
    u = np.asarray(jax.random.uniform(k_drop, (n,)), np.float64)
    c = np.where(u < p, M, np.asarray(labels))
    assert (p == 0) == np.all(c < M) and (p == 0 or 0 < np.sum(c == M) < n)
    xs = np.asarray(x0, np.float64) + sig[:, None] * eps
    sd2 = spec.sigma_data**2
    err = np.zeros(n)
    for i in range(n):
        s = np.asarray(one(jnp.asarray(xs[i], jnp.float32), jnp.float32(sig[i]), jnp.int32(c[i])), np.float64)
        err[i] = np.mean((sig[i] * s + eps[i]) ** 2)
    lam = sig**2 * (sig**2 + sd2) / sd2
    assert float(loss) == pytest.approx(np.mean(lam / sig**2 * err), rel=2e-4)
    assert float(np.sum(aux["bucket_count"])) == n
    assert float(np.sum(aux["bucket_sum"])) == pytest.approx(err.sum(), rel=2e-4)


def test_label_dropout_rate_is_respected():
    """Monte Carlo: the fraction replaced by the null class is p within 4 standard errors, and the
    kept labels are unchanged."""
    n, p = 40000, 0.2
    data = _data(p)
    _, labels = data.sample(jax.random.PRNGKey(0), n)
    dropped = np.asarray(data.drop_labels(jax.random.PRNGKey(1), labels))
    labels = np.asarray(labels)
    frac = np.mean(dropped == M)
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
    keep = dropped != M
    assert np.array_equal(dropped[keep], labels[keep]) and labels.max() < M
    assert np.all(np.asarray(LabelledMixture(data.gm, 0.0).drop_labels(jax.random.PRNGKey(1), jnp.asarray(labels))) == labels)
    with pytest.raises(ValueError, match="p_uncond"):
        LabelledMixture(data.gm, 1.5)


def test_wrappers_give_the_conditional_and_unconditional_scores():
    net = _net()
    x, sig = jnp.asarray([0.3, -1.0, 2.0]), jnp.float32(0.7)
    outs = [np.asarray(net(x, sig, jnp.int32(c))) for c in range(M + 1)]
    for c in range(M):
        np.testing.assert_array_equal(np.asarray(CondScore(net, c)(x, sig)), outs[c])
    np.testing.assert_array_equal(np.asarray(UncondScore(net)(x, sig)), outs[M])
    assert min(np.abs(outs[a] - outs[b]).max() for a in range(M + 1) for b in range(a)) > 1e-4  # labels matter
    w = 1.7
    np.testing.assert_allclose(np.asarray(guided(net, 2, w)(x, sig)), (1 + w) * outs[2] - w * outs[M], rtol=1e-5, atol=1e-6)
    win = guided(net, 1, NegativeWindow(3.0, -1.0, 0.5))  # σ = 0.7 is below σ(t = 0.5) = 1.31: w = −1
    np.testing.assert_allclose(np.asarray(win(x, sig)), outs[M], rtol=1e-5, atol=1e-6)
    # the label is traced: one compiled function serves every class
    f = jax.jit(lambda c: guided(net, c, Constant(0.0))(x, sig))
    np.testing.assert_allclose(np.asarray(f(jnp.int32(3))), outs[3], rtol=1e-5, atol=1e-6)


TINY = """
study = "guidance_learned"
dim = 4
n_classes = 3
targets = 1
p_uncond = 0.2
constant_ws = [0.0, 2.0]
window_w_early = [1.0, 4.0]
window_w_late = [-1.0]
score_error_sigmas = []
[sampler]
n = 32
steps = 8
[model]
width = 8
depth = 1
embed_dim = 4
[train]
steps = 20
batch = 32
steps_per_call = 10
seeds = [0, 1]
score_error_n = 16
"""


def _main(argv):
    return cli_guard(lambda: train_cli.main(argv))()


@pytest.mark.slow  # tests/test_configs.py runs this study's configs through the entry point in CI
def test_tiny_study_writes_its_files(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    for f in ("metrics.json", "summary.csv", "scan.csv", "score_errors.csv", "training.csv", "loss.csv",
              "config.toml", "figures/frontier.png"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert {r["score"] for r in m["at_target"]} == {"exact", "learned", "learned − exact"}
    assert {(r["score"], r["seed"]) for r in m["at_target_seeds"]} == {(s, i) for s in ("exact", "learned") for i in (0, 1)}
    assert m["n_classes"] == 3 and m["training"][0]["final_loss"] > 0 and m["training"][0]["last_fifth"]["chunks"] >= 1


def test_flatness_reads_the_drift_of_a_line():
    from ghostjax.studies.guidance.learned.run import flatness, is_flat

    steps = np.arange(100, 10001, 100)
    sloped = flatness([{"step": int(s), "loss": 1.0 - 1e-5 * s} for s in steps])
    x = steps[steps > 8000]   # the last fifth: 8100 … 10000
    assert sloped["chunks"] == len(x) == 20
    assert sloped["rel_drift"] == pytest.approx(-1e-5 * (x[-1] - x[0]) / np.mean(1.0 - 1e-5 * x), rel=1e-9)
    assert not is_flat(sloped, 0.002)   # a 2 % fall over the last fifth, noise-free
    rng = np.random.default_rng(0)
    noisy = flatness([{"step": int(s), "loss": 0.9 + 1e-3 * rng.normal()} for s in steps])
    assert is_flat(noisy, 0.002) and abs(noisy["rel_drift"]) < 2 * noisy["rel_drift_se"] + 0.002


def test_combine_seeds_pairs_learned_with_exact_by_seed():
    from scipy import stats

    from ghostjax.studies.guidance.learned.run import METRICS, combine_seeds

    def row(score, seed, v):
        return {"score": score, "seed": seed, "family": "constant", "variant": "constant w",
                "strength_at_target": v, **{m: v for m in METRICS}}
    ex, le = [1.0, 2.0, 4.0], [1.5, 2.0, 5.5]
    out = combine_seeds([row("exact", s, v) for s, v in enumerate(ex)] + [row("learned", s, v) for s, v in enumerate(le)])
    by = {r["score"]: r for r in out}
    d = np.subtract(le, ex)   # paired per seed: [0.5, 0, 1.5]
    half = stats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3)
    assert by["learned − exact"]["var_par"] == pytest.approx(d.mean()) and by["learned − exact"]["var_par_ci"] == \
        pytest.approx(half)
    assert by["exact"]["overshoot"] == pytest.approx(np.mean(ex)) and by["learned"]["n_seeds"] == 3
    # a seed whose learned scan never reaches the target drops out of the mean, not the count of seeds
    out = combine_seeds([row("exact", 0, 1.0), row("exact", 1, 2.0), row("learned", 0, None), row("learned", 1, 3.0)])
    lr = next(r for r in out if r["score"] == "learned")
    assert lr["var_par"] == 3.0 and lr["var_par_ci"] is None and lr["n_var_par"] == 1 and lr["n_seeds"] == 2


@pytest.mark.parametrize("override, key", [("bogus=1", "bogus"), ("train.sedes=[1]", "sedes"),
                                           ("window_w_late=[0.5]", "window_w_late")])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, override, key):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0]
    assert not out.exists()


def test_learned_claim_reads_the_paired_difference_and_convergence():
    from ghostjax.studies.guidance.learned.claims import learned
    from ghostjax.studies.guidance.learned.run import METRICS, combine_seeds

    def metrics(shift, flat=True):
        es = [{"score": sc, "seed": i, "family": fam, "variant": fam + " v", "strength_at_target": 1.0,
               **dict.fromkeys(METRICS, 0.5), "var_par": 1.0 + 0.01 * i + (shift if sc == "learned" and fam == "window"
                                                                            else 0.0) + 0.02 * (sc == "learned") * i}
              for sc in ("exact", "learned") for fam in ("constant", "window") for i in range(3)]
        tr = [{"last_fifth": {"rel_drift": -0.001}, "flat": flat}] * 3
        acc = {"mean": 0.97, "ci": 0.01}
        return {"meta": {"config": {"model": {"width": 8, "depth": 1}, "p_uncond": 0.15, "train": {"steps": 10, "flat_tol": 0.002},
                                    "classes": {"accuracy_0": 0.95}}},
                "dim": 4, "n_classes": 3, "mean_std": 1.0, "target_accuracy": 0.99, "t_switch_sigma": 1.31,
                "at_target": combine_seeds(es), "training": tr, "all_flat": flat, "score_errors_mean": [],
                "unguided": {"exact": {"accuracy": acc}}}

    def verdict(m):
        (c,) = learned({"guidance_learned": m})
        return c.verdict
    # paired learned − exact ρ_∥ = 0.02 i: mean 0.02, t-half-width 0.248 → contains 0; a shift of 1 does not
    assert verdict(metrics(0.0)) == "reproduced"
    assert verdict(metrics(1.0)) == "not reproduced"
    assert verdict(metrics(1.0, flat=False)) == "not testable here"

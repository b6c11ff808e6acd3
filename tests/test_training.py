"""Losses, σ sampling and weighting, the training loop, checkpoints and bitwise resume."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ghostjax as gj
from ghostjax import checkpoints, training
from ghostjax._xla import BackendJit
from ghostjax.config import ConfigError, build
from ghostjax.data import EmpiricalData
from ghostjax.losses import (
    DDPMSigmas,
    EDMWeighting,
    LikelihoodWeighting,
    LogNormal,
    LogUniform,
    Loss,
    Sigma2Weighting,
    UniformWeighting,
    dsm_loss,
    sample_sigmas,
    weight,
)
from ghostjax.nets import make_net
from ghostjax.training import Optim, TrainingDiverged, ema_model, fit

GM = gj.GaussianMixture.opposite_corners(3, std=0.3)
SPEC = Loss(sigma_data=float(GM.data_std()), band_lo=0.03, band_hi=0.3)
OPT = Optim(lr=3e-3, warmup=5, total_steps=40, ema_decay=0.9)
LossSpec = Loss  # the settings classes of the tests below
_sample_sigmas = eqx.filter_jit(sample_sigmas)


def _net(seed=0):
    return make_net("joint", 3, key=jax.random.PRNGKey(seed), width=8, depth=1, embed_dim=4,
                    sigma_data=float(GM.data_std()))


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state, eqx.is_array))]


def _fit(spec=SPEC, **kw):
    args = dict(seed=0, steps=40, batch=32, steps_per_call=10, progress=False)
    return fit(_net(), GM, spec, OPT, **{**args, **kw})


# ------------------------------------------------------------------ σ sampling and weights
def test_sigma_distributions():
    key = jax.random.PRNGKey(0)
    s = np.asarray(_sample_sigmas(key, 20000, LossSpec(sigma_dist="log_uniform", sigma_min=1e-3, sigma_max=1e2)))
    assert s.min() >= 1e-3 * 0.999 and s.max() <= 1e2 * 1.001
    assert abs(np.mean(np.log10(s)) + 0.5) < 0.05               # uniform in log10 on [−3, 2]
    s = np.asarray(_sample_sigmas(key, 20000, LossSpec(sigma_dist="lognormal")))
    assert abs(np.mean(np.log(s)) + 1.2) < 0.05 and abs(np.std(np.log(s)) - 1.2) < 0.05
    spec = LossSpec(sigma_dist="ddpm", ddpm_T=50)
    s = np.asarray(_sample_sigmas(key, 2000, spec))
    table = np.asarray(gj.ddpm_grid(50))[:-1]
    assert np.all(np.min(np.abs(s[:, None] - table[None, :]), axis=1) < 1e-6)
    s = np.asarray(_sample_sigmas(key, 2000, LossSpec(band_prob=1.0, band_lo=0.03, band_hi=0.3)))
    assert s.min() >= 0.03 * 0.999 and s.max() <= 0.3 * 1.001


def test_band_sampling_raises_band_share():
    key = jax.random.PRNGKey(1)
    base = np.asarray(_sample_sigmas(key, 20000, SPEC))
    more = np.asarray(_sample_sigmas(key, 20000, LossSpec(band_prob=0.5, band_lo=0.03, band_hi=0.3)))
    def frac(s):
        return np.mean((s >= 0.03) & (s <= 0.3))
    assert frac(more) == pytest.approx(0.5 + 0.5 * frac(base), abs=0.02)


def test_weightings_and_band_factor():
    sig = jnp.asarray([0.01, 0.1, 1.0, 10.0], jnp.float32)
    sd = 1.3
    np.testing.assert_allclose(weight(sig, LossSpec(weighting="sigma2")), sig**2, rtol=1e-6)
    np.testing.assert_allclose(weight(sig, LossSpec(weighting="uniform")), sig**4, rtol=1e-6)
    np.testing.assert_allclose(weight(sig, LossSpec(weighting="edm", sigma_data=sd)),
                               sig**2 * (sig**2 + sd**2) / sd**2, rtol=1e-5)
    lu = np.asarray(weight(sig, LossSpec(weighting="likelihood", sigma_dist="log_uniform")))
    np.testing.assert_allclose(lu / lu[0], (sig / sig[0]) ** 2, rtol=1e-4)   # g² ∝ σ² for log-uniform σ
    base = np.asarray(weight(sig, LossSpec(weighting="edm", sigma_data=1.0, band_lo=0.05, band_hi=0.5)))
    up = np.asarray(weight(sig, LossSpec(weighting="edm", sigma_data=1.0, band_lo=0.05, band_hi=0.5, band_factor=10.0)))
    np.testing.assert_allclose(up / base, [1.0, 10.0, 1.0, 1.0], rtol=1e-6)


def test_weighting_classes_match_closed_forms():
    sig = jnp.asarray([0.003, 0.05, 0.7, 4.0, 60.0], jnp.float32)
    s = np.asarray(sig, np.float64)
    def close(got, want):
        return np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    close(Sigma2Weighting()(sig), s**2)
    close(UniformWeighting()(sig), s**4)
    close(EDMWeighting(0.8)(sig), s**2 * (s**2 + 0.64) / 0.64)
    # likelihood weighting g² = 2σ / p(σ) with the closed-form densities
    close(LikelihoodWeighting(LogUniform(1e-3, 1e2))(sig), 2 * s / (1 / (s * math.log(1e5))))
    z = (np.log(s) + 1.2) / 1.2
    pdf = np.exp(-0.5 * z**2) / (s * 1.2 * math.sqrt(2 * math.pi))
    close(LikelihoodWeighting(LogNormal(-1.2, 1.2))(sig), 2 * s / pdf)
    ddpm = DDPMSigmas(50, 1e-4, 0.02)
    table, w = ddpm.table()
    np.testing.assert_allclose(table, np.asarray(gj.ddpm_grid(50))[:-1][::-1], rtol=1e-5)
    close(LikelihoodWeighting(ddpm)(jnp.asarray(table[[3, 20]], jnp.float32)), 2 * table[[3, 20]] * 50 *
          np.gradient(table)[[3, 20]])
    # the settings map their names to these classes
    assert Loss(weighting="likelihood", sigma_dist="ddpm", ddpm_T=50).weighting_fn() == LikelihoodWeighting(ddpm)
    assert Loss(weighting="edm", sigma_data=0.8).weighting_fn() == EDMWeighting(0.8)
    with pytest.raises(ValueError, match="sigma_data"):
        Loss(weighting="edm").weighting_fn()  # σ_d not resolved from the data


def test_loss_settings_rules_and_resolution():
    for data, key in [({"weighting": "bogus"}, "loss.weighting"), ({"band_lo": 0.5, "band_hi": 0.3}, "loss.band_lo"),
                      ({"sigma_min": 10.0, "sigma_max": 1.0}, "loss.sigma_min"), ({"band_prob": 2}, "loss.band_prob"),
                      ({"bucket_edges": [1.0, 0.1]}, "loss.bucket_edges")]:
        with pytest.raises(ConfigError, match=f"^{key}"):
            build(Loss, data, "loss.")
    r = Loss(band_factor=5.0).resolve(GM)
    assert r.sigma_data == pytest.approx(float(GM.data_std())) and r.band_factor == 5.0
    assert (r.band_lo, r.band_hi) == pytest.approx((0.03, 0.3))
    assert hash(r) == hash(r.model_copy()) and r == r.model_copy()  # a usable static jit argument
    assert Optim().resolve(123).total_steps == 123 and Optim(total_steps=7).resolve(123).total_steps == 7


def test_dsm_loss_is_smaller_for_exact_score_and_buckets_count_batch():
    key = jax.random.PRNGKey(2)
    loss = eqx.filter_jit(dsm_loss)
    exact, aux = loss(GM.score, GM, key=key, spec=SPEC, batch=2048)
    fact, _ = loss(GM.factorized_score, GM, key=key, spec=SPEC, batch=2048)
    assert float(exact) < float(fact)   # the joint score is the minimiser; the product of marginals is not
    assert float(jnp.sum(aux["bucket_count"])) == 2048
    assert aux["bucket_sum"].shape == (SPEC.n_buckets,)


def test_bucket_aux_matches_searchsorted_and_bincount():
    """The one-product bucket sums equal searchsorted + bincount in float64 (edges and band limits included)."""
    from ghostjax.losses import bucket_aux

    rng = np.random.default_rng(0)
    sig = np.concatenate([np.exp(rng.normal(-1.2, 2.0, 3000)), list(SPEC.bucket_edges), [SPEC.band_lo, SPEC.band_hi]])
    sig = sig.astype(np.float32)
    err = rng.random(sig.size).astype(np.float32)
    aux = jax.jit(bucket_aux, static_argnums=2)(jnp.asarray(err), jnp.asarray(sig), SPEC)
    idx = np.searchsorted(np.asarray(SPEC.bucket_edges, np.float32), sig)
    np.testing.assert_allclose(np.asarray(aux["bucket_sum"]), np.bincount(idx, err.astype(np.float64), SPEC.n_buckets),
                               rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(aux["bucket_count"]), np.bincount(idx, minlength=SPEC.n_buckets))
    band = (sig >= SPEC.band_lo) & (sig <= SPEC.band_hi)
    assert float(aux["band_count"]) == band.sum()
    assert float(aux["band_sum"]) == pytest.approx(float(err[band].astype(np.float64).sum()), rel=1e-5)


def test_fused_adam_matches_optax_chain():
    """make_optimizer's fused_adam (flat moments) follows optax.chain(clip_by_global_norm, adamw)
    step by step, through warmup and clipped and unclipped steps (adam is adamw without the decay term)."""
    spec = Optim(name="adamw", lr=1e-2, warmup=3, total_steps=12, clip=0.5, weight_decay=0.1)
    ours, ref = training.make_optimizer(spec), training.optax_optimizer(spec)
    params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(4.0), "s": jnp.float32(0.5)}
    sa, sb, pa, pb = ours.init(params), ref.init(params), params, params

    @jax.jit
    def step(pa, sa, pb, sb, g):
        with jax.numpy_dtype_promotion("standard"):  # as in training: optax's schedules mix float and int32
            ua, sa = ours.update(g, sa, pa)
            ub, sb = ref.update(g, sb, pb)
        return optax.apply_updates(pa, ua), sa, optax.apply_updates(pb, ub), sb

    for t in range(8):  # gradients alternately far below and far above the clip norm
        g = jax.tree.map(lambda x: (3.0 if t % 2 else 0.05) * jax.random.normal(jax.random.PRNGKey(t), jnp.shape(x)), params)
        pa, sa, pb, sb = step(pa, sa, pb, sb, g)
    for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)
    assert not np.allclose(np.asarray(pa["w"]), np.asarray(params["w"]))  # it moved


# ------------------------------------------------------------------ loop, checkpoints, resume
def test_step_seconds_sums_each_chunk_at_its_own_rate():
    hist = [{"step": 250, "steps_per_s": 10.0}, {"step": 500, "steps_per_s": 25.0}, {"step": 600, "steps_per_s": 50.0}]
    assert training.step_seconds(hist) == pytest.approx(25.0 + 10.0 + 2.0)
    assert training.step_seconds([]) == 0.0


def test_resume_is_bitwise_identical(tmp_path):
    full, hist = _fit(ckpt_dir=tmp_path / "a", checkpoint_every=10)
    assert hist[-1]["loss"] < hist[0]["loss"]  # it trains
    part, first = _fit(ckpt_dir=tmp_path / "b", checkpoint_every=10, stop_after=20)
    assert int(part.step) == 20
    assert checkpoints.read_meta(tmp_path / "b")["step"] == 20
    resumed, hist_b = _fit(ckpt_dir=tmp_path / "b", checkpoint_every=10, resume=True)
    assert int(resumed.step) == 40 and len(hist_b) == len(hist)
    a, b = _leaves(full), _leaves(resumed)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))  # params, opt state, EMA
    # the resumed history keeps the first session's rows, so the step time spans both sessions
    assert [h["steps_per_s"] for h in hist_b[:len(first)]] == [h["steps_per_s"] for h in first]
    assert training.step_seconds(hist_b) == pytest.approx(sum(
        (h["step"] - p) / h["steps_per_s"] for h, p in zip(hist_b, [0] + [h["step"] for h in hist_b[:-1]])))

    # the saved blobs are byte-identical too
    def blob(d):
        return (d / checkpoints.read_meta(d)["blob"]).read_bytes()
    assert blob(tmp_path / "a") == blob(tmp_path / "b")
    # and differ from a run that really is different (guards against a vacuous comparison)
    other, _ = _fit(seed=1)
    assert not all(np.array_equal(x, y) for x, y in zip(a, _leaves(other)))


def test_checkpoint_metadata(tmp_path):
    _fit(ckpt_dir=tmp_path, checkpoint_every=20, meta={"config": {"name": "t"}})
    meta = json.loads((tmp_path / "latest.json").read_text())
    assert meta["step"] == 40 and meta["config"] == {"name": "t"}
    assert meta["rng"]["key_data"] == np.asarray(jax.random.PRNGKey(0)).tolist()
    assert meta["optim"]["lr"] == OPT.lr and meta["loss"]["band_factor"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_000000040.eqx", "latest.json"]


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    def poison(state):
        if int(state.step) == 20:
            def leaves(s):
                return s.model.mlp.layers[0].weight
            return eqx.tree_at(leaves, state, jnp.full_like(leaves(state), jnp.nan))
        return state

    with pytest.raises(TrainingDiverged, match=r"nan at step 21.*last good checkpoint \(step 20\)"):
        _fit(ckpt_dir=tmp_path, checkpoint_every=10, on_chunk=poison)
    like = _fit(steps=10, stop_after=10)[0]
    state, meta = checkpoints.load(tmp_path, like)
    assert meta["step"] == 20 and all(np.all(np.isfinite(x)) for x in _leaves(state) if x.dtype.kind == "f")


def test_seeds_and_band_factors_do_not_recompile(monkeypatch):
    counted = eqx.debug.assert_max_traces(training._train_chunk, max_traces=1)  # a retrace raises
    # (a plain function around it: BackendJit's update_wrapper would copy the wrapper Module's `fn`)
    monkeypatch.setattr(training, "train_chunk", BackendJit(lambda *a: counted(*a), training.TRAIN_CPU_OPTIONS))
    a, _ = _fit(seed=3, steps=10, stop_after=10)
    _fit(seed=4, steps=10, stop_after=10)
    b, _ = _fit(seed=3, steps=10, stop_after=10, spec=SPEC.model_copy(update={"band_factor": 100.0}))
    assert eqx.debug.get_num_traces(counted) == 1
    assert not np.array_equal(_leaves(a)[0], _leaves(b)[0])  # A really changed the training


def test_data_of_another_std_does_not_recompile_unless_the_weighting_reads_it(monkeypatch):
    """Recursive training fits each generation on new samples (another data std, so another resolved
    sigma_data): with a weighting that does not read σ_d the step compiles once; the EDM weighting
    does read it, so there a new σ_d is a new program."""
    counted = eqx.debug.assert_max_traces(training._train_chunk, max_traces=2)
    monkeypatch.setattr(training, "train_chunk", BackendJit(lambda *a: counted(*a), training.TRAIN_CPU_OPTIONS))
    x = np.asarray(GM.sample(jax.random.PRNGKey(1), 64))
    eps = Loss(weighting="sigma2")
    for scale in (1.0, 1.5):
        fit(_net(), EmpiricalData(x * scale, 0.1), eps, OPT, seed=0, steps=2, batch=8, progress=False)
    assert eqx.debug.get_num_traces(counted) == 1
    assert eps.resolve(EmpiricalData(x, 0.1)).compiled().sigma_data == 0.0
    fit(_net(), EmpiricalData(x * 2.0, 0.1), Loss(weighting="edm"), OPT, seed=0, steps=2, batch=8, progress=False)
    assert eqx.debug.get_num_traces(counted) == 2
    assert Loss(weighting="edm", sigma_data=0.5).compiled().sigma_data == 0.5


def test_ema_differs_from_raw_and_is_a_model():
    state, _ = _fit(steps=20)
    call = eqx.filter_jit(lambda net, x: net(x, jnp.float32(0.5)))
    m, x = ema_model(state), jnp.ones((3,))
    assert call(m, x).shape == (3,)
    assert not np.allclose(np.asarray(call(m, x)), np.asarray(call(state.model, x)))

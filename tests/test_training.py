"""Losses, σ sampling and weighting, the training loop, checkpoints and bitwise resume."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import checkpoints
from ghostjax.losses import LossSpec, dsm_loss, sample_sigmas, weight
from ghostjax.nets import make_net
from ghostjax.training import TRACES, OptimSpec, TrainingDiverged, ema_model, fit

GM = gj.GaussianMixture.opposite_corners(3, std=0.3)
SPEC = LossSpec(sigma_data=float(GM.data_std()), band_lo=0.03, band_hi=0.3)
OPT = OptimSpec(lr=3e-3, warmup=5, total_steps=40)
_sample_sigmas = eqx.filter_jit(sample_sigmas)


def _net(seed=0):
    return make_net("joint", 3, jax.random.PRNGKey(seed), width=8, depth=1, embed_dim=4,
                    sigma_data=float(GM.data_std()))


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state, eqx.is_array))]


def _fit(spec=SPEC, **kw):
    args = dict(seed=0, steps=40, batch=32, steps_per_call=10, ema_decay=0.9, progress=False)
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
    frac = lambda s: np.mean((s >= 0.03) & (s <= 0.3))
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
    base = np.asarray(weight(sig, LossSpec(weighting="edm", band_lo=0.05, band_hi=0.5)))
    up = np.asarray(weight(sig, LossSpec(weighting="edm", band_lo=0.05, band_hi=0.5, band_factor=10.0)))
    np.testing.assert_allclose(up / base, [1.0, 10.0, 1.0, 1.0], rtol=1e-6)


def test_dsm_loss_is_smaller_for_exact_score_and_buckets_count_batch():
    key = jax.random.PRNGKey(2)
    loss = eqx.filter_jit(dsm_loss)
    exact, aux = loss(GM.score, GM, key, SPEC, 2048)
    fact, _ = loss(GM.factorized_score, GM, key, SPEC, 2048)
    assert float(exact) < float(fact)   # the joint score is the minimiser; the product of marginals is not
    assert float(jnp.sum(aux["bucket_count"])) == 2048
    assert aux["bucket_sum"].shape == (SPEC.n_buckets,)


# ------------------------------------------------------------------ loop, checkpoints, resume
def test_resume_is_bitwise_identical(tmp_path):
    full, hist = _fit(ckpt_dir=tmp_path / "a", checkpoint_every=10)
    assert hist[-1]["loss"] < hist[0]["loss"]  # it trains
    part, _ = _fit(ckpt_dir=tmp_path / "b", checkpoint_every=10, stop_after=20)
    assert int(part.step) == 20
    assert checkpoints.read_meta(tmp_path / "b")["step"] == 20
    resumed, hist_b = _fit(ckpt_dir=tmp_path / "b", checkpoint_every=10, resume=True)
    assert int(resumed.step) == 40 and len(hist_b) == len(hist)
    a, b = _leaves(full), _leaves(resumed)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))  # params, opt state, EMA
    # the saved blobs are byte-identical too
    blob = lambda d: (d / checkpoints.read_meta(d)["blob"]).read_bytes()
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
            leaves = lambda s: s.model.mlp.layers[0].weight
            return eqx.tree_at(leaves, state, jnp.full_like(leaves(state), jnp.nan))
        return state

    with pytest.raises(TrainingDiverged, match=r"nan at step 21.*last good checkpoint \(step 20\)"):
        _fit(ckpt_dir=tmp_path, checkpoint_every=10, on_chunk=poison)
    like = _fit(steps=10, stop_after=10)[0]
    state, meta = checkpoints.load(tmp_path, like)
    assert meta["step"] == 20 and all(np.all(np.isfinite(x)) for x in _leaves(state) if x.dtype.kind == "f")


def test_seeds_and_band_factors_do_not_recompile():
    a, _ = _fit(seed=3, steps=10, stop_after=10)
    n = TRACES["train_chunk"]
    _fit(seed=4, steps=10, stop_after=10)
    b, _ = _fit(seed=3, steps=10, stop_after=10, spec=dataclasses.replace(SPEC, band_factor=100.0))
    assert TRACES["train_chunk"] == n
    assert not np.array_equal(_leaves(a)[0], _leaves(b)[0])  # A really changed the training


def test_ema_differs_from_raw_and_is_a_model():
    state, _ = _fit(steps=20)
    call = eqx.filter_jit(lambda net, x: net(x, jnp.float32(0.5)))
    m, x = ema_model(state), jnp.ones((3,))
    assert call(m, x).shape == (3,)
    assert not np.allclose(np.asarray(call(m, x)), np.asarray(call(state.model, x)))

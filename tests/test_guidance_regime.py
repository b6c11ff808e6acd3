"""The regime of the distortion study (studies/guidance/common.py): the accuracy-targeted class mean
scale against a Monte-Carlo argmax over sampled mixtures, independent draw keys, the class-count
laws M(d), and the interval across draws against hand-computed numbers."""

import math

import jax
import numpy as np
import pytest
from scipy import special

from ghostjax.config import ConfigError, build
from ghostjax.studies.guidance.common import Classes, ExponentialM, FixedM, ProportionalM, across_draws, draw_key
from ghostjax.studies.guidance.distortion import Config


def _mc_accuracy(m, s, d, M, n_draws, n_per, seed):
    """Fraction of points x = μ_c + s z whose exact class posterior peaks at c, over n_draws mixtures
    (means ~ N(0, m² I)), n_per points each: a direct argmax of the log-likelihoods."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_draws):
        mu = m * rng.standard_normal((M, d))
        c = rng.integers(0, M, n_per)
        x = mu[c] + s * rng.standard_normal((n_per, d))
        ll = -np.sum((x[:, None, :] - mu[None]) ** 2, axis=-1)
        hits += int(np.sum(np.argmax(ll, axis=1) == c))
    return hits / (n_draws * n_per)


def test_accuracy_targeted_scale_reaches_the_target_on_sampled_mixtures():
    target, d, M = 0.95, 16, 10
    cl = Classes(accuracy_0=target, accuracy_at=(d, M), std=1.0).resolved()
    acc = _mc_accuracy(cl.mean_std, 1.0, d, M, n_draws=400, n_per=50, seed=0)
    se = math.sqrt(target * (1 - target) / 20000)
    assert acc >= target - 3 * se, (cl.mean_std, acc)
    assert acc <= target + 4 * se + 0.005, (cl.mean_std, acc)   # targeted, not merely large
    # 10 % smaller means fall clearly below the target: the scale is the threshold, not a bound
    assert _mc_accuracy(0.9 * cl.mean_std, 1.0, d, M, n_draws=200, n_per=50, seed=1) < target - 0.01


def test_accuracy_target_needs_its_setting():
    with pytest.raises(ConfigError, match="classes.accuracy_at"):
        build(Classes, {"accuracy_0": 0.9})
    assert Classes(mean_std=0.4).resolved().mean_std == 0.4


def test_draws_use_independent_keys():
    key = jax.random.key(0)
    cl = Classes(mean_std=1.0)
    means = [np.asarray(cl.mixture(64, key=draw_key(key, 3, k), n_classes=4).means) for k in range(4)]
    again = np.asarray(cl.mixture(64, key=draw_key(key, 3, 2), n_classes=4).means)
    np.testing.assert_array_equal(means[2], again)                       # a draw is a function of its index
    flat = np.stack([mu.ravel() for mu in means])
    corr = np.corrcoef(flat)
    off = corr[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off) < 4 / math.sqrt(flat.shape[1])), corr    # independent: |r| ~ 1/√n
    # the settings, the mixture stream and the sampler streams are distinct keys too
    ks = {tuple(np.asarray(jax.random.key_data(draw_key(key, s, k, j))).tolist())
          for s in range(3) for k in range(4) for j in range(3)}
    assert len(ks) == 36


def test_class_count_laws():
    assert [FixedM(classes=5).count(d) for d in (8, 512)] == [5, 5]
    assert [ProportionalM(per_dim=0.5).count(d) for d in (2, 16, 256)] == [2, 8, 128]
    assert [ExponentialM(beta=0.036).count(d) for d in (16, 64, 256)] == [2, round(math.exp(2.304)),
                                                                          round(math.exp(9.216))]
    cfg = build(Config, {"laws": [{"kind": "fixed", "classes": 3, "dims": [8, 16]},
                                  {"kind": "exponential", "beta": 0.05, "dims": [64, 128]}],
                         "classes": {"mean_std": 0.5}, "phase_dim": 8, "fit_min_dim": 64})
    assert [type(law) for law in cfg.laws] == [FixedM, ExponentialM] and cfg.laws[1].dims == (64, 128)
    with pytest.raises(ConfigError, match="exceeds classes.max_classes"):
        build(Config, {"laws": [{"kind": "exponential", "beta": 0.05, "dims": [64, 200]}],
                       "classes": {"mean_std": 0.5}, "phase_dim": 8, "fit_min_dim": 64})


def test_interval_across_draws():
    s = across_draws([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd (ddof 1) = √(5/3), t_{0.975, 3} = 3.182446305284263
    assert s["mean"] == pytest.approx(2.5)
    assert s["ci"] == pytest.approx(3.182446305284263 * math.sqrt(5 / 3) / 2, rel=1e-9)
    assert s["n"] == 4 and s["draws"] == [1.0, 2.0, 3.0, 4.0]
    # a missing draw is kept as None and left out of the interval (n = 2: t_{0.975, 1} = 12.7062)
    s = across_draws([1.0, None, float("nan"), 3.0])
    assert s["draws"] == [1.0, None, None, 3.0] and s["n"] == 2
    assert s["ci"] == pytest.approx(12.706204736174707 * math.sqrt(2) / math.sqrt(2), rel=1e-9)
    assert across_draws([2.0])["ci"] is None and across_draws([None])["mean"] is None
    assert special.stdtrit(3, 0.975) == pytest.approx(3.182446305284263)


def test_study_keys_come_from_positions_and_every_run_has_its_own(monkeypatch):
    """The study's sampler keys: one per (setting, draw, w) position, all distinct, the same on a
    rerun, also for weights whose values would overflow a key (replaces test_edge's pre-issue-20 check)."""
    from ghostjax.studies.guidance import distortion as dist

    seen = []

    def fake_runs(build, gm, targets, smp, *, key, observe=False):
        seen.append(np.asarray(jax.random.key_data(key)).tolist())
        return {k: 0.0 for k in dist.METRICS}

    flat = {"sigma": np.array([0.0, 1.0]), "p_true": np.ones(2), "sigma_C": 1.0, "sigma_half": 1.0, "accuracy_0": 1.0}
    monkeypatch.setattr(dist, "guided_runs", fake_runs)
    monkeypatch.setattr(dist.Classes, "mixture", lambda self, d, *, key, n_classes: None)
    monkeypatch.setattr(dist, "theory_curves", lambda *a, **k: flat)
    monkeypatch.setattr(dist, "posterior_quantities", lambda *a, **k: {"accuracy": np.array(1.0)})
    cfg = dist.Config(laws=(FixedM(dims=(8,)), ExponentialM(beta=0.05, dims=(64, 96, 128))), draws=2,
                      ladder_ws=(0.0, 2.0, 5e6, 1e30), observe=False, phase_dim=8, phase_beta_ratios=(0.1, 0.2),
                      phase_ws=(1e30, 0.0), classes=Classes(mean_std=0.5))
    key = jax.random.key(0)

    def both():  # as dist.run calls them
        dist._ladder(cfg, cfg.classes, key=jax.random.fold_in(key, 1), progress=lambda xs, **kw: xs)
        dist._phase(cfg, cfg.classes, key=jax.random.fold_in(key, 2), progress=lambda xs, **kw: xs)

    both()
    first = list(seen)
    assert len(first) == 4 * 2 * 4 + 2 * 2 * 2 and len({tuple(k) for k in first}) == len(first)
    seen.clear()
    both()
    assert seen == first

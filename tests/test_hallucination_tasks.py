"""The measurements of the toy study's gap, architecture and ghosts tasks
(studies/hallucination/toy/questions.py) against closed forms and independent counts: the gap task's
trend fits, the architecture task's ε-space score error between the modes, the ghosts task's census
split and detector. (The recursive task: tests/test_hallucination.py, resume; tests/test_shapes.py, the
shared selection rules.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax.studies.hallucination.toy.config import Config
from ghostjax.studies.hallucination.toy.evaluate import ddpm_sigmas
from ghostjax.studies.hallucination.toy.questions import fit_trend, ghost_detection, score_error_between


def test_gap_fits_recover_exponential_and_power_laws():
    gaps = [4.0, 8.0, 16.0, 32.0]
    e = fit_trend(gaps, [0.3 * math.exp(-0.2 * g) for g in gaps])
    assert e["slope"] == pytest.approx(-0.2) and e["intercept"] == pytest.approx(math.log(0.3))
    assert e["decay_per_std"] == pytest.approx(math.exp(-0.2)) and e["rms"] < 1e-9 and e["n"] == 4
    assert e["power_rms"] > 0.1  # an exponential is not a power law over a decade
    p = fit_trend(gaps, [2.0 * g**-1.5 for g in gaps])
    assert p["power"] == pytest.approx(-1.5) and p["power_intercept"] == pytest.approx(math.log(2.0))
    assert p["power_rms"] < 1e-9 and p["rms"] > 0.1
    # points with no between-mode sample (y = 0) are left out; fewer than two points: no fit
    z = fit_trend(gaps, [0.3 * math.exp(-0.2 * g) if g < 30 else 0.0 for g in gaps])
    assert z["n"] == 3 and z["slope"] == pytest.approx(-0.2)
    assert fit_trend(gaps, [0.1, 0.0, 0.0, 0.0]) == {"slope": None, "intercept": None, "power": None, "n": 1}


def test_score_error_between_is_zero_for_the_exact_score_and_sigma2_c2_for_an_offset():
    cfg = Config()
    gm = gj.GaussianMixture.line([1.0, 2.0, 3.0], std=0.05)
    sig = np.asarray(ddpm_sigmas(cfg.loss, cfg.eval.sigma_cap))[::-1]  # σ_1, σ_2, … ascending
    exact = score_error_between(lambda x, s: gm.score(x, s), gm, cfg.loss, cfg.eval.sigma_cap)
    assert set(exact) == {"t1", "t10", "t50"} and max(exact.values()) < 1e-10
    off = score_error_between(lambda x, s: gm.score(x, s) + 0.5, gm, cfg.loss, cfg.eval.sigma_cap, t_list=(1, 10))
    for t in (1, 10):
        assert off[f"t{t}"] == pytest.approx(sig[t - 1] ** 2 * 0.25, rel=1e-4)
    gm2 = gj.GaussianMixture.grid(n=2)
    assert score_error_between(lambda x, s: gm2.score(x, s), gm2, cfg.loss, cfg.eval.sigma_cap) == {}  # 1-D only


def test_ghost_detection_counts_product_of_marginals_ghosts_and_scores_the_detector():
    """Samples of the product of the marginals of two opposite corners in D = 3 (each coordinate ±1
    independently): a sample is a ghost exactly when its signs are not all equal (3/4 of them),
    counted here from the signs, not by the census. The x̂0 trajectories wobble for ghosts only, so
    the detector separates ghosts from reals perfectly."""
    cfg, d, n = Config(), 3, 4000
    gm = gj.GaussianMixture.opposite_corners(dim=d, std=0.05, weight=0.5)
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(n, d))
    x = (signs + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    ghost = ~np.all(signs == signs[:, :1], axis=1)
    wobble = rng.normal(size=(cfg.eval.window, n, d)) * ghost[None, :, None]
    traj = jnp.asarray(x[None] + 0.1 * wobble, jnp.float32)
    out = ghost_detection(jnp.asarray(x), traj, gm, cfg)
    assert abs(out["ghost_fraction"] - ghost.mean()) < 0.005  # census tail 1e-3 per sample
    assert abs(ghost.mean() - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)
    assert out["real_fraction"] + out["ghost_fraction"] + out["off_fraction"] == pytest.approx(1.0)
    assert out["ghost_vs_real"]["auc"] > 0.99 and out["out_vs_real"]["auc"] > 0.99
    # without any ghost the ghost-vs-real detector is not defined
    reals = jnp.asarray(np.where(rng.random((n, 1)) < 0.5, 1.0, -1.0) * np.ones((1, d)), jnp.float32)
    none = ghost_detection(reals, jax.numpy.broadcast_to(reals, (cfg.eval.window, n, d)), gm, cfg)
    assert none["ghost_fraction"] == 0.0 and "ghost_vs_real" not in none


def test_growth_ratio_of_a_geometric_sequence_and_its_interval():
    """The recursive rows' growth measure (studies/_claims_fmt.growth_ratio): an exact geometric
    sequence gives its ratio with a zero-width interval; noise widens the interval, which then holds
    the true ratio in ~95 % of draws (checked over 400 noisy sequences, binomial tolerance)."""
    from ghostjax.studies._claims_fmt import growth_ratio

    r, lo, hi = growth_ratio([0.01 * 2.0**g for g in range(5)])
    assert r == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    assert growth_ratio([0.1, 0.2]) is None and growth_ratio([0.1, 0.0, 0.3]) is None
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        f = 0.01 * 1.5 ** np.arange(5) * np.exp(0.2 * rng.normal(size=5))
        _, lo, hi = growth_ratio(f)
        hits += lo <= 1.5 <= hi
    assert abs(hits / 400 - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 400)


def _recursive_metrics(chains: dict) -> dict:
    """A recursive run's metrics from {(seed, rule): out-of-support fractions per generation}."""
    rows = [{"seed": s, "rule": rule, "generation": g, "out_fraction": f, "out_fraction_se": 0.001, "modes_alive": 3}
            for (s, rule), fs in chains.items() for g, f in enumerate(fs)]
    return {"generations": rows, "n_keep": 1000,
            "meta": {"config": {"eval": {"extra_fraction": 0.025}, "recursive": {"generations": 5}}}}


def test_recursive_claims_over_seeds_use_the_t_interval_of_the_seeds():
    """claims_recursive with three seeds: the growth ratio is the geometric mean over the seeds of
    each seed's (geometric) mean ratio of its none and random chains, its interval the t-interval
    (2 degrees of freedom) of the seeds' log ratios, computed here independently; the filter's
    difference is the seeds' mean random − variance at the last generation, reproduced only when
    its t-interval lies above 0."""
    from scipy import stats

    from ghostjax.studies.hallucination.claims_recursive import grows, mitigates

    ratios = {0: (1.8, 2.0), 1: (2.2, 2.4), 2: (1.5, 1.7)}
    chains = {(s, rule): [0.01 * r**g for g in range(5)] for s, rs in ratios.items()
              for rule, r in zip(("none", "random"), rs)}
    b = np.array([np.mean(np.log(rs)) for rs in ratios.values()])
    lo, hi = stats.t.interval(0.95, 2, loc=b.mean(), scale=stats.sem(b))
    text, verdict, _ = grows(_recursive_metrics(chains))
    assert f"per-generation ratio {math.exp(b.mean()):.2f} [{math.exp(lo):.2f}, {math.exp(hi):.2f}] over 3 seeds" in text
    assert verdict == ("reproduced" if math.exp(lo) > 1 else "not reproduced") == "reproduced"
    flat = {(s, rule): [0.01] * 5 for s in range(3) for rule in ("none", "random")}  # no growth: 1.00 [1.00, 1.00]
    assert grows(_recursive_metrics(flat))[1] == "not reproduced"

    last = {0: (0.30, 0.10), 1: (0.25, 0.12), 2: (0.28, 0.09)}  # seed: (random, variance) at the last generation
    filt = {(s, rule): [0.01, 0.05, v] for s, (r, v_) in last.items() for rule, v in (("random", r), ("variance", v_))}
    d = np.array([r - v for r, v in last.values()])
    text, verdict, _ = mitigates(_recursive_metrics(filt))
    assert f"random − variance {d.mean():.3f} [" in text and verdict == "reproduced"
    mixed = {**filt, (1, "variance"): [0.01, 0.05, 0.45]}  # one seed the other way: the interval holds 0
    assert mitigates(_recursive_metrics(mixed))[1] == "not reproduced"

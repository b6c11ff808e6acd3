"""The standard schedules of guidance_schedules.py against their closed forms, the schedules study's
mode-collapse indicators on cases with known answers, and its equal-accuracy tuning on a tiny case."""

import math

import jax
import numpy as np
import pytest

from ghostjax.guidance import Guidance, t_of_sigma
from ghostjax.guidance_schedules import CosineCFG, CosineRamp, Interval, IntervalCFG, Ramp, RampCFG
from ghostjax.studies.guidance import schedules as S
from ghostjax.studies.guidance.common import Classes, Sampler, draw_key

SIGMAS = np.array([0.0, 0.01, 0.2, 0.28, 0.3, 1.0, 5.0, 5.42, 5.5, 20.0, 40.0, 80.0])


def _w(schedule, sigmas=SIGMAS):
    return np.array([float(schedule(s)) for s in sigmas])


def test_interval_closed_form():
    s = SIGMAS[(SIGMAS != 0.28) & (SIGMAS != 5.42)]    # off the band's edges (float32 ties)
    np.testing.assert_allclose(_w(Interval(2.5, 0.28, 5.42), s), np.where((s > 0.28) & (s <= 5.42), 2.5, 0.0))
    with pytest.raises(ValueError, match="sigma_lo"):
        Interval(1.0, 3.0, 2.0)


def test_ramps_closed_form():
    t = 0.5 * np.log1p(SIGMAS**2)                      # OU time, independently of guidance.t_of_sigma
    p = np.clip(1 - t / (0.5 * math.log1p(40.0**2)), 0, 1)
    np.testing.assert_allclose(_w(Ramp(3.0, 40.0)), 3.0 * p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_w(CosineRamp(3.0, 40.0)), 3.0 * (1 - np.cos(np.pi * p)) / 2, rtol=1e-5, atol=1e-6)
    assert float(Ramp(3.0, 40.0)(0.0)) == pytest.approx(3.0) and float(CosineRamp(3.0, 40.0)(80.0)) == 0.0
    assert float(t_of_sigma(40.0)) == pytest.approx(0.5 * math.log1p(1600.0), rel=1e-6)


def test_families_build_their_schedules():
    assert isinstance(IntervalCFG(sigma_lo=0.5, sigma_hi=2.0).schedule(1.0), Interval)
    assert float(RampCFG(sigma_max=10.0).schedule(2.0)(0.0)) == pytest.approx(2.0)
    assert float(CosineCFG().schedule(2.0)(1e-3)) == pytest.approx(2.0, abs=1e-4)
    with pytest.raises(ValueError):
        IntervalCFG(sigma_lo=2.0, sigma_hi=1.0)
    assert Guidance is not None  # the config type of guidance.py stays as it is (families listed by the study)


def test_mode_indicators_known_answers():
    pred = np.array([3] * 6 + [0] * 2 + [1] * 2)        # 10 particles guided to class 0: 6 captured by class 3
    r = S.mode_indicators(pred, 0, 5)
    assert r["off_target"] == pytest.approx(0.8) and r["top_wrong_share"] == pytest.approx(0.6)
    assert S.mode_indicators(np.zeros(7, int), 0, 4) == {"off_target": 0.0, "top_wrong_share": 0.0}


def test_collapse_indicator_on_a_lost_class():
    """w0 = −1 with a tiny ω is nearly the unconditional score all the way: on 8 well separated,
    equally likely classes the particles guided to class 0 land in the others (off_target ≈ 7/8), while
    strong early guidance keeps them (off_target ≈ 0)."""
    classes = Classes(mean_std=3.0, std=1.0)
    gm = classes.mixture(8, key=jax.random.key(0), n_classes=8)
    smp = Sampler(n=64, steps=16)
    lost = S._cell(S.LinearCFG(w0=-1.0), 0.01, gm, 1, smp, key=jax.random.key(1))
    kept = S._cell(S.LinearCFG(w0=0.0), 2.0, gm, 1, smp, key=jax.random.key(1))
    assert 0.7 < lost["off_target"] < 0.98 and kept["off_target"] < 0.05
    assert lost["nonfinite"] == 0.0


def test_equal_accuracy_tuning_hits_target():
    """Interpolating one draw's scan at the target and re-running at that strength gives the target
    accuracy within the Monte-Carlo tolerance."""
    classes = Classes(mean_std=0.6, std=1.0)
    gm = classes.mixture(8, key=jax.random.key(3), n_classes=4)
    smp = Sampler(n=256, steps=16)
    fam, ws = S.ConstantCFG(), (0.0, 0.5, 1.0, 2.0)
    rows = [S._cell(fam, w, gm, 1, smp, key=draw_key(jax.random.key(4), 0, 0, i)) for i, w in enumerate(ws)]
    target = 0.5 * (rows[0]["accuracy"] + rows[-1]["accuracy"])
    at = S._at_target(target, ws, rows)
    assert at["strength_at_target"] is not None and ws[0] < at["strength_at_target"] < ws[-1]
    assert at["accuracy"] == pytest.approx(target, abs=1e-9)
    again = [S._cell(fam, at["strength_at_target"], gm, 1, smp, key=jax.random.key(9 + i))["accuracy"] for i in range(2)]
    p = float(np.mean(again))                          # 512 fresh particles: binomial sd ≈ 0.02
    assert abs(p - target) < 0.06, (p, target, [r["accuracy"] for r in rows])
    assert S._at_target(2.0, ws, rows)["strength_at_target"] is None   # never reached: None

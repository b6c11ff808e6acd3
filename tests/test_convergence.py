"""metrics.convergence (learned mode widths / weights against the data's, flatness of the
out-of-support fraction over the last fifth of training) and its wiring into the toy study's cells."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from ghostjax.metrics import convergence as cv
from ghostjax.mixtures import GaussianMixture

GM = GaussianMixture(np.array([[1.0], [2.0], [3.0]]), stds=0.05)


def _draw(gm_means, stds, weights, n, seed):
    """n samples of a 1-D mixture (NumPy, an independent route from GaussianMixture.sample)."""
    rng = np.random.default_rng(seed)
    k = rng.choice(len(weights), size=n, p=weights)
    return (np.asarray(gm_means)[k, 0] + np.asarray(stds)[k] * rng.standard_normal(n))[:, None]


def test_truncation_factor_matches_monte_carlo():
    t = cv.thresholds(1)[0]
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert cv.truncated_std_factor(1) == pytest.approx(np.std(z[np.abs(z) <= t]), abs=1e-3)
    assert 0.99 < cv.truncated_std_factor(2) < 1.0


def test_samples_of_the_data_pass_and_wider_modes_fail():
    w = np.full(3, 1 / 3)
    for seed in (0, 1):
        x = _draw(GM.means, np.full(3, 0.05), w, 30_000, seed)
        res = cv.compare_modes(cv.mode_fit(x, GM), GM)
        assert res["widths_ok"] and res["weights_ok"], res
        assert res["width_dev_max"] < 0.03 and res["weight_z_max"] < 3
    wide = _draw(GM.means, np.full(3, 0.06), w, 30_000, 2)  # 20 % wider modes
    res = cv.compare_modes(cv.mode_fit(wide, GM), GM)
    assert not res["widths_ok"] and res["weights_ok"] and res["width_dev_max"] > 0.15


def test_sampler_narrowing_is_part_of_the_reference():
    """Modes narrowed by a last x̂0 step at σ_1 (std s²/√(s² + σ_1²), as the exact score's samples through
    the study's sampler) pass against the reference with sigma_last = σ_1 and fail against the data's s."""
    s1 = 0.0316
    c = 0.05 / math.hypot(0.05, s1)
    x = _draw(GM.means, np.full(3, 0.05 * c), np.full(3, 1 / 3), 30_000, 4)
    fit = cv.mode_fit(x, GM)
    res = cv.compare_modes(fit, GM, sigma_last=s1)
    assert res["widths_ok"] and res["sampler_shrink"] == pytest.approx(c, rel=1e-5)
    assert not cv.compare_modes(fit, GM)["widths_ok"]


def test_weights_three_se_off_fail():
    n = 30_000
    se = math.sqrt((1 / 3) * (2 / 3) / n)
    w_off = np.array([1 / 3 + 5 * se, 1 / 3 - 5 * se, 1 / 3])  # 5 se: fails whatever the draw (its sd is 1 se)
    x = _draw(GM.means, np.full(3, 0.05), w_off, n, 3)
    res = cv.compare_modes(cv.mode_fit(x, GM), GM)
    assert res["widths_ok"] and not res["weights_ok"] and res["weight_z_max"] > 3
    # the rule itself, on exact counts: 3.2 se off fails, 2.8 se off passes
    for dz, ok in ((3.2, False), (2.8, True)):
        counts = np.round(n * np.array([1 / 3 + dz * se, 1 / 3 - dz * se, 1 / 3])).astype(int)
        fit = {"n_real": int(counts.sum()), "counts": counts, "weights": counts / counts.sum(),
               "widths": np.full((3, 1), 0.05 * cv.truncated_std_factor(1))}
        assert cv.compare_modes(fit, GM)["weights_ok"] is ok


def test_samples_off_support_are_not_assigned():
    x = np.array([[1.0], [1.5], [3.02], [np.nan], [9.0]])
    assert cv.assign_modes(x, GM).tolist() == [0, -1, 2, -1, -1]
    fit = cv.mode_fit(x, GM)
    assert fit["n_real"] == 2 and fit["counts"].tolist() == [1, 0, 1] and np.isnan(fit["widths"]).all()
    assert not cv.compare_modes(fit, GM)["widths_ok"]


def test_flatness_rule_on_synthetic_sequences():
    steps = [9600, 10800, 12000]
    se = [0.0014] * 3
    assert cv.flatness(steps, [0.010, 0.012, 0.011], se)["flat_ok"] is True
    grow = cv.flatness(steps, [0.010, 0.020, 0.030], se)
    assert grow["flat_ok"] is False and grow["slope_per_1k"] == pytest.approx(0.02 / 2.4)
    lim = 3 * math.hypot(0.0014, 0.0014)  # the rule's edge: max − min against k·√(se_max² + se_min²)
    assert cv.flatness(steps, [0.01, 0.01 + 0.99 * lim, 0.01], se)["flat_ok"] is True
    assert cv.flatness(steps, [0.01, 0.01 + 1.01 * lim, 0.01], se)["flat_ok"] is False
    few = cv.flatness(steps[:2], [0.01, 0.01], se[:2])
    assert few["flat_ok"] is None and cv.verdict({"widths_ok": True, "weights_ok": True}, few)["converged"] is None
    v = cv.verdict({"widths_ok": True, "weights_ok": False}, grow)
    assert v["converged"] is False and v["flat_ok"] is False


def test_snapshot_steps_are_chunk_ends_in_the_last_fifth():
    assert cv.snapshot_steps(12000, 250) == (9750, 11000, 12000)
    assert cv.snapshot_steps(20000, 250) == (16000, 18000, 20000)
    assert cv.snapshot_steps(10, 3) == (9, 10)


TINY = {"data": {"kind": "line", "positions": [1.0, 2.0, 4.0], "n_train": 256},
        "model": {"width": 8, "depth": 1, "embed_dim": 4},
        "train": {"steps": 10, "batch": 32, "steps_per_call": 1},
        "eval": {"n_samples": 64, "window_max": 12, "exact": False, "convergence_samples": 64}}


def test_tiny_cell_carries_convergence_and_snapshots_change_no_parameter(tmp_path):
    from ghostjax.runio import Workspace
    from ghostjax.studies.hallucination.toy import cell as C
    from ghostjax.studies.hallucination.toy.data import mixture, training_set
    from ghostjax.studies.hallucination.toy.fitting import net_key, train
    from ghostjax.studies.hallucination.toy.nets import build_net

    s = C.Cell(**TINY)
    out, _ = C.cell(s, Workspace(tmp_path / "w"), "c0")
    c = out["convergence"]
    assert set(C.METRICS) <= set(out) and c["flat"]["steps"] == [8, 9, 10] and c["snapshot_samples"] == 64
    assert c["flat_ok"] is not None and len(c["flat"]["fractions"]) == 3
    assert out["converged"] == c["converged"] and set(c) >= {"widths_ok", "weights_ok", "flat_ok", "converged"}
    # the snapshots only read the state: the trained parameters are bitwise those of a run without them
    cfg, gm = C.study_config(s), mixture(s.data)
    data, seen = training_set(s.data, gm), []
    net = build_net(cfg.model, 1, key=net_key(0), blocks="shared")
    a, _ = train(cfg, net, data, seed=0, progress=False)
    b, _ = train(cfg, net, data, seed=0, progress=False, snapshot_at=(8, 10), on_snapshot=lambda t, m: seen.append(t))
    assert seen == [8, 10]
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

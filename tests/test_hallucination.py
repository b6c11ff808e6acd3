"""Hallucination by mode interpolation: the support split (between / beyond), the predicted-x0 window
and its variance, ROC / AUC / detection at retention against hand-computed cases, the data sets
against their definitions, training on a fixed sample set, the DDPM β_T = 0.2 numerics, the
entry point end to end, and config errors."""

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import train as train_cli
from ghostjax.config import ConfigError, cli_guard
from ghostjax.data import EmpiricalData, empirical, equal_count_sample
from ghostjax.studies.hallucination.toy import Config
from ghostjax.studies.hallucination.toy.config import Data
from ghostjax.studies.hallucination.toy.data import grid_scale, mixture
from ghostjax.studies.hallucination.toy.evaluate import ddpm_sigmas, draw
from ghostjax.studies.hallucination.toy.fitting import training_loss
from ghostjax.losses import DDPMSigmas, Loss, dsm_loss
from ghostjax.metrics import hallucination as hm
from ghostjax.metrics.census import classify, thresholds

SQ2 = math.sqrt(2.0)


# ------------------------------------------------------------------------------ support split
def test_support_split_1d_between_and_beyond():
    gm = gj.GaussianMixture.line([1.0, 2.0, 3.0], 0.05)
    pts = np.array([[1.0], [1.1], [1.5], [1.2], [2.9], [2.5], [3.5], [0.5], [3.2], [-4.0]])
    want = [hm.IN, hm.IN, hm.BETWEEN, hm.BETWEEN, hm.IN, hm.BETWEEN, hm.BEYOND, hm.BEYOND, hm.BEYOND, hm.BEYOND]
    assert hm.support_labels(pts, gm).tolist() == want
    s = hm.support_split(pts, gm)
    assert (s["in"], s["between"], s["beyond"], s["out"]) == (3, 3, 4, 7)
    assert s["out_fraction"] == pytest.approx(0.7) and s["out_fraction_se"] == pytest.approx(math.sqrt(0.21 / 10))


def test_support_split_2d_grid_edges_and_rotated_hull():
    gm = mixture(Data(kind="gaussian25"))
    u = 2.0 / grid_scale(0.05)                       # spacing after normalisation ≈ 0.707
    s = 0.05 / grid_scale(0.05)
    edge = 2 * u
    pts = np.array([[0.0, 0.0], [0.5 * u, 0.0], [0.5 * u, edge], [0.5 * u, edge + 2 * s], [0.5 * u, edge + 20 * s],
                    [3 * u, 0.0]])
    # centre: real; between two modes; midpoint of two edge modes, on and slightly outside the edge: between;
    # far outside the edge and outside the grid: beyond
    assert hm.support_labels(pts, gm).tolist() == [hm.IN, hm.BETWEEN, hm.BETWEEN, hm.BETWEEN, hm.BEYOND, hm.BEYOND]
    rot = mixture(Data(kind="gaussian25_rotated"))
    a, b = hm.hull_faces(rot.means)
    assert a.shape == (4, 2)                          # a diamond
    corner = 4.0 / grid_scale(0.05)
    np.testing.assert_allclose(np.sort(b), [corner / SQ2] * 4, rtol=1e-5)
    assert hm.support_labels(np.array([[0.25 * corner, 0.0], [corner, corner]]), rot).tolist() == [hm.BETWEEN, hm.BEYOND]


def test_hull_faces_flat_and_point():
    a, b = hm.hull_faces(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))   # a segment in 2-D
    inside = lambda x: bool(np.all(a @ np.asarray(x) <= b + 1e-9))  # noqa: E731
    assert inside([1.0, 1.0]) and not inside([1.0, 1.1]) and not inside([2.1, 2.1])
    a, b = hm.hull_faces(np.array([[1.0, -1.0, 2.0]]))
    assert a.shape == (6, 3) and np.all(a @ np.array([1.0, -1.0, 2.0]) <= b + 1e-9)


def test_exact_samples_are_real_with_probability_one_minus_tail():
    gm = gj.GaussianMixture.line([1.0, 2.0, 4.0, 5.0], 0.05)
    x = equal_count_sample(gm, key=jax.random.PRNGKey(0), n=200_000)
    s = hm.support_split(x, gm)
    # In 1-D the census's box and χ² tests coincide (c = t²): an exact sample is off with probability
    # P(|z| > t) = tail/2 exactly, within the promised ≤ tail.
    t, c = thresholds(1, 1e-3)
    p = math.erfc(t / SQ2)
    assert c == pytest.approx(t * t) and p == pytest.approx(5e-4)
    assert abs(s["out_fraction"] - p) < 4 * math.sqrt(p / 200_000)


def test_mode_occupancy():
    gm = gj.GaussianMixture.line([1.0, 2.0, 3.0], 0.05)
    x = np.array([[1.0], [1.01], [2.0], [2.5], [9.0]])
    np.testing.assert_allclose(hm.mode_occupancy(x, gm), [0.4, 0.2, 0.0])
    np.testing.assert_allclose(hm.mode_mass(x, gm), [0.4, 0.4, 0.2])   # 2.5 ties to 2 (the first), 9 → 3


# ------------------------------------------------------------------------------ the window
def test_window_observer_keeps_known_x0_sequence_and_variance():
    k, n, d = 4, 3, 2
    ob = gj.Window(k, "x0")
    seq = np.arange(7 * n * d, dtype=np.float32).reshape(7, n, d) ** 1.5 / 10
    state = ob.init(jnp.zeros((n, d), jnp.float32))
    for i, v in enumerate(seq):  # score 0: the predicted x0 is x itself
        state, _ = ob.update(state, jnp.asarray(v), jnp.float32(1.0), jnp.zeros((n, d), jnp.float32), i)
    win = np.asarray(ob.finalize(state, None))
    np.testing.assert_allclose(win, seq[-k:])
    np.testing.assert_allclose(hm.trajectory_variance(win), seq[-k:].var(axis=0).mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(hm.window_statistic(win, "range"), np.ptp(seq[-k:], axis=0).mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(hm.window_statistic(win, "path"),
                               np.abs(np.diff(seq[-k:], axis=0)).sum(0).mean(1), rtol=1e-5)
    with pytest.raises(ValueError, match="stat"):
        hm.window_statistic(win, "kurtosis")


def test_draw_window_is_predicted_x0_at_t_k_to_1():
    """A score whose predicted x0 at σ is σ itself: the trajectory must read σ_k … σ_1, ending at the sample."""
    loss = Loss(sigma_dist="ddpm", weighting="sigma2", ddpm_T=60, ddpm_beta_start=0.001, ddpm_beta_end=0.2)
    cfg = Config(loss=loss).eval.model_copy(update={"window_max": 8, "window": 5})

    def score(x, sigma):
        return (sigma - x) / (sigma * sigma)

    x, traj = draw(score, 1, 4, key=jax.random.PRNGKey(0), loss=loss, E=cfg)
    sig = np.asarray(ddpm_sigmas(loss, 1e4))
    np.testing.assert_allclose(np.asarray(traj)[:, 0, 0], sig[-8:], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(x)[:, 0], sig[-1], rtol=1e-4)   # no noise on the last step
    assert sig[-1] == pytest.approx(math.sqrt(0.001 / 0.999), rel=1e-5)  # σ_1 = √(β_1/(1 − β_1))


# ------------------------------------------------------------------------------ ROC / AUC / retention
def test_roc_and_auc_hand_computed():
    scores, pos = np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])
    fpr, tpr, thr = hm.roc_curve(scores, pos)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert hm.auc(scores, pos) == pytest.approx(0.75)
    assert hm.auc(np.array([1.0, 1.0, 0.0]), np.array([True, False, False])) == pytest.approx(0.75)  # a tie counts ½
    assert math.isnan(hm.auc(np.array([1.0, 2.0]), np.array([True, True])))
    assert hm.auc_se(0.75, 2, 2) > 0 and hm.auc_se(1.0, 50, 50) == 0.0
    with pytest.raises((ValueError, TypeError)):  # the shape annotations (jaxtyping hook) or the check
        hm.auc(np.array([1.0, 2.0]), np.array([True]))


def test_detection_at_retention_and_selection_rule():
    neg = np.arange(1.0, 101.0)
    scores = np.r_[neg, 50.0, 150.0, 200.0]
    pos = np.r_[np.zeros(100, bool), np.ones(3, bool)]
    r = hm.detection_at_retention(scores, pos, 0.96)
    assert r["threshold"] == 96.0 and r["retention"] == pytest.approx(0.96)
    assert r["detection"] == pytest.approx(2 / 3)
    keep = hm.select_lowest(scores, 100)
    assert set(keep.tolist()) == set(range(99)) | {100}      # drops the scores 100, 150 and 200
    e = hm.selection_effect(scores, pos, 100)
    assert e["removed_out"] == pytest.approx(2 / 3) and e["kept_in"] == pytest.approx(0.99)
    assert e["out_fraction_after"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="retention"):
        hm.detection_at_retention(scores, pos, 0.0)


# ------------------------------------------------------------------------------ data sets
def test_data_constructors_match_their_definitions():
    line = mixture(Data(positions=(1.0, 2.0, 4.0, 5.0)))
    np.testing.assert_allclose(np.asarray(line.means)[:, 0], [1, 2, 4, 5])
    np.testing.assert_allclose(np.asarray(line.stds), 0.05)
    assert grid_scale(0.05) == pytest.approx(math.sqrt(0.05**2 + 8)) and grid_scale(0.05) == pytest.approx(2.8289, abs=1e-4)
    g = mixture(Data(kind="gaussian25"))
    want = np.array([(2.0 * i, 2.0 * j) for i in range(-2, 3) for j in range(-2, 3)]) / grid_scale(0.05)
    np.testing.assert_allclose(np.asarray(g.means), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g.stds), 0.05 / grid_scale(0.05), rtol=1e-6)
    r = mixture(Data(kind="gaussian25_rotated"))
    # Aithal et al.'s diamond: their mode list × 2, e.g. (−2, 0), (−1.5, 0.5), (0, 2), (2, 0) before scaling
    theirs = 2.0 * np.array([(-2 + 0.5 * (i + j), 0.5 * (i - j)) for i in range(5) for j in range(5)]) / grid_scale(0.05)
    got = np.asarray(r.means)
    assert all(np.min(np.linalg.norm(got - t, axis=1)) < 1e-5 for t in theirs)
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    base = np.asarray(gj.GaussianMixture.grid(5, 2.0 / SQ2, 0.05, grid_scale(0.05)).means)
    np.testing.assert_allclose(got, base @ np.array([[c, s], [-s, c]]), atol=1e-6)  # rotation by +45°
    np.testing.assert_allclose(np.asarray(r.stds), np.asarray(g.stds), rtol=1e-6)


def test_equal_counts_and_empirical_data_feed_fit():
    gm = gj.GaussianMixture.line([1.0, 2.0, 3.0], 0.05)
    x = np.asarray(equal_count_sample(gm, key=jax.random.PRNGKey(1), n=301))
    lab = np.argmin(np.abs(x - np.asarray(gm.means)[:, 0]), axis=1)
    assert np.bincount(lab).tolist() == [101, 100, 100]
    data = empirical(gm, key=jax.random.PRNGKey(1), n=300)
    rows = np.asarray(data.sample(jax.random.PRNGKey(2), 50))
    assert all(np.any(np.all(np.asarray(data.x) == r, axis=1)) for r in rows)
    assert float(data.mode_std()) == pytest.approx(0.05) and float(data.data_std()) == pytest.approx(0.8165, rel=0.02)
    with pytest.raises(ValueError, match="x:"):
        EmpiricalData(np.zeros((0, 2)))
    # training.fit on an EmpiricalData: test_train_entry_point_runs_the_study


def test_sampler_range_training_is_the_truncated_schedule():
    """sigma_range = "sampler": the first t_max σ_t of the T = 1000 schedule, t_max = the sampler's steps."""
    cfg = Config(train=Config().train.model_copy(update={"sigma_range": "sampler"}))
    loss = training_loss(cfg)
    full, part = DDPMSigmas.from_config(cfg.loss).table()[0], DDPMSigmas.from_config(loss).table()[0]
    assert loss.ddpm_T == ddpm_sigmas(cfg.loss, cfg.eval.sigma_cap).shape[0] == 419
    np.testing.assert_allclose(part, full[:419], rtol=1e-12)
    assert part[-1] <= cfg.eval.sigma_cap < full[419]
    assert training_loss(Config()) == Config().loss


def test_beta_end_0p2_grid_stays_finite():
    """σ_T ≈ 3e23 for β_T = 0.2: the ε-MSE and the ε-preconditioned input must not overflow."""
    net = gj.make_net("aithal", 2, key=jax.random.PRNGKey(0), width=8, depth=1, embed_dim=4)
    x = jnp.array([1.0, -2.0])
    assert np.all(np.isfinite(np.asarray(net.precond.inputs(x, jnp.float32(3e23)))))
    np.testing.assert_allclose(net.precond.inputs(x, jnp.float32(2.0)), x / np.sqrt(5.0), rtol=1e-6)
    gm = gj.GaussianMixture.grid(5, 2.0, 0.05, grid_scale(0.05))
    for target in ("dsm", "exact"):
        loss = Loss(sigma_dist="ddpm", weighting="sigma2", ddpm_beta_start=0.001, ddpm_beta_end=0.2, target=target)
        val, _ = dsm_loss(net, gm, key=jax.random.PRNGKey(0), spec=loss.resolve(gm), batch=64)
        assert math.isfinite(float(val))


# ------------------------------------------------------------------------------ entry point
TINY = """study = "hallucination"
name = "tiny"
[[data]]
kind = "line"
positions = [1.0, 2.0, 4.0]
n_train = 256
[model]
width = 8
depth = 1
embed_dim = 4
[train]
steps = 6
batch = 32
steps_per_call = 3
[eval]
n_samples = 96
window_max = 12
exact = false
"""


def _main(argv):
    return cli_guard(lambda: train_cli.main(argv))()


@pytest.mark.slow  # tests/test_configs.py runs this study's configs through the entry point in CI
def test_train_entry_point_runs_the_study(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "basic" and m["meta"]["study"] == "hallucination" and "--out" in m["meta"]["command"]
    names = [r["name"] for r in m["summary"]]
    assert names == ["line_1_2_4_aithal_shared_s0", "line_1_2_4_training_set"]
    r = m["summary"][0]
    assert r["n"] == 96 and r["in_fraction"] + r["between_fraction"] + r["beyond_fraction"] == pytest.approx(1.0)
    assert (out / "summary.csv").is_file() and (out / "figures" / "samples_line_1_2_4.png").is_file()
    assert "study" in (out / "config.toml").read_text()


@pytest.mark.slow  # ~8 s; in CI: tests/test_configs.py runs this study (nothing written outside --out)
def test_run_writes_nothing_and_returns_finite_results(tmp_path, monkeypatch):
    """The study interface: run(cfg) computes in memory and writes no file (the entry point writes
    its Results); the summary rows are both a metrics key and the `summary` curve."""
    import tomllib

    from ghostjax.config import build
    from ghostjax.studies import Results, finite_metrics
    from ghostjax.studies.hallucination.toy import run

    cfg = build(Config, tomllib.loads(TINY))
    monkeypatch.chdir(tmp_path)
    res = run(cfg)
    assert list(tmp_path.iterdir()) == []
    assert isinstance(res, Results) and res.stopped_at is None and finite_metrics(res.metrics) is None
    assert res.metrics["task"] == "basic" and res.curves["summary"] == res.metrics["summary"]
    assert res.metrics["summary"][0]["n"] == 96
    ws = res.metrics["cells"][0]["window_study"]  # empty when every sample is in support (no detector)
    assert res.curves.get("window_study", []) == [{"name": "line_1_2_4_aithal_shared_s0", **w} for w in ws]
    assert set(res.figures) >= {"samples_line_1_2_4"} and "line_1_2_4_aithal_shared_s0: out" in res.summary


@pytest.mark.parametrize("override, key", [
    ("eval.window=50", "eval.window"),            # longer than eval.window_max = 12
    ("task=bogus", "task"),
    ("study=bogus", "study"),
    ("model.blocks=[\"tied\"]", "model.blocks"),
    ("loss.sigma_dist=lognormal", "loss.sigma_dist"),
    ("recursive.generations=0", "recursive.generations"),
    ("sweep.seeds=[1, 1]", "sweep.seeds"),
    ("task=ghosts", "data.kind"),
    ("train.foo=1", "train.foo"),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, override, key):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and key in err[0], err
    assert not out.exists()


def test_interrupted_recursive_run_resumes_to_the_same_numbers(tmp_path):
    """--stop-after 8 stops the first network (generation 0) with a checkpoint and no results; --resume
    (config read back from the run directory) finishes generation 0 from it, trains the later
    generations on its samples and ends with the same checkpoint bytes, the same per-generation
    numbers and the same convergence of generation 0 (its snapshot at step 8 read back from the
    stopped run) as an uninterrupted run."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    tiny = ["--no-progress", "task=recursive", "recursive.generations=2", 'recursive.rules=["none", "variance"]',
            "train.steps=10", "train.steps_per_call=2", "train.checkpoint_every=2", "eval.convergence_samples=16"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert _main(["--config", str(cfg), "--out", str(a), *tiny]) == 0
    assert _main(["--config", str(cfg), "--out", str(b), "--stop-after", "8", *tiny]) == 0
    assert not (b / "metrics.json").exists()
    assert json.loads((b / "cells/gen_0/checkpoints/latest.json").read_text())["step"] == 8
    assert not (b / "cells/none_gen_1").exists()
    assert _main(["--out", str(b), "--resume", "--no-progress"]) == 0
    for net in ("gen_0", "none_gen_1", "variance_gen_1"):
        blob = f"cells/{net}/checkpoints/ckpt_000000010.eqx"
        assert (a / blob).read_bytes() == (b / blob).read_bytes(), net

    def numbers(run):
        gens = json.loads((run / "metrics.json").read_text())["generations"]
        return [{k: v for k, v in g.items() if k != "train_s"} for g in gens]

    assert len(numbers(a)) == 4 and numbers(a) == numbers(b)
    ca, cb = (json.loads((r / "metrics.json").read_text())["generation0_convergence"] for r in (a, b))
    assert ca["flat"]["steps"] == [8, 10] and ca["flat"]["fractions"] == cb["flat"]["fractions"]
    assert ca["modes"] == cb["modes"]


def test_recursive_run_with_several_seeds_runs_one_chain_per_seed(tmp_path):
    """sweep.seeds = [0, 1]: each seed trains its own chain (its own generation 0, networks named
    seed_<s>_..., keys with the seed folded in), so the two chains' numbers differ; every row carries
    its seed and generation 0's convergence is recorded per seed."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress", "task=recursive", "recursive.generations=2",
                  'recursive.rules=["none", "variance"]', "sweep.seeds=[0, 1]", "eval.convergence_samples=16"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["seeds"] == [0, 1] and sorted(m["generation0_convergence_by_seed"]) == ["0", "1"]
    assert sorted((r["seed"], r["rule"], r["generation"]) for r in m["generations"]) == [
        (s, rule, g) for s in (0, 1) for rule in ("none", "variance") for g in (0, 1)]
    for net in ("seed_0_gen_0", "seed_1_gen_0", "seed_0_none_gen_1", "seed_1_variance_gen_1"):
        assert (out / "cells" / net / "checkpoints" / "latest.json").exists(), net
    by = {(r["seed"], r["rule"], r["generation"]): r for r in m["generations"]}
    assert by[0, "none", 0]["out_fraction"] == by[0, "variance", 0]["out_fraction"]  # generation 0 shared by the rules
    assert by[0, "none", 0]["final_loss"] != by[1, "none", 0]["final_loss"]          # but not by the seeds


def test_configs_in_the_repository_validate():
    root = Path(__file__).resolve().parents[1] / "configs"
    paths = sorted(root.glob("hallucination*.toml")) + sorted(root.glob("recursive*.toml"))
    assert paths
    for p in paths:
        study, cfg = train_cli.load(str(p), [])
        assert study == "hallucination" and isinstance(cfg, Config)
    with pytest.raises(ConfigError, match="variants"):
        train_cli.load(str(paths[0]), ["task=architecture"])


def test_classify_ghosts_of_opposite_corners_are_ghosts():
    """The ghosts task scores the detector on census GHOST vs REAL: a flipped corner is a ghost."""
    gm = mixture(Data(kind="corners", dim=3, std=0.1))
    lab = np.asarray(classify(np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0]]), gm)[0])
    assert lab.tolist() == [0, 1, 2]


def test_t_proj_reaches_the_network_from_model_and_variant():
    """[model] t_proj and a variant's t_proj build AithalMLP with their embedding projection (one more
    Linear(E, E)); unset variant values fall back to [model]."""
    import equinox as eqx

    from ghostjax.studies.hallucination.toy.config import Model
    from ghostjax.studies.hallucination.toy.nets import build_net

    def n_params(net):
        return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_inexact_array)))

    key = jax.random.PRNGKey(0)
    m = Model(width=16, depth=2, embed_dim=8)
    base, proj = build_net(m, 1, key=key), build_net(m.model_copy(update={"t_proj": True}), 1, key=key)
    assert n_params(proj) - n_params(base) == 8 * 8 + 8
    assert n_params(build_net(m, 1, key=key, t_proj=True)) == n_params(proj)
    assert n_params(build_net(m.model_copy(update={"t_proj": True}), 1, key=key, t_proj=False)) == n_params(base)


def test_window_study_scores_batchwise_and_known_windows():
    """window_study_scores on a constructed trajectory: sample 1 moves only in the last 3 steps, so
    windows of length ≥ 2 ending at the end flag it (AUC 1) and a window ending 5 steps earlier
    cannot (AUC ½, all ties); scores computed on two batches and concatenated equal the whole."""
    k, n = 20, 6
    traj = np.zeros((k, n, 2), np.float32)
    traj[-3:, 1] = np.array([0.0, 1.0, -1.0])[:, None]
    pos = np.arange(n) == 1
    s = hm.window_study_scores(traj, 5)
    assert set(s) == {(st, L, 0) for st in hm.WINDOW_STATS for L in (2, 3, 5, 10, 20)} | {
        (st, 5, o) for st in hm.WINDOW_STATS for o in (5, 10)}
    rows = {(r["stat"], r["length"], r["offset"]): r["auc"] for r in hm.window_study(s, pos)}
    assert all(rows[(st, L, 0)] == 1.0 for st in ("var", "path", "range") for L in (2, 3, 5, 10, 20))
    assert rows[("drift", 2, 0)] == 1.0 and rows[("var", 5, 5)] == 0.5
    halves = [hm.window_study_scores(traj[:, :3], 5), hm.window_study_scores(traj[:, 3:], 5)]
    for key, v in s.items():
        np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), v)
    assert hm.window_study(s, np.zeros(n, bool)) == []

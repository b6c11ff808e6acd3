"""The Simple Shapes study: the generator against its rules and PIL, the hallucination classifier on
data and on constructed violations, the rate interval, and the study through `python -m ghostjax.train`."""

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ghostjax import train
from ghostjax.config import cli_guard
from ghostjax.studies.hallucination.shapes import FULL, HALF, classify, generate
from ghostjax.studies.hallucination.shapes.classify import CATEGORIES, composition
from ghostjax.studies.hallucination.shapes.data import SHAPES, draw_pil, templates
from ghostjax.studies.hallucination.shapes.run import rate

SIZES = (64, 32)


@pytest.fixture(scope="module", params=SIZES)
def data(request):
    return generate(400, request.param, seed=3)


def test_generator_rules(data):
    g, img = data.geometry, data.images
    n = img.shape[0]
    assert img.shape == (n, g.size, g.size) and img.dtype == np.uint8 and set(np.unique(img)) <= {0, 255}
    assert np.all(img.reshape(n, -1).max(1) == 255)                       # no all-black image
    assert not img[:, g.col_h:].any() and not img[:, :, 3 * g.col_w:].any()  # padding stays black
    lo_hi = g.ranges()
    full_area = [int(m.sum()) for m, _, _ in templates(g)]
    for c in range(3):
        col = img[:, :g.col_h, c * g.col_w:(c + 1) * g.col_w] > 0
        area = col.sum((1, 2))
        p = data.present[:, c]
        assert np.array_equal(area > 0, p)                                 # pixels iff the metadata says present
        clipped = full_area[c] - templates(g)[c][0][:, -1].sum()           # right edge cut at the largest x
        assert set(area[p]) <= {full_area[c], clipped}
        x, y = data.x[p, c], data.y[p, c]
        assert x.min() >= lo_hi[c, 0] and x.max() <= lo_hi[c, 1] and y.min() >= lo_hi[c, 2] and y.max() <= lo_hi[c, 3]
        # metadata boxes are the pixels' bounding boxes
        rows, cols = col.any(2), col.any(1)
        for i in np.nonzero(p)[0][:40]:
            ys, xs = np.nonzero(rows[i])[0], np.nonzero(cols[i])[0]
            assert tuple(data.boxes[i, c]) == (ys[0], xs[0] + c * g.col_w, ys[-1] + 1, xs[-1] + 1 + c * g.col_w)
    assert np.all(data.boxes[~data.present] == -1)
    # their asserted pixel counts at full scale: square 64, triangle 65 ± 2, pentagon 70 ± 2
    if g is FULL:
        assert full_area == [65, 64, 70]
    x = data.model_inputs()
    assert x.dtype == np.float32 and x.shape == (n, g.size ** 2) and set(np.unique(x)) == {-1.0, 1.0}


@pytest.mark.parametrize("size", SIZES)
def test_generator_is_their_pil_raster_and_deterministic(size):
    d = generate(120, size, seed=5)
    g = d.geometry
    for i in range(120):
        for c, kind in enumerate(SHAPES):
            ref = draw_pil(kind, g, int(d.x[i, c]), int(d.y[i, c])) if d.present[i, c] else np.zeros((g.col_h, g.col_w), bool)
            assert np.array_equal(d.images[i, :g.col_h, c * g.col_w:(c + 1) * g.col_w] > 0, ref)
    again, other = generate(120, size, seed=5), generate(120, size, seed=6)
    assert np.array_equal(again.images, d.images) and not np.array_equal(other.images, d.images)
    assert np.array_equal(generate(40, size, seed=5).images, d.images[:40])   # a smaller n is a prefix


def test_generator_probabilities():
    """Each shape present with prob. ½ given not all black: P = (1/2)/(7/8) = 4/7; the number of
    shapes k = 1, 2, 3 with prob. 3/7, 3/7, 1/7 (5000 images, 4.5 standard errors)."""
    d = generate(5000, 32, seed=11)
    n = 5000
    se = math.sqrt((4 / 7) * (3 / 7) / n)
    assert np.all(np.abs(d.present.mean(0) - 4 / 7) < 4.5 * se)
    k = np.bincount(d.present.sum(1), minlength=4) / n
    for j, pj in ((1, 3 / 7), (2, 3 / 7), (3, 1 / 7)):
        assert abs(k[j] - pj) < 4.5 * math.sqrt(pj * (1 - pj) / n)
    assert k[0] == 0
    lo_hi = HALF.ranges()  # every anchor value of the ranges is drawn
    for c in range(3):
        p = d.present[:, c]
        assert set(np.unique(d.x[p, c])) == set(range(lo_hi[c, 0], lo_hi[c, 1] + 1))


def test_classifier_passes_the_data_and_lightly_blurred_data(data):
    c = classify(data.model_inputs(), data.geometry)
    assert not c.hallucinated.any() and not c.flags.any()
    assert np.array_equal(c.kinds, np.where(data.present, np.arange(3)[None], -1))
    assert np.array_equal(composition(c), (data.present * (1 << np.arange(3))).sum(1))
    assert np.array_equal(classify(data.images, data.geometry).hallucinated, c.hallucinated)  # uint8 input
    # soft edges (as a network draws them) keep every shape recognised
    x = data.model_inputs().reshape(-1, data.geometry.size, data.geometry.size)
    blurred = ndimage.gaussian_filter(x, (0, 0.7, 0.7)) + 0.15 * np.sin(np.arange(x.size)).reshape(x.shape)
    assert not classify(blurred.astype(np.float32), data.geometry).hallucinated.any()


def _canvas(g):
    return np.full((g.size, g.size), -1.0, np.float32)


def _put(img, mask, y, x):
    img[y:y + mask.shape[0], x:x + mask.shape[1]][mask] = 1.0
    return img


@pytest.mark.parametrize("g", [FULL, HALF], ids=["64", "32"])
def test_classifier_detects_each_violation(g):
    (tri, _, _), (sq, _, _), (pen, _, _) = templates(g)
    w = g.col_w
    cases = {}
    cases["extra: two triangles in column 0"] = ("extra", _put(_put(_canvas(g), tri, 1, 2), tri, g.col_h // 2, 2))
    cases["extra: two squares in column 1"] = ("extra", _put(_put(_canvas(g), sq, 1, w + 1), sq, g.col_h - sq.shape[0] - 2, w + 1))
    cases["wrong kind: square in column 2"] = ("wrong_kind", _put(_canvas(g), sq, 4, 2 * w + 2))
    cases["wrong kind: pentagon in column 0"] = ("wrong_kind", _put(_canvas(g), pen, 4, 1))
    half = _canvas(g)
    cases["half a square"] = ("malformed", _put(half, sq[: sq.shape[0] // 2], 4, w + 1))
    cases["half a pentagon"] = ("malformed", _put(_canvas(g), pen[:, : (pen.shape[1] + 1) // 2], 4, 2 * w + 2))
    cases["bottom half of a triangle"] = ("malformed", _put(_canvas(g), tri[tri.shape[0] // 2:], 4, 1))
    sm = _put(_canvas(g), sq, 4, w + 1) > 0
    cases["smeared square"] = ("malformed", np.where(ndimage.binary_dilation(sm, iterations=2), 1.0, -1.0))
    merged = _put(_put(_canvas(g), sq, 4, w + 1), sq, 4 + sq.shape[0] - 2, w + 1)  # two overlapping squares
    cases["merged squares"] = ("malformed", merged)
    cross = _canvas(g)
    cross[4:4 + sq.shape[0], w - sq.shape[1] // 2: w - sq.shape[1] // 2 + sq.shape[1]] = 1.0
    cases["square across the column border"] = ("malformed", cross)
    pad = _put(_canvas(g), sq, 4, w + 1)
    pad[g.size - 1, 3] = 1.0
    cases["speck in the padding"] = ("malformed", pad)
    cases["empty image"] = ("empty", _canvas(g))
    names = list(cases)
    x = np.stack([cases[k][1] for k in names])
    c = classify(x, g)
    for i, k in enumerate(names):
        assert c.hallucinated[i], k
        assert c.flags[i, CATEGORIES.index(cases[k][0])], (k, c.flags[i])
    ok = _put(_put(_put(_canvas(g), tri, 2, 0), sq, 5, w + 2), pen, g.col_h // 2, 2 * w + 1)  # a clean image for contrast
    assert not classify(ok[None], g).hallucinated[0]


def test_wilson_interval_matches_the_formula():
    k, n, z = 7, 200, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    r = rate(k, n, 0.95)
    assert r["rate"] == p and r["ci_lo"] == pytest.approx(centre - half) and r["ci_hi"] == pytest.approx(centre + half)


def _main(argv):
    return cli_guard(lambda: train.main(argv))()


TINY = ["--no-progress", "data.n_train=64", "model.kind=aithal", "model.width=16", "model.depth=1", "model.embed_dim=8",
        "train.steps=4", "train.batch=8", "train.steps_per_call=4", "eval.n_samples=24", "eval.batch=12",
        "eval.steps=6", "eval.window=3", "eval.grid=8"]


@pytest.mark.slow  # tests/test_configs.py runs this study's configs through the entry point in CI
def test_train_entry_point_runs_the_study(tmp_path, capsys):
    out = tmp_path / "run"
    assert _main(["--config", "configs/shapes.toml", "--out", str(out), *TINY, "eval.window_max=6"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    h = m["hallucination"]
    assert h["n"] == 24 and 0 <= h["ci_lo"] <= h["rate"] <= h["ci_hi"] <= 1 and m["data"]["hallucinated"] == 0
    assert sum(m["composition"]["samples"]) == 24 and m["summary"][0]["sample_steps"] == 6
    for f in ("config.toml", "summary.csv", "samples.npz", "figures/samples.png", "figures/training_images.png",
              "checkpoints/latest.json"):
        assert (out / f).is_file(), f
    assert (out / "figures/roc.png").is_file() == (m["detector"] is not None)
    if m["detector"] is not None:  # the window study: every statistic, lengths 2, 3, 5 and offsets 0–3
        ws = m["window_study"]
        assert (out / "window_study.csv").is_file() and (out / "figures/window_study.png").is_file()
        assert {(r["length"], r["offset"]) for r in ws} == {(2, 0), (3, 0), (5, 0)}
        var3 = [r["auc"] for r in ws if r["stat"] == "var" and r["length"] == 3 and r["offset"] == 0]
        assert var3 == [pytest.approx(m["detector"]["auc"])]
    assert "hallucinated" in capsys.readouterr().out


def test_run_writes_nothing_and_resumes_through_a_workspace(tmp_path, monkeypatch):
    """The study interface: run(cfg) trains in memory and writes no file, returning finite Results
    (samples.npz among its files); with a Workspace stopped at step 2 only its checkpoints are
    written, and resuming gives the in-memory run's numbers."""
    from ghostjax.config import apply_overrides, build, read_toml
    from ghostjax.runio import Workspace
    from ghostjax.studies import finite_metrics
    from ghostjax.studies.hallucination.shapes import Config, run

    over = [a for a in TINY if "=" in a] + ["train.steps_per_call=2", "train.checkpoint_every=2"]
    cfg = build(Config, apply_overrides(read_toml("configs/shapes.toml"), over))
    monkeypatch.chdir(tmp_path)
    res = run(cfg)
    assert list(tmp_path.iterdir()) == []
    assert res.stopped_at is None and finite_metrics(res.metrics) is None and "hallucinated" in res.summary
    assert res.curves["summary"] == res.metrics["summary"] and res.metrics["hallucination"]["n"] == 24
    with np.load(io.BytesIO(res.files["samples.npz"])) as z:
        assert z["x"].shape == (24, 32 * 32) and int(z["hallucinated"].sum()) == res.metrics["hallucination"]["k"]
    assert {"samples", "training_images"} <= set(res.figures)
    stopped = run(cfg, resume=Workspace(tmp_path / "w", stop_after=2))
    assert stopped.stopped_at == 2 and stopped.metrics == {} and stopped.files == {}
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["checkpoints"]
    resumed = run(cfg, resume=Workspace(tmp_path / "w", resume=True))
    assert resumed.metrics["hallucination"] == res.metrics["hallucination"]
    assert resumed.metrics["train"]["final_loss"] == res.metrics["train"]["final_loss"]


def test_sample_keeps_the_window_study_scores():
    """With eval.window_max the sampler keeps the last window_max x̂0 of every batch: the study's
    (var, window, 0) score is the detector's score, over all n images (batches concatenated, cut)."""
    import jax

    from ghostjax.studies.hallucination.shapes.run import build_net, sample

    _, cfg = train.load("configs/shapes.toml", [a for a in TINY if "=" in a] + ["eval.window_max=6"])
    xs, scores, study = sample(cfg, build_net(cfg, key=jax.random.PRNGKey(0)))
    assert xs.shape == (24, 32 * 32) and scores.shape == (24,)
    assert {(length, off) for _, length, off in study} == {(2, 0), (3, 0), (5, 0)}
    assert all(v.shape == (24,) for v in study.values())
    np.testing.assert_allclose(study[("var", 3, 0)], scores, rtol=1e-6)
    assert sample(cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"window_max": 0})}),
                  build_net(cfg, key=jax.random.PRNGKey(0)))[2] == {}


@pytest.mark.parametrize("override, key", [("model.foo=1", "model.foo"), ("data.size=48", "data.size"),
                                           ("model.kind=transformer", "model.kind"), ("eval.window=200", "eval.window"),
                                           ("eval.window_max=5", "eval.window_max"), ("eval.tail=100", "eval.tail"),
                                           ("task=loop", "task"), ("recursive.generations=1", "recursive.generations"),
                                           ('recursive.rules=["lowest"]', "recursive.rules"),
                                           ('recursive.rules=["random", "random"]', "recursive.rules")])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, override, key):
    out = tmp_path / "run"
    assert _main(["--config", "configs/shapes.toml", "--out", str(out), override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and key in err[0]
    assert not out.exists()


def test_configs_in_the_repository_validate():
    for name, size in (("shapes", 32), ("shapes_gpu", 64), ("shapes_recursive", 32), ("shapes_recursive_gpu", 64)):
        study, cfg = train.load(f"configs/{name}.toml", [])
        assert study == "shapes" and cfg.data.size == size and cfg.model.kind == "unet"
        assert cfg.task == ("recursive" if "recursive" in name else "basic")


def test_interrupted_run_resumes_to_the_same_result(tmp_path, capsys):
    """--stop-after 2 then --resume (config read back from the run directory) ends with the same checkpoint
    bytes and the same measured rate as an uninterrupted run."""
    a, b = tmp_path / "a", tmp_path / "b"
    tiny = [*TINY, "train.steps_per_call=2", "train.checkpoint_every=2"]
    assert _main(["--config", "configs/shapes.toml", "--out", str(a), *tiny]) == 0
    assert _main(["--config", "configs/shapes.toml", "--out", str(b), "--stop-after", "2", *tiny]) == 0
    assert not (b / "metrics.json").exists()
    assert json.loads((b / "checkpoints/latest.json").read_text())["step"] == 2
    assert _main(["--out", str(b), "--resume", "--no-progress"]) == 0
    blob = "checkpoints/ckpt_000000004.eqx"
    assert (a / blob).read_bytes() == (b / blob).read_bytes()
    ha = json.loads((a / "metrics.json").read_text())["hallucination"]
    hb = json.loads((b / "metrics.json").read_text())["hallucination"]
    assert ha == hb


# ------------------------------------------------------------------------------ recursive training
def test_selection_rules_keep_the_documented_draws():
    """The theme's selection rules: variance the n lowest scores (ties in index order), random a sorted
    subset of n without repeats, none the first n; the toy's recursive task uses them, and they give
    the indices of its former inline rule on the same keys (its results do not move)."""
    import jax

    from ghostjax.metrics import hallucination as hm
    from ghostjax.studies.hallucination import selection
    from ghostjax.studies.hallucination.toy import recursive as toy_recursive

    def inline(rule, x, score, n, *, key):  # toy/recursive.py's select before the rules were shared
        if rule == "variance":
            return hm.select_lowest(score, n)
        if rule == "random":
            return np.sort(np.asarray(jax.random.choice(key, x.shape[0], (n,), replace=False)))
        return np.arange(n)

    score = np.random.default_rng(0).random(50)
    n, key = 20, jax.random.PRNGKey(3)
    low = selection.select("variance", score, n, key=key)
    assert set(low) == set(np.argsort(score)[:n]) and score[low].max() < np.delete(score, low).min()
    assert list(selection.select("variance", np.array([1.0, 0.0, 1.0, 0.0, 1.0]), 3, key=key)) == [1, 3, 0]
    rnd = selection.select("random", score, n, key=key)
    assert rnd.size == n and np.all(np.diff(rnd) > 0) and rnd[0] >= 0 and rnd[-1] < 50
    assert not np.array_equal(rnd, selection.select("random", score, n, key=jax.random.PRNGKey(4)))
    assert np.array_equal(selection.select("none", score, n, key=key), np.arange(n))
    assert tuple(selection.RULES) == selection.RULE_NAMES == ("none", "random", "variance")
    assert all(r.name == name for name, r in selection.RULES.items())
    x = np.zeros((50, 3))
    for rule in selection.RULE_NAMES:
        for i in range(3):
            k = jax.random.fold_in(jax.random.PRNGKey(4322), 100 * i + 1)
            assert np.array_equal(selection.select(rule, score, n, key=k), inline(rule, x, score, n, key=k)), rule
    assert toy_recursive.select is selection.select
    with pytest.raises(ValueError, match="n:"):
        selection.select("none", score, 51, key=key)


def test_kept_images_are_stored_as_8_bit_images():
    from ghostjax.studies.hallucination.shapes.recursive import stored

    x = np.array([[-1.7, -1.0, -0.2, 0.0, 0.31, 1.0, 2.5, np.nan, np.inf, -np.inf]], np.float32)
    y = stored(x)
    levels = (y + 1.0) * 127.5
    assert y.dtype == np.float32 and np.allclose(levels, np.rint(levels), atol=1e-4)
    assert y[0, 0] == -1.0 and y[0, 6] == 1.0 and y[0, 8] == 1.0 and y[0, 9] == -1.0 and abs(y[0, 7]) < 1 / 127
    assert np.all(np.abs(y[0, 1:6] - x[0, 1:6]) <= 1 / 255 + 1e-6) and np.array_equal(stored(y), y)


REC = [*TINY, "task=recursive", "recursive.generations=2", "recursive.n_keep=64", "eval.extra_fraction=0.25",
       "eval.batch=40", "train.steps_per_call=2", "train.checkpoint_every=2"]  # 80 draws a generation, 64 kept
NETS = ("gen_0", "random_gen_1", "variance_gen_1")


@pytest.fixture(scope="module")
def recursive_run(tmp_path_factory):
    """configs/shapes_recursive.toml through the entry point at a tiny size, run from an empty working
    directory (so a write outside --out would show)."""
    root = tmp_path_factory.mktemp("recursive")
    out = root / "a"
    config = Path(__file__).resolve().parents[1] / "configs" / "shapes_recursive.toml"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert _main(["--config", str(config), "--out", str(out), *REC]) == 0
    return out


def _generations(run):
    return [{k: v for k, v in r.items() if k not in ("train_s", "sample_s")}
            for r in json.loads((run / "metrics.json").read_text())["generations"]]


def test_recursive_run_measures_every_rule_and_generation(recursive_run):
    """configs/shapes_recursive.toml at a tiny size through the entry point: per rule (random,
    variance) and generation a row with the rate of the 80 draws inside its Wilson interval, the
    categories and composition, the 64 kept; generation 0 (network and draws) shared by the rules;
    one checkpointed network per cell, the rate figure and the last generation's samples; and the smoke
    test's checks (tests/test_configs.py COVERED): finite numbers, config.toml, nothing outside --out."""
    from test_configs import _finite_numbers

    m = json.loads((recursive_run / "metrics.json").read_text())
    assert any(True for _ in _finite_numbers(m)) and (recursive_run / "config.toml").is_file()
    assert sorted(p.name for p in recursive_run.parent.iterdir()) == ["a"]
    rows = m["generations"]
    assert m["task"] == "recursive" and (m["n_keep"], m["n_extra"]) == (64, 16) and m["data"]["hallucinated"] == 0
    assert [(r["rule"], r["generation"]) for r in rows] == [("random", 0), ("random", 1), ("variance", 0), ("variance", 1)]
    for r in rows:
        assert (r["n_drawn"], r["n_kept"]) == (80, 64) and r["rate"] == r["hallucinated"] / 80
        assert 0 <= r["ci_lo"] <= r["rate"] <= r["ci_hi"] <= 1
        assert 0 <= r["kept_hallucinated"] <= min(64, r["hallucinated"]) and r["kept_rate"] == r["kept_hallucinated"] / 64
        assert sum(r["composition"]) == 80 and r["composition"][0] == r["hallucinated"]
        assert sum(r["kept_composition"]) == 64 and r["kept_composition"][0] == r["kept_hallucinated"]
        assert max(r[f"n_{c}"] for c in CATEGORIES) <= r["hallucinated"] <= sum(r[f"n_{c}"] for c in CATEGORIES)
    shared = [{k: v for k, v in r.items() if k != "rule" and not k.startswith("kept")} for r in rows if r["generation"] == 0]
    assert shared[0] == shared[1]
    assert m["summary"] == [{k: v for k, v in r.items() if not k.endswith("composition")} for r in rows]
    assert sorted(m["networks"]) == sorted(NETS)
    for f in ["summary.csv", "figures/hallucination_rate.png", "figures/samples_random.png",
              "figures/samples_variance.png", *(f"cells/{n}/checkpoints/latest.json" for n in NETS)]:
        assert (recursive_run / f).is_file(), f


def test_interrupted_recursive_run_resumes_to_the_same_numbers(recursive_run, tmp_path):
    """--stop-after 2 stops the first network (generation 0) with a checkpoint and no results; --resume
    (config read back from the run directory) finishes it, trains generation 1 per rule on its kept
    draws and ends with the uninterrupted run's checkpoint bytes and per-generation numbers."""
    b = tmp_path / "b"
    assert _main(["--config", "configs/shapes_recursive.toml", "--out", str(b), "--stop-after", "2", *REC]) == 0
    assert not (b / "metrics.json").exists() and not (b / "cells/random_gen_1").exists()
    assert json.loads((b / "cells/gen_0/checkpoints/latest.json").read_text())["step"] == 2
    assert _main(["--out", str(b), "--resume", "--no-progress"]) == 0
    for net in NETS:
        blob = f"cells/{net}/checkpoints/ckpt_000000004.eqx"
        assert (recursive_run / blob).read_bytes() == (b / blob).read_bytes(), net
    assert len(_generations(b)) == 4 and _generations(b) == _generations(recursive_run)

"""The hallucination and guidance sweep kinds: a tiny sweep of each runs end to end in this process
(run.cache_dir = none), writes its table, resumes (a rerun with one more cell runs only that cell),
and a bad grid key is one line and exit 2 with nothing written. The guidance cell's metrics are
checked against the guidance studies' own unbatched sampler (guidance_common.guided_run) on the
same keys; the hallucination cell against the data constructors and the exact score's floor."""

import json

import jax
import numpy as np
import pytest

from ghostjax import sweep
from ghostjax.config import cli_guard

HALLUCINATION = """
name = "tiny_hallucination"
kind = "hallucination"
[base.data]
kind = "line"
positions = [1.0, 2.0, 3.0]
std = 0.05
n_train = 512
[base.model]
width = 8
depth = 1
embed_dim = 8
[base.train]
steps = 40
batch = 64
steps_per_call = 20
checkpoint_every = 20
sigma_range = "sampler"
[base.eval]
n_samples = 256
window = 3
window_max = 3
[grid.data]
gap = [12.0]
[grid.train]
seed = [0]
[run]
cache_dir = "none"
figures = false
"""

GUIDANCE = """
name = "tiny_guidance"
kind = "guidance"
[base]
dim = 6
n_classes = 3
seed = 3
[base.sampler]
n = 64
steps = 24
[base.classes]
mean_std = 1.0
[grid]
w = [0.0]
[run]
batch_cells = 1
cache_dir = "none"
figures = false
"""


def run(tmp_path, text, out, *overrides):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(text)
    code = cli_guard(lambda: sweep.main([f"--config={cfg}", f"--out={out}", "--no-progress", *overrides]))()
    return code


def rows(out):
    return json.loads((out / "results.json").read_text())["rows"]


def cells_run(out):
    return json.loads((out / "timings.json").read_text())["cells_run"]


@pytest.mark.parametrize("text, bad", [(HALLUCINATION, "grid.data.bogus=[1]"), (GUIDANCE, "grid.bogus=[1]"),
                                       (GUIDANCE, "grid.schedule=['cosine']")])
def test_bad_grid_key_one_line_exit_2_nothing_written(tmp_path, capsys, text, bad):
    out = tmp_path / "run"
    assert run(tmp_path, text, out, bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and ("bogus" in err or "schedule" in err)
    assert not out.exists()


def test_guidance_sweep_matches_the_studies_sampler_and_resumes(tmp_path):
    from ghostjax.studies.guidance.common import Sampler, guided_run
    from ghostjax.guidance import Constant, cfg as cfg_score, class_mixture

    out = tmp_path / "g"
    assert run(tmp_path, GUIDANCE, out) == 0
    assert cells_run(out) == 1
    first = rows(out)
    assert run(tmp_path, GUIDANCE, out, "grid.w=[0.0, 3.0]") == 0
    assert cells_run(out) == 1  # the finished w = 0 cell is skipped
    table = rows(out)
    assert [r["w"] for r in table] == [0.0, 3.0] and table[0] == first[0]
    assert (out / "results.csv").is_file()
    key = jax.random.PRNGKey(3)
    gm = class_mixture(6, key=jax.random.fold_in(key, 0), n_classes=3, mean_std=1.0, std=1.0)
    smp = Sampler(n=64, steps=24)
    for r in table:  # the same samples through the studies' unbatched path: same metrics
        ref = guided_run(cfg_score(gm, 0, Constant(r["w"])), gm, 0, smp, key=jax.random.fold_in(key, 1))
        for k in ("overshoot", "var_par", "var_perp", "pr_ratio"):
            np.testing.assert_allclose(r[k], ref[k], rtol=2e-3, atol=2e-3, err_msg=f"w={r['w']} {k}")
        assert abs(r["accuracy"] - ref["accuracy"]) <= 1.01 / 64
    assert table[1]["overshoot"] > table[0]["overshoot"] + 0.1 and table[1]["var_par"] < table[0]["var_par"]
    assert table[1]["accuracy"] >= table[0]["accuracy"]


@pytest.mark.slow  # ~10 s; in CI: tests/test_configs.py runs configs/sweep_hallucination.toml through `sweep`
def test_hallucination_sweep_runs_resumes_and_keeps_the_floor(tmp_path):
    from ghostjax.studies.hallucination.toy.config import Data
    from ghostjax.studies.hallucination.toy.data import mixture

    out = tmp_path / "h"
    assert run(tmp_path, HALLUCINATION, out) == 0
    assert cells_run(out) == 1 and (out / "cells").is_dir()
    first = rows(out)
    assert run(tmp_path, HALLUCINATION, out, "grid.train.seed=[0, 1]") == 0
    assert cells_run(out) == 1  # seed 0 is skipped
    table = rows(out)
    assert [r["train.seed"] for r in table] == [0, 1] and table[0] == first[0]
    for r in table:
        assert r["n_modes"] == 3 and "model.blocks" not in r
        assert np.isclose(r["in_fraction"] + r["out_fraction"], 1.0)
        assert np.isclose(r["between_fraction"] + r["beyond_fraction"], r["out_fraction"])
        assert r["exact_out_fraction"] <= 3 / 256  # the exact score's floor (census miss rate 5e-4)
        assert r["final_loss"] > 0 and len(r) > 60
    # data.gap: K modes gap·std apart around the mean of `positions` (closed form)
    gm = mixture(Data(kind="line", positions=(1.0, 2.0, 3.0), std=0.05, gap=12.0))
    np.testing.assert_allclose(np.asarray(gm.means)[:, 0], [2 - 0.6, 2.0, 2 + 0.6], rtol=1e-6)
    gm5 = mixture(Data(kind="line", std=0.1, gap=10.0, n_modes=4, positions=(0.0, 1.0)))
    np.testing.assert_allclose(np.asarray(gm5.means)[:, 0], [-1.0, 0.0, 1.0, 2.0], rtol=1e-6, atol=1e-6)
    ckpt = json.loads(next((out / "cells").glob("*/checkpoints/*.json")).read_text())
    assert ckpt["step"] == 40


def test_shipped_configs_expand_and_group():
    from pathlib import Path

    from ghostjax.config import load_config
    from ghostjax.sweeps.runner import plan
    from ghostjax.sweeps.spec import SweepConfig, expand

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(SweepConfig, repo / "configs" / "sweep_hallucination.toml")
    cells = expand(cfg)
    assert len(cells) == 6 and {c.settings.data.gap for c in cells} == {8.0, 16.0, 32.0}
    cfg = load_config(SweepConfig, repo / "configs" / "sweep_guidance.toml")
    cells = expand(cfg)
    _, groups = plan(cfg, cells)
    assert len(cells) == 64 and len(groups) == 8  # one compiled program per (d, M): w and seed are vmapped
    assert sorted({c.settings.count() for c in cells}) == [2, 4, 5, 13, 167]


def test_every_kind_is_a_sweep_kind_with_the_shared_runner():
    from ghostjax.config import build
    from ghostjax.sweeps.kinds import KINDS, BatchedKind, SweepKind, TrainingKind, get_kind

    for name in KINDS:
        kind = get_kind(name)
        assert isinstance(kind, SweepKind) and kind.name == name and kind.metrics
        base = BatchedKind if kind.batched else TrainingKind
        assert isinstance(kind, base) and type(kind).run is base.run  # the runner is written once
        hash(kind.static_key(build(kind.schema, {})))  # default settings make a hashable static key


def test_sweep_kinds_come_from_the_study_registry():
    """`sweep` dispatches through the one study registry: every kind is named by exactly one study."""
    from ghostjax.studies.registry import STUDIES
    from ghostjax.sweeps.kinds import KINDS

    named = [s.sweep for s in STUDIES.values() if s.sweep is not None]
    assert sorted(KINDS) == sorted(named) and len(set(named)) == len(named)
    assert {"exact", "learned", "hallucination", "guidance"} <= set(KINDS)

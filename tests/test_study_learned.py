"""The learned study through the one study interface (studies/base.py): run() returns Results and
writes nothing; through a runio.Workspace a run stopped at stop_after and resumed ends with the
same results as an uninterrupted one, and a finished cell is read back."""

import json

from ghostjax.runio import Workspace
from ghostjax.studies import finite_metrics
from ghostjax.studies.ghosts import learned
from ghostjax.studies.registry import get

TINY = {"train": {"steps": 20, "steps_per_call": 10, "checkpoint_every": 10, "batch": 32},
        "model": {"width": 8, "per_position_width": 8, "depth": 1, "embed_dim": 4, "kinds": ["joint"]},
        "data": {"dim": 3}, "eval": {"n_samples": 128, "n_steps": 8, "n_score": 32, "score_sigmas": 3}}
TIMINGS = ("train_s", "eval_s", "steps_per_s")


def _plain(metrics: dict) -> dict:
    """The metrics as JSON would store them, wall-clock timings aside."""
    m = json.loads(json.dumps(metrics, default=float))
    for c in m["cells"]:
        for k in TIMINGS:
            c.pop(k)
    return m


def test_run_returns_results_writes_nothing_and_resumes_bitwise(tmp_path, monkeypatch):
    cfg = learned.Config.model_validate(TINY)
    assert get("learned").Config is learned.Config and cfg.study == "learned"
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)
    res = learned.run(cfg)
    assert list(empty.iterdir()) == []                          # in memory: not a single file
    assert res.stopped_at is None
    assert set(res.curves) == {"summary"} and set(res.figures) == {"ghosts", "score_error_gap"}
    assert set(res.files) == {"table.md"} and res.files["table.md"].startswith("| D |")
    assert set(res.metrics) == {"cells", "exact", "table"} and finite_metrics(res.metrics) is None
    names = [r["name"] for r in res.curves["summary"]]
    assert names == ["joint_D3_A1_s0", "exact_joint_D3", "exact_factorized_D3"]
    assert "joint_D3_A1_s0" in res.summary and "1 - w^D - (1-w)^D = 0.7500" in res.summary  # w = 1/2, D = 3
    cell = res.metrics["cells"][0]
    assert 0 <= cell["ghost_fraction"] <= 1 and cell["final_loss"] > 0

    # through a Workspace: stopped at step 10 (checkpoint only), then resumed to the end
    ws = tmp_path / "run"
    stopped = learned.run(cfg, resume=Workspace(ws, stop_after=10, meta={"command": "test"}))
    assert stopped.stopped_at == 10 and stopped.metrics == {} and not stopped.curves
    ckpt = ws / "cells" / "joint_D3_A1_s0"
    assert json.loads((ckpt / "checkpoints" / "latest.json").read_text())["step"] == 10
    assert not (ckpt / "result.json").exists()
    resumed = learned.run(cfg, resume=Workspace(ws, resume=True))
    assert resumed.stopped_at is None and (ckpt / "result.json").is_file() and (ckpt / "curves.csv").is_file()
    assert _plain(resumed.metrics) == _plain(res.metrics)
    assert resumed.curves == res.curves and resumed.files == res.files
    assert sorted(p.name for p in ws.iterdir()) == ["cells"]    # nothing but the Workspace's files
    # a finished cell is read back (result.json), not retrained: the same results, timings included
    again = learned.run(cfg, resume=Workspace(ws, resume=True))
    assert json.dumps(again.metrics, default=float) == json.dumps(resumed.metrics, default=float)

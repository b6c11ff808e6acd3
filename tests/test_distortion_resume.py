"""`python -m ghostjax.analyze --resume` on the guidance_distortion study (cell by cell through a
runio.Workspace): a run stopped after k cells and resumed writes the metrics of an uninterrupted run,
without recomputing the finished cells; --resume is refused (exit 2, one line) for a study that does
not resume and for a run directory holding another config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostjax import analyze
from ghostjax.config import cli_guard
from ghostjax.studies.guidance import distortion

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "guidance_distortion.toml")
# the tiny guidance_distortion of tests/test_configs.py, smaller still: 2 ladder settings × 2 w +
# 1 phase setting × 1 w, on 2 draws = 10 cells
TINY = ["observe=true", "draws=2", "phase_dim=8", "phase_beta_ratios=[1.0]", "phase_ws=[0.0]", "phase_n=32",
        "sampler.n=32", "sampler.steps=12", "fit_min_dim=8", "mf_points=3",
        'laws=[{kind = "exponential", beta = 0.1, dims = [8, 12]}]', "classes.max_classes=50"]
CELLS = 10


def _main(argv):
    return cli_guard(lambda: analyze.main([*argv, "--no-progress"]))()


def _untimed(obj):
    """metrics.json without its timing keys (meta, cost seconds)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in ("meta", "seconds", "elapsed_s")}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


@pytest.fixture
def counted(monkeypatch):
    """The number of cells computed (calls of the cell function); no figures (not what is tested)."""
    monkeypatch.setattr(distortion, "figures", lambda *a, **kw: {})
    calls = []
    real = distortion.guided_runs
    monkeypatch.setattr(distortion, "guided_runs", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    return calls


def test_stopped_then_resumed_run_equals_uninterrupted_and_reuses_cells(tmp_path, counted, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _main(["--config", CONFIG, "--out", str(a), *TINY]) == 0
    assert len(counted) == CELLS
    assert len(list((a / "cells").glob("*/result.json"))) == CELLS

    counted.clear()
    assert _main(["--config", CONFIG, "--out", str(b), "--stop-after", "3", *TINY]) == 0
    assert len(counted) == 3 and not (b / "metrics.json").exists()
    assert len(list((b / "cells").glob("*/result.json"))) == 3
    assert capsys.readouterr().err.strip() == "stopped after 3 finished cells; resume with --resume"

    counted.clear()  # the config is read back from --out
    assert _main(["--out", str(b), "--resume"]) == 0
    assert len(counted) == CELLS - 3  # finished cells are read back, not recomputed
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    assert _untimed(ma) == _untimed(mb)
    assert (a / "guidance_ladder.csv").read_text().count("\n") == (b / "guidance_ladder.csv").read_text().count("\n")

    # another config in the same run directory is refused, before anything runs
    counted.clear()
    assert _main(["--config", CONFIG, "--out", str(b), "--resume", *TINY, "seed=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different config" in err[0] and "seed" in err[0] and not counted


def test_ctrl_c_keeps_the_finished_cells(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(distortion, "figures", lambda *a, **kw: {})
    real, calls = distortion.guided_runs, []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(distortion, "guided_runs", interrupted)
    out = tmp_path / "run"
    assert _main(["--config", CONFIG, "--out", str(out), *TINY]) == 130
    assert capsys.readouterr().err.strip() == "interrupted; the finished cells are kept, resume with --resume"
    assert len(list((out / "cells").glob("*/result.json"))) == 2 and (out / "config.toml").is_file()


def test_plain_run_writes_nothing(tmp_path, monkeypatch, counted):
    monkeypatch.chdir(tmp_path)
    from ghostjax.entry import load

    _, cfg = load(CONFIG, [*TINY, "draws=1"], entry="analyze")
    res = distortion.run(cfg)
    assert res.stopped_at is None and res.metrics["ladder"] and len(counted) == CELLS // 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, words", [
    (["--config", str(ROOT / "configs" / "two_gaps.toml"), "--resume"], ("--resume", "two_gaps", "guidance_distortion")),
    (["--config", str(ROOT / "configs" / "two_gaps.toml"), "--stop-after", "2"], ("--resume", "two_gaps")),
    (["--config", CONFIG, "--stop-after", "0"], ("--stop-after", ">= 1")),
    (["--config", CONFIG, "--resume"], ("--resume", "no run to resume")),
])
def test_resume_refused_exits_2_with_one_line(tmp_path, capsys, argv, words):
    out = tmp_path / "run"
    assert _main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and all(w in err[0] for w in words), err
    assert not out.exists()

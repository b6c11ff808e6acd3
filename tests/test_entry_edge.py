"""The edge of every entry point (train, analyze, sweep, report) under bad input: one line on
stderr, a non-zero exit, and nothing left that blocks the corrected rerun (issue 18 item 5).

The classes: a non-finite number in a config; an --out that cannot be created; a corrupt file on
--resume; results that are non-finite; a run that fails after its directory was made; Ctrl-C.
Study runs are replaced by stubs where the class is about the entry point, not the study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghostjax import analyze, report, sweep, train
from ghostjax.config import RunFailed, cli_guard
from ghostjax.studies import Results
from ghostjax.studies.registry import STUDIES
from ghostjax.training import Interrupted

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "configs"
ENTRIES = {
    "analyze": (analyze.main, ["--config", str(CFG / "census.toml")]),
    "train": (train.main, ["--config", str(CFG / "quickstart.toml")]),
    "sweep": (sweep.main, ["--config", str(CFG / "sweep_dims.toml")]),
}
INF_KEY = {"analyze": "std", "train": "data.std", "sweep": "base.sigma_max"}


def _call(main, argv, capsys):
    status = cli_guard(lambda: main(argv))()
    err = capsys.readouterr().err.strip().splitlines()
    return status, err


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_config_value_is_one_line_exit_2(entry, value, tmp_path, capsys):
    main, argv = ENTRIES[entry]
    out = tmp_path / "run"
    status, err = _call(main, [*argv, "--out", str(out), "--no-progress", f"{INF_KEY[entry]}={value}"], capsys)
    assert status == 2 and len(err) == 1
    assert INF_KEY[entry] in err[0] and "finite" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("entry", sorted(ENTRIES) + ["report"])
def test_out_that_cannot_be_created_is_refused_before_any_work(entry, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "run"
    if entry == "report":
        main, argv = report.main, ["--runs", str(ROOT / "docs" / "runs"), "--out", str(out / "REPORT.md")]
    else:
        main, argv = ENTRIES[entry]
        argv = [*argv, "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    status, err = _call(main, argv, capsys)
    assert status == 2 and len(err) == 1 and "--out" in err[0], err
    assert time.perf_counter() - t0 < 30  # refused up front, not after the study ran
    assert blocker.read_text() == "not a folder"


def _stub(monkeypatch, name, fn):
    monkeypatch.setattr(STUDIES[name].load(), "run", fn)


def test_non_finite_results_exit_1_and_write_nothing(tmp_path, capsys, monkeypatch):
    _stub(monkeypatch, "census", lambda cfg, **kw: Results({"headline": {"ghost_fraction": float("nan")}, "n": 3}))
    out = tmp_path / "run"
    status, err = _call(analyze.main, [*ENTRIES["analyze"][1], "--out", str(out), "--no-progress"], capsys)
    assert status == 1 and len(err) == 1 and "headline.ghost_fraction" in err[0]
    assert not out.exists()
    _stub(monkeypatch, "census", lambda cfg, **kw: Results({"a": float("nan"), "b": [float("inf")], "n": 3}))
    status, err = _call(analyze.main, [*ENTRIES["analyze"][1], "--out", str(out), "--no-progress"], capsys)
    assert status == 1 and "every metric is non-finite" in err[0] and not out.exists()
    census = {"ghost_fraction": 0.5, "non_finite": 7, "non_finite_fraction": 0.07}
    _stub(monkeypatch, "census", lambda cfg, **kw: Results({"cases": {"balanced": {"factorized": census}}}))
    status, err = _call(analyze.main, [*ENTRIES["analyze"][1], "--out", str(out), "--no-progress"], capsys)
    assert status == 1 and "7 non-finite samples" in err[0] and "cases.balanced.factorized" in err[0]
    assert not out.exists()


def test_a_failed_training_run_leaves_nothing_that_blocks_the_rerun(tmp_path, capsys, monkeypatch):
    def boom(cfg, **kw):
        raise RunFailed("samples diverged")

    _stub(monkeypatch, "learned", boom)
    out = tmp_path / "run"
    status, err = _call(train.main, [*ENTRIES["train"][1], "--out", str(out), "--no-progress"], capsys)
    assert status == 1 and err == ["error: samples diverged"]
    assert not out.exists()  # the config.toml stub is gone: a corrected rerun (other settings) may use --out
    _stub(monkeypatch, "learned", lambda cfg, **kw: Results({"x": 1.0}, summary="ok"))
    status, _ = _call(train.main, [*ENTRIES["train"][1], "--out", str(out), "--no-progress", "train.steps=7"], capsys)
    assert status == 0 and json.loads((out / "metrics.json").read_text())["x"] == 1.0


@pytest.mark.parametrize("exc, line", [(Interrupted(40, "ckpt"), "interrupted at step 40; resume with --resume"),
                                       (KeyboardInterrupt(), "interrupted")])
def test_ctrl_c_is_one_line_exit_130(exc, line, tmp_path, capsys, monkeypatch):
    def stop(cfg, **kw):
        raise exc

    _stub(monkeypatch, "learned", stop)
    status, err = _call(train.main, [*ENTRIES["train"][1], "--out", str(tmp_path / "r"), "--no-progress"], capsys)
    assert status == 130 and len(err) == 1 and line in err[0]


def test_sweep_over_a_corrupt_results_table_is_one_line(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [*ENTRIES["sweep"][1], "--out", str(out), "--no-progress", "base.n=16", "base.n_steps=4", "grid.dim=[2]",
            "grid.weight=[0.5]", "grid.seed=[0]", "run.batch_cells=1", 'run.cache_dir="none"']
    assert _call(sweep.main, argv, capsys)[0] == 0
    (out / "results.json").write_text('{"rows": [')
    status, err = _call(sweep.main, argv, capsys)
    assert status == 2 and len(err) == 1 and "results.json is corrupt" in err[0]
    assert (out / "results.json").read_text() == '{"rows": ['


def test_sweep_whose_every_cell_diverges_exits_1(capsys):
    from ghostjax.sweep import check_rows

    with pytest.raises(RunFailed, match="every metric of the 2 cells"):
        check_rows([{"dim": 2, "g": None}, {"dim": 3, "g": float("nan")}], ("g",))
    check_rows([{"dim": 2, "g": None}, {"dim": 3, "g": 0.5}], ("g",))  # one finite cell is a result


TINY_LEARNED = ["train.steps=100000", "train.steps_per_call=10", "train.checkpoint_every=10", "train.batch=16",
                "model.width=8", "model.per_position_width=8", "model.depth=1", "model.embed_dim=4", "data.dim=2",
                "eval.n_samples=64", "eval.n_steps=8", "eval.n_score=32", "eval.score_sigmas=3", 'model.kinds=["joint"]']


@pytest.mark.slow  # a real SIGINT to a child `python -m ghostjax.train` (~14 s); in CI: tests/test_edge.py::test_ctrl_c_in_fit_checkpoints_and_names_the_step
def test_ctrl_c_during_training_then_resume_through_the_command_line(tmp_path, capfd):
    """A real SIGINT to `python -m ghostjax.train`: one line, exit 130, a checkpoint; a corrupt
    latest.json on --resume is one line naming it; the repaired run resumes to the end."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ghostjax.train", "--out", str(out), "--no-progress", *TINY_LEARNED]
    # SIGINT back to its default in the child: a shell's background job (`cmd &`) starts with SIGINT ignored,
    # Python then keeps it ignored, and the run would never see the interrupt this test sends
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    latest = out / "cells" / "joint_D2_A1_s0" / "checkpoints" / "latest.json"
    deadline = time.time() + 300  # a fresh venv on two loaded cores: imports and the first compile are slow
    while not latest.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if not latest.is_file():  # interrupt only a run that is training, so the test says which step failed
        proc.kill()
        pytest.fail(f"no checkpoint within 300 s (exit {proc.poll()}): {proc.communicate()[1][-2000:]}")
    os.kill(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=300)
    finally:  # never leave a run training on after a failure (it would load every later test)
        if proc.poll() is None:
            proc.kill()
    lines = err.strip().splitlines()
    assert proc.returncode == 130, err
    assert len(lines) == 1 and lines[0].startswith("interrupted at step") and "--resume" in lines[0]
    good = latest.read_text()
    latest.write_text(good[: len(good) // 2])
    # the corrupt resume fails before any computation: in process (capfd sees cli_guard's one line)
    assert cli_guard(lambda: train.main(["--out", str(out), "--resume", "--no-progress"]))() == 2
    err = capfd.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "latest.json" in err
    assert latest.read_text() == good[: len(good) // 2]  # nothing overwritten
    latest.write_text(good)
    step = json.loads(good)["step"]
    r = subprocess.run([sys.executable, "-m", "ghostjax.train", "--out", str(out), "--resume", "--no-progress",
                        "--stop-after", str(step + 30)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"stopped at step {step + 30}" in r.stderr
    assert json.loads(latest.read_text())["step"] == step + 30  # continued from the interrupted step

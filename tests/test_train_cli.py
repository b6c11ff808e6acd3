"""`python -m ghostjax.train`: validation before writing, exit codes, run directory, resume."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ghostjax import train
from ghostjax.config import cli_guard

REPO = Path(__file__).resolve().parents[1]
TINY = ["train.steps=20", "train.steps_per_call=10", "train.checkpoint_every=10", "train.batch=32",
        "model.width=8", "model.per_position_width=8", "model.depth=1", "model.embed_dim=4",
        "data.dim=3", "eval.n_samples=128", "eval.n_steps=8", "eval.n_score=32", "eval.score_sigmas=3",
        'model.kinds=["joint"]']


def _main(argv):
    return cli_guard(lambda: train.main(argv))()


@pytest.mark.parametrize("override, key", [
    ("model.foo=1", "model.foo"),
    ("train.steps=abc", "train.steps"),
    ("train.steps=0", "train.steps"),
    ("loss.weighting=bogus", "weighting"),
    ('model.kinds=["transformer"]', "kinds"),
    ("loss.band_lo=0.5", "band_lo"),          # band_lo ≥ band_hi (with band_hi = 0.3)
    ("eval.radius=1", "eval.radius"),         # the census takes eval.tail now
    ("eval.method=rk4", "eval.method"),
])
def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, override, key):
    out = tmp_path / "run"
    extra = ["loss.band_hi=0.3"] if "band_lo" in override else []
    assert _main(["--out", str(out), "--no-progress", override, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and key in err[0]
    assert not out.exists()


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert _main(["--config", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "r")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_help_and_default_config(capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(["--help"])
    assert e.value.code == 0 and "--resume" in capsys.readouterr().out
    assert train.default_config_path().name == "quickstart.toml"


def test_run_writes_its_files_and_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    """configs/quickstart.toml (the default) through the entry point at a tiny size: the smoke test's
    checks (tests/test_configs.py COVERED) and the run directory's contract."""
    from test_configs import _finite_numbers

    monkeypatch.chdir(tmp_path)
    a = tmp_path / "a"
    assert _main(["--out", str(a), "--no-progress", *TINY]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # nothing outside --out
    assert any(True for _ in _finite_numbers(json.loads((a / "metrics.json").read_text())))
    out = capsys.readouterr().out
    assert "joint_D3_A1_s0" in out and "exact_factorized_D3" in out
    metrics = json.loads((a / "metrics.json").read_text())
    assert {c["kind"] for c in metrics["cells"]} == {"joint"}
    assert {"exact_joint", "exact_factorized", "product_ghost_mass"} <= set(metrics["exact"]["3"])
    for f in ("config.toml", "summary.csv", "figures/ghosts.png", "figures/score_error_gap.png",
              "cells/joint_D3_A1_s0/curves.csv", "cells/joint_D3_A1_s0/checkpoints/latest.json"):
        assert (a / f).is_file(), f
    # a different config never overwrites the run directory
    before = (a / "config.toml").read_text()
    assert _main(["--out", str(a), "--no-progress", *TINY, "train.steps=30"]) == 2
    assert "different config" in capsys.readouterr().err and (a / "config.toml").read_text() == before
    # stop and bitwise resume: tests/test_study_learned.py (Workspace) and tests/test_entry_edge.py (Ctrl-C, CLI)


def test_resume_without_run_exits_2(tmp_path, capsys):
    assert _main(["--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no run to resume" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--resume"], ["--stop-after", "5"]])
def test_a_study_that_reruns_refuses_resume(tmp_path, capsys, flag):
    """guidance_learned trains its networks in memory: --resume / --stop-after exit 2 with one line that
    names it and the training studies that do resume, before anything is written."""
    out = tmp_path / "r"
    assert _main(["--config", str(REPO / "configs" / "guidance_learned.toml"), "--out", str(out), *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "guidance_learned study reruns" in err[0], err
    assert "only learned, hallucination, shapes resume" in err[0], err
    assert not out.exists()


def test_module_entry_point_exit_status(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ghostjax.train", "--out", str(tmp_path / "x"), "optim.lr=-1"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "optim.lr" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()

"""`python -m ghostjax.report`: the committed docs/REPRODUCTION.md is exactly what the recorded
runs in docs/runs produce; every claim has a row and a verdict; bad input exits 2."""

from pathlib import Path

import pytest

from ghostjax import report
from ghostjax.report_claims import CLAIMS, DEP, NOT, REP

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"


@pytest.mark.skipif(not (RUNS / "two_gaps" / "metrics.json").is_file(), reason="no recorded runs")
def test_committed_report_is_regenerated_from_recorded_runs(tmp_path):
    out = tmp_path / "docs" / "REPRODUCTION.md"
    assert report.main(["--runs", str(RUNS), "--out", str(out)]) == 0
    text = out.read_text()
    committed = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    # Links are relative to the report's folder, so compare the claims table only.
    table = [row for row in text.splitlines() if row.startswith("| ") and row[2:3].isdigit()]
    assert table == [row for row in committed.splitlines() if row.startswith("| ") and row[2:3].isdigit()]
    assert len(table) == len(CLAIMS)
    for row in table:
        assert any(f"**{v}**" in row for v in (REP, NOT, DEP))
        assert "python -m ghostjax.analyze --config configs/" in row or "python -m ghostjax.train --config configs/" in row


def test_render_marks_missing_runs():
    text = report.render({})
    assert text.count("not measured") == len(CLAIMS)


def test_bad_runs_folder_exits_2(tmp_path, capsys):
    from ghostjax.config import cli_guard

    rc = cli_guard(lambda: report.main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "r.md")]))()
    assert rc == 2
    assert "no recorded runs" in capsys.readouterr().err
    rc = cli_guard(lambda: report.main(["--rerun", "--only", "bogus", "--runs", str(tmp_path)]))()
    assert rc == 2


def test_rerun_validates_train_runs_before_running(tmp_path, capsys):
    """--rerun --only <train run> reads configs/<name>.toml through the train CLI's validation: a bad key
    stops everything with one line before any run directory is made."""
    from ghostjax.config import cli_guard

    cfgs = tmp_path / "configs"
    cfgs.mkdir()
    (cfgs / "hallucination_1d_full.toml").write_text('study = "hallucination"\nname = "x"\nbogus_key = 1\n')
    rc = cli_guard(lambda: report.main(["--rerun", "--only", "hallucination_1d_full", "--configs", str(cfgs),
                                        "--runs", str(tmp_path / "runs")]))()
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "bogus_key" in err
    assert not (tmp_path / "runs").exists()
    assert cli_guard(lambda: report.main(["--with-train", "--runs", str(tmp_path)]))() == 2

"""`python -m ghostjax.report`: the committed docs/REPRODUCTION.md is exactly what the recorded
runs in docs/runs produce through the studies' claims; every claim has one row and a verdict; the
numbers of a row are read from the metrics (change a metric, the row changes); bad input exits 2;
--rerun runs each config through the entry point the registry names."""

import copy
from pathlib import Path

import pytest

from ghostjax import report
from ghostjax.studies._claims_fmt import DEP, NOT, REP
from ghostjax.studies.registry import STUDIES

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"
recorded = pytest.mark.skipif(not (RUNS / "two_gaps" / "metrics.json").is_file(), reason="no recorded runs")


def _table(text: str) -> list[str]:
    return [row for row in text.splitlines() if row.startswith("| ") and row[2:3].isdigit()]


@recorded
def test_committed_report_is_regenerated_from_recorded_runs(tmp_path):
    out = tmp_path / "docs" / "REPRODUCTION.md"
    assert report.main(["--runs", str(RUNS), "--out", str(out)]) == 0
    text = out.read_text()
    committed = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    # Links are relative to the report's folder, so compare the claims table and the notes.
    assert _table(text) == _table(committed)
    notes = text.split("## Notes on the verdicts")[1].split("## Recorded runs")[0]
    assert notes == committed.split("## Notes on the verdicts")[1].split("## Recorded runs")[0]


@recorded
def test_one_row_per_claim_each_measured_without_na():
    """The rows are the registry's claims in order, numbered 1…n; each reads a recorded run (its
    recorded command in the row) and none prints 'n/a'; the rows of a seed form one block, in the order
    of the registry's themes (ghosts: 000/001, guidance: 004, hallucination: 003)."""
    by_study = report.load_runs(RUNS)
    claims = report.claims(by_study)
    table = _table(report.render(by_study))
    assert len(table) == len(claims) >= 32
    for i, (row, (study, c)) in enumerate(zip(table, claims), 1):
        assert row.startswith(f"| {i} | {c.text} ({c.seed}) |")
        assert any(f"**{v}**" in row for v in (REP, NOT, DEP, "not comparable", "not testable here")), row
        assert c.run in by_study[study.name]
        assert f"`python -m ghostjax.{study.entry} --config configs/{c.run}.toml --out docs/runs/{c.run}`" in row
        assert "n/a" not in row and "n/a" not in (c.note or "")
    seeds = [c.seed for _, c in claims]
    first_004, first_003 = seeds.index("004"), seeds.index("003")
    assert set(seeds[:first_004]) <= {"000", "001", "000, 001"}
    assert set(seeds[first_004:first_003]) == {"004"} and set(seeds[first_003:]) == {"003"}
    # every recorded run is listed once in the "Recorded runs" table, grouped by study in registry order
    text = report.render(by_study)
    listed = [r.split(" | ")[0][2:] for r in text.split("## Recorded runs")[1].splitlines() if r.startswith("| ")][1:]
    assert listed == [run for runs in by_study.values() for run in runs]
    assert sorted(listed) == sorted(p.parent.name for p in RUNS.glob("*/metrics.json"))


@recorded
def test_claims_read_their_numbers_from_the_metrics():
    """Change one recorded metric (or setting) and the row's text follows: nothing is typed."""
    by_study = report.load_runs(RUNS)
    hal = STUDIES["hallucination"]
    runs = by_study["hallucination"]
    before = {c.text: c for c in hal.claims(runs)}
    changed = copy.deepcopy(runs)
    row = next(r for r in changed["hallucination_1d_full"]["summary"] if r["name"] == "line_1_2_3_aithal_shared_s0")
    row["detection_at_retention"], row["detection_at_retention_se"] = 0.512, 0.031
    changed["hallucination_1d_full"]["meta"]["config"]["eval"]["n_samples"] = 7000
    after = {c.text: c for c in hal.claims(changed)}
    key = next(t for t in before if t.endswith("(1-D)"))
    assert "0.512 ± 0.031" in after[key].measured and "0.512" not in before[key].measured
    assert "0.51 ± 0.03 (shared blocks)" in after[key].note and "0.91 ± 0.02 (shared blocks)" in before[key].note
    first = next(iter(after))
    assert "7k samples per score" in after[first].definition and "20k samples" in before[first].definition
    # a ghost-theme setting and a guidance result
    census = copy.deepcopy(by_study["census"])
    census["census"]["meta"]["config"]["n"] = 1234
    assert "1234 reverse-SDE samples" in STUDIES["census"].claims(census)[0].definition
    gd = copy.deepcopy(by_study["guidance_distortion"])
    for r in gd["guidance_regime_large"]["ladder"]:
        r["var_par"] = 0.3
    persists = STUDIES["guidance_distortion"].claims(gd)[1]
    assert "ρ_∥ ≈ 0.3 at every d" in persists.note


def test_render_marks_missing_runs():
    claims = report.claims({})
    text = report.render({})
    assert len(claims) >= 32 and text.count("**not measured**") == len(claims)
    assert all(f"run `{c.run}` first" in text for _, c in claims)


def test_bad_runs_folder_exits_2(tmp_path, capsys):
    from ghostjax.config import cli_guard

    rc = cli_guard(lambda: report.main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "r.md")]))()
    assert rc == 2
    assert "no recorded runs" in capsys.readouterr().err
    rc = cli_guard(lambda: report.main(["--rerun", "--only", "bogus", "--runs", str(tmp_path)]))()
    assert rc == 2
    bad = tmp_path / "runs" / "x"
    bad.mkdir(parents=True)
    (bad / "metrics.json").write_text("{not json")
    rc = cli_guard(lambda: report.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "r.md")]))()
    assert rc == 2 and "metrics.json" in capsys.readouterr().err and not (tmp_path / "r.md").exists()


def test_rerun_validates_train_runs_before_running(tmp_path, capsys):
    """--rerun --only <train run> validates configs/<name>.toml against its study's Config: a bad key
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


def test_rerun_calls_the_entry_point_the_registry_names(tmp_path, monkeypatch):
    """An analyze study's config goes to ghostjax.analyze.main, a training study's to
    ghostjax.train.main, each with --config configs/<run>.toml --out <runs>/<run>; the default set is
    the studies that do not train (the training runs with --with-train)."""
    import ghostjax.analyze
    import ghostjax.train

    calls = []
    for mod in (ghostjax.analyze, ghostjax.train):
        monkeypatch.setattr(mod, "main", lambda argv, _m=mod.__name__: calls.append((_m, argv)) or 0)
    runs = tmp_path / "runs"
    report.rerun(report.parse_args(["--rerun", "--only", "census,hallucination_1d_full", "--configs",
                                    str(ROOT / "configs"), "--runs", str(runs)]), runs)
    cfg = ROOT / "configs"
    assert calls == [("ghostjax.analyze", ["--config", str(cfg / "census.toml"), "--out", str(runs / "census")]),
                     ("ghostjax.train", ["--config", str(cfg / "hallucination_1d_full.toml"), "--out",
                                         str(runs / "hallucination_1d_full")])]
    default = report.rerun_names(RUNS, with_train=False)
    assert "census" in default and "edm2_tree" in default and "hallucination_1d_full" not in default
    assert set(report.rerun_names(RUNS, with_train=True)) >= set(default) | {"hallucination_1d_full", "shapes"}



@recorded
def test_committed_results_tables_are_regenerated_from_recorded_runs():
    """Every `<!-- table: KEY -->` block of docs/results/*.md is what the themes' tables.py build
    from docs/runs: a table typed or edited by hand fails here."""
    built = report.tables(report.load_runs(RUNS))
    pages = sorted((ROOT / "docs" / "results").glob("*.md"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert report.fill(text, built, str(page)) == text, f"{page.name}: a table differs from its recorded run"


def test_fill_replaces_marked_tables_and_refuses_unknown_keys():
    text = "a\n<!-- table: t:x -->\n| old |\n<!-- /table -->\nb\n<!-- table: t:y -->\n<!-- /table -->\n"
    out = report.fill(text, {"t:x": "| new |\n", "t:y": "| y |"})
    assert out == "a\n<!-- table: t:x -->\n| new |\n<!-- /table -->\nb\n<!-- table: t:y -->\n| y |\n<!-- /table -->\n"
    with pytest.raises(report.ConfigError, match="t:x"):
        report.fill(text, {"t:y": "| y |"}, "page.md")

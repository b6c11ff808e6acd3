"""`python -m ghostjax.report`: the committed docs/REPRODUCTION.md is exactly what the recorded
runs in docs/runs produce through the studies' claims; every claim has one row and a verdict; the
numbers of a row are read from the metrics (change a metric, the row changes); bad input exits 2;
--rerun runs each config through the entry point the registry names."""

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
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
        entry = "sweep" if (RUNS / c.run / "results.json").is_file() else study.entry  # a sweep: its own command
        assert f"`python -m ghostjax.{entry} --config configs/{c.run}.toml --out docs/runs/{c.run}`" in row
        assert "n/a" not in row and "n/a" not in (c.note or "")
    seeds = [c.seed for _, c in claims]
    first_004, first_003 = seeds.index("004"), seeds.index("003")
    assert set(seeds[:first_004]) <= {"000", "001", "000, 001"}
    assert set(seeds[first_004:first_003]) == {"004"} and set(seeds[first_003:]) == {"003"}
    # every recorded run is listed once in the "Recorded runs" table, grouped by study in registry order
    text = report.render(by_study)
    listed = [r.split(" | ")[0][2:] for r in text.split("## Recorded runs")[1].splitlines() if r.startswith("| ")][1:]
    assert listed == [run for runs in by_study.values() for run in runs]
    sweeps = [p.parent.name for p in RUNS.glob("*/results.json") if not (p.parent / "metrics.json").is_file()]
    assert sorted(listed) == sorted([p.parent.name for p in RUNS.glob("*/metrics.json")] + sweeps)


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
    ghostjax.train.main, a sweep config (--only names it) to ghostjax.sweep.main, each with --config
    configs/<run>.toml --out <runs>/<run>; the default set is the studies that do not train (the
    training runs with --with-train)."""
    import ghostjax.analyze
    import ghostjax.sweep
    import ghostjax.train

    calls = []
    for mod in (ghostjax.analyze, ghostjax.train, ghostjax.sweep):
        monkeypatch.setattr(mod, "main", lambda argv, _m=mod.__name__: calls.append((_m, argv)) or 0)
    runs = tmp_path / "runs"
    report.rerun(report.parse_args(["--rerun", "--only", f"census,hallucination_1d_full,{SWEEP}", "--configs",
                                    str(ROOT / "configs"), "--runs", str(runs)]), runs)
    cfg = ROOT / "configs"
    assert calls == [("ghostjax.analyze", ["--config", str(cfg / "census.toml"), "--out", str(runs / "census")]),
                     ("ghostjax.train", ["--config", str(cfg / "hallucination_1d_full.toml"), "--out",
                                         str(runs / "hallucination_1d_full")]),
                     ("ghostjax.sweep", ["--config", str(cfg / f"{SWEEP}.toml"), "--out", str(runs / SWEEP)])]
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


# ------------------------------------------- sweep runs (results.json): the Gaussian25 paper-budget sweep
SWEEP = "sweep_hallucination_g25_full"
SWEEP_CMD = f"python -m ghostjax.sweep --config configs/{SWEEP}.toml --out docs/runs/{SWEEP}"
KINDS = ("gaussian25", "gaussian25_rotated")


def _conv(ok: bool = True) -> dict:
    return {"converged": ok, "widths_ok": True, "weights_ok": True, "flat_ok": ok,
            "modes": {"width_dev_max": 0.02, "weight_z_max": 1.1}, "flat": {"spread": 0.001, "spread_se": 0.002}}


def _sweep_row(seed: int, kind: str, det: float = 0.97, ok: bool = True) -> dict:
    """A results.json row of the sweep with the columns the report reads (fabricated numbers)."""
    conv = _conv(ok)
    return {"cell": 2 * seed + KINDS.index(kind), "id": f"{seed}{kind}", "label": f"train.seed={seed},data.kind={kind}",
            "train.seed": seed, "data.kind": kind, "train.steps": 100000, "train.batch": 10000, "eval.retention": 0.96,
            "out_fraction": 0.012, "out_fraction_se": 0.0003, "between_fraction": 0.008, "between_fraction_se": 0.0003,
            "beyond_fraction": 0.004, "beyond_fraction_se": 0.0002, "auc": 0.991, "auc_se": 0.001,
            "detection_at_retention": det, "detection_at_retention_se": 0.004, "retention": 0.96, "train_s": 6800.0,
            "sample_s": 40.0, "convergence": conv, "converged": conv["converged"], "flat_ok": conv["flat_ok"]}


def _sweep_dir(runs: Path, rows: list[dict], name: str = SWEEP, config: Path | None = None) -> Path:
    """runs/<name> as `python -m ghostjax.sweep` leaves it: config.toml and (rows given) results.json."""
    d = runs / name
    d.mkdir(parents=True)
    shutil.copy(config or ROOT / "configs" / f"{SWEEP}.toml", d / "config.toml")
    if rows is not None:
        (d / "results.json").write_text(json.dumps({"sweep": name, "kind": "hallucination", "n_cells": 6,
                                                    "n_done": len(rows), "rows": rows, "curves": {}}))
    return d


def _row30(by_study: dict):
    """Row 30's claim (the Gaussian25 detector) from runs loaded by load_runs."""
    return next(c for c in STUDIES["hallucination"].claims(by_study.get("hallucination", {}))
                if c.text.endswith("(Gaussian25)"))


def test_load_runs_reads_sweep_runs_of_kinds_that_name_a_study(tmp_path):
    """A sweep directory with results.json is a run of its kind's study (SweepKind.study), its config
    the base settings (what the claims read) and its command the sweep's; one with no finished cell
    (no results.json), or of a kind that names no study, is no run; --rerun leaves sweeps to their
    own command."""
    from ghostjax.studies._claims_fmt import config
    from ghostjax.sweeps.kinds import KINDS as SWEEP_KINDS, get_kind

    runs = tmp_path / "runs"
    _sweep_dir(runs, [_sweep_row(0, "gaussian25"), _sweep_row(0, "gaussian25_rotated")])
    _sweep_dir(runs, None, name="sweep_started")                                     # no cell finished yet
    _sweep_dir(runs, [], name="sweep_dims", config=ROOT / "configs" / "sweep_dims.toml")  # kind exact: no study
    by_study = report.load_runs(runs)
    assert list(by_study) == ["hallucination"] and list(by_study["hallucination"]) == [SWEEP]
    m = by_study["hallucination"][SWEEP]
    assert m["sweep"]["n_done"] == 2 and len(m["sweep"]["rows"]) == 2 and m["meta"]["command"] == SWEEP_CMD
    assert config(m)["name"] == SWEEP and config(m)["model"]["recipe"] == "aithal"
    assert config(m)["train"]["batch"] == 10000 and m["meta"]["sweep"]["kind"] == "hallucination"
    assert m["meta"]["elapsed_s"] == 2 * (6800.0 + 40.0) and report.is_sweep(m)
    assert SWEEP not in report.rerun_names(runs, with_train=True)
    # the kinds' studies agree with the registry (a study names its kind, the kind names it back)
    for name in SWEEP_KINDS:
        study = get_kind(name).study
        assert study is None or STUDIES[study].sweep == name
    (runs / SWEEP / "results.json").write_text("{torn")
    with pytest.raises(report.ConfigError, match="results.json"):
        report.load_runs(runs)


def test_gaussian25_row_waits_for_every_cell_of_the_sweep(tmp_path):
    """With 2 of the 6 cells finished, row 30 reads the sweep (its command in the row) but is 'not
    comparable', its note counting the cells and saying the same command resumes them."""
    runs = tmp_path / "runs"
    _sweep_dir(runs, [_sweep_row(0, "gaussian25"), _sweep_row(0, "gaussian25_rotated")])
    by_study = report.load_runs(runs)
    c = _row30(by_study)
    assert c.run == SWEEP and c.verdict == "not comparable"
    assert "2 of 6 cells recorded; the sweep continues (same command resumes)" in c.note
    assert "Gaussian25 (1/3 seeds): s0: detection 0.970 ± 0.004 at retention 0.960" in c.measured
    assert "diamond (1/3 seeds)" in c.measured and "t-interval" not in c.measured  # one seed: no interval
    assert "networks converged: 2/2" in c.measured
    assert "100,000 steps at batch 10000" in c.definition and "authors'" in c.definition
    row = next(r for r in _table(report.render(by_study)) if "(Gaussian25)" in r)
    assert f"`{SWEEP_CMD}`" in row and "**not comparable**" in row and "n/a" not in row


def test_gaussian25_row_from_the_finished_sweep_carries_the_seed_interval(tmp_path):
    """All 6 cells converged: reproduced when every data set's mean detection is ≥ 95 %, the measured
    text holding the mean ± 95 % Student-t interval over the seeds (computed here by hand)."""
    from scipy import stats

    det = {"gaussian25": [0.962, 0.981, 0.974], "gaussian25_rotated": [0.955, 0.968, 0.990]}
    rows = [_sweep_row(s, k, det[k][s]) for s in range(3) for k in KINDS]
    runs = tmp_path / "runs"
    _sweep_dir(runs, rows)
    c = _row30(report.load_runs(runs))
    assert c.verdict == "reproduced", c.note
    for kind, label in (("gaussian25", "Gaussian25"), ("gaussian25_rotated", "diamond")):
        x = np.asarray(det[kind])
        half = stats.t.ppf(0.975, df=2) * x.std(ddof=1) / math.sqrt(3)
        assert half > 0.01  # the seed spread, not a binomial se
        assert f"{label} (3/3 seeds)" in c.measured
        assert f"mean detection {x.mean():.3f} ± {half:.3f} (95 % t-interval over 3 seeds)" in c.measured
    assert "networks converged: 6/6 (widths 6/6, weights 6/6, flat 6/6)" in c.measured
    # one data set's mean below the claim: not reproduced, naming it
    low = [_sweep_row(s, k, 0.9 if k == "gaussian25_rotated" else 0.97) for s in range(3) for k in KINDS]
    shutil.rmtree(runs)
    _sweep_dir(runs, low)
    c = _row30(report.load_runs(runs))
    assert c.verdict == "not reproduced" and "below 95 % for diamond" in c.note


def test_gaussian25_row_needs_converged_networks(tmp_path):
    rows = [_sweep_row(s, k, ok=(s, k) != (1, "gaussian25")) for s in range(3) for k in KINDS]
    runs = tmp_path / "runs"
    _sweep_dir(runs, rows)
    c = _row30(report.load_runs(runs))
    assert c.verdict == "not comparable" and "networks converged: 5/6" in c.measured
    assert c.note.startswith("Not comparable (networks not converged: Gaussian25 s1 (flat)); at convergence it "
                             "would read: reproduced.")


@recorded
def test_gaussian25_row_reads_the_basic_run_until_a_sweep_cell_finishes():
    """No sweep run, or one with no finished row: row 30 reads hallucination_2d_full as the committed
    report does."""
    runs = {k: v for k, v in report.load_runs(RUNS)["hallucination"].items() if k != SWEEP}
    before = _row30({"hallucination": runs})
    assert before.run == "hallucination_2d_full" and "Gaussian25" in before.measured
    empty = report.sweep_run(SWEEP, report._toml(ROOT / "configs" / f"{SWEEP}.toml"),
                             {"sweep": SWEEP, "kind": "hallucination", "n_cells": 6, "n_done": 0, "rows": []},
                             "hallucination")
    assert _row30({"hallucination": {**runs, SWEEP: empty}}) == before
    committed = _table((ROOT / "docs" / "REPRODUCTION.md").read_text())
    if not (RUNS / SWEEP / "results.json").is_file():
        assert any(f"| {before.measured} |" in r and "hallucination_2d_full" in r for r in committed)


"""studies/ghosts/tables.py: the tables of docs/results/ghosts.md read their numbers from the runs'
metrics (checked against numbers computed here from small synthetic metrics, after the JSON round
trip a recorded run goes through); a missing run gives a marker naming the command, not a crash;
the page holds no table outside the generated blocks."""

import json
import re
from pathlib import Path

import numpy as np

from ghostjax import report
from ghostjax.studies.ghosts import tables as T
from ghostjax.studies.ghosts.learned.run import aggregate

PAGE = Path(__file__).resolve().parents[1] / "docs" / "results" / "ghosts.md"
SUMMARY = ("ghost_fraction", "off_fraction", "gap_peak", "score_rel_err_band")


def _learned_metrics(rng) -> tuple[dict, list[dict]]:
    rows = [{"dim": d, "kind": k, "band_factor": a, "seed": s, **{key: float(rng.uniform()) for key in SUMMARY}}
            for d in (16, 2) for k in ("joint", "factorized") for a in (1.0, 10.0) for s in range(3)]
    curve = {"sigma": [80.0, 8.0, 1.0, 0.3, 0.01], "gap": [0.0, 0.1, 0.5, 0.95, 1.0]}
    refs = {d: {"exact_joint": {"ghost_fraction": 0.001, "off_fraction": 0.002},
                "exact_factorized": {"ghost_fraction": 0.4, "off_fraction": 0.003, "gap_peak": 1.0,
                                     "score_rel_err_band": 0.05, "gap_curve": curve},
                "product_ghost_mass": 0.5} for d in (2, 16)}
    meta = {"config": {"data": {"std": 0.3}, "loss": {"band_lo": 0.0, "band_hi": 0.0}}}
    m = {"meta": meta, "cells": rows, "exact": {str(d): r for d, r in refs.items()},
         "table": aggregate(rows, refs)}
    return json.loads(json.dumps(m)), rows


def _row(table: str, start: str) -> list[str]:
    (line,) = [r for r in table.splitlines() if r.startswith(start)]
    return [c.strip() for c in line.strip("|").split("|")]


def test_learned_cell_is_mean_and_std_over_seeds_of_the_cells():
    m, rows = _learned_metrics(np.random.default_rng(0))
    built = T.tables({"learned_study": m})["learned"]
    v = np.array([r["off_fraction"] for r in rows if (r["dim"], r["kind"], r["band_factor"]) == (16, "joint", 10.0)])
    assert _row(built, "| 16 | joint | 10 |")[4] == f"{v.mean():.3f} ± {v.std():.3f}"
    dims = [int(line.split("|")[1]) for line in built.splitlines()[2:]]
    assert dims == sorted(dims) and dims[0] == 2  # D in numeric order, though JSON keys are strings


def test_decision_sigmas_are_read_from_the_exact_factorized_gap_curve():
    m, _ = _learned_metrics(np.random.default_rng(1))
    built = T.tables({"learned_study": m})["learned_decision"]
    # gap [0, 0.1, 0.5, 0.95, 1.0] over σ [80, 8, 1, 0.3, 0.01]: half of the final gap at σ = 1, 90 % at 0.3
    assert _row(built, "| 2 |") == ["2", "1.000", "1.00", "0.30", "[0.03, 0.3]"]
    assert T.first_below([3.0, 2.0, 1.0], [0.2, 0.6, 1.0], 0.5) == 2.0
    assert np.isnan(T.first_below([2.0, 1.0], [0.0, float("nan")], 0.5))


def test_census_fractions_are_counts_over_n():
    s = {"n": 8, "real": 5, "ghost": 2, "off": 1, "non_finite": 0}
    frac = {f"{k}_fraction": s[k] / s["n"] for k in ("real", "ghost", "off", "non_finite")}
    m = {"cases": {"balanced D=3": {"joint": {**s, **frac}, "factorized": {**s, **frac},
                                    "predicted_ghost_mass": 0.75}}}
    built = T.tables({"census": m})["census"]
    assert _row(built, "| balanced D=3 | factorized |") == ["balanced D=3", "factorized", "0.6250", "0.2500",
                                                             "0.1250", "0.0000", "0.7500"]


def test_missing_runs_give_a_marker_naming_the_command():
    built = T.tables({})
    assert set(built) == {"learned", "learned_decision", "census"}
    assert "configs/learned_study.toml" in built["learned"] and "No recorded run `census`" in built["census"]
    filled = report.fill("<!-- table: ghosts:census -->\n| old |\n<!-- /table -->\n",
                         {f"ghosts:{k}": v for k, v in built.items()})
    assert "| old |" not in filled and "No recorded run" in filled


def test_page_has_no_table_outside_generated_blocks():
    text = PAGE.read_text()
    keys = re.findall(r"<!-- table: ghosts:(\w+) -->", text)
    assert sorted(keys) == sorted(T.BUILDERS)
    rest = report.TABLE.sub("", text)
    assert not [line for line in rest.splitlines() if line.startswith("|")]

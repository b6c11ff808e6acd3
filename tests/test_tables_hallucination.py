"""studies/hallucination/tables.py: the tables of docs/results/hallucination.md read their numbers from
the metrics (checked here on small synthetic metrics against numbers computed by hand), and a run that
is not recorded gives a marker naming it and its command, not a crash."""

import math
import random
import tomllib
from pathlib import Path

from ghostjax.studies.hallucination import readers as R
from ghostjax.studies.hallucination import tables as T

SWEEP_CONFIG = Path(__file__).resolve().parents[1] / "configs" / f"{R.G25_SWEEP}.toml"


def _cells(table: str, first: str) -> list[str]:
    """The cells of the row whose first cell is `first`."""
    row = next(r for r in table.splitlines() if r.startswith(f"| {first} |"))
    return [c.strip() for c in row.strip("|").split("|")]


def _arch_row(variant: str, seed: int, out: float, between: float, **extra) -> dict:
    return {"name": variant, "seed": seed, "out_fraction": out, "between_fraction": between,
            "variant": {"name": variant, "source": "fixed", **extra}, "score_err_between": {"t1": 3.0, "t10": 0.5}}


def test_architecture_mean_over_seeds_and_labels():
    cfg = {"name": "a", "model": {"blocks": ["shared"], "width": 128, "depth": 3}, "train": {"steps": 8000}}
    full = {"meta": {"config": cfg}, "exact": {"split": {"out_fraction": 0.0003, "between_fraction": 0.0002}},
            "summary": [{"name": "exact", "seed": ""}, _arch_row("base", 0, 0.0101, 0.009),
                        _arch_row("wide", 0, 0.05, 0.04, width=512)]}
    seeds = {"meta": {"config": cfg}, "exact": full["exact"],
             "summary": [_arch_row("base", 1, 0.0042, 0.003), _arch_row("base", 2, 0.0173, 0.007)]}
    t = T.architecture([full, seeds])
    base = _cells(t, "base (shared, width 128, depth 3)")
    assert base[1:4] == ["0.0101 (0.0090)", "0.0042 (0.0030)", "0.0173 (0.0070)"]
    assert base[4] == f"{(0.0101 + 0.0042 + 0.0173) / 3:.4f}" == "0.0105"
    assert base[5] == "3.0 / 0.50"
    wide = _cells(t, "width 512")  # one seed only: no mean
    assert wide[1] == "0.0500 (0.0400)" and wide[2:5] == ["", "", ""]
    assert _cells(t, "exact score")[1] == "0.0003 (0.0002)"


def test_recursive_rows_follow_generations_and_masses_are_in_units_of_one_over_k():
    gens = [{"rule": "none", "generation": g, "out_fraction": 0.01 * (g + 1), "out_fraction_se": 0.001 * (g + 1),
             "mode_mass": [0.2, 0.3, 0.5]} for g in range(4)]
    random.Random(0).shuffle(gens)  # the table orders by generation, not by list order
    m = {"meta": {"config": {"recursive": {"rules": ["none", "variance"]}}}, "data": "line_1_2_3", "generations": gens}
    t = T.recursive([m])
    row = _cells(t, "{1, 2, 3}")
    assert row[1:3] == ["none", "0"] and row[3:7] == ["0.010", "0.020", "0.030", "0.040"]  # rows without a seed: 0
    assert row[7] == "0.004"                                   # the largest se of the row
    assert row[8] == ", ".join(f"{3 * x:.2f}" for x in (0.2, 0.3, 0.5)) == "0.60, 0.90, 1.50"
    assert "variance" not in t                                  # a rule with no generations gives no row
    seeded = [{**g, "seed": s, "out_fraction": g["out_fraction"] + s} for s in (3, 1) for g in gens]
    t = T.recursive([{**m, "generations": seeded}])             # one row per rule and training seed, by seed
    assert [(r[2], r[3]) for r in (_row.split(" | ") for _row in t.splitlines()[2:])] == [("1", "1.010"), ("3", "3.010")]


def test_shapes_counts_carry_the_wilson_interval():
    m = {"meta": {"config": {"eval": {"confidence": 0.95}}}, "data": {"hallucinated": 0, "n_train": 5000},
         "hallucination": {"k": 30, "n": 200, "categories": {"extra": 10, "empty": 0}}}
    t = T.shapes_counts(m)
    z, k, n = 1.959963984540054, 10, 200  # Wilson by hand
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    extra = _cells(t, "two or more shapes in one column")
    assert extra[1:] == ["10 / 200", f"0.050 [{centre - half:.3f}, {centre + half:.3f}]"]
    assert _cells(t, "hallucinated (any rule)")[2].startswith("0.150 [")
    assert _cells(t, "empty image")[2].startswith("0.000 [0.000, ")


def shapes_recursive_metrics(rates: dict[str, list[int]], n: int = 1000, aucs=None) -> dict:
    """Synthetic metrics of the Simple Shapes recursion: {rule: hallucinated count per generation} of
    n draws each (Wilson intervals by _claims_fmt.wilson), 900 kept a generation."""
    from ghostjax.studies._claims_fmt import wilson

    rows = []
    for rule, ks in rates.items():
        for g, k in enumerate(ks):
            lo, hi = wilson(k, n)
            rows.append({"rule": rule, "generation": g, "n_drawn": n, "n_kept": 900, "rate": k / n, "ci_lo": lo,
                         "ci_hi": hi, "hallucinated": k, "kept_rate": (k // 2) / 900, "kept_hallucinated": k // 2,
                         "n_extra": k // 2, "n_wrong_kind": 1, "n_malformed": k - k // 2 - 1, "n_empty": 0,
                         "auc": (aucs or {}).get(rule, [0.55] * len(ks))[g], "train_s": 400.4, "final_loss": 0.01234,
                         "sample_s": 100.0})
    cfg = {"eval": {"confidence": 0.95, "extra_fraction": 0.025, "window": 10, "steps": 100},
           "train": {"steps": 2000, "batch": 32}, "loss": {"ddpm_T": 1000}, "recursive": {"generations": len(ks)}}
    return {"meta": {"config": cfg}, "task": "recursive", "n_keep": 900, "n_extra": n - 900,
            "data": {"size": 32, "n_train": 900, "seed": 0, "hallucinated": 0}, "generations": rows}


def test_shapes_recursive_table_has_one_row_per_rule_and_generation_with_wilson_intervals():
    m = shapes_recursive_metrics({"variance": [200, 150], "random": [200, 300]})
    t = T.shapes_recursive(m)
    rows = [[c.strip() for c in r.strip("|").split("|")] for r in t.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("random", "0"), ("random", "1"), ("variance", "0"), ("variance", "1")]
    z, k, n = 1.959963984540054, 300, 1000  # Wilson by hand
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert rows[1][2] == f"300 / 1000 = 0.300 [{centre - half:.3f}, {centre + half:.3f}]"
    assert rows[1][3:] == ["150 / 1 / 149 / 0", "150 / 900", "0.55", "400", "0.0123"]


def test_interpolation_orders_scores_and_blanks_the_detector_where_none_ran():
    cfg = {"name": "h", "data": [{"kind": "line", "positions": [1.0, 2.0]}],
           "eval": {"retention": 0.96, "extra_fraction": 0.025}}
    net = {"name": "line_1_2_aithal_shared_s0", "data": "line_1_2", "score": "aithal_shared", "out_fraction": 0.02,
           "out_fraction_se": math.sqrt(0.02 * 0.98 / 1000), "between_fraction": 0.015, "beyond_fraction": 0.005,
           "auc": 0.91, "auc_se": 0.012, "detection_at_retention": 0.6, "detection_at_retention_se": 0.05,
           "deep_fraction": 0.001, "detection_deep_at_retention": 1.0, "selection_removed_out": 0.5,
           "selection_kept_in": 0.98}
    train = {"name": "line_1_2_training_set", "data": "line_1_2", "score": "training set", "out_fraction": 0.0004,
             "between_fraction": 0.0003, "beyond_fraction": 0.0001}
    t = T.interpolation([{"meta": {"config": cfg}, "summary": [net, train]}])
    assert [r.split(" | ")[1] for r in t.splitlines()[2:]] == ["training set", "shared blocks"]
    row = _cells(t, "{1, 2}")
    assert row[2] == "0.0004" and row[5:] == ["", "", "", ""]
    shared = next(r for r in t.splitlines() if "shared blocks" in r)
    assert f"0.0200 ± {math.sqrt(0.02 * 0.98 / 1000):.4f}" == "0.0200 ± 0.0044" and "0.0200 ± 0.0044" in shared
    assert "0.910 ± 0.012" in shared and "0.50 / 0.980" in shared


def test_missing_runs_give_a_marker_naming_the_run_and_its_command(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "CONFIGS", tmp_path / "none")
    out = T.tables({})
    assert set(out) == {"interpolation", "convergence", "recursive", "gap", "architecture", "shapes", "samplers",
                        "g25_sweep", "g25_recipes", "shapes_recursive", "defaults"}
    assert out["g25_recipes"] == R.no_cells(R.G25_SWEEP) + R.no_cells(R.RECIPE_SWEEP)
    for name, text in out.items():
        if name not in ("defaults", "g25_sweep", "g25_recipes"):
            assert text.startswith("*No recorded run `"), name
    assert out["g25_sweep"] == (  # the sweep: its own command, which also resumes it
        f"*No finished cell of the sweep `{R.G25_SWEEP}` yet: run it with `python -m ghostjax.sweep --config "
        f"configs/{R.G25_SWEEP}.toml --out docs/runs/{R.G25_SWEEP}` (the same command resumes it).*\n")
    assert ("`python -m ghostjax.train --config configs/shapes_detector.toml --out docs/runs/shapes_detector`"
            in out["samplers"])
    shapes = {"meta": {"config": {"eval": {"confidence": 0.95}}}, "data": {"hallucinated": 0, "n_train": 10},
              "hallucination": {"k": 1, "n": 10, "categories": {}}}
    part = T.tables({"shapes": shapes})
    assert part["shapes"].startswith("|") and part["samplers"].count("No recorded run") == 1
    assert "`shapes_detector`" in part["samplers"]
    assert out["defaults"].startswith("*No config folder")


def test_defaults_put_each_config_beside_its_recorded_run(tmp_path):
    (tmp_path / "toy.toml").write_text('study = "hallucination"\nname = "toy"\ntask = "basic"\n'
                                       '[train]\nsteps = 300\nbatch = 16\n[eval]\nn_samples = 700\n')
    (tmp_path / "toy_full.toml").write_text('study = "hallucination"\nname = "toy_full"\n')  # not a default
    (tmp_path / "other.toml").write_text('study = "census"\n')                                # another study
    recorded = {"name": "toy_full", "task": "basic", "data": [{}, {}], "model": {"blocks": ["shared", "independent"]},
                "train": {"steps": 12000, "batch": 256}, "eval": {"n_samples": 20000}, "sweep": {}}
    t = T.defaults({"toy_full": {"meta": {"config": recorded}}}, tmp_path)
    assert len(t.splitlines()) == 3
    assert _cells(t, "`toy`") == ["`toy`", "basic", "300 × 16", "700", "1",
                                  "`toy_full`", "12,000 × 256", "20,000", "4"]
    assert _cells(T.defaults({}, tmp_path), "`toy`")[5] == "none"


def _conv(converged, widths=True, weights=True, flat=True, dev=0.03, z=1.2):
    return {"converged": converged, "widths_ok": widths, "weights_ok": weights, "flat_ok": flat,
            "modes": {"width_dev_max": dev, "weight_z_max": z},
            "flat": {"steps": [9750, 11000, 12000], "fractions": [0.009, 0.0085, 0.0091], "spread": 0.0006,
                     "spread_se": 0.0019}}


def _conv_run(states: dict) -> dict:
    cfg = {"name": "hallucination_1d_full", "data": [{"kind": "line", "positions": [1.0, 2.0, 3.0]}]}
    cells = [{"name": n, "convergence": c} for n, c in states.items()]
    summary = [{"name": n, "data": "line_1_2_3", "score": n.split("_s0")[0].replace("line_1_2_3_", "")}
               for n in states]
    return {"meta": {"config": cfg}, "cells": cells, "summary": summary}


def test_convergence_table_and_count_read_the_cells():
    m = _conv_run({"line_1_2_3_aithal_shared_s0": _conv(True),
                   "line_1_2_3_aithal_independent_s0": _conv(False, widths=False, dev=0.14)})
    t = T.converged([m])
    sh, ind = _cells(t, "{1, 2, 3}"), t.splitlines()[3]
    assert sh[1:5] == ["shared blocks", "yes", "0.030 (yes)", "1.2 (yes)"]
    assert sh[5] == "0.0090, 0.0085, 0.0091 (9,750, 11,000, 12,000)" and sh[6:] == ["0.0006 ± 0.0019", "yes"]
    assert "| independent | no | 0.140 (no) |" in ind
    states = R.convergence(m, "line_1_2_3")
    assert R.converged_count(states) == "networks converged: 1/2 (widths 1/2, weights 2/2, flat 2/2)"
    old = {"meta": {"config": {"name": "hallucination_2d_full"}}, "cells": [{"name": "x"}], "summary": []}
    assert R.convergence(old) is None and T.converged([m, old]).startswith("*Convergence not measured in this run")


def test_rows_need_converged_networks_once_measured(monkeypatch):
    from ghostjax.studies.hallucination import claims as C

    def ev(m):
        return "measured", "reproduced", None

    both = {"line_1_2_3_aithal_shared_s0": _conv(True), "line_1_2_3_aithal_independent_s0": _conv(True)}
    assert C._gated(ev, "line_1_2_3")(_conv_run(both)) == (
        "measured; networks converged: 2/2 (widths 2/2, weights 2/2, flat 2/2)", "reproduced", None)
    one = {**both, "line_1_2_3_aithal_independent_s0": _conv(False, weights=False, flat=False)}
    text, verdict, note = C._gated(ev, "line_1_2_3")(_conv_run(one))
    assert verdict == "not comparable" and note.startswith(
        "Not comparable (networks not converged: line_1_2_3 independent s0 (weights, flat)); at convergence it would "
        "read: reproduced.")
    assert C._gated(ev, "line_1_2_3", needs=False)(_conv_run(one))[1] == "reproduced"
    old = {"meta": {"config": {}}, "cells": [{"name": "line_1_2_3_aithal_shared_s0"}], "summary": []}
    assert C._gated(ev, "line_1_2_3")(old) == ("measured; convergence not measured in this run", "reproduced", None)
    assert C._gated(ev)({"generations": []})[0].endswith("convergence not measured in this run")


def _sweep_cell(seed: int, kind: str, converged: dict | None) -> dict:
    return {"cell": seed, "id": f"{kind}{seed}", "label": f"train.seed={seed},data.kind={kind}", "train.seed": seed,
            "data.kind": kind, "train.steps": 100000, "train.batch": 10000, "eval.retention": 0.96,
            "out_fraction": 0.0123, "out_fraction_se": 0.00036, "between_fraction": 0.0081,
            "between_fraction_se": 0.00028, "beyond_fraction": 0.0042, "beyond_fraction_se": 0.0002, "auc": 0.9912,
            "auc_se": 0.0011, "detection_at_retention": 0.9713, "detection_at_retention_se": 0.0041,
            "train_s": 6843.4, "convergence": converged, "optim.name": "adam", "optim.lr": 0.001,
            "optim.final_lr_frac": 1.0, "optim.warmup": 0}


def test_g25_sweep_lists_every_finished_cell():
    """One row per finished cell of the sweep, by data set then seed, its numbers read from the row;
    converged 'yes', or 'no' with the tests failed; a sweep with no row gives the marker."""
    from ghostjax import report

    cfg = tomllib.loads(SWEEP_CONFIG.read_text())
    rows = [_sweep_cell(1, "gaussian25_rotated", _conv(True)), _sweep_cell(1, "gaussian25", _conv(False, flat=False)),
            _sweep_cell(0, "gaussian25", _conv(True))]
    m = report.sweep_run(R.G25_SWEEP, cfg, {"sweep": R.G25_SWEEP, "kind": "hallucination", "n_cells": 6,
                                            "n_done": 3, "rows": rows, "curves": {}}, "hallucination")
    t = T.tables({R.G25_SWEEP: m})["g25_sweep"]
    lines = t.splitlines()
    assert lines[0].split(" | ")[7] == "detection at 96 % retention" and len(lines) == 2 + len(rows)
    assert [r.split(" | ")[:2] for r in lines[2:]] == [["| Gaussian25", "0"], ["| Gaussian25", "1"], ["| diamond", "1"]]
    row = _cells(t, "Gaussian25")
    assert row[1:] == ["0", "100,000 × 10,000", "0.0123 ± 0.0004", "0.0081 ± 0.0003", "0.0042 ± 0.0002",
                       "0.991 ± 0.001", "0.971 ± 0.004", "yes", "6,843", R.DASH]
    resumed = {**rows[2], "train_s": 1777.0, "steps_s": 8123.4}  # a cell trained over two sessions
    m2 = report.sweep_run(R.G25_SWEEP, cfg, {**m["sweep"], "rows": [resumed]}, "hallucination")
    assert _cells(T.tables({R.G25_SWEEP: m2})["g25_sweep"], "Gaussian25")[-2:] == ["1,777", "8,123"]
    assert m2["meta"]["elapsed_s"] == round(8123.4 + resumed.get("sample_s", 0.0), 1)
    assert lines[3].split(" | ")[8] == "no (flat)"
    assert R.converged_word(None) == "not measured"
    empty = report.sweep_run(R.G25_SWEEP, cfg, {"n_cells": 6, "n_done": 0, "rows": []}, "hallucination")
    assert T.g25_sweep(empty) == R.no_cells(R.G25_SWEEP)



def test_g25_recipes_sets_the_recipes_side_by_side():
    """The recipes table: the Gaussian25 cells of both sweeps (the paper's constant learning rate and
    the decayed one), each with its schedule read from the row and the convergence tests' numbers;
    other data sets are left out."""
    from ghostjax import report

    cfg = tomllib.loads(SWEEP_CONFIG.read_text())
    paper = report.sweep_run(R.G25_SWEEP, cfg, {"n_cells": 6, "n_done": 2, "curves": {}, "rows": [
        _sweep_cell(0, "gaussian25", _conv(False, widths=False, dev=1.595, z=13.38)),
        _sweep_cell(0, "gaussian25_rotated", _conv(True))]}, "hallucination")
    fast = {**_sweep_cell(0, "gaussian25", _conv(True)), "train.steps": 20000, "optim.final_lr_frac": 0.01}
    recipe = report.sweep_run(R.RECIPE_SWEEP, {**cfg, "name": R.RECIPE_SWEEP},
                              {"n_cells": 2, "n_done": 1, "curves": {}, "rows": [fast]}, "hallucination")
    t = T.tables({R.G25_SWEEP: paper, R.RECIPE_SWEEP: recipe})["g25_recipes"]
    lines = t.splitlines()
    assert len(lines) == 4
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == [
        f"`{R.G25_SWEEP}`", "Adam 0.001 constant", "100,000 × 10,000", "0", "0.0123 ± 0.0004", "0.991 ± 0.001",
        "0.971 ± 0.004", "1.59", "13.4", "0.0006 ± 0.0019", "no (widths)"]
    assert [c.strip() for c in lines[3].split("|")[1:4]] == [f"`{R.RECIPE_SWEEP}`", "Adam 0.001 → 1e-05 cosine",
                                                             "20,000 × 10,000"]
    assert lines[3].rstrip(" |").endswith("yes")

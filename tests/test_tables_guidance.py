"""studies/guidance/tables.py: the tables of docs/results/guidance.md read their numbers from the runs'
metrics (checked against numbers computed here from small synthetic metrics, after the JSON round
trip a recorded run goes through, and against the CSV files the recorded runs wrote); a missing run
gives a marker naming the command, not a crash; a metrics file lacking a key is a ValueError naming
the run and the key."""

import csv
import json
from pathlib import Path

import pytest

from ghostjax import report
from ghostjax.studies.guidance import tables as T
from ghostjax.studies.guidance.learned.run import METRICS, combine_seeds

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"
PAGE = ROOT / "docs" / "results" / "guidance.md"


def _row(table: str, start: str) -> list[str]:
    (line,) = [r for r in table.splitlines() if r.startswith(start)]
    return [c.strip() for c in line.strip("|").split("|")]


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in r.strip("|").split("|")] for r in table.splitlines()[2:]]


def _rt(m: dict) -> dict:
    return json.loads(json.dumps(m))


def _ladder_row(kind, law, d, m, w, per_draw, var_par, var_perp, sig, acc=None):
    ov = sum(per_draw) / len(per_draw)
    return {"ladder": kind, "law": law, "d": d, "M": m, "w": w, "overshoot": ov, "overshoot_draws": per_draw,
            "overshoot_ci": None if len(per_draw) < 2 else _t_half(per_draw), "var_par": var_par, "var_par_ci": 0.0123,
            "var_perp": var_perp, "var_perp_ci": None, "sigma_speciation": sig, "accuracy": acc,
            "accuracy_ci": 0.0104 if acc is not None else None, "theory_sigma_C": 2.5, "theory_sigma_half": None,
            "theory_accuracy_0": 0.9512, "mf_overshoot": 0.3307}


def _t_half(xs):
    """Half-width of the 95 % Student-t interval of the mean, by hand (t_{0.975, 3} = 3.1824)."""
    n, mean = len(xs), sum(xs) / len(xs)
    sd = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5
    return {4: 3.182446305284263}[n] * sd / n**0.5


def test_distortion_rows_per_law_at_conv_w_with_intervals_over_draws():
    draws = [0.52, 0.61, 0.55, 0.58]  # overshoot on four mixture draws
    m = _rt({"meta": {"config": {"conv_w": 3.0, "laws": [{"kind": "fixed", "classes": 7},
                                                          {"kind": "exponential", "beta": 0.04}]}}, "ladder": [
        _ladder_row("fixed", "M = 7", 64, 7, 0.0, [0.0, 0.0, 0.0, 0.0], 1.0, 1.03, 0.41, acc=0.97),
        _ladder_row("fixed", "M = 7", 64, 7, 3.0, draws, 0.571, 1.0234, 1.774),
        _ladder_row("fixed", "M = 7", 64, 7, 2.0, [9.9] * 4, 9.9, 9.9, 9.9),          # another w: ignored
        _ladder_row("exponential", "M = e^(0.04 d)", 128, 166, 3.0, [0.47] * 4, 0.61, 1.0234, None),
    ]})
    t = T.distortion(m)
    header = [c.strip() for c in t.splitlines()[0].strip("|").split("|")]
    assert header[:4] == ["M(d)", "d", "M", "overshoot"]
    half = _t_half(draws)  # 0.0625 mean 0.565: sd 0.0387, half 0.0616
    assert _row(t, "| M = 7 |") == ["M = 7", "64", "7", f"0.56 ± {half:.2f}", "0.57 ± 0.01", "1.023", "1.77 / 0.41",
                                    "2.50 / –", "0.970 ± 0.010 (0.951)", "0.33"]
    # the e^(βd) row has no unguided run and no speciation: dashes, not a crash
    assert _row(t, "| M = e^(0.04 d) |") == ["M = e^(0.04 d)", "128", "166", "0.47 ± 0.00", "0.61 ± 0.01", "1.023",
                                             "– / –", "2.50 / –", "–", "0.33"]
    assert all(len(r) == len(header) for r in _rows(t))


def test_schedules_strength_labels_and_unreached_variants():
    base = {"accuracy_range": [0.5, 1.0], "overshoot": 0.4636, "var_par": 0.5944, "var_perp": 1.0104,
            "pr_ratio": 1.0007}
    m = _rt({"target_accuracy": 0.9, "at_target": [
        {"family": "constant", "variant": "constant w", "strength_at_target": 0.8044, **base},
        {"family": "window", "variant": "window w_late=-1, t_switch=1 (σ=2.53)", "strength_at_target": None,
         "accuracy_range": [0.04, 0.7783], "overshoot": None, "var_par": None, "var_perp": None, "pr_ratio": None},
        {"family": "autoguidance", "variant": "autoguidance ×2.5", "factor": 2.5, "strength_at_target": 2.68,
         **base, "overshoot": -0.0002},
    ]})
    t = T.schedules(m)
    assert "strength at accuracy 0.9" in t.splitlines()[0]
    assert _row(t, "| constant w |") == ["constant w", "0.80", "0.46", "0.59", "1.010", "1.001"]
    assert _row(t, "| window") == ["window w_late = −1, t_switch = 1 (σ = 2.53)", "not reached (max accuracy 0.78)",
                                   "–", "–", "–", "–"]
    # a small non-zero overshoot is not printed as 0.00, and the weak model's factor is read from the run
    assert _row(t, "| autoguidance")[:3] == ["autoguidance (weak: class std × 2.5)", "w = 2.68", "−0.0002"]


def test_learned_cells_are_the_seed_mean_and_t_interval():
    from scipy import stats

    metrics = ("overshoot", "var_par", "var_perp", "log_p_gap", "nearest_radius", "off_fraction")
    variant = "window w_late=-1, t_switch=0.5 (σ=1.31)"
    vals = {"exact": [(0.21, 0.95, 1.02, -0.021, 1.01, 0.0, 3.4), (0.23, 1.0, 1.03, -0.025, 1.02, 0.0, 3.1),
                      (0.24, 0.97, 1.03, -0.028, 1.02, 0.0001, 2.9)],
            "learned": [(0.4, 3.8, 1.18, -0.15, 1.13, 0.002, 2.4), (0.5, 3.5, 1.19, -0.16, 1.15, 0.004, 2.1),
                        (0.5, 3.4, 1.2, -0.17, 1.14, 0.0045, 2.1)]}
    entries = [{"score": sc, "seed": i, "family": "window", "variant": variant, **dict.fromkeys(METRICS, 0.5),
                **dict(zip(metrics, v[:6])), "strength_at_target": v[6]}
               for sc, vs in vals.items() for i, v in enumerate(vs)]
    m = _rt({"target_accuracy": 0.99, "at_target": combine_seeds(entries)})
    rows = _rows(T.learned(m))
    assert [r[1] for r in rows] == ["exact", "learned", "learned − exact"]
    t = stats.t.ppf(0.975, 2)

    def cell(xs, nd=2):
        mu = sum(xs) / 3
        sd = (sum((x - mu) ** 2 for x in xs) / 2) ** 0.5
        return f"{mu:.{nd}f} ± {t * sd / 3 ** 0.5:.{nd}f}".replace("-", "−")

    col = {"strength_at_target": (2, 6), "overshoot": (3, 0), "var_par": (4, 1), "log_p_gap": (6, 3)}
    for r, xs in zip(rows, (vals["exact"], vals["learned"],
                            [tuple(a - b for a, b in zip(le, ex)) for le, ex in zip(vals["learned"], vals["exact"])])):
        for k, (c, j) in col.items():
            assert r[c] == cell([x[j] for x in xs], 3 if k == "log_p_gap" else 2), (r[1], k)
    assert rows[0][0] == "window w_late = −1, t_switch = 0.5 (σ = 1.31)" and rows[1][0] == rows[2][0] == ""


def test_edm2_fractions_keep_the_digits_that_tell_them_from_0_and_1():
    r = {"in_outline_A": 0.99993896484375, "within_k_std": 1.0, "mean_log_pA": 0.0037877, "class_accuracy": 0.5,
         "mean_level": 3.88604736328125, "level_hist": [6.103515625e-05, 0.2]}
    m = _rt({"meta": {"config": {"within_stds": 2.0}}, "settings": {"cfg_guidance_theirs": 4.0, "auto_guidance": 3.0},
             "runs": {k: r for k in T.EDM2_RUNS}})
    t = T.edm2_tree(m)
    assert "within 2 std of a component" in t.splitlines()[0]
    assert _row(t, "| CFG") == ["CFG (their guidance 4)", "0.9999", "1.000", "0.004", "0.500", "3.89", "0.0001"]


def test_missing_run_is_a_marker_and_a_missing_key_names_the_run():
    built = T.tables({})
    assert set(built) == set(T.BUILDERS)
    for name, (run, _) in T.BUILDERS.items():
        assert built[name].startswith(f"*No recorded run `{run}`") and f"--out docs/runs/{run}" in built[name]
    with pytest.raises(ValueError, match="guidance_schedules.*target_accuracy"):
        T.tables({"guidance_schedules": {"at_target": []}})


@pytest.mark.skipif(not (RUNS / "guidance_schedules" / "metrics.json").is_file(), reason="no recorded runs")
def test_recorded_tables_agree_with_the_csv_the_runs_wrote_and_fill_the_page():
    built = T.tables(report._theme_runs(report.load_runs(RUNS), "guidance"))
    with open(RUNS / "guidance_schedules" / "schedule_at_target.csv") as f:
        sched = list(csv.DictReader(f))
    rows = _rows(built["schedules"])
    assert len(rows) == len(sched)
    for row, c in zip(rows, sched):
        if c["overshoot"]:
            assert row[2] == T.num(float(c["overshoot"])) and row[3] == f"{float(c['var_par']):.2f}"
    with open(RUNS / "edm2_tree" / "runs.csv") as f:
        levels = {r["run"]: float(r["mean_level"]) for r in csv.DictReader(f)}
    assert [r[5] for r in _rows(built["edm2_tree"])] == [f"{levels[k]:.2f}" for k in T.EDM2_RUNS]
    # every generated block of the page is present and no hand-typed table sits outside them
    text = PAGE.read_text()
    assert {f"guidance:{k}" for k in built} == {m["key"] for m in report.TABLE.finditer(text)}
    outside = report.TABLE.sub("", text)
    assert not [line for line in outside.splitlines() if line.startswith("|")]

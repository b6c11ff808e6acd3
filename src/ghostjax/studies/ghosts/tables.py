"""The tables of docs/results/ghosts.md, built from the theme's recorded runs (report.tables).

`tables(runs)` takes {run name: metrics.json dict} (the ghosts theme's runs, as its claims.py gets
them) and returns {name: Markdown table}; the page holds each between `<!-- table: ghosts:NAME -->`
and `<!-- /table -->`. Every number is read from the metrics; a run that is not recorded gives a
one-line marker naming the command that records it, not a table.
"""

from __future__ import annotations

from .learned.report import markdown_table

LEARNED, CENSUS = "learned_study", "census"
COMMANDS = {LEARNED: "python -m ghostjax.train --config configs/learned_study.toml --out docs/runs/learned_study",
            CENSUS: "python -m ghostjax.analyze --config configs/census.toml --out docs/runs/census"}


def missing(run: str) -> str:
    """The marker a table gets when its run is not recorded."""
    return f"*No recorded run `{run}`: record it with `{COMMANDS[run]}`.*\n"


def _refs(m: dict) -> dict[int, dict]:
    """The learned study's exact references per D, with int keys (metrics.json writes them as strings)."""
    return {int(d): r for d, r in m["exact"].items()}


def learned(m: dict) -> str:
    """The learned-score study (D × score × A): ghost, off-support, gap peak and in-band score error,
    mean ± std over seeds, the exact joint and factorized scores first per D. m: metrics.json of a
    learned run ({"cells", "exact", "table"}); the same Markdown as the run's table.md."""
    return markdown_table(m["table"], _refs(m))


def first_below(sigmas: list[float], gap: list[float], fraction: float) -> float:
    """The largest σ (the grid runs from large to small σ) at which `gap` has reached `fraction` of its
    final value gap[-1]; NaN when it never does. sigmas, gap: [S]."""
    for s, g in zip(sigmas, gap):
        if g >= fraction * gap[-1]:
            return float(s)
    return float("nan")


def learned_decision(m: dict) -> str:
    """Where the exact factorized trajectory leaves the exact joint one (probability-flow ODE from the
    same starts), per D: its final gap, the σ at which it has reached half and 90 % of that final gap,
    and the loss band [σ_data/10, σ_data] for comparison."""
    cfg = m["meta"]["config"]
    lo, hi = cfg["loss"].get("band_lo") or cfg["data"]["std"] / 10, cfg["loss"].get("band_hi") or cfg["data"]["std"]
    rows = ["| D | final gap | σ at half the final gap | σ at 90 % of it | band |", "|---|---|---|---|---|"]
    for d, r in sorted(_refs(m).items()):
        c = r["exact_factorized"]["gap_curve"]
        s, g = c["sigma"], c["gap"]
        rows.append(f"| {d} | {g[-1]:.3f} | {first_below(s, g, 0.5):.2f} | {first_below(s, g, 0.9):.2f} | "
                    f"[{lo:g}, {hi:g}] |")
    return "\n".join(rows) + "\n"


def census(m: dict) -> str:
    """The census study: per case and sampler (exact joint / exact factorized score) the fractions of
    samples called real, ghost, off-support and non-finite, and the product-of-marginals ghost mass
    (the factorized sampler's prediction). m: metrics.json of a census run ({"cases": …})."""
    rows = ["| case | sampler | real | ghost | off-support | non-finite | predicted ghost mass |",
            "|---|---|---|---|---|---|---|"]
    for case, c in m["cases"].items():
        for sampler in ("joint", "factorized"):
            s = c[sampler]
            rows.append(f"| {case} | {sampler} | {s['real_fraction']:.4f} | {s['ghost_fraction']:.4f} | "
                        f"{s['off_fraction']:.4f} | {s['non_finite_fraction']:.4f} | "
                        f"{c['predicted_ghost_mass']:.4f} |")
    return "\n".join(rows) + "\n"


BUILDERS = {"learned": (LEARNED, learned), "learned_decision": (LEARNED, learned_decision),
            "census": (CENSUS, census)}


def tables(runs: dict[str, dict]) -> dict[str, str]:
    """{table name: Markdown} for every table of docs/results/ghosts.md; runs: {run name: metrics}.
    A table whose run is missing is the `missing` marker."""
    return {name: build(runs[run]) if run in runs else missing(run) for name, (run, build) in BUILDERS.items()}

"""The tables of docs/results/guidance.md, built from the guidance theme's recorded runs: `tables(runs)`
with runs = {run name: metrics.json dict} gives {table name: markdown}, one entry per table, filled
into the page's `<!-- table: guidance:NAME -->` blocks by `python -m ghostjax.report`.

Every number printed is read from the runs (results, or `meta.config` for the settings). A run that
is missing gives a one-line marker naming it and its command instead of the table; a run that lacks
a key its table reads raises ValueError naming the run and the key."""

from __future__ import annotations

import math
from collections.abc import Callable

from .._claims_fmt import config

DASH = "–"
COMMANDS = {
    "guidance_distortion": "python -m ghostjax.analyze --config configs/guidance_distortion.toml "
                           "--out docs/runs/guidance_distortion",
    "guidance_regime_large": "python -m ghostjax.analyze --config configs/guidance_regime_large.toml "
                             "--out docs/runs/guidance_regime_large --resume",
    "guidance_schedules": "python -m ghostjax.analyze --config configs/guidance_schedules.toml "
                          "--out docs/runs/guidance_schedules",
    "guidance_learned": "python -m ghostjax.train --config configs/guidance_learned.toml --out docs/runs/guidance_learned",
    "edm2_tree": "python -m ghostjax.analyze --config configs/edm2_tree.toml --out docs/runs/edm2_tree",
}


# ------------------------------------------------------------------------------------- formats
def _minus(s: str) -> str:
    return s.replace("-", "−")


def num(x, nd: int = 2) -> str:
    """x with nd decimals (more when that would print a non-zero x as 0), '–' for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    k = nd
    while k < 6 and x != 0 and round(x, k) == 0:
        k += 1
    return _minus(f"{x:.{k}f}")


def frac(x, nd: int = 3) -> str:
    """A fraction in [0, 1] with nd decimals, more when that would round a value strictly inside
    (0, 1) to 0 or 1: 0.99994 -> '0.99994', 6.1e-5 -> '0.00006'."""
    if x is None:
        return DASH
    k = nd
    while k < 6 and 0 < x < 1 and round(x, k) in (0, 1):
        k += 1
    return f"{x:.{k}f}"


def pm(x, half, nd: int = 2) -> str:
    """x ± half, both with nd decimals (x alone when half is None)."""
    return num(x, nd) if half is None else f"{num(x, nd)} ± {half:.{nd}f}"


def g(x) -> str:
    """A setting as written in a config: 0.5, −1, 2."""
    return _minus(f"{x:g}")


def _label(variant: str) -> str:
    """A study's variant name for print: 'window w_late=-1, t_switch=0.5 (σ=1.31)' ->
    'window w_late = −1, t_switch = 0.5 (σ = 1.31)'."""
    return _minus(variant.replace("=", " = "))


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header)), *map(_row, rows)]) + "\n"


def missing(run: str) -> str:
    """The marker printed in place of a table whose run is not recorded."""
    return f"*No recorded run `{run}`: record it with `{COMMANDS[run]}`, then `python -m ghostjax.report`.*\n"


def _guard(run: str, build: Callable[[dict], str], runs: dict[str, dict]) -> str:
    m = runs.get(run)
    if m is None:
        return missing(run)
    try:
        return build(m)
    except KeyError as e:
        raise ValueError(f"runs[{run!r}]: metrics.json lacks {e.args[0]!r} (record the run again)") from None


# ------------------------------------------------------------------------------------- tables
def distortion(m: dict) -> str:
    """Distortion against d at w = conv_w, one row per class-count law and d: mean over the mixture
    draws ± the half-width of its 95 % t-interval; σ_S guided / unguided (means over draws) beside
    Biroli et al.'s collapse σ_C (d → ∞ law at β = ln M / d) and finite-(d, M) ½-crossing; the w = 0
    class accuracy measured beside its finite-(d, M) prediction; the project's mean-field overshoot."""
    c = config(m)
    w = c["conv_w"]
    unguided = {(r["ladder"], r["d"]): r for r in m["ladder"] if r["w"] == 0.0}
    header = ["M(d)", "d", "M", "overshoot", "ρ_∥", "ρ_⊥", "σ_S guided / unguided", "σ_C / σ_½ (Biroli et al.)",
              "accuracy w = 0 (theory)", "mean field overshoot (project's own)"]
    rows = []
    for law in c["laws"]:
        rs = sorted((r for r in m["ladder"] if r["ladder"] == law["kind"] and r["w"] == w), key=lambda r: r["d"])
        for i, r in enumerate(rs):
            u = unguided.get((r["ladder"], r["d"]))
            sig = f"{num(r['sigma_speciation'])} / {num(u['sigma_speciation']) if u else DASH}"
            acc = f"{pm(u['accuracy'], u['accuracy_ci'], 3)} ({num(r['theory_accuracy_0'], 3)})" if u else DASH
            rows.append([r["law"] if i == 0 else "", str(r["d"]), str(r["M"]), pm(r["overshoot"], r["overshoot_ci"]),
                         pm(r["var_par"], r["var_par_ci"]), pm(r["var_perp"], r["var_perp_ci"], 3), sig,
                         f"{num(r['theory_sigma_C'])} / {num(r['theory_sigma_half'])}", acc, num(r["mf_overshoot"])])
    return _table(header, rows)


def _strength(e: dict) -> str:
    s = e["strength_at_target"]
    prefix = {"window": "w_early ", "linear": "ω = ", "power_law": "ω = ", "autoguidance": "w = "}.get(e["family"], "")
    return prefix + pm(s, e.get("strength_at_target_ci"))


def _family_label(e: dict) -> str:
    if e["family"] == "autoguidance":
        return f"autoguidance (weak: class std × {g(e['factor'])})"
    return _label(e["variant"])


def schedules(m: dict) -> str:
    """Each schedule variant at the target class accuracy: its strength there and the distortions (means
    over the mixture draws, each draw tuned to the target); a variant that never reaches the target says
    so with its largest accuracy. Runs with draws (entries carrying '<metric>_ci') add the 95 %
    t-interval half-widths of overshoot and ρ_∥, the paired differences to constant CFG on the same
    draws (m['vs_constant']) and how many draws reach the target."""
    acc = m["target_accuracy"]
    draws = any("var_par_ci" in e for e in m["at_target"])
    header = ["family", f"strength at accuracy {g(acc)}", "overshoot δμ_∥", "ρ_∥", "ρ_⊥", "PR ratio"]
    if draws:
        header += ["± 95 % (overshoot / ρ_∥)", "vs constant, paired: Δ overshoot", "Δρ_∥", "draws at target"]
    vs = m.get("vs_constant", {})
    rows = []
    for e in m["at_target"]:
        extra = []
        if draws:
            d = vs.get(e["variant"])
            extra = [f"{num(e['overshoot_ci'])} / {num(e['var_par_ci'])}",
                     DASH if d is None else pm(d["overshoot_minus_constant"], d["overshoot_minus_constant_ci"]),
                     DASH if d is None else pm(d["var_par_minus_constant"], d["var_par_minus_constant_ci"]),
                     f"{e['reached']} of {e['draws']}"]
        if e["strength_at_target"] is None:
            rows.append([_family_label(e), f"not reached (max accuracy {num(e['accuracy_range'][1])})",
                         *[DASH] * 4, *([DASH] * 3 + extra[3:] if draws else [])])
            continue
        rows.append([_family_label(e), _strength(e), num(e["overshoot"]), num(e["var_par"]), num(e["var_perp"], 3),
                     num(e["pr_ratio"], 3), *extra])
    return _table(header, rows)


def learned(m: dict) -> str:
    """Exact against learned scores and their paired difference (learned − exact, same seed and sampler
    random numbers) for each variant at the target accuracy: means over the training seeds ± the
    Student-t 95 % half-width."""
    acc = m["target_accuracy"]
    rows_by = {}
    for e in m["at_target"]:
        rows_by.setdefault(e["variant"], {})[e["score"]] = e
    header = [f"variant at accuracy {g(acc)}", "score", "strength (w, or w_early)", "overshoot", "ρ_∥", "ρ_⊥",
              "log p gap / dim", "nearest-class radius", "off-support"]
    rows = []
    for variant, by in rows_by.items():
        for i, score in enumerate(s for s in ("exact", "learned", "learned − exact") if s in by):
            e = by[score]

            def c(k, nd=2, e=e):
                return pm(e[k], e.get(k + "_ci"), nd)

            if e["strength_at_target"] is None:
                cells = [f"not reached ({e['n_strength_at_target']}/{e['n_seeds']} seeds)", *[DASH] * 6]
            else:
                cells = [c("strength_at_target"), c("overshoot"), c("var_par"), c("var_perp"), c("log_p_gap", 3),
                         c("nearest_radius"), c("off_fraction", 4)]
            rows.append([_label(variant) if i == 0 else "", _minus(score), *cells])
    return _table(header, rows)


EDM2_RUNS = ("data", "exact", "cfg", "autoguidance", "weak")


def edm2_tree(m: dict) -> str:
    """The five sample sets of the EDM2 toy tree study and their readouts."""
    s = m["settings"]
    names = {"data": "data (exact draws)", "exact": "exact score, unguided",
             "cfg": f"CFG (their guidance {g(s['cfg_guidance_theirs'])})",
             "autoguidance": f"autoguidance (guidance {g(s['auto_guidance'])})", "weak": "weak model alone"}
    header = ["run", "inside the A outline", f"within {g(config(m)['within_stds'])} std of a component",
              "mean log p_A", "class accuracy", "mean branch level", "trunk (level 0) share"]
    rows = []
    for k in EDM2_RUNS:
        r = m["runs"][k]
        rows.append([names[k], frac(r["in_outline_A"]), frac(r["within_k_std"]), num(r["mean_log_pA"]),
                     frac(r["class_accuracy"]), num(r["mean_level"]), frac(r["level_hist"][0])])
    return _table(header, rows)


BUILDERS: dict[str, tuple[str, Callable[[dict], str]]] = {
    "distortion": ("guidance_distortion", distortion),
    "distortion_large": ("guidance_regime_large", distortion),
    "schedules": ("guidance_schedules", schedules),
    "learned": ("guidance_learned", learned),
    "edm2_tree": ("edm2_tree", edm2_tree),
}


def tables(runs: dict[str, dict]) -> dict[str, str]:
    """{table name: markdown} for every table of docs/results/guidance.md from the theme's recorded
    runs {run: metrics}; a missing run's table is the `missing` marker."""
    return {name: _guard(run, build, runs) for name, (run, build) in BUILDERS.items()}

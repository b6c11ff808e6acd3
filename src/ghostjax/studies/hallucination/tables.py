"""The tables of docs/results/hallucination.md, built from the theme's recorded runs (report.tables).

`tables(runs)` takes {run name: metrics.json dict} (the hallucination and shapes runs, as the theme's
claims.py gets them) and returns {name: Markdown table}; the page holds each between
`<!-- table: hallucination:NAME -->` and `<!-- /table -->`. Every number is read from the metrics
(results, or `meta.config` for the settings); the `defaults` table also reads configs/*.toml. A run
that is not recorded gives a one-line marker naming the command that records it, not a table.
What the tables read from the runs (and share with claims.py) is in readers.py.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

from .._claims_fmt import config, pct, pct_exact, wilson
from .readers import (BLOCKS, DASH, G25_SWEEP, NOT_MEASURED, RECIPE_SWEEP, converged_word, convergence,
                      data_label, f, generations, missing, no_cells, pm, run_seeds, sweep_rows, table)

CONFIGS = Path(__file__).resolve().parents[4] / "configs"
SCORES = {"exact": "exact score", "training set": "training set", **BLOCKS}
CATEGORIES = {"extra": "two or more shapes in one column", "wrong_kind": "wrong shape for its column",
              "malformed": "malformed blob", "empty": "empty image"}


# ----------------------------------------------------------------------------------------- the tables
BASIC = ("hallucination_1d_full", "hallucination_2d_full")


def interpolation(ms: list[dict]) -> str:
    """Section 1: every score of the basic-task runs `ms` (per data set: training set, exact score,
    networks): census split ± binomial se, detector AUC and detection at the retention ± se, the
    deep share and its detection, their selection rule."""
    ev = config(ms[0])["eval"]
    header = ["data", "score", "out of support", "between", "beyond", "AUC",
              f"detection at {pct(ev['retention'])} retention", "deep share / detected",
              f"their rule (n + {pct_exact(ev['extra_fraction'])}): removed / kept in"]
    order = ["training set", "exact", *BLOCKS]
    body = []
    for m in ms:
        for r in sorted(m["summary"], key=lambda r: (config(m)["data"].index(_data_cfg(m, r["data"])),
                                                     order.index(r["score"]) if r["score"] in order else 9)):
            det = r.get("auc") is not None
            body.append([data_label(r["data"]), SCORES.get(r["score"], r["score"]),
                         pm(r["out_fraction"], r.get("out_fraction_se")), f(r["between_fraction"]),
                         f(r["beyond_fraction"]),
                         pm(r["auc"], r["auc_se"], 3) if det else "",
                         pm(r["detection_at_retention"], r["detection_at_retention_se"], 3) if det else "",
                         f"{f(r['deep_fraction'])} / {f(r['detection_deep_at_retention'], 2)}" if det else "",
                         f"{f(r['selection_removed_out'], 2)} / {f(r['selection_kept_in'], 3)}" if det else ""])
    return table(header, body)


def _data_cfg(m: dict, name: str) -> dict:
    """The config entry of the data set a summary row names (matched by kind and positions)."""
    for d in config(m)["data"]:
        if name == d["kind"] or name == "line_" + "_".join(f"{p:g}" for p in d["positions"]):
            return d
    raise ValueError(f"{config(m)['name']}: summary data {name!r} matches no [[data]] entry")


def converged(ms: list[dict]) -> str:
    """Section 1': whether each network of the basic-task runs `ms` has converged
    (metrics.convergence): the largest deviation of a learned mode width from the data's, the largest
    |z| of a learned mode weight, the out-of-support fraction at the snapshots (0.8T, 0.9T, T) and
    its spread ± se; a run recorded without them gives the NOT_MEASURED line."""
    if any(convergence(m) is None for m in ms):
        return "*" + NOT_MEASURED[0].upper() + NOT_MEASURED[1:] + ": " + ", ".join(
            f"`{config(m)['name']}`" for m in ms if convergence(m) is None) + ".*\n"
    yes = {True: "yes", False: "no", None: DASH}
    header = ["data", "network", "converged", "widths: largest deviation of ŝ/s from 1", "weights: largest z",
              "out of support at the snapshots (steps)", "spread ± se", "flat"]
    body = []
    for m in ms:
        for name, c in convergence(m):
            if not c:
                continue
            mo, fl = c["modes"], c["flat"]
            score = next((r["score"] for r in m["summary"] if r["name"] == name), name)
            data = next((r["data"] for r in m["summary"] if r["name"] == name), "")
            snaps = ", ".join(f(p, 4) for p in fl["fractions"]) + " (" + ", ".join(f"{t:,}" for t in fl["steps"]) + ")"
            body.append([data_label(data), BLOCKS.get(score, score), yes[c["converged"]],
                         f"{f(mo['width_dev_max'], 3)} ({yes[c['widths_ok']]})",
                         f"{f(mo['weight_z_max'], 1)} ({yes[c['weights_ok']]})", snaps,
                         pm(fl["spread"], fl["spread_se"], 4), yes[c["flat_ok"]]])
    return table(header, body)


RECURSIVE = ("recursive_1d_full", "recursive_2d_full")


def recursive(ms: list[dict]) -> str:
    """Section 3: out-of-support fraction of each generation's draws per rule (and training seed, for
    a run with several), its largest se, and the nearest-mode masses at the last generation in units
    of 1/K (all of them for K ≤ 5, else the smallest … the largest)."""
    gens = max(len(generations(m, r, s)) for m in ms for r in config(m)["recursive"]["rules"] for s in run_seeds(m))
    header = ["data", "rule", "seed", *[f"gen {g}" for g in range(gens)], "largest se",
              "mode masses at the last gen (× K)"]
    body = []
    for m in ms:
        for rule in config(m)["recursive"]["rules"]:
            for seed in run_seeds(m):
                g = generations(m, rule, seed)
                if not g:
                    continue
                mass = [x * len(g[-1]["mode_mass"]) for x in g[-1]["mode_mass"]]
                masses = ", ".join(f(x, 2) for x in mass) if len(mass) <= 5 else f"{f(min(mass), 2)} … {f(max(mass), 2)}"
                body.append([data_label(m["data"]), rule, str(g[0].get("seed", config(m).get("train", {}).get("seed", 0))),
                             *[f(r["out_fraction"], 3) for r in g], *[""] * (gens - len(g)),
                             f(max(r["out_fraction_se"] for r in g), 3), masses])
    return table(header, body)


def gap(m: dict) -> str:
    """Section 4a: between-mode fraction per K × gap with the exact score's in brackets, the detector
    AUC, the fits of the per-gap fraction against the gap, and the slope on K − 1 per gap."""
    by = {(r["n_modes"], r["gap"]): r for r in m["summary"]}
    ks, gaps = sorted({k for k, _ in by}), sorted({g for _, g in by})
    header = ["K \\ gap (stds)", *[f"{g:g}" for g in gaps], "per gap ∝ gap^p: p (rms)", "exponential fit rms"]
    body = []
    for k in ks:
        fit = m["fits"].get(str(k), {})
        body.append([f"{k}: between (exact)",
                     *[f"{f(by[k, g]['between_fraction'])} ({f(by[k, g]['exact_between_fraction'])})" if (k, g) in by
                       else DASH for g in gaps],
                     f"{f(fit.get('power'), 2)} ({f(fit.get('power_rms'), 2)})", f(fit.get("rms"), 2)])
    body.append(["detector AUC, K = " + " / ".join(map(str, ks)),
                 *[" / ".join(f(by[k, g]["auc"], 2) if (k, g) in by else DASH for k in ks) for g in gaps], "", ""])
    slope = m.get("between_per_gap_vs_K", {})
    body.append(["slope of between on K − 1", *[f(slope.get(f"{g:g}"), 3) for g in gaps], "", ""])
    return table(header, body)


ARCH = ("hallucination_arch_full", "hallucination_arch_seeds_full")


def variant_label(v: dict, cfg: dict) -> str:
    """What a variant changes, from its settings (cfg: the run's config for the base network)."""
    if v["name"] == "base":
        mo = cfg["model"]
        return f"base ({mo['blocks'][0]}, width {mo['width']}, depth {mo['depth']})"
    parts = []
    if v.get("kind") == "fourier_aithal":
        parts.append("Fourier features of x")
    elif v.get("kind"):
        parts.append(v["kind"])
    if v.get("target") == "exact":
        parts.append("exact-score regression (fresh draws)")
    elif v.get("source") == "mixture":
        parts.append("DSM on fresh mixture draws")
    if v.get("blocks"):
        parts.append(f"{v['blocks']} blocks")
    for key in ("width", "depth"):
        if v.get(key):
            parts.append(f"{key} {v[key]}")
    if v.get("steps"):
        parts.append(f"{v['steps']:,} steps (base {cfg['train']['steps']:,})")
    if v.get("t_proj"):
        parts.append("their t_proj")
    return ", ".join(parts) or v["name"]


def architecture(ms: list[dict]) -> str:
    """Section 4b: out-of-support (between-mode) fraction per variant × training seed over the
    architecture runs `ms`, the mean over seeds when every seed ran, and the ε-error between the modes
    at σ_1 / σ_10 of the first seed; the exact score first."""
    cfg = config(ms[0])
    by: dict[str, dict[int, dict]] = {}
    variants: dict[str, dict] = {}
    for m in ms:
        for r in m["summary"]:
            if "variant" in r:
                variants.setdefault(r["variant"]["name"], r["variant"])
                by.setdefault(r["variant"]["name"], {}).setdefault(r["seed"], r)
    seeds = sorted({s for v in by.values() for s in v})
    header = ["variant", *[f"seed {s}" for s in seeds], "mean", f"ε-error t = 1 / 10 (seed {seeds[0]})"]
    ex = ms[0]["exact"]["split"]
    body = [["exact score", f"{f(ex['out_fraction'])} ({f(ex['between_fraction'])})", *[""] * (len(seeds) + 1)]]
    for name, v in variants.items():
        rs = by[name]
        cells = [f"{f(rs[s]['out_fraction'])} ({f(rs[s]['between_fraction'])})" if s in rs else "" for s in seeds]
        mean = f(sum(rs[s]["out_fraction"] for s in seeds) / len(seeds)) if all(s in rs for s in seeds) else ""
        err = rs.get(seeds[0], {}).get("score_err_between") or {}
        body.append([variant_label(v, cfg), *cells, mean,
                     f"{f(err.get('t1'), 1)} / {f(err.get('t10'), 2)}" if err else ""])
    return table(header, body)


def g25_sweep(m: dict) -> str:
    """Section 1'': every finished cell of the Gaussian25 paper-budget sweep (one trained network per
    training seed and data set): steps × batch, census split ± binomial se, detector AUC and detection
    at the retention ± se, convergence (the tests failed), training seconds of the session that
    finished the cell and the training steps' seconds over every session (a dash for cells recorded
    before it was); the `no_cells` marker when no cell has finished."""
    rs = sweep_rows(m)
    if not rs:
        return no_cells(config(m)["name"])
    header = ["data", "seed", "steps × batch", "out of support", "between", "beyond", "AUC",
              f"detection at {pct(rs[0]['eval.retention'])} retention", "converged", "training (s)",
              "training steps, all sessions (s)"]
    body = [[data_label(r["data.kind"]), str(r["train.seed"]), f"{r['train.steps']:,} × {r['train.batch']:,}",
             pm(r["out_fraction"], r.get("out_fraction_se")), pm(r["between_fraction"], r.get("between_fraction_se")),
             pm(r["beyond_fraction"], r.get("beyond_fraction_se")), pm(r["auc"], r.get("auc_se"), 3),
             pm(r["detection_at_retention"], r.get("detection_at_retention_se"), 3), converged_word(r.get("convergence")),
             DASH if r.get("train_s") is None else f"{r['train_s']:,.0f}",
             DASH if r.get("steps_s") is None else f"{r['steps_s']:,.0f}"] for r in rs]
    return table(header, body)


def _schedule(r: dict) -> str:
    """A sweep row's learning rate: 'Adam 0.001 constant' or 'Adam 0.001 → 1e-05 cosine'."""
    lr, end = r["optim.lr"], r["optim.lr"] * r["optim.final_lr_frac"]
    warm = f", warmup {r['optim.warmup']:,}" if r["optim.warmup"] else ""
    return f"{r['optim.name'].capitalize()} {lr:g} " + ("constant" if end == lr else f"→ {end:g} cosine") + warm


def g25_recipes(ms: list[dict]) -> str:
    """Section 1 (recipes): the state each training recipe reaches on Gaussian25, from the finished
    cells of the paper-budget sweep and of the faster-recipe sweep: the learning-rate schedule, steps
    × batch, out of support, detector AUC and detection at the retention, and the convergence tests'
    numbers (largest |width ratio − 1| against the 10 % tolerance, largest |weight z| against 3, the
    out-of-support spread over the last fifth ± its se)."""
    rs = [(config(m)["name"], r) for m in ms for r in sweep_rows(m) if r["data.kind"] == "gaussian25"]
    if not rs:
        return no_cells(config(ms[0])["name"])
    header = ["sweep", "learning rate", "steps × batch", "seed", "out of support", "AUC",
              f"detection at {pct(rs[0][1]['eval.retention'])} retention", "max abs(width ratio − 1)",
              "max abs(weight z)", "out-of-support spread, last fifth", "converged"]
    body = []
    for name, r in rs:
        c = r.get("convergence") or {}
        mo, fl = c.get("modes") or {}, c.get("flat") or {}
        body.append([f"`{name}`", _schedule(r), f"{r['train.steps']:,} × {r['train.batch']:,}", str(r["train.seed"]),
                     pm(r["out_fraction"], r.get("out_fraction_se")), pm(r["auc"], r.get("auc_se"), 3),
                     pm(r["detection_at_retention"], r.get("detection_at_retention_se"), 3),
                     f(mo.get("width_dev_max"), 2), f(mo.get("weight_z_max"), 1),
                     pm(fl.get("spread"), fl.get("spread_se"), 4) if fl.get("spread") is not None else DASH,
                     converged_word(c or None)])
    return table(header, body)


def _toy_configs(root: Path) -> dict[str, dict]:
    """{name: validated config dict} of the toy study's configs under `root` (not *_full, *_gpu)."""
    from ..registry import get
    from ...config import build

    Config, out = get("hallucination").Config, {}
    for p in sorted(root.glob("*.toml")):
        data = tomllib.loads(p.read_text())
        if data.get("study") == "hallucination" and not p.stem.endswith(("_full", "_gpu")):
            out[p.stem] = build(Config, data).model_dump(mode="json")
    return out


def n_networks(c: dict) -> int:
    """How many networks a toy config trains."""
    task, sw = c["task"], c.get("sweep", {})
    if task == "basic":
        return len(c["data"]) * len(c["model"]["blocks"])
    if task == "recursive":  # generation 0 is shared by the rules
        return 1 + (c["recursive"]["generations"] - 1) * len(c["recursive"]["rules"])
    if task == "architecture":
        return len(sw["variants"]) * max(1, len(sw["seeds"]))
    if task == "gap":
        return len(sw["gaps"]) * len(sw["n_modes"])
    return len(sw["variants"]) if task == "ghosts" else 0


def _samples(c: dict) -> str:
    if c["task"] == "recursive":
        return f"{c['recursive']['n_keep'] or c['data'][0]['n_train']:,} per generation"
    return f"{c['eval']['n_samples']:,}"


def defaults(runs: dict[str, dict], root: Path) -> str:
    """Section 4b': the few-minute default configs of the toy study under `root` (configs/) beside the
    run recorded for each (<name>_full, else <name>): task, training steps × batch, samples, networks."""
    if not root.is_dir():
        return f"*No config folder {root}.*\n"
    header = ["config", "task", "steps × batch", "samples", "networks", "recorded run", "its steps × batch",
              "its samples", "its networks"]
    body = []
    for name, c in _toy_configs(root).items():
        run = next((r for r in (f"{name}_full", name) if r in runs), None)
        mine = [f"{c['train']['steps']:,} × {c['train']['batch']}", _samples(c), str(n_networks(c))]
        if run is None:
            body.append([f"`{name}`", c["task"], *mine, "none", "", "", ""])
            continue
        rc = config(runs[run])
        theirs = [f"{rc['train']['steps']:,} × {rc['train']['batch']}", _samples(rc), str(n_networks(rc))]
        body.append([f"`{name}`", c["task"], *mine, f"`{run}`", *(["same"] * 3 if theirs == mine else theirs)])
    return table(header, body)


def shapes_counts(m: dict) -> str:
    """Section 5: hallucinated images of the Simple Shapes run by category, Wilson intervals at the
    run's confidence, and the training set through the same classifier."""
    h, level = m["hallucination"], config(m)["eval"]["confidence"]
    n = h["n"]

    def line(label: str, k: int) -> list[str]:
        lo, hi = wilson(k, n, level)
        return [label, f"{k} / {n}", f"{f(k / n, 3)} [{f(lo, 3)}, {f(hi, 3)}]"]

    body = [line("hallucinated (any rule)", h["k"]),
            *[line(CATEGORIES.get(c, c), k) for c, k in h["categories"].items()],
            ["training set, same classifier", f"{m['data']['hallucinated']} / {m['data']['n_train']}",
             f(m["data"]["hallucinated"] / m["data"]["n_train"], 3)]]
    return table(["", "count", f"fraction [Wilson {pct(level)}]"], body)


SHAPES = ("shapes", "shapes_detector")


def shapes_recursive(m: dict) -> str:
    """Section 5: the Simple Shapes recursion, one row per rule and generation: hallucinated draws
    [Wilson at the run's confidence], by category, the rate among the kept images, the detector's AUC
    on the draws, the network's training time and final loss."""
    level = config(m)["eval"]["confidence"]
    header = ["rule", "gen", f"hallucinated / drawn [Wilson {pct(level)}]",
              "extra / wrong kind / malformed / empty", "kept: hallucinated", "detector AUC", "training (s)",
              "final loss"]
    body = [[r["rule"], str(r["generation"]),
             f"{r['hallucinated']} / {r['n_drawn']} = {f(r['rate'], 3)} [{f(r['ci_lo'], 3)}, {f(r['ci_hi'], 3)}]",
             " / ".join(str(r[f"n_{c}"]) for c in CATEGORIES), f"{r['kept_hallucinated']} / {r['n_kept']}",
             f(r["auc"], 2), f"{r['train_s']:.0f}", f(r["final_loss"], 4)]
            for r in sorted(m["generations"], key=lambda r: (r["rule"], r["generation"]))]
    return table(header, body)


def sampler_label(m: dict) -> str:
    levels, c = m["sample"]["levels"], config(m)
    if levels >= c["loss"]["ddpm_T"]:
        return f"all {levels} levels"
    tail = c["eval"].get("tail")
    return f"{levels} levels, respaced evenly" + (f", the last {tail} dense" if tail else "")


def window(w: dict) -> str:
    """A window-study entry: 'var over the last 5 levels, 0.79' (or '… 10 levels ending 40 before the last')."""
    where = "the last " if w["offset"] == 0 else ""
    end = f" ending {w['offset']} before the last" if w["offset"] else ""
    return f"{w['stat']} over {where}{w['length']} levels{end}, {f(w['auc'], 2)}"


def samplers(ms: list[dict]) -> str:
    """Section 5: the same Simple Shapes network through each recorded sampler: hallucinated fraction
    [Wilson], detector AUC ± se (by category), detection at the retention ± se, what their selection
    rule removes, and the best window of the run's window study (when it ran one)."""
    ev = config(ms[0])["eval"]
    header = ["sampler (same network)", "run", f"hallucinated [Wilson {pct(ev['confidence'])}]",
              f"AUC ({ev['stat']}, last {ev['window']})", "AUC: " + " / ".join(v.replace("_", " ") for v in
                                                                              ms[0]["detector_auc_by_category"]),
              f"detection at {pct(ev['retention'])} retention",
              f"their rule (n + {pct_exact(ev['extra_fraction'])}) removes", "best window of the study"]
    body = []
    for m in ms:
        h, d = m["hallucination"], m["detector"]
        ws = m.get("window_study") or []
        best = max(ws, key=lambda r: r["auc"]) if ws else None
        body.append([sampler_label(m), f"`{config(m)['name']}`",
                     f"{f(h['rate'], 3)} [{f(h['ci_lo'], 3)}, {f(h['ci_hi'], 3)}]", pm(d["auc"], d["auc_se"], 2),
                     " / ".join(f(v, 2) for v in m["detector_auc_by_category"].values()),
                     pm(d["at_retention_detection"], d["at_retention_detection_se"], 2),
                     f(d["selection"]["removed_out"], 2),
                     window(best) if best else "not run (eval.window_max = 0)"])
    return table(header, body)


BUILDERS: dict[str, tuple[tuple[str, ...], Callable[[list[dict]], str]]] = {
    "interpolation": (BASIC, interpolation),
    "convergence": (BASIC, converged),
    "g25_sweep": ((G25_SWEEP,), lambda ms: g25_sweep(ms[0])),
    "g25_recipes": ((G25_SWEEP, RECIPE_SWEEP), g25_recipes),
    "recursive": (RECURSIVE, recursive),
    "gap": (("hallucination_gap",), lambda ms: gap(ms[0])),
    "architecture": (ARCH, architecture),
    "shapes": (("shapes",), lambda ms: shapes_counts(ms[0])),
    "samplers": (SHAPES, samplers),
    "shapes_recursive": (("shapes_recursive",), lambda ms: shapes_recursive(ms[0])),
}


def tables(runs: dict[str, dict]) -> dict[str, str]:
    """{table name: Markdown} for every table of docs/results/hallucination.md; runs: {run name:
    metrics}. A table whose runs are missing is the `missing` marker naming them."""
    out = {}
    for name, (needs, build) in BUILDERS.items():
        absent = [r for r in needs if r not in runs]
        out[name] = missing(*absent) if absent else build([runs[r] for r in needs])
    out["defaults"] = defaults(runs, CONFIGS)
    return out

"""The study's tables (Markdown, mean ± std over seeds, exact references first; the text summary
printed at the end of a run) and figures (ghost fractions per dim; score error and trajectory gap
against σ). Figures are plain matplotlib.figure.Figure objects: nothing here selects a backend,
touches pyplot state or writes a file.
"""

from __future__ import annotations


def markdown_table(table: list[dict], refs: dict) -> str:
    """The study table (mean ± std over seeds) as Markdown, exact references first per dim."""
    head = ("| D | score | A | ghost fraction | off-support | gap peak | score error in band |\n"
            "|---|---|---|---|---|---|---|\n")
    out = []
    def f(m, s):
        return f"{m:.3f} ± {s:.3f}"
    for d in sorted(refs):
        r = refs[d]
        out.append(f"| {d} | exact joint | – | {r['exact_joint']['ghost_fraction']:.3f} | "
                   f"{r['exact_joint']['off_fraction']:.3f} | 0 | 0 |")
        ef = r["exact_factorized"]
        out.append(f"| {d} | exact factorized (bound 1−w^D−(1−w)^D = {r['product_ghost_mass']:.3f}) | – | "
                   f"{ef['ghost_fraction']:.3f} | {ef['off_fraction']:.3f} | {ef['gap_peak']:.3f} | "
                   f"{ef['score_rel_err_band']:.3f} |")
        for t in sorted((t for t in table if t["dim"] == d), key=lambda t: (t["kind"], t["band_factor"])):
            out.append(f"| {d} | {t['kind']} | {t['band_factor']:g} | {f(t['ghost_fraction'], t['ghost_fraction_std'])} | "
                       f"{f(t['off_fraction'], t['off_fraction_std'])} | {f(t['gap_peak'], t['gap_peak_std'])} | "
                       f"{f(t['score_rel_err_band'], t['score_rel_err_band_std'])} |")
    return head + "\n".join(out) + "\n"


def ghost_figure(table: list[dict], refs: dict):
    """Bar chart per dim: ghost fraction of every (kind, A) (mean ± std) and of the exact scores."""
    from matplotlib.figure import Figure

    dims = sorted(refs)
    fig = Figure(figsize=(4.2 * len(dims), 3.6))
    axes = fig.subplots(1, len(dims), squeeze=False)
    for ax, d in zip(axes[0], dims):
        ts = [t for t in table if t["dim"] == d]
        labels = [f"{t['kind']}\nA={t['band_factor']:g}" for t in ts] + ["exact\njoint", "exact\nfact."]
        vals = [t["ghost_fraction"] for t in ts] + [refs[d]["exact_joint"]["ghost_fraction"],
                                                      refs[d]["exact_factorized"]["ghost_fraction"]]
        errs = [t["ghost_fraction_std"] for t in ts] + [0.0, 0.0]
        ax.bar(range(len(vals)), vals, yerr=errs, color=["C0"] * len(ts) + ["k", "0.5"])
        ax.axhline(refs[d]["product_ghost_mass"], ls="--", c="r", lw=1, label="1 − w^D − (1−w)^D")
        ax.set_xticks(range(len(vals)), labels, fontsize=7, rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"D = {d}: ghost fraction")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def curves_figure(rows: list[dict], refs: dict):
    """Score error and trajectory gap against σ for the first seed of every (dim, kind, A)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    a1, a2 = fig.subplots(1, 2)
    firsts: dict = {}
    for r in rows:
        firsts.setdefault((r["dim"], r["kind"], r["band_factor"]), r)
    for (d, kind, a), r in firsts.items():
        lab = f"{kind} D={d} A={a:g}"
        a1.loglog(r["score_curve"]["sigma"], r["score_curve"]["rel_err"], label=lab)
        a2.semilogx(r["gap_curve"]["sigma"], r["gap_curve"]["gap"], label=lab)
    for d in sorted(refs):
        ef = refs[d]["exact_factorized"]
        a1.loglog(ef["score_curve"]["sigma"], ef["score_curve"]["rel_err"], "k--", lw=1, label=f"exact fact. D={d}")
        a2.semilogx(ef["gap_curve"]["sigma"], ef["gap_curve"]["gap"], "k--", lw=1, label=f"exact fact. D={d}")
    a1.set(xlabel="σ", ylabel="E‖s − s*‖² / E‖s*‖²", title="score error vs exact joint")
    a2.set(xlabel="σ", ylabel="rms gap per coordinate", title="trajectory gap vs exact joint (PF-ODE)")
    a2.invert_xaxis()
    if len(firsts) <= 12:
        a1.legend(fontsize=6)
    fig.tight_layout()
    return fig


def figures(rows: list[dict], refs: dict, table: list[dict]) -> dict:
    """{"ghosts": ghost_figure, "score_error_gap": curves_figure} (figures/<name>.png of a run)."""
    return {"ghosts": ghost_figure(table, refs), "score_error_gap": curves_figure(rows, refs)}


def format_table(summary: list[dict]) -> str:
    """The summary rows (summary.csv) as a fixed-width text table."""
    lines = [f"{'score':<34} {'ghost':>7} {'off':>7} {'gap peak':>9} {'band err':>9}"]
    for r in summary:
        lines.append(f"{r['name']:<34} {r['ghost_fraction']:>7.3f} {r['off_fraction']:>7.3f} "
                     f"{r['gap_peak']:>9.3f} {r['score_rel_err_band']:>9.3f}")
    return "\n".join(lines)


def summary_text(summary: list[dict], refs: dict) -> str:
    """What a run prints when it ends: the text table, then per dim the best ghost fraction any
    factorized score can reach (the product of marginals' ghost mass)."""
    lines = [format_table(summary)]
    for d in sorted(refs):
        lines.append(f"D={d}: best possible ghost fraction of any factorized score "
                     f"(product of marginals) 1 - w^D - (1-w)^D = {refs[d]['product_ghost_mass']:.4f}")
    return "\n".join(lines)

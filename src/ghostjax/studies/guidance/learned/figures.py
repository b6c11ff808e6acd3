"""Figures of the learned-guidance study: `figures(cfg, scan, errors) -> {"frontier", "score_errors"}`
(matplotlib Figure objects, no pyplot state). Scan curves are the means over the training seeds at
each strength (exact: over the sampler draws paired with the seeds)."""

from __future__ import annotations

import numpy as np

from ....guidance import sigma_of_t
from ..common import frontier_axis

PANELS = (("var_par", "ρ_∥ (variance along u / true)"), ("overshoot", "overshoot δμ_∥"),
          ("off_fraction", "census off-support fraction"), ("log_p_gap", "Δ log p_0 per dim vs class samples"))


def _seed_mean(rows: list[dict], metric: str) -> tuple[list[float], list[float]]:
    """(mean accuracy, mean metric) per strength over the rows' seeds, in strength order."""
    ks = sorted({r["strength"] for r in rows})
    acc = [float(np.nanmean([r["accuracy"] for r in rows if r["strength"] == k])) for k in ks]
    val = [float(np.nanmean([r[metric] for r in rows if r["strength"] == k])) for k in ks]
    return acc, val


def figures(cfg, scan: list[dict], errors: list[dict]) -> dict:
    from matplotlib.figure import Figure

    figs = {}
    fig = Figure(figsize=(19, 4.4))
    axes = fig.subplots(1, len(PANELS))
    variants = list(dict.fromkeys(r["variant"] for r in scan))
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    for ax, (m, yl) in zip(axes, PANELS):
        for score in ("exact", "learned"):
            for v in variants:
                rs = [r for r in scan if r["score"] == score and r["variant"] == v]
                if not rs:
                    continue
                acc, val = _seed_mean(rs, m)
                ax.plot(acc, val, "o-" if score == "exact" else "x--", color=colours[v], ms=3,
                        lw=1.4 if score == "exact" else 0.9, label=f"{score}: {v}" if ax is axes[0] else None)
        frontier_axis(ax, cfg.target_accuracy, "class accuracy (exact posterior at σ = 0)", yl, unit_line=m == "var_par")
    axes[0].legend(fontsize=5.5)
    fig.suptitle(f"Exact (solid) vs learned (dashed) scores, means over {len(cfg.train.seeds)} seeds; d = {cfg.dim}, "
                 f"M = {cfg.n_classes}, p_uncond = {cfg.p_uncond:g} (dotted: target accuracy)", fontsize=10)
    fig.tight_layout()
    figs["frontier"] = fig

    if not errors:  # score_error_sigmas = []: no score-error table
        return figs
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for i, seed in enumerate(dict.fromkeys(e["seed"] for e in errors)):
        es = [e for e in errors if e["seed"] == seed]
        s = [e["sigma"] for e in es]
        ax.plot(s, [e["rel_err_delta"] for e in es], "o-", color=f"C{i}", label=f"Δ = s(x|c) − s(x), seed {seed}")
        ax.plot(s, [e["rel_err_cond"] for e in es], "s--", color=f"C{i}", ms=3, label=f"s(x|c), seed {seed}")
    ax.axvline(float(sigma_of_t(cfg.window_t_switch)), color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("relative rms error vs exact")
    ax.set_title("Learned score errors (dotted: the window's switch σ)", fontsize=9)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs["score_errors"] = fig
    return figs

"""Figures of the schedules study (schedules.py): the accuracy–distortion frontier of every family
(means over mixture draws), the schedules w(σ) at the target accuracy, the (w0, ω) phase diagram of
w0 + ω t, and the equal-accuracy bars (ρ_∥ and overshoot with their intervals across draws)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import frontier_axis, heatmap
from .meanfield import schedule_on_grid

NEGATIVE = ("window", "linear")


def _frontier(cfg, scan):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    labels = list(dict.fromkeys(r["variant"] for r in scan))
    for ax, (n, yl) in zip(axes, (("var_par", "ρ_∥ (variance along u / true)"), ("var_perp", "ρ_⊥"),
                                  ("overshoot", "overshoot δμ_∥"))):
        for lab in labels:
            rs = [r for r in scan if r["variant"] == lab and r["accuracy"] is not None and r[n] is not None]
            neg = rs and rs[0]["family"] in NEGATIVE
            ax.plot([r["accuracy"] for r in rs], [r[n] for r in rs], "s--" if neg else "o-", ms=3, lw=1.1, label=lab)
        frontier_axis(ax, cfg.target_accuracy, "class accuracy (mean over draws)", yl, unit_line=n != "overshoot")
    axes[0].legend(fontsize=5.5)
    fig.suptitle(f"Accuracy–distortion frontier, d = {cfg.dim}, M = e^({cfg.beta:g} d), {cfg.draws} mixture draws "
                 "(dotted: target accuracy; dashed: negative schedules)", fontsize=10)
    fig.tight_layout()
    return fig


def _at_target(cfg, at_target):
    es = [e for e in at_target if e["var_par"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.32 * max(len(es), 4) + 1.5))
    y = np.arange(len(es))
    for ax, k, ref, xl in ((axes[0], "var_par", 1.0, "ρ_∥ at the target accuracy"),
                           (axes[1], "overshoot", 0.0, "overshoot δμ_∥ at the target accuracy")):
        ax.errorbar([e[k] for e in es], y, xerr=[e[k + "_ci"] or 0.0 for e in es], fmt="o", ms=4, capsize=3)
        ax.axvline(ref, color="0.5", lw=0.8)
        ax.set_yticks(y, [e["variant"] for e in es], fontsize=6)
        ax.set_xlabel(xl)
        ax.grid(alpha=0.3)
    axes[1].set_yticks(y, [""] * len(es))
    fig.suptitle(f"Class accuracy {cfg.target_accuracy:g} per draw; mean ± 95 % t-interval over draws", fontsize=9)
    fig.tight_layout()
    return fig


def _schedules(cfg, at_target, grid):
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    s = grid[:-1]
    fams = {f.label(): f for f, _ in cfg.scans()}
    for e in at_target:
        k = e["strength_at_target"]
        sched = None if k is None else fams[e["variant"]].schedule(k)
        if sched is None:
            continue
        ax.plot(s, schedule_on_grid(sched, s), "--" if e["family"] in NEGATIVE else "-", lw=1.1,
                label=f"{e['variant']} ({k:.2f})")
    ax.set_xscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("w(σ)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_title(f"Schedules at class accuracy {cfg.target_accuracy:g} (mean tuned strength)", fontsize=9)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=5.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _phase(cfg, phase):
    w0s, oms = list(cfg.phase_w0s), list(cfg.phase_omegas)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))

    def z(k):
        out = np.full((len(w0s), len(oms)), np.nan)
        for r in phase:
            if r[k] is not None:
                out[w0s.index(r["w0"]), oms.index(r["omega"])] = r[k]
        return out

    for ax, (k, t) in zip(axes, (("accuracy", "class accuracy"), ("off_target", "off-target fraction (class lost)"),
                                 ("var_par", "ρ_∥"), ("overshoot", "overshoot δμ_∥"))):
        heatmap(ax, oms, w0s, z(k), xlabel="ω", ylabel="w0", title=f"w(t) = w0 + ω t: {t}")
    fig.suptitle(f"(w0, ω) phase diagram, d = {cfg.dim}, mean over {cfg.draws} mixture draws", fontsize=10)
    fig.tight_layout()
    return fig


def figures(cfg, scan, at_target, phase, grid) -> dict:
    return {"frontier": _frontier(cfg, scan), "at_target": _at_target(cfg, at_target),
            "schedules_at_target": _schedules(cfg, at_target, grid), "phase": _phase(cfg, phase)}

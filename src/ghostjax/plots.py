"""Matplotlib figures for the ghost-mode studies. Each function returns a Figure; the caller
saves it (runio.atomic_savefig) and closes it. σ axes are drawn in units of σ_data."""

from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to the Agg backend by themselves
import numpy as np


def _band(ax, sigma_data_units: bool = True):
    """Shade the seed's band [σ_data/10, σ_data] (x axis in units of σ_data)."""
    ax.axvspan(0.1, 1.0, color="0.9", zorder=0, label="[σ_data/10, σ_data]")


def curves(series: dict, *, xlabel: str = "σ / σ_data", ylabel: str = "", title: str = "",
           peaks: dict | None = None, band: bool = True, logy: bool = False, hlines=(), logx: bool = True,
           styles: dict | None = None):
    """Line plot of {label: (x, y)}; peaks {label: {'x','y','lo','hi'}} are marked with their
    interval as a horizontal bar; `hlines` are reference levels (e.g. the seed's 80×, 3000×)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if band:
        _band(ax)
    for i, (label, (x, y)) in enumerate(series.items()):
        (line,) = ax.plot(x, y, label=label, **{"lw": 1.5, **(styles or {}).get(label, {})})
        pk = (peaks or {}).get(label)
        if pk is not None:
            ax.plot([pk["x"]], [pk["y"]], "o", color=line.get_color(), ms=5)
            if "lo" in pk:
                ax.hlines(pk["y"], pk["lo"], pk["hi"], color=line.get_color(), lw=3, alpha=0.5)
    for h in hlines:
        ax.axhline(h, color="k", ls=":", lw=1)
        ax.annotate(f"{h:g}×", (ax.get_xlim()[0], h), fontsize=8, va="bottom")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def census_bars(cases: dict, title: str = "Ghost census"):
    """Grouped bars of real / ghost / off fractions for joint and factorized samples per case.
    cases: {case: {'joint': census, 'factorized': census, 'predicted_ghost_mass': float}}."""
    names = list(cases)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names)), 4.8))
    x = np.arange(len(names))
    w = 0.13
    cols = {"real": "tab:green", "ghost": "tab:red", "off": "0.6"}
    for j, which in enumerate(("joint", "factorized")):
        for i, cls in enumerate(("real", "ghost", "off")):
            vals = [cases[n][which][f"{cls}_fraction"] for n in names]
            off = (j * 3 + i - 2.5) * w
            ax.bar(x + off, vals, w, color=cols[cls], alpha=1.0 if which == "joint" else 0.55,
                   hatch=None if which == "joint" else "//", label=f"{which}: {cls}")
    pred = [cases[n]["predicted_ghost_mass"] for n in names]
    ax.plot(x + 1.5 * w, pred, "k_", ms=18, mew=2, label="predicted ghost mass (product)")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("fraction of samples")
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    return fig


def corner_occupancy(counts_joint: dict, counts_fact: dict, real_codes, dim: int = 3, n: int = 1):
    """Cube pictures for D = 3: each corner a disc with area ∝ its share of samples, green when it
    holds data, red when a ghost; joint-score samples left, factorized right."""
    if dim != 3:
        raise ValueError(f"corner_occupancy: D = 3 only, got {dim}")
    fig = plt.figure(figsize=(8.5, 4.0))
    corners = [((c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)]
    edges = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
    for k, (title, counts) in enumerate((("joint score", counts_joint), ("factorized score", counts_fact))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        for a, b in edges:
            pa, pb = (np.array(corners[a]) * 2 - 1), (np.array(corners[b]) * 2 - 1)
            ax.plot(*zip(pa, pb), color="0.7", lw=0.8)
        for c in range(8):
            share = counts.get(c, counts.get(str(c), 0)) / max(n, 1)
            p = np.array(corners[c]) * 2 - 1
            col = "tab:green" if c in real_codes else "tab:red"
            ax.scatter(*p, s=2000 * share + 5, color=col, alpha=0.7)
            ax.text(*(p * 1.18), f"{100 * share:.0f}%", fontsize=7, ha="center")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle("Corner occupancy, D = 3 (green: data corner, red: ghost)", fontsize=10)
    return fig


def errorbars(x, series: dict, *, xlabel: str, ylabel: str, title: str = "", ref: dict | None = None,
              logy: bool = False):
    """Points with error bars: series {label: (y, lo, hi)} over x; ref {label: y-values or const}
    drawn as dashed lines (e.g. the seed's σ* = 0.86 σ_data)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    x = np.asarray(x, np.float64)
    for i, (label, (y, lo, hi)) in enumerate(series.items()):
        y, lo, hi = (np.asarray(a, np.float64) for a in (y, lo, hi))
        ax.errorbar(x + 0.06 * i, y, yerr=[y - lo, hi - y], fmt="o-", capsize=3, ms=4, label=label)
    for label, val in (ref or {}).items():
        ax.plot(x, np.broadcast_to(np.asarray(val, np.float64), x.shape), "k--", lw=1, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def window_study_figure(rows: list[dict], window: int, title: str):
    """The detector's window study (rows of metrics.hallucination.window_study): AUC vs window
    length (windows ending at the last step) and vs the offset of a `window`-step window, one line
    per statistic. A matplotlib Figure (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.8, 3.6))
    axes = fig.subplots(1, 2, squeeze=False)
    stats = sorted({r["stat"] for r in rows})
    for st in stats:
        a = sorted((r["length"], r["auc"]) for r in rows if r["stat"] == st and r["offset"] == 0)
        b = sorted((r["offset"], r["auc"]) for r in rows if r["stat"] == st and r["length"] == window)
        if a:
            axes[0, 0].semilogx(*zip(*a), marker="o", ms=3, label=st)
        if b:
            axes[0, 1].plot(*zip(*b), marker="o", ms=3, label=st)
    axes[0, 0].set(xlabel="window length k (last k steps)", ylabel="AUC", title=title)
    axes[0, 1].set(xlabel=f"offset of a {window}-step window (steps before the end)", ylabel="AUC")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def close(fig) -> None:
    plt.close(fig)

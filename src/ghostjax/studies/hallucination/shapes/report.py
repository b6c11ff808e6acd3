"""Figures of the shapes study (plain matplotlib Figures; nothing here selects a backend)."""

from __future__ import annotations

import math

import numpy as np


def image_grid(x: np.ndarray, size: int, flagged: np.ndarray | None, title: str, cols: int = 8):
    """Images x [n, size²] (scale [−1, 1]) as one mosaic, `cols` a row, 2-pixel grey gutters; those
    with `flagged` [n] outlined in red."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n = x.shape[0]
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    cell = size + 2
    mosaic = np.full((rows * cell, cols * cell), -0.6)
    imgs = np.clip(np.nan_to_num(x.reshape(n, size, size)), -1.0, 1.0)
    for i in range(n):
        r, c = divmod(i, cols)
        mosaic[r * cell + 1:r * cell + 1 + size, c * cell + 1:c * cell + 1 + size] = imgs[i]
    fig = Figure(figsize=(1.1 * cols, 1.1 * rows + 0.4))
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    if flagged is not None:
        for i in np.nonzero(flagged[:n])[0]:
            r, c = divmod(int(i), cols)
            ax.add_patch(Rectangle((c * cell + 0.5, r * cell + 0.5), size, size, fill=False, edgecolor="red", lw=1.5))
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def roc_figure(roc: dict, title: str):
    """The detector's ROC curve {'fpr', 'tpr'} with the 96 % retention line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 4.0))
    ax = fig.subplots()
    ax.plot(roc["fpr"], roc["tpr"], lw=1.2)
    ax.plot([0, 1], [0, 1], "k:", lw=0.5)
    ax.axvline(0.04, color="0.5", lw=0.5, ls="--")
    ax.set(xlabel="false-positive rate (clean images flagged)", ylabel="detection rate (hallucinations flagged)",
           title=title)
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig


def score_histogram(scores: np.ndarray, positive: np.ndarray):
    """Histograms of the detector score (log scale) of clean and hallucinated images."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 3.4))
    ax = fig.subplots()
    s = np.log10(np.maximum(np.nan_to_num(scores, nan=1e-12, posinf=1e12), 1e-12))
    bins = np.linspace(s.min(), s.max() + 1e-9, 41)
    ax.hist(s[~positive], bins=bins, alpha=0.6, label=f"clean ({int((~positive).sum())})")
    ax.hist(s[positive], bins=bins, alpha=0.6, color="C3", label=f"hallucinated ({int(positive.sum())})")
    ax.set(xlabel="log10 detector score", ylabel="images")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def rate_figure(rows: list[dict], title: str):
    """The hallucination rate per generation, one line per rule, with its Wilson interval as error
    bars; rows: recursive.run_recursive's generation rows {rule, generation, rate, ci_lo, ci_hi}."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.subplots()
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    for i, rule in enumerate(rules):
        rs = sorted((r for r in rows if r["rule"] == rule), key=lambda r: r["generation"])
        g = np.array([r["generation"] for r in rs], float) + 0.06 * (i - (len(rules) - 1) / 2)  # side by side
        p = np.array([r["rate"] for r in rs])
        err = np.array([[r["rate"] - r["ci_lo"] for r in rs], [r["ci_hi"] - r["rate"] for r in rs]])
        ax.errorbar(g, p, yerr=err, marker="o", ms=4, capsize=3, lw=1.2, label=rule)
    ax.set_xticks(sorted({r["generation"] for r in rows}))
    ax.set(xlabel="generation", ylabel="hallucinated fraction of the draws", title=title)
    ax.set_ylim(bottom=0)
    ax.title.set_fontsize(8)
    ax.legend(fontsize=7, title="selection", title_fontsize=7)
    fig.tight_layout()
    return fig

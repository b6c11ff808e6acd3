"""Summary figures of a sweep: each metric against D (or the first varied numeric setting), one
line per combination of the other varied settings, mean over seeds with their spread (± one
standard deviation as a band; the seeds' min-max as thin bars)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runio import atomic_savefig


def x_key(varied_keys: list[str], rows: list[dict]) -> str | None:
    """The x axis: 'dim' (or '*.dim') when it varies, else the first varied numeric non-seed key."""
    numeric = [k for k in varied_keys if k.split(".")[-1] != "seed"
               and all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in rows)]
    dims = [k for k in numeric if k.split(".")[-1] == "dim"]
    return (dims or numeric or [None])[0]


def series(rows: list[dict], metric: str, xk: str, line_keys: list[str]) -> dict:
    """{line label: (x [m], mean [m], std [m], min [m], max [m])} averaged over the remaining keys."""
    lines: dict = {}
    for r in rows:
        v = r.get(metric)
        if v is None or isinstance(v, str):
            continue
        label = ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in line_keys) or metric
        lines.setdefault(label, {}).setdefault(r[xk], []).append(float(v))
    out = {}
    for label, pts in lines.items():
        xs = sorted(pts)
        vals = [np.asarray(pts[x], np.float64) for x in xs]
        out[label] = tuple(np.asarray(a) for a in (xs, [v.mean() for v in vals], [v.std() for v in vals],
                                                  [v.min() for v in vals], [v.max() for v in vals]))
    return out


def summary(rows: list[dict], varied_keys: list[str], metrics: tuple[str, ...], path: Path, title: str) -> Path | None:
    """One panel per metric; returns the path written (None when nothing varies numerically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xk = x_key(varied_keys, rows)
    metrics = tuple(m for m in metrics if any(isinstance(r.get(m), (int, float)) for r in rows))
    if xk is None or not rows or not metrics:
        return None
    line_keys = [k for k in varied_keys if k != xk and k.split(".")[-1] != "seed"]
    ncol = min(3, len(metrics))
    nrow = -(-len(metrics) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.5 * nrow), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        for i, (label, (x, mean, std, lo, hi)) in enumerate(series(rows, m, xk, line_keys).items()):
            (ln,) = ax.plot(x, mean, "o-", ms=3, lw=1.3, label=label, color=f"C{i % 10}")
            ax.fill_between(x, mean - std, mean + std, color=ln.get_color(), alpha=0.2, lw=0)
            ax.vlines(x, lo, hi, color=ln.get_color(), lw=0.8, alpha=0.6)
        if xk.split(".")[-1] == "dim" and np.ptp([r[xk] for r in rows]) > 0 and min(r[xk] for r in rows) > 0:
            ax.set_xscale("log", base=2)
            xs = sorted({r[xk] for r in rows})
            ax.set_xticks(xs, [str(x) for x in xs], fontsize=7 if len(xs) > 8 else 9)
            ax.minorticks_off()
        ax.set(xlabel=xk, ylabel=m, title=m)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if 1 < len(labels) <= 12:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title} (mean over seeds; band ±1 sd, bars min-max)", fontsize=10)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return path

"""Peaks and crossings of sampled curves: the location of a maximum (refined by a parabola),
its bootstrap interval over independent particle groups, and level crossings."""

from __future__ import annotations

from typing import Callable

import numpy as np


# ---------------------------------------------------------------------------- peaks and crossings
def find_peak(x, y, log: bool = True) -> dict:
    """Location of the maximum of a sampled curve y(x) (x increasing or decreasing).

    The discrete argmax is refined by the vertex of the parabola through it and its two
    neighbours, in ln x when `log` (the σ grids are geometric). Returns {'x', 'y', 'index',
    'edge'}; 'edge' is True when the maximum sits on the first or last grid point (then no
    refinement is made and the true peak may lie outside the grid).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"find_peak: need 1-D x, y of equal length ≥ 3, got {x.shape}, {y.shape}")
    ok = np.isfinite(y)
    if not ok.any():
        raise ValueError("find_peak: y has no finite value")
    i = int(np.argmax(np.where(ok, y, -np.inf)))
    if i == 0 or i == x.size - 1 or not (ok[i - 1] and ok[i + 1]):
        return {"x": float(x[i]), "y": float(y[i]), "index": i, "edge": True}
    u = np.log(x[i - 1:i + 2]) if log else x[i - 1:i + 2]
    a, b, c = np.polyfit(u - u[1], y[i - 1:i + 2], 2)
    if a >= 0:  # flat or convex triple: keep the grid point
        return {"x": float(x[i]), "y": float(y[i]), "index": i, "edge": False}
    v = float(np.clip(-b / (2 * a), min(u - u[1]), max(u - u[1])))
    xp = float(np.exp(u[1] + v)) if log else float(u[1] + v)
    return {"x": xp, "y": float(c - b * b / (4 * a)), "index": i, "edge": False}


def bootstrap_peak(x, groups, seed: int = 0, n_boot: int = 400, level: float = 0.9,
                   transform: Callable | None = None, log: bool = True) -> dict:
    """Peak of the group-averaged curve with a percentile bootstrap interval over groups.

    groups: [B, n] (or [B, n, ...] with `transform` mapping the averaged [n, ...] to a curve [n]):
    B independent batches of particles (or seeds). Each bootstrap replicate resamples the B groups
    with replacement, averages, transforms and locates the peak. Returns {'x', 'y', 'lo', 'hi',
    'edge', 'n_groups', 'level'}.
    """
    g = np.asarray(groups, np.float64)
    tf = transform or (lambda m: m)
    point = find_peak(x, tf(g.mean(axis=0)), log)
    rng = np.random.default_rng(seed)
    b = g.shape[0]
    peaks = []
    for _ in range(n_boot):
        idx = rng.integers(0, b, b)
        peaks.append(find_peak(x, tf(g[idx].mean(axis=0)), log)["x"])
    lo, hi = np.quantile(peaks, [(1 - level) / 2, (1 + level) / 2])
    return {"x": point["x"], "y": point["y"], "lo": float(lo), "hi": float(hi), "edge": point["edge"],
            "n_groups": int(b), "level": level}


def crossing(x, y, level: float, log: bool = True) -> float | None:
    """Largest x at which y crosses `level` (linear interpolation in ln x and ln y when `log`).

    Use on curves that decrease with x (score ratios, clone probabilities): returns the σ above
    which y stays below the level. None when the curve never crosses it on the grid.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    order = np.argsort(x)
    x, y = x[order], y[order]
    above = np.isfinite(y) & (y >= level)
    if not above.any() or above[-1]:
        return None
    i = int(np.nonzero(above)[0][-1])  # last grid point at or above the level
    x0, x1, y0, y1 = x[i], x[i + 1], y[i], y[i + 1]
    if log and y0 > 0 and y1 > 0 and level > 0:
        t = (np.log(level) - np.log(y0)) / (np.log(y1) - np.log(y0))
        return float(np.exp(np.log(x0) + t * (np.log(x1) - np.log(x0))))
    t = (level - y0) / (y1 - y0)
    return float(x0 + t * (x1 - x0))


def curve_peaks(sig, groups, scale: float, measures: dict, seed: int = 0, n_boot: int = 400,
                level: float = 0.9) -> dict:
    """Bootstrap peaks, with σ in units of `scale`, of each measure of group means.

    sig [n]; groups [n, B, ...] (B independent groups per σ); measures {name: f(mean [n, ...], sig)
    -> curve [n]}. Returns {name: bootstrap_peak result}."""
    g = np.moveaxis(np.asarray(groups, np.float64), 1, 0)  # [B, n, ...]
    return {name: bootstrap_peak(sig / scale, g, seed=seed, n_boot=n_boot, level=level,
                                 transform=lambda m, f=f: f(m, sig))
            for name, f in measures.items()}

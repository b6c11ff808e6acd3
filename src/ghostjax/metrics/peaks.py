"""Metrics shared by the ghost-mode studies: peak finding with bootstrap intervals, level
crossings, a grouped-mean observer, and the ghost census of joint vs factorized samples.

The gap / entropy-production quantities live in `metrics_gaps.py`, speciation and coupling in
`metrics_speciation.py`; this module holds the generic pieces they share.
"""

from __future__ import annotations

import itertools
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .census import corner_census, n_ghost_corners, product_ghost_mass
from .mixtures import GaussianMixture
from .observers import Observer


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


# ---------------------------------------------------------------------------- observer
class GroupMean(Observer):
    """Mean of fn(x, σ, s) over each of `groups` contiguous blocks of particles.

    Output [n_steps, groups, *fn_shape]: independent batch means, from which bootstrap intervals
    over particles are drawn without storing per-particle trajectories. N must be divisible by
    `groups`.
    """

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)
    groups: int = eqx.field(static=True, default=32)

    def update(self, state, x, sigma, score, step):
        v = jax.vmap(self.fn, in_axes=(0, None, 0))(x, sigma, score)
        n = v.shape[0]
        if n % self.groups:
            raise ValueError(f"GroupMean: {n} particles do not split into {self.groups} groups")
        return state, jnp.mean(v.reshape((self.groups, n // self.groups) + v.shape[1:]), axis=1)


# ---------------------------------------------------------------------------- census
def enumerate_ghost_corners(corners) -> int:
    """Ghost count by brute force: corners of {−1,+1}^D on which the product of the per-coordinate
    sign marginals of `corners` [k, D] is positive, minus the data corners. For tests (D ≤ 16)."""
    corners = np.sign(np.asarray(corners, np.float64))
    k, d = corners.shape
    if d > 16:
        raise ValueError(f"enumerate_ghost_corners: D ≤ 16, got {d}")
    signs_seen = [set(corners[:, i].tolist()) for i in range(d)]
    data = {tuple(c) for c in corners.tolist()}
    support = sum(1 for c in itertools.product((-1.0, 1.0), repeat=d)
                  if all(c[i] in signs_seen[i] for i in range(d)))
    return support - len(data)


def ghost_count(corners) -> dict:
    """{'formula_2D_minus_k': 2^D − k, 'count': the true count 2^{D_free} − k, 'd_free': D_free}.

    The seed's 2^D − k holds only when every coordinate sees both signs among the data corners;
    each coordinate on which all modes agree halves the support of the product of marginals.
    """
    corners = np.sign(np.asarray(corners, np.float64))
    k, d = corners.shape
    free = int(np.sum(np.any(corners > 0, axis=0) & np.any(corners < 0, axis=0)))
    return {"formula_2D_minus_k": 2**d - k, "count": n_ghost_corners(corners), "d_free": free,
            "D": d, "k": k}


def census_pair(gm: GaussianMixture, x_joint, x_fact, radius: float = 1.0) -> dict:
    """Census of samples drawn with the joint score and with the factorized score, with the
    predicted product-of-marginals ghost mass and ghost count of hypercube mixture `gm`."""
    cj = corner_census(x_joint, gm, radius)
    cf = corner_census(x_fact, gm, radius)
    return {"joint": cj, "factorized": cf, "predicted_ghost_mass": product_ghost_mass(gm),
            **ghost_count(np.asarray(gm.means))}

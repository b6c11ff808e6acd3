"""Hallucination metrics (Aithal et al. 2024): where samples fall outside the data's support, and how
well a per-sample score (the trajectory variance of the predicted x0) separates them.

Support. A sample is **in support** when the census calls it real (metrics.census: within t(D, tail)
stds of some mode in every coordinate; an exact sample of the data is real with probability
1 − tail). Otherwise it is **between** modes when it lies in the convex hull of the mode means with
every face pushed out by the real-zone radius r = t · (largest mode std), and **beyond** the outer
modes when it lies outside that (r: the half-width of the census's per-coordinate box, t = 3.48
stds at D = 1 and 3.66 at D = 2 for tail 1e-3). In 1-D: between = strictly between the outermost
means, beyond = farther than r outside them. (The push-out keeps an interpolation between two modes on the hull's
edge "between" when its spread carries it slightly outside the edge.)

Detector. The score of a sample is a statistic of its predicted-x0 trajectory over a window of the
last k reverse steps, window [k, N, D] (oldest first): by default the variance over the window,
averaged over coordinates (`trajectory_variance`). Higher = more likely a hallucination. ROC and
AUC treat out-of-support samples as positives; AUC is the Mann–Whitney statistic with mid-ranks
(ties count ½). `detection_at_retention` fixes the threshold that keeps a fraction `retention` of
the in-support samples; `select_lowest` is Aithal et al.'s rule (draw n + m, keep the n lowest).

Host-side NumPy functions, except the window statistics, which are traceable.
"""

from __future__ import annotations

import math
from typing import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ..mixtures import GaussianMixture
from .census import DEFAULT_TAIL, REAL, classify, thresholds

IN, BETWEEN, BEYOND = 0, 1, 2


# ------------------------------------------------------------------------------ support
def hull_faces(means: Float[ArrayLike, "K D"]) -> tuple[np.ndarray, np.ndarray]:
    """Faces (A [H, D] with unit rows, b [H]) of the convex hull of `means`: inside ⇔ A x ≤ b.

    D = 1: the interval [min, max]. D ≥ 2: scipy's Qhull; a flat hull (all means on a line or a
    plane in D = 2, 3) gets its faces from the hull in the affine span plus ± the normals of the span
    (a zero-width slab that the push-out widens)."""
    m = np.asarray(means, np.float64)
    if m.ndim != 2 or m.shape[0] < 1:
        raise ValueError(f"means: expected [K, D] with K ≥ 1, got shape {m.shape}")
    k, d = m.shape
    if d == 1:
        return np.array([[1.0], [-1.0]]), np.array([m.max(), -m.min()])
    centre = m.mean(0)
    u, s, vt = np.linalg.svd(m - centre, full_matrices=True)
    rank = int(np.sum(s > 1e-9 * max(1.0, float(s.max()) if s.size else 1.0)))
    span, normal = vt[:rank], vt[rank:]
    faces_a, faces_b = [], []
    if rank == 1:
        t = (m - centre) @ span[0]
        faces_a += [span[0], -span[0]]
        faces_b += [t.max() + centre @ span[0], -t.min() - centre @ span[0]]
    elif rank >= 2:
        from scipy.spatial import ConvexHull

        hull = ConvexHull((m - centre) @ span.T)
        for eq in hull.equations:  # n·y + c ≤ 0 inside, y the coordinates in the span, |n| = 1
            a = eq[:-1] @ span
            faces_a.append(a)
            faces_b.append(-eq[-1] + a @ centre)
    for nv in normal:  # the flat directions: a zero-width slab
        faces_a += [nv, -nv]
        faces_b += [nv @ centre, -(nv @ centre)]
    a, b = np.asarray(faces_a, np.float64).reshape(-1, d), np.asarray(faces_b, np.float64)
    scale = max(1.0, float(np.max(np.abs(m))))  # Qhull splits a face through collinear means: merge
    _, first = np.unique(np.round(np.c_[a, b / scale], 6), axis=0, return_index=True)
    first = np.sort(first)
    return a[first], b[first]


def support_labels(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL) -> Int[np.ndarray, " N"]:
    """IN (0), BETWEEN (1) or BEYOND (2) for each sample of x [N, D] (see the module docstring)."""
    x = np.asarray(x)
    labels, _ = classify(jnp.asarray(x, gm.means.dtype), gm, tail)
    real = np.asarray(labels) == REAL
    radius = thresholds(gm.dim, tail)[0] * float(np.max(np.asarray(gm.stds)))
    a, b = hull_faces(gm.means)
    inside = np.all(x.astype(np.float64) @ a.T <= b + radius, axis=1)
    return np.where(real, IN, np.where(inside, BETWEEN, BEYOND)).astype(np.int32)


def thresholds_of(gm: GaussianMixture, tail=DEFAULT_TAIL) -> float:
    """The census's per-coordinate bound t(D, tail), in stds, for mixture gm."""
    return thresholds(gm.dim, tail)[0]


def binomial_se(p: float, n: int) -> float:
    """Standard error √(p(1 − p)/n) of a fraction p of n (nan when n = 0)."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n > 0 else float("nan")


def support_split(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL) -> dict:
    """Fractions of x [N, D] in support, out of support, between and beyond the modes, with their
    binomial standard errors ('<name>_se') and the counts."""
    lab = support_labels(x, gm, tail)
    n = int(lab.size)
    out: dict = {"n": n}
    for name, mask in (("in", lab == IN), ("out", lab != IN), ("between", lab == BETWEEN), ("beyond", lab == BEYOND)):
        c = int(mask.sum())
        out[name] = c
        out[f"{name}_fraction"] = c / n if n else float("nan")
        out[f"{name}_fraction_se"] = binomial_se(c / n, n) if n else float("nan")
    return out


def mode_occupancy(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL) -> Float[np.ndarray, " K"]:
    """Fraction of all N samples that are real at each mode k (nearest mode in std units), [K]."""
    x = np.asarray(x, np.float64)
    lab = support_labels(x, gm, tail)
    m, s = np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64)
    z = np.max(np.abs(x[:, None, :] - m[None]) / s[None], axis=2)  # [N, K]
    nearest = np.argmin(z, axis=1)
    counts = np.bincount(nearest[lab == IN], minlength=m.shape[0])
    return counts / max(x.shape[0], 1)


def mode_mass(x: Float[ArrayLike, "N D"], gm: GaussianMixture) -> Float[np.ndarray, " K"]:
    """Fraction of all N samples whose nearest mode (Euclidean, in units of that mode's std) is k, [K]:
    a mode keeps mass while samples stay near it, however widened it is."""
    x = np.asarray(x, np.float64)
    m, s = np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64)
    d2 = np.sum(((x[:, None, :] - m[None]) / s[None]) ** 2, axis=2)
    ok = np.all(np.isfinite(x), axis=1)
    return np.bincount(np.argmin(d2[ok], axis=1), minlength=m.shape[0]) / max(x.shape[0], 1)


# ------------------------------------------------------------------------------ window statistics
def trajectory_variance(window: Float[ArrayLike, "k N D"]) -> Float[Array, " N"]:
    """Variance over the k steps of the window, averaged over coordinates, per sample [N]."""
    return jnp.mean(jnp.var(jnp.asarray(window), axis=0), axis=-1)


def _path(w):
    return jnp.mean(jnp.sum(jnp.abs(jnp.diff(w, axis=0)), axis=0), axis=-1)


def _range(w):
    return jnp.mean(jnp.max(w, axis=0) - jnp.min(w, axis=0), axis=-1)


def _last_jump(w):
    return jnp.mean(jnp.abs(w[-1] - w[-2]), axis=-1) if w.shape[0] > 1 else jnp.zeros(w.shape[1], w.dtype)


def _drift(w):
    return jnp.mean(jnp.abs(w[-1] - w[0]), axis=-1)


WINDOW_STATS: dict[str, Callable] = {
    "var": trajectory_variance,   # Aithal et al.: variance over the window
    "path": _path,                # total variation Σ|Δx̂0| over the window
    "range": _range,              # max − min over the window
    "drift": _drift,              # |x̂0(last) − x̂0(first)|
    "last_jump": _last_jump,      # |x̂0(last) − x̂0(second last)|
}


def window_statistic(window: Float[ArrayLike, "k N D"], stat: str = "var") -> Float[Array, " N"]:
    """The per-sample statistic `stat` (a name in WINDOW_STATS) of a window [k, N, D], shape [N]."""
    if stat not in WINDOW_STATS:
        raise ValueError(f"stat: expected one of {', '.join(WINDOW_STATS)}, got {stat!r}")
    return WINDOW_STATS[stat](jnp.asarray(window))


# ------------------------------------------------------------------------------ window study
WINDOW_LENGTHS = (2, 3, 5, 10, 20, 50, 100)
WINDOW_OFFSETS = (0, 5, 10, 20, 40, 60, 90)  # windows of `window` steps ending this many steps before the end


def window_study_scores(traj: Float[ArrayLike, "k N D"], window: int) -> dict[tuple[str, int, int], np.ndarray]:
    """Every statistic of WINDOW_STATS over the windows the study compares, per sample:
    {(stat, length, offset): scores [N]} for windows ending at the last step of each length in
    WINDOW_LENGTHS (offset 0) and windows of `window` steps ending each offset of WINDOW_OFFSETS
    steps earlier; only windows inside the k kept steps. Computed batch by batch, the arrays of each
    key concatenate (the AUCs need all samples at once: `window_study`)."""
    traj = jnp.asarray(traj)
    kmax, out = traj.shape[0], {}
    for stat in WINDOW_STATS:
        for length in WINDOW_LENGTHS:
            if length <= kmax:
                out[(stat, length, 0)] = np.asarray(window_statistic(traj[-length:], stat))
        for off in WINDOW_OFFSETS[1:]:
            if off + window <= kmax:
                out[(stat, window, off)] = np.asarray(window_statistic(traj[kmax - off - window:kmax - off], stat))
    return out


def window_study(scores: dict[tuple[str, int, int], ArrayLike], positive: Bool[ArrayLike, " N"]) -> list[dict]:
    """The AUC of every window of `window_study_scores` against `positive` [N], one row
    {stat, length, offset, auc} each, in the scores' order; [] when every sample or none is positive."""
    p = np.asarray(positive, bool)
    if p.all() or not p.any():
        return []
    return [{"stat": st, "length": length, "offset": off, "auc": auc(s, p)} for (st, length, off), s in scores.items()]


# ------------------------------------------------------------------------------ ROC
def _check(scores, positive):
    s = np.asarray(scores, np.float64).reshape(-1)
    p = np.asarray(positive, bool).reshape(-1)
    if s.shape != p.shape:
        raise ValueError(f"positive: expected {s.shape[0]} labels to match scores, got {p.shape[0]}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores: must be finite")
    return s, p


def roc_curve(scores: Float[ArrayLike, " N"], positive: Bool[ArrayLike, " N"]
              ) -> tuple[Float[np.ndarray, " m"], Float[np.ndarray, " m"], Float[np.ndarray, " m"]]:
    """(fpr, tpr, thresholds): flag score ≥ threshold, for every distinct score (descending), starting
    at (0, 0) with threshold +inf. Positives are the out-of-support samples."""
    s, p = _check(scores, positive)
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each distinct score
    tp, fp = np.cumsum(p)[last], np.cumsum(~p)[last]
    npos, nneg = max(int(p.sum()), 1), max(int((~p).sum()), 1)
    return (np.r_[0.0, fp / nneg], np.r_[0.0, tp / npos], np.r_[np.inf, s[last]])


def auc(scores: Float[ArrayLike, " N"], positive: Bool[ArrayLike, " N"]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative) + ½ P(tie)
    (Mann–Whitney with mid-ranks). nan without positives or negatives."""
    from scipy.stats import rankdata

    s, p = _check(scores, positive)
    npos, nneg = int(p.sum()), int((~p).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[p].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def auc_se(a: float, npos: int, nneg: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC a from npos positives and nneg negatives."""
    if not (npos > 0 and nneg > 0) or math.isnan(a):
        return float("nan")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (npos - 1) * (q1 - a * a) + (nneg - 1) * (q2 - a * a)) / (npos * nneg)
    return math.sqrt(max(var, 0.0))


def detection_at_retention(scores: Float[ArrayLike, " N"], positive: Bool[ArrayLike, " N"],
                           retention: float = 0.96) -> dict:
    """Threshold keeping at least a fraction `retention` of the negatives (score ≤ threshold: the
    ⌈retention · n_neg⌉-th smallest negative score) and the fraction of positives it flags
    (score > threshold). Returns {'threshold', 'detection', 'detection_se', 'retention', 'n_pos', 'n_neg'}."""
    if not 0 < retention <= 1:
        raise ValueError(f"retention: must lie in (0, 1], got {retention}")
    s, p = _check(scores, positive)
    neg, pos = np.sort(s[~p]), s[p]
    if neg.size == 0:
        return {"threshold": float("nan"), "detection": float("nan"), "detection_se": float("nan"),
                "retention": float("nan"), "n_pos": int(pos.size), "n_neg": 0}
    thr = float(neg[max(math.ceil(retention * neg.size - 1e-9), 1) - 1])
    det = float(np.mean(pos > thr)) if pos.size else float("nan")
    return {"threshold": thr, "detection": det, "detection_se": binomial_se(det, pos.size) if pos.size else float("nan"),
            "retention": float(np.mean(neg <= thr)), "n_pos": int(pos.size), "n_neg": int(neg.size)}


def select_lowest(scores: Float[ArrayLike, " N"], n: int) -> Int[np.ndarray, " n"]:
    """Indices of the n lowest scores (ties in index order): Aithal et al.'s filter."""
    s = np.asarray(scores, np.float64).reshape(-1)
    if not 0 <= n <= s.size:
        raise ValueError(f"n: must lie in [0, {s.size}], got {n}")
    return np.argsort(s, kind="stable")[:n]


def selection_effect(scores: Float[ArrayLike, " N"], positive: Bool[ArrayLike, " N"], n: int) -> dict:
    """Keep the n lowest scores: the share of positives removed, of negatives kept, and the positive
    fraction before and after."""
    s, p = _check(scores, positive)
    keep = np.zeros(s.size, bool)
    keep[select_lowest(s, n)] = True
    npos, nneg = int(p.sum()), int((~p).sum())
    return {"removed_out": float(np.mean(~keep[p])) if npos else float("nan"),
            "kept_in": float(np.mean(keep[~p])) if nneg else float("nan"),
            "out_fraction_before": npos / s.size, "out_fraction_after": float(np.mean(p[keep])) if n else float("nan")}


# ------------------------------------------------------------------------------ detector report
def thin_curve(fpr: Float[ArrayLike, " m"], tpr: Float[ArrayLike, " m"], n: int = 200) -> tuple[list, list]:
    """At most n points of a ROC curve (evenly spaced in index, ends kept), as lists."""
    fpr, tpr = np.asarray(fpr), np.asarray(tpr)
    idx = np.unique(np.linspace(0, fpr.size - 1, min(n, fpr.size)).astype(int))
    return fpr[idx].tolist(), tpr[idx].tolist()


def detector_report(scores: Float[ArrayLike, " N"], positive: Bool[ArrayLike, " N"], *, retention: float = 0.96,
                    extra_fraction: float = 0.025, **labels) -> dict:
    """What the detector does with per-sample scores [N] (higher = more likely a hallucination) and
    labels `positive` [N]: AUC (± Hanley–McNeil se), detection at `retention` of the negatives, the
    selection rule (draw n(1 + extra_fraction), keep the n lowest) and a thinned ROC curve
    {'fpr', 'tpr'}. `labels` (e.g. stat=, window=) are copied into the result."""
    s, p = _check(scores, positive)
    a = auc(s, p)
    npos, nneg = int(p.sum()), int((~p).sum())
    det = detection_at_retention(s, p, retention)
    n_keep = int(round(p.size / (1.0 + extra_fraction)))
    fpr, tpr, _ = roc_curve(s, p)
    f, t = thin_curve(fpr, tpr)
    return {**labels, "auc": a, "auc_se": auc_se(a, npos, nneg), "n_pos": npos, "n_neg": nneg,
            **{f"at_retention_{k}": v for k, v in det.items() if k not in ("n_pos", "n_neg")},
            "selection": {"n_keep": n_keep, **selection_effect(s, p, n_keep)}, "roc": {"fpr": f, "tpr": t}}

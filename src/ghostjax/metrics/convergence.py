"""Convergence of a trained toy network as a measured state (Gaussian-mixture data).

A network has converged when (i) it reproduces the data's modes — the learned width and weight of
every mode match the data's — and (ii) its out-of-support fraction no longer moves over the last
fifth of training.

Modes. The census-real samples (metrics.census: within the real zone of some mode) are assigned to
their nearest mode (max_i |x_i − μ_ki| / s_ki, as metrics.hallucination.mode_occupancy). Mode k's
fitted width is the std per coordinate of its n_k samples, [K, D]; its fitted weight is n_k / n_real.
The census keeps a real sample only within t(D, tail) stds of its mode (per coordinate), so even
exact samples of a mode have a slightly smaller std: s_ki · f with f = the std of a standard normal
truncated to |z| ≤ t (f = 0.9967 at D = 1, 0.9982 at D = 2 for tail 1e-3; the census's χ² test,
which removes another tail/2, is not corrected). A sampler that returns x̂0 at a last level σ_1 (the study's DDPM sampler: σ_1 = 0.032) narrows
even the exact score's mode k to std s_ki · c_ki, c = s / √(s² + σ_1²) (0.85 in 1-D, 0.49 for
Gaussian25's s = 0.018: docs/results/hallucination.md), so the reference is the data's mode as the
same sampler reproduces it from the exact score; f is then taken at the bound t / c. The references:
  width  s_ki · c_ki · f, sampling se of the ratio 1 / √(2 (n_k − 1))  (normal approximation),
  weight w_k,      binomial se √(w_k (1 − w_k) / n_real).
  widths_ok:  |ŝ_ki / (s_ki f) − 1| ≤ WIDTH_TOL (10 %) for every mode and coordinate;
  weights_ok: |ŵ_k − w_k| ≤ WEIGHT_K (3) se for every mode (with K modes a perfect sampler still
              fails this with probability ≈ K · 0.27 %: 7 % at K = 25).
Flatness. The out-of-support fractions p_j ± se_j measured at ≥ 3 snapshots in the last fifth of
training (e.g. steps 0.8T, 0.9T, T, a modest sample count each) are flat when
  max_j p_j − min_j p_j ≤ FLAT_K · √(se_max² + se_min²),  FLAT_K = 3,
with se_max, se_min the binomial se of the largest and the smallest fraction: no pair of snapshots
differs by more than 3 se of their difference. The least-squares slope (per 1000 steps) is reported
beside it. Fewer than 3 snapshots: flat_ok is None (not measured), and so is `converged`.

Host-side NumPy (the census assignment runs through metrics.census).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from ..mixtures import GaussianMixture
from .census import DEFAULT_TAIL, REAL, classify, thresholds

WIDTH_TOL = 0.10    # learned width within 10 % of the data's
WEIGHT_K = 3.0      # learned weight within 3 binomial se of the data's
FLAT_K = 3.0        # out-of-support fraction: max − min within 3 se of the difference
MIN_SNAPSHOTS = 3   # snapshots needed in the last fifth of training
LAST_FIFTH = (0.8, 0.9, 1.0)  # the fractions of training at which `snapshot_steps` measures


def truncated_std_factor(dim: int, tail: float = DEFAULT_TAIL, scale: float = 1.0) -> float:
    """f: the std of a standard normal truncated to |z| ≤ t(dim, tail) / scale, the census's
    per-coordinate bound for a mode whose std is `scale` times the data's (1 − f ≈ 0.3 % at tail
    1e-3, scale 1)."""
    t = thresholds(dim, tail)[0] / scale
    nd = NormalDist()
    mass = 2.0 * nd.cdf(t) - 1.0
    return math.sqrt(1.0 - 2.0 * t * nd.pdf(t) / mass)


def assign_modes(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail: float = DEFAULT_TAIL
                 ) -> Int[np.ndarray, " N"]:
    """The mode each census-real sample of x [N, D] belongs to (nearest in std units), −1 for samples
    that are not real (ghost, off support, non-finite). [N] int."""
    x = np.asarray(x, np.float64)
    finite = np.all(np.isfinite(x), axis=1)
    xs = np.where(finite[:, None], x, 1e30)
    lab, _ = classify(xs, gm, tail)
    real = (np.asarray(lab) == REAL) & finite
    m, s = np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64)
    z = np.max(np.abs(xs[:, None, :] - m[None]) / s[None], axis=2)  # [N, K]
    return np.where(real, np.argmin(z, axis=1), -1).astype(np.int64)


def mode_fit(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail: float = DEFAULT_TAIL) -> dict:
    """Fitted modes of samples x [N, D]: {'n' (N), 'n_real', 'counts' [K], 'weights' [K] (counts /
    n_real), 'widths' [K, D] (std per coordinate, ddof 1; nan for a mode with < 2 samples)}, as
    NumPy arrays."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x: expected shape [N, {gm.dim}], got {tuple(x.shape)}")
    k = assign_modes(x, gm, tail)
    K, D = gm.n_components, gm.dim
    counts = np.bincount(k[k >= 0], minlength=K)
    widths = np.full((K, D), np.nan)
    for j in range(K):
        if counts[j] >= 2:
            widths[j] = np.std(x[k == j], axis=0, ddof=1)
    n_real = int(counts.sum())
    weights = counts / n_real if n_real else np.full(K, np.nan)
    return {"n": int(x.shape[0]), "n_real": n_real, "counts": counts, "weights": weights, "widths": widths}


def compare_modes(fit: dict, gm: GaussianMixture, tail: float = DEFAULT_TAIL, *, sigma_last: float = 0.0,
                  width_tol: float = WIDTH_TOL, weight_k: float = WEIGHT_K) -> dict:
    """`mode_fit`'s result against the data's modes (module docstring). sigma_last: the σ at which the
    sampler returns x̂0 (0: none), which narrows even the exact score's modes. Returns {'widths_ok',
    'weights_ok', 'width_ratio' [K, D] (ŝ / (s f)), 'width_se' [K, D] (the ratio's sampling se),
    'width_dev_max' (max |ratio − 1|), 'weight_z' [K] ((ŵ − w) / se), 'weight_z_max' (max |z|),
    'n_real'}: arrays as lists, numbers as floats."""
    s0 = np.asarray(gm.stds, np.float64)
    shrink = s0 / np.sqrt(s0 * s0 + float(sigma_last) ** 2)  # the sampler's last x̂0 step, [K, D]
    f = np.vectorize(lambda c: truncated_std_factor(gm.dim, tail, c))(shrink)
    s = s0 * shrink * f
    w = np.asarray(gm.weights, np.float64)
    n_real, counts = fit["n_real"], np.asarray(fit["counts"])
    ratio = np.asarray(fit["widths"], np.float64) / s
    ratio_se = 1.0 / np.sqrt(2.0 * np.maximum(counts - 1, 1))[:, None] * np.ones_like(ratio)
    dev = np.abs(ratio - 1.0)
    se_w = np.sqrt(w * (1.0 - w) / max(n_real, 1))
    z = (np.asarray(fit["weights"], np.float64) - w) / np.where(se_w > 0, se_w, np.inf)
    widths_ok = bool(np.all(np.isfinite(dev)) and np.all(dev <= width_tol))
    weights_ok = bool(n_real > 0 and np.all(np.isfinite(z)) and np.all(np.abs(z) <= weight_k))
    return {"widths_ok": widths_ok, "weights_ok": weights_ok, "width_ratio": _round(ratio), "width_se": _round(ratio_se),
            "width_dev_max": _float(np.nanmax(dev)) if np.isfinite(dev).any() else None,
            "weight_z": _round(z), "weight_z_max": _float(np.nanmax(np.abs(z))) if n_real else None,
            "n_real": int(n_real), "width_tol": width_tol, "weight_k": weight_k, "truncation_factor": round(float(np.min(f)), 6),
            "sampler_shrink": round(float(np.min(shrink)), 6), "sigma_last": float(sigma_last)}


def flatness(steps: Sequence[int | float] | np.ndarray, fractions: Sequence[float] | np.ndarray,
             ses: Sequence[float] | np.ndarray, *, k: float = FLAT_K) -> dict:
    """Whether out-of-support fractions p [J] ± se [J] measured at `steps` [J] are flat: max − min ≤
    k · √(se_max² + se_min²) (module docstring). Returns {'flat_ok' (None with fewer than
    MIN_SNAPSHOTS), 'spread' (max − min), 'spread_se', 'slope_per_1k' (least squares, per 1000
    steps), 'k', 'steps', 'fractions', 'ses'}."""
    t, p, se = (np.asarray(a, np.float64).reshape(-1) for a in (steps, fractions, ses))
    if not t.shape == p.shape == se.shape:
        raise ValueError(f"steps, fractions, ses: need equal lengths, got {t.size}, {p.size}, {se.size}")
    out = {"k": k, "steps": [int(v) for v in t], "fractions": [float(v) for v in p], "ses": [float(v) for v in se]}
    if t.size < MIN_SNAPSHOTS or not np.all(np.isfinite(p)):
        return {**out, "flat_ok": None, "spread": None, "spread_se": None, "slope_per_1k": None}
    hi, lo = int(np.argmax(p)), int(np.argmin(p))
    spread, spread_se = float(p[hi] - p[lo]), float(math.hypot(se[hi], se[lo]))
    slope = float(np.polyfit(t / 1000.0, p, 1)[0]) if np.ptp(t) > 0 else 0.0
    return {**out, "flat_ok": bool(spread <= k * spread_se), "spread": spread, "spread_se": spread_se,
            "slope_per_1k": slope}


def snapshot_steps(steps: int, chunk: int, fractions: tuple[float, ...] = LAST_FIFTH) -> tuple[int, ...]:
    """The training steps at which to measure: each fraction of `steps` rounded up to a chunk end (a
    multiple of `chunk`, or `steps` itself), distinct and sorted."""
    if steps < 1 or chunk < 1:
        raise ValueError(f"steps, chunk: must be >= 1, got {steps}, {chunk}")
    return tuple(sorted({min(steps, -(-math.ceil(f * steps - 1e-9) // chunk) * chunk) for f in fractions}))


def verdict(modes: dict, flat: dict) -> dict:
    """{'widths_ok', 'weights_ok', 'flat_ok', 'converged'} and the numbers behind them (`modes` from
    compare_modes, `flat` from flatness). converged: all three hold; None when flat_ok is None (not
    measured) and the modes pass."""
    ok = modes["widths_ok"] and modes["weights_ok"]
    conv = (ok and flat["flat_ok"]) if flat["flat_ok"] is not None else (None if ok else False)
    return {"widths_ok": modes["widths_ok"], "weights_ok": modes["weights_ok"], "flat_ok": flat["flat_ok"],
            "converged": conv, "modes": modes, "flat": flat}


def _float(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


def _round(a: np.ndarray) -> list:
    """a as nested lists of 5-decimal floats, None for NaN (JSON has no NaN)."""
    return [_round(r) for r in a] if a.ndim > 1 else [round(float(v), 5) if np.isfinite(v) else None for v in a]

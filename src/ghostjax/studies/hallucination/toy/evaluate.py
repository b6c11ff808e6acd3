"""Sampling as Aithal et al. do, and what is measured on the samples.

The sampler (DDPM ancestral steps with σ_t² = β_t down the [loss] grid, steps above eval.sigma_cap
skipped, the predicted-x0 window) and the detector report live in the core (ghostjax.ddpm,
metrics.hallucination.detector_report); `draw`, `ddpm_sigmas` and `detector` here are the study's
views of them with its [eval] settings. `Window(window_max, 'x0')` keeps the last window_max
predicted x0; the last k entries are the predicted x0 at t = k … 1, i.e. Aithal et al.'s t = k−1 … 0.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .... import ddpm as core_ddpm
from ....losses import Loss
from ....metrics import hallucination as hm
from ....mixtures import GaussianMixture
from .config import Eval

WINDOW_LENGTHS, WINDOW_OFFSETS = hm.WINDOW_LENGTHS, hm.WINDOW_OFFSETS


def ddpm_sigmas(loss: Loss, sigma_cap: float) -> Float[Array, " m"]:
    """The DDPM σ_t (descending, t = t_max … 1) with σ_t ≤ sigma_cap; no final 0 (ghostjax.ddpm)."""
    try:
        return core_ddpm.ddpm_sigmas(loss, sigma_cap)
    except ValueError as e:
        raise ValueError(f"eval.{e}") from None


def draw(score: Callable, dim: int, n: int, *, key: PRNGKeyArray, loss: Loss, E: Eval
         ) -> tuple[Float[Array, "n D"], Float[Array, "k n D"]]:
    """n samples of `score` through the core sampler (ghostjax.ddpm.draw), and their predicted-x0
    trajectories over the last window_max steps, [window_max, n, D] (oldest first, the last entry is
    the sample itself)."""
    ddpm_sigmas(loss, E.sigma_cap)  # the study's error message on a bad cap
    return core_ddpm.draw(score, dim, n, key=key, loss=loss, sigma_cap=E.sigma_cap, window=E.window_max)


def detector(traj: Float[Array, "k n D"], positive: np.ndarray, E: Eval, stat: str | None = None,
             window: int | None = None) -> dict:
    """AUC (± Hanley–McNeil se), detection at retention, selection effect and a thinned ROC curve of
    the statistic `stat` over the last `window` steps, positives = out-of-support samples
    (metrics.hallucination.detector_report)."""
    stat, window = stat or E.stat, window or E.window
    score = np.asarray(hm.window_statistic(traj[-window:], stat))
    return hm.detector_report(score, positive, retention=E.retention, extra_fraction=E.extra_fraction,
                              stat=stat, window=window)


def window_study(traj: Float[Array, "k n D"], positive: np.ndarray, E: Eval) -> list[dict]:
    """AUC of every window statistic for windows ending at the last step of growing length, and for
    windows of eval.window steps ending `offset` steps earlier (metrics.hallucination.window_study)."""
    if positive.all() or not positive.any():
        return []
    return hm.window_study(hm.window_study_scores(traj, E.window), positive)


def measure(x: Float[Array, "n D"], traj: Float[Array, "k n D"], gm: GaussianMixture, E: Eval,
            windows: bool = True) -> dict:
    """Support split, mode occupancy, detector and (with `windows`) the window study of one sample set."""
    xs = np.asarray(x)
    finite = np.all(np.isfinite(xs), axis=1)
    lab = hm.support_labels(np.where(finite[:, None], xs, 1e30), gm, E.tail)
    positive = lab != hm.IN
    out = {"split": hm.support_split(np.where(finite[:, None], xs, 1e30), gm, E.tail),
           "gap_fractions": gap_fractions(xs, lab, gm),
           "non_finite": int((~finite).sum()),
           "mode_occupancy": hm.mode_occupancy(xs[finite], gm, E.tail).tolist()}
    tr = jnp.where(jnp.isfinite(traj), traj, 0.0)
    out["detector"] = detector(tr, positive, E) if positive.any() and not positive.all() else None
    # Sensitivity to the definition: out-of-support samples deep between / beyond the modes only
    # (more than twice the real-zone radius from every mode) against the in-support ones.
    t = hm.thresholds_of(gm, E.tail)
    deep = _mode_distance(np.where(finite[:, None], xs, 1e30), gm) > 2.0 * t
    keep = deep | ~positive
    if (deep & positive).any() and (~positive).any():
        out["detector_deep"] = detector(tr[:, keep], positive[keep], E)
        out["deep_fraction"] = float(np.mean(deep & positive))
    out["window_study"] = window_study(tr, positive, E) if windows else []
    return out


def gap_fractions(x: np.ndarray, lab: np.ndarray, gm: GaussianMixture) -> dict:
    """1-D: the fraction of all samples in the middle half of each interval between adjacent modes
    (|x − (a + b)/2| < (b − a)/4: interpolation, not a widened mode's tail), {"a-b": fraction};
    {} in higher dimensions."""
    if gm.dim != 1:
        return {}
    m = np.sort(np.asarray(gm.means)[:, 0])
    out_ = lab != hm.IN
    return {f"{a:g}-{b:g}": float(np.mean(out_ & (np.abs(x[:, 0] - 0.5 * (a + b)) < 0.25 * (b - a))))
            for a, b in zip(m[:-1], m[1:])}


def _mode_distance(x: np.ndarray, gm: GaussianMixture) -> np.ndarray:
    """min over modes of max_i |x_i − μ_ki| / s_ki, per sample [n]."""
    m, s = np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64)
    return np.min(np.max(np.abs(x[:, None, :] - m[None]) / s[None], axis=2), axis=1)


def labels(x: Float[Array, "n D"], gm: GaussianMixture, E: Eval) -> np.ndarray:
    """IN / BETWEEN / BEYOND per sample (metrics.hallucination.support_labels)."""
    return hm.support_labels(np.asarray(x), gm, E.tail)

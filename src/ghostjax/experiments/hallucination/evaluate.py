"""Sampling as Aithal et al. do, and what is measured on the samples.

Sampler. DDPM ancestral sampling with σ_t² = β_t (solvers.DDPM('beta')) down the linear-β grid of
[loss] (T = 1000, β 0.001 → 0.2), no clipping of x̂0, and no noise on the last step: their sampler
returns the posterior mean at t = 0, which is the predicted x̂0 at σ_1; here the grid ends at σ_1 and
`final_denoise` returns x + σ_1² s(x, σ_1), the same x̂0. Steps with σ_t > eval.sigma_cap (ᾱ_t <
1/σ_cap², t > 425 for the default 1e4) are skipped: there the VP state is N(0, 1) to that accuracy,
and σ_t² would overflow float32 (σ_1000 ≈ 3e23). Particles start from x = σ_start z.

Trajectory. `Window(window_max, 'x0')` keeps the predicted x0 = x + σ² s of the last window_max
observed steps (σ_{k+1} … σ_2); with the final output (x̂0 at σ_1) appended, the last k entries are the
predicted x0 at t = k … 1, i.e. Aithal et al.'s t = k−1 … 0.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ...integrate import prior, sample
from ...losses import Loss
from ...metrics import hallucination as hm
from ...mixtures import GaussianMixture
from ...observers import Window
from ...processes import linear_betas, sigmas_from_betas
from ...solvers import DDPM
from .config import Eval

WINDOW_LENGTHS = (2, 3, 5, 10, 20, 50, 100)
WINDOW_OFFSETS = (0, 5, 10, 20, 40, 60, 90)  # windows of eval.window steps ending this many steps before the end


def ddpm_sigmas(loss: Loss, sigma_cap: float) -> Float[Array, " m"]:
    """The DDPM σ_t (descending, t = t_max … 1) with σ_t ≤ sigma_cap; no final 0."""
    sig = np.asarray(sigmas_from_betas(linear_betas(loss.ddpm_T, loss.ddpm_beta_start, loss.ddpm_beta_end),
                                       include_zero=False, dtype=jnp.float64 if jax.config.jax_enable_x64 else None))
    keep = sig[sig <= sigma_cap]
    if keep.size < 2:
        raise ValueError(f"eval.sigma_cap: keeps {keep.size} DDPM steps; raise it (σ_1 = {sig[-1]:.3g})")
    return jnp.asarray(keep)


def draw(score: Callable, dim: int, n: int, key: PRNGKeyArray, loss: Loss, E: Eval
         ) -> tuple[Float[Array, "n D"], Float[Array, "k n D"]]:
    """n samples of `score` through the sampler above, and their predicted-x0 trajectories over the
    last window_max steps, [window_max, n, D] (oldest first, the last entry is the sample itself)."""
    sig = ddpm_sigmas(loss, E.sigma_cap)
    k0, k1 = jax.random.split(key)
    x_init = prior(k0, n, dim, sig[0])
    out = sample(score, x_init, sig, k1, solver=DDPM("beta"), final_denoise=True,
                 observers={"x0": Window(E.window_max, "x0")})
    traj = jnp.concatenate([out.observations["x0"][1:], out.x[None]], axis=0)
    return out.x, traj


def _thin(fpr, tpr, n=200):
    idx = np.unique(np.linspace(0, fpr.size - 1, min(n, fpr.size)).astype(int))
    return fpr[idx].tolist(), tpr[idx].tolist()


def detector(traj: Float[Array, "k n D"], positive: np.ndarray, E: Eval, stat: str | None = None,
             window: int | None = None) -> dict:
    """AUC (± Hanley–McNeil se), detection at retention, selection effect and a thinned ROC curve of
    the statistic `stat` over the last `window` steps, positives = out-of-support samples."""
    stat, window = stat or E.stat, window or E.window
    score = np.asarray(hm.window_statistic(traj[-window:], stat))
    a = hm.auc(score, positive)
    npos, nneg = int(positive.sum()), int((~positive).sum())
    det = hm.detection_at_retention(score, positive, E.retention)
    n_keep = int(round(positive.size / (1.0 + E.extra_fraction)))
    fpr, tpr, _ = hm.roc_curve(score, positive)
    f, t = _thin(fpr, tpr)
    return {"stat": stat, "window": window, "auc": a, "auc_se": hm.auc_se(a, npos, nneg), "n_pos": npos,
            "n_neg": nneg, **{f"at_retention_{k}": v for k, v in det.items() if k not in ("n_pos", "n_neg")},
            "selection": {"n_keep": n_keep, **hm.selection_effect(score, positive, n_keep)},
            "roc": {"fpr": f, "tpr": t}}


def window_study(traj: Float[Array, "k n D"], positive: np.ndarray, E: Eval) -> list[dict]:
    """AUC of every window statistic for windows ending at the last step of growing length, and for
    windows of eval.window steps ending `offset` steps earlier."""
    rows = []
    if positive.all() or not positive.any():
        return rows
    kmax = traj.shape[0]
    for stat in hm.WINDOW_STATS:
        for length in WINDOW_LENGTHS:
            if length <= kmax:
                s = np.asarray(hm.window_statistic(traj[-length:], stat))
                rows.append({"stat": stat, "length": length, "offset": 0, "auc": hm.auc(s, positive)})
        for off in WINDOW_OFFSETS[1:]:
            if off + E.window <= kmax:
                w = traj[kmax - off - E.window:kmax - off]
                s = np.asarray(hm.window_statistic(w, stat))
                rows.append({"stat": stat, "length": E.window, "offset": off, "auc": hm.auc(s, positive)})
    return rows


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

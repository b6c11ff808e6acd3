"""Guidance distortions: how far guided samples of class c are from the true class distribution.

Every metric compares samples x [N, D] generated "for class c" with the class's true Gaussian
N(μ_c, Σ_c), Σ_c = diag(s_c²), of a mixture `gm` (one component per class). Notation:
  μ̄ = Σ_k w_k μ_k          the data mean;  u = (μ_c − μ̄)/‖μ_c − μ̄‖, the class-mean direction
  m̂ = mean of x,  C = sample covariance of x (1/(N−1)),  P_⊥ = I − u uᵀ.

  mean_distortion      overshoot δμ_∥ = (m̂ − μ_c)·u / ‖μ_c − μ̄‖ (0: unbiased; > 0: beyond the class
                       mean, away from the data mean; −1: at the data mean); the same shift in class
                       stds along u, δμ_∥/s = (m̂ − μ_c)·u / √(uᵀΣ_c u); and the orthogonal shift
                       δμ_⊥ = ‖P_⊥(m̂ − μ_c)‖ / √tr(P_⊥ Σ_c) (rms shift per unit class variance; its
                       sampling floor is ≈ 1/√N).
  variance_distortion  guided over true within-class variance: ρ_∥ = uᵀCu / uᵀΣ_c u (along u),
                       ρ_⊥ = tr(P_⊥ C) / tr(P_⊥ Σ_c) (averaged over the D − 1 orthogonal directions),
                       ρ_avg = tr C / tr Σ_c (averaged over all D); 1 = no distortion, < 1 shrinkage.
  participation_ratio  PR = (Σλ)² / Σλ² of a covariance's eigenvalues λ (D for an isotropic one);
                       `sample_participation_ratio` estimates it from samples, debiased for N with
                       the Wishart moments of the sample covariance.
  class_accuracy       fraction of samples whose exact class posterior at σ = 0,
                       argmax_k log P(k | x) (gm.log_responsibilities), is the requested class c.
  ClassPosterior       observer function: P(c | x_σ = x) under the exact noised mixture p_σ;
  speciation_sigma     the speciation noise level of a process: the largest σ at which the mean
                       over particles of P(c | x_σ) (observed along the reverse trajectory) crosses
                       the midpoint (1 + w_c)/2 between the class prior w_c and 1 (≈ ½ for many
                       classes). Larger σ = the trajectory commits to class c earlier in reverse time.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..mixtures import GaussianMixture
from .peaks import crossing

_LOG_2PI = math.log(2.0 * math.pi)


def _np(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def class_frame(gm: GaussianMixture, label: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(μ_c [D], u [D], ‖μ_c − μ̄‖, class variances s_c² [D]) in float64."""
    means, w = _np(gm.means), _np(gm.weights)
    mu = means[label]
    d = mu - w @ means
    norm = float(np.linalg.norm(d))
    u = d / norm if norm > 0 else np.eye(mu.size)[0]
    return mu, u, norm, _np(gm.stds[label]) ** 2


def mean_distortion(x, gm: GaussianMixture, label: int) -> dict:
    """{'overshoot': δμ_∥, 'shift_in_std': δμ_∥ in class stds along u, 'perp_shift': δμ_⊥} (module doc)."""
    x = _np(x)
    mu, u, norm, var = class_frame(gm, label)
    dev = x.mean(0) - mu
    par = float(dev @ u)
    perp = dev - par * u
    var_perp = float(var.sum() - (u * u) @ var)
    return {"overshoot": par / norm, "shift_in_std": par / math.sqrt(float((u * u) @ var)),
            "perp_shift": float(np.linalg.norm(perp) / math.sqrt(var_perp)) if var_perp > 0 else 0.0}


def variance_distortion(x, gm: GaussianMixture, label: int) -> dict:
    """{'par': ρ_∥, 'perp': ρ_⊥, 'avg': ρ_avg} guided / true within-class variance (module doc)."""
    x = _np(x)
    _, u, _, var = class_frame(gm, label)
    xc = x - x.mean(0)
    n = x.shape[0]
    tr = float(np.sum(xc * xc)) / (n - 1)
    proj = xc @ u
    par = float(proj @ proj) / (n - 1)
    true_par = float((u * u) @ var)
    true_tr = float(var.sum())
    perp = (tr - par) / (true_tr - true_par) if true_tr > true_par else float("nan")
    return {"par": par / true_par, "perp": perp, "avg": tr / true_tr}


def participation_ratio(eigenvalues_or_cov) -> float:
    """PR = (Σλ)² / Σλ² from eigenvalues λ [D] or from a covariance matrix [D, D] ((tr C)² / tr C²)."""
    a = _np(eigenvalues_or_cov)
    if a.ndim == 1:
        return float(a.sum() ** 2 / np.sum(a * a))
    if a.ndim == 2 and a.shape[0] == a.shape[1]:
        return float(np.trace(a) ** 2 / np.sum(a * a))
    raise ValueError(f"eigenvalues_or_cov: expected [D] or [D, D], got {a.shape}")


def sample_participation_ratio(x, debias: bool = True) -> float:
    """PR of the covariance of samples x [N, D].

    With `debias`, (tr Σ)² and tr Σ² are estimated without the finite-N bias of the sample
    covariance C (n = N − 1 degrees of freedom, Gaussian samples): E tr C² = (1 + 1/n) tr Σ² +
    (tr Σ)²/n and E (tr C)² = (tr Σ)² + 2 tr Σ²/n are solved for tr Σ² and (tr Σ)². Without it,
    the plain (tr C)² / tr C² (which underestimates PR by ≈ 1 + D/N for isotropic data)."""
    x = _np(x)
    n = x.shape[0] - 1
    if n < 2:
        raise ValueError(f"x: need at least 3 samples, got {x.shape[0]}")
    xc = x - x.mean(0)
    gram = xc @ xc.T if x.shape[0] < x.shape[1] else xc.T @ xc  # same non-zero spectrum
    a = float(np.sum(gram * gram)) / n**2  # tr C²
    b = (float(np.trace(gram)) / n) ** 2  # (tr C)²
    if not debias:
        return b / a
    det = (1 + 1 / n) - 2 / n**2
    t2 = (a - b / n) / det
    t1sq = b - 2 * t2 / n
    return t1sq / t2


def expected_sample_pr(eigenvalues, n_samples: int) -> float:
    """E-approximation of the plain (biased) PR of n_samples Gaussian samples with covariance
    eigenvalues λ: (Σλ)² / ((1 + 1/n) Σλ² + (Σλ)²/n), n = n_samples − 1."""
    lam = _np(eigenvalues)
    n = n_samples - 1
    t1, t2 = lam.sum(), np.sum(lam * lam)
    return float(t1**2 / ((1 + 1 / n) * t2 + t1**2 / n))


def class_log_posterior(gm: GaussianMixture, x: Float[Array, " D"], sigma, label: Int[Array, ""]) -> Float[Array, ""]:
    """log P(c = label | x_σ = x) under p_σ: log w_c + log N(x; μ_c, s_c² + σ²) − log p_σ(x) (the
    denominator is the mixture's streamed log density: no [K] array per example)."""
    x = jnp.asarray(x, gm.means.dtype)
    sigma = jnp.asarray(sigma, gm.means.dtype)
    var = gm.stds[label] ** 2 + sigma * sigma
    diff = x - gm.means[label]
    log_c = jnp.log(gm.weights[label]) - 0.5 * jnp.sum(diff * diff / var + jnp.log(var) + _LOG_2PI)
    return log_c - gm.log_prob(x, sigma)


class ClassPosterior(eqx.Module):
    """Observer function (for observers.Mean): fn(x [D], σ, score) -> P(c | x_σ = x), a scalar."""

    gm: GaussianMixture
    label: Int[Array, ""]

    def __init__(self, gm: GaussianMixture, label):
        self.gm, self.label = gm, jnp.asarray(label, jnp.int32)

    def __call__(self, x, sigma, score):
        return jnp.exp(class_log_posterior(self.gm, x, sigma, self.label))


def speciation_sigma(sigmas, posterior_mean, prior: float = 0.0, level: float | None = None) -> float | None:
    """The largest σ at which the mean class posterior (observed at `sigmas` [n]) crosses `level`,
    by default the midpoint (1 + prior)/2 between the class's prior weight w_c (the posterior's
    value for a trajectory that carries no class information) and certainty; ½ for many classes.
    Linear interpolation between grid points; None if the curve never crosses on the grid."""
    s, p = _np(sigmas), _np(posterior_mean)
    keep = s > 0
    return crossing(s[keep], p[keep], 0.5 * (1.0 + prior) if level is None else level, log=False)


def class_accuracy(x, gm: GaussianMixture, label: int, batch: int = 256) -> float:
    """Fraction of samples x [N, D] whose exact class posterior at σ = 0 peaks at `label`."""
    pred = _predicted_class(jnp.asarray(x, gm.means.dtype), gm, batch)
    return float(np.mean(np.asarray(pred) == int(label)))


@eqx.filter_jit
def _predicted_class(x, gm: GaussianMixture, batch: int):
    """argmax_k of the exact class posterior at σ = 0 for each row of x [N, D] (compiled once per shape:
    called eagerly, the blockwise map would compile its closure on every call)."""
    zero = jnp.zeros((), gm.means.dtype)
    return jax.lax.map(lambda xi: jnp.argmax(gm.log_responsibilities(xi, zero)), x, batch_size=batch)


def distortion_summary(x, gm: GaussianMixture, label: int) -> dict:
    """All sample metrics of guided samples x [N, D] for class `label` in one flat dict:
    overshoot, shift_in_std, perp_shift, var_par, var_perp, var_avg, pr, pr_true, pr_ratio,
    accuracy (module doc; pr is debiased, pr_true the true class PR, pr_ratio = pr / pr_true)."""
    md, vd = mean_distortion(x, gm, label), variance_distortion(x, gm, label)
    pr = sample_participation_ratio(x)
    pr_true = participation_ratio(_np(gm.stds[label]) ** 2)
    return {**md, "var_par": vd["par"], "var_perp": vd["perp"], "var_avg": vd["avg"], "pr": pr, "pr_true": pr_true,
            "pr_ratio": pr / pr_true, "accuracy": class_accuracy(x, gm, label)}

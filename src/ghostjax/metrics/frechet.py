"""The Fréchet distance between two Gaussians fitted to feature sets (the form of FID; with features
of a small in-domain network, e.g. an MNIST classifier, it is a Fréchet distance of that network, not
the Inception FID and not comparable to published FID numbers).

  frechet_distance(mu1, cov1, mu2, cov2)  ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}
  frechet_from_features(f1 [n, k], f2 [m, k])  the same for the sample means and covariances

Computed on the host in float64 through symmetric eigendecompositions (no complex square roots:
Σ1^{1/2} Σ2 Σ1^{1/2} is symmetric positive semi-definite, its eigenvalues are clipped at 0).
"""

from __future__ import annotations

import numpy as np


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """The squared 2-Wasserstein distance between N(mu1, cov1) and N(mu2, cov2): mu [k], cov [k, k]
    (symmetric positive semi-definite). ValueError on mismatched shapes or non-finite input."""
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    c1, c2 = (np.atleast_2d(np.asarray(c, np.float64)) for c in (cov1, cov2))
    k = mu1.shape[0]
    if mu1.shape != (k,) or mu2.shape != (k,) or c1.shape != (k, k) or c2.shape != (k, k):
        raise ValueError(f"frechet_distance: shapes {mu1.shape}, {c1.shape}, {mu2.shape}, {c2.shape} "
                         f"are not [k], [k, k] twice")
    if not all(np.all(np.isfinite(a)) for a in (mu1, mu2, c1, c2)):
        raise ValueError("frechet_distance: non-finite input")
    c1, c2 = 0.5 * (c1 + c1.T), 0.5 * (c2 + c2.T)
    s1 = _psd_sqrt(c1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ c2 @ s1), 0.0, None)).sum()
    return float(max(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross, 0.0))


def frechet_from_features(f1, f2) -> float:
    """frechet_distance of the sample means and covariances (ddof 1) of f1 [n, k] and f2 [m, k]."""
    a, b = (np.asarray(f, np.float64) for f in (f1, f2))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise ValueError(f"frechet_from_features: expected [n, k] and [m, k] with n, m >= 2, got {a.shape}, {b.shape}")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1), b.mean(0),
                            np.cov(b, rowvar=False).reshape(b.shape[1], -1))

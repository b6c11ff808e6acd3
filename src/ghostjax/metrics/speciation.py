"""Speciation: σ_S from the data covariance (Biroli et al. 2024) and from measured clone
probabilities; corner tables of coupled hypercube data.

Clone probability φ(σ): draw x exactly from p_σ, copy it, run both copies down to σ = 0 with the
reverse SDE of the exact joint score and independent noise, and ask whether they end in the same
class. φ goes from Σ_k w_k² (independent ends, ½ for two balanced classes) at large σ to 1 at small
σ; the measured σ_S is where φ crosses the midpoint (1 + Σ w_k²)/2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import sample
from ..mixtures import GaussianMixture, all_corners
from ..processes import geometric_grid
from ..solvers import AbstractSolver


def covariance_speciation(gm: GaussianMixture) -> dict:
    """Λ = largest eigenvalue of Cov[x_0]; Biroli's t_S = ½ ln Λ mapped to VE, σ_S = √(Λ − 1)
    (σ² = e^{2t} − 1), and the cruder σ_S ≈ √Λ."""
    lam = float(np.linalg.eigvalsh(np.asarray(gm.covariance(), np.float64))[-1])
    return {"Lambda": lam, "sigma_S": float(np.sqrt(max(lam - 1.0, 0.0))), "sigma_S_sqrt_Lambda": float(np.sqrt(lam))}


def _labels(gm: GaussianMixture, x):
    """Nearest-mode label per particle [n], the sign of Σ_i x_i [n], and coordinate signs [n, D]."""
    d2 = jnp.sum((x[:, None, :] - gm.means[None, :, :]) ** 2, axis=-1)
    return jnp.argmin(d2, axis=1), jnp.sign(jnp.sum(x, axis=1)), jnp.sign(x)


def clone_probability(gm: GaussianMixture, sigma_starts, n_pairs: int, *, key, n_steps: int = 100,
                      sigma_min: float = 1e-3, solver: AbstractSolver | None = None) -> dict:
    """Measured clone probabilities at each start σ in `sigma_starts` [m].

    Returns arrays [m]: 'phi_mode' (same nearest mode), 'phi_common' (same sign of Σ_i x_i, the
    common mode), 'phi_coord' (mean over coordinates of the same sign: single-coordinate splits),
    each with a binomial standard error ('*_se'). The grid from each σ is geometric with n_steps
    steps to sigma_min, then 0, so every start reuses one compiled sampler."""
    out = {k: [] for k in ("phi_mode", "phi_common", "phi_coord")}
    for j, s0 in enumerate(np.asarray(sigma_starts, np.float64)):
        kj = jax.random.fold_in(key, j)
        x = gm.sample_noised(jax.random.fold_in(kj, 0), n_pairs, float(s0))
        grid = geometric_grid(float(s0), min(sigma_min, 0.5 * float(s0)), n_steps, dtype=gm.means.dtype)
        res = sample(gm.score, jnp.concatenate([x, x]), grid, key=jax.random.fold_in(kj, 1), solver=solver)
        lab, com, sg = _labels(gm, res.x)
        out["phi_mode"].append(float(jnp.mean(lab[:n_pairs] == lab[n_pairs:])))
        out["phi_common"].append(float(jnp.mean(com[:n_pairs] == com[n_pairs:])))
        out["phi_coord"].append(float(jnp.mean(sg[:n_pairs] == sg[n_pairs:])))
    res = {k: np.asarray(v) for k, v in out.items()}
    for k in list(res):
        res[k + "_se"] = np.sqrt(res[k] * (1 - res[k]) / n_pairs)
    return res


def clone_baseline(gm: GaussianMixture) -> float:
    """φ at σ → ∞ for the nearest-mode label: Σ_k w_k² (two independent draws agree)."""
    w = np.asarray(gm.weights, np.float64)
    return float(w @ w)


def corner_tables(gm: GaussianMixture) -> dict:
    """For a mixture with one mode on each of the 2^D corners in `all_corners` order (as built by
    GaussianMixture.coupled_hypercube): data corner masses p [2^D], product-of-marginals masses q,
    the excess ("ghost") mass Σ_c max(q_c − p_c, 0) (= total variation), KL(q‖p), and the
    eigenvalues of the corner covariance along the common mode (1,…,1)/√D and a difference mode.
    """
    d = gm.dim
    c = all_corners(d)
    if gm.n_components != 2**d or not np.allclose(np.asarray(gm.means, np.float64), c):
        raise ValueError("corner_tables: expects all 2^D corners in all_corners order")
    p = np.asarray(gm.weights, np.float64)
    pp = p @ (c > 0)
    q = np.prod(np.where(c > 0, pp[None, :], 1 - pp[None, :]), axis=1)
    cov = (c.T * p) @ c - np.outer(p @ c, p @ c)
    u = np.ones(d) / np.sqrt(d)
    v = np.zeros(d)
    v[0], v[1 % d] = 1 / np.sqrt(2), -1 / np.sqrt(2)
    s2 = float(np.mean(np.asarray(gm.stds, np.float64) ** 2))
    mask = p > 0
    return {
        "p": p, "q": q, "excess_mass": float(np.sum(np.maximum(q - p, 0))),
        "kl_q_p": float(np.sum(q[mask] * np.log(q[mask] / p[mask]))),
        "lambda_common": float(u @ cov @ u) + s2, "lambda_diff": float(v @ cov @ v) + s2 if d > 1 else float("nan"),
        "mass_on_aligned": float(p[0] + p[-1]),
    }

"""The two gaps, score-magnitude curves and entropy production, with exact mixture scores.

Definitions (VE, x_σ = x_0 + σ ε; J = E‖s‖² is a Fisher information):
  per particle      Δ² = ‖s_joint − s_fact‖²,  ‖s_joint‖²,  ‖s_fact‖²   (the vector `gap_terms`)
  distribution gap  G_dist(σ) = E_{x ~ p_σ} Δ²   (exact samples of p_σ)
  trajectory gap    G_traj(σ_i) = mean of Δ² over the particles of a reverse sampler driven by the
                    joint score, at step i (an observer; nothing of size steps × N is stored)
  relative gap      G / E‖s_joint‖²
By the tower property E[s_joint,i | x_i] = s_fact,i, so G_dist = J_joint − J_fact ≥ 0, and a
sampler that follows p_σ exactly (exact score, vanishing step) has G_traj = G_dist.

Entropy production (Ikeda et al. 2025): for VE, Ṡ = T_t E‖s‖² with T_t = ½ dσ²/dt, i.e.
σ E‖s‖² per unit σ and σ² E‖s‖² per unit ln σ. The excess rate T_t G is also the Girsanov
KL rate ½ g² E‖Δs‖² between the joint and factorized path measures.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import prior, sample
from ..mixtures import GaussianMixture
from ..observers import GroupMean
from ..solvers import AbstractSolver

# Curves whose peaks the studies report: name -> f(group-averaged (G, J_joint, J_fact) [n, 3], σ [n]).
MEASURES = {
    "G": lambda m, s: m[:, 0],
    "G_rel": lambda m, s: m[:, 0] / m[:, 1],
    "sigma_G": lambda m, s: s * m[:, 0],
    "sigma2_G": lambda m, s: s * s * m[:, 0],
}
# Peak measures of the excess entropy production (names as in entropy_production()).
EXCESS_MEASURES = {
    "excess_dsigma": lambda m, s: s * m[:, 0],
    "excess_dlnsigma": lambda m, s: s * s * m[:, 0],
    "G": lambda m, s: m[:, 0],
}


class GapTerms(eqx.Module):
    """Per-particle fn(x [D], σ, s [D]) -> [3] = (Δ², ‖s_joint‖², ‖s_fact‖²).

    `s` is the score the sampler already evaluated: the exact joint score (driver 'joint') or the
    factorized one (driver 'fact'); the other score is computed here. The mixture is a traced
    field, so a new mixture of the same shape does not recompile the sampler."""

    gm: GaussianMixture
    driver: str = eqx.field(static=True, default="joint")

    def __call__(self, x, sigma, s):
        if self.driver == "joint":
            sj, sf = s, self.gm.factorized_score(x, sigma)
        else:
            sj, sf = self.gm.score(x, sigma), s
        return jnp.stack([jnp.sum((sj - sf) ** 2), jnp.sum(sj * sj), jnp.sum(sf * sf)])


def gap_terms(gm: GaussianMixture) -> GapTerms:
    """Observer fn for a sampler driven by the exact joint score (see GapTerms)."""
    return GapTerms(gm, "joint")


def cross_terms(gm: GaussianMixture) -> GapTerms:
    """Observer fn for a sampler driven by the factorized score: s_joint is evaluated at the
    factorized sampler's particles."""
    return GapTerms(gm, "fact")


def distribution_gap(gm: GaussianMixture, sigmas, n: int, *, key, groups: int = 32):
    """Group means of (Δ², ‖s_joint‖², ‖s_fact‖²) over n exact samples of p_σ at each σ.

    sigmas [m] -> array [m, groups, 3] (groups independent batches of n/groups particles,
    a fresh key per σ via fold_in)."""
    if n % groups:
        raise ValueError(f"n: {n} particles do not split into {groups} groups")
    sig = jnp.asarray(sigmas, gm.means.dtype)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(sig.shape[0]))
    return np.asarray(_dist_terms(gm, sig, keys, n, groups))


@eqx.filter_jit
def _dist_terms(gm: GaussianMixture, sig, keys, n: int, groups: int):
    fn = jax.vmap(gap_terms(gm), in_axes=(0, None, 0))
    score = jax.vmap(gm.score, in_axes=(0, None))

    def one(args):
        k, s = args
        x = gm.sample_noised(k, n, s)
        v = fn(x, s, score(x, s))
        return jnp.mean(v.reshape(groups, n // groups, 3), axis=1)

    return jax.lax.map(one, (keys, sig))


def trajectory_gap(gm: GaussianMixture, grid, n: int, *, key, solver: AbstractSolver | None = None,
                   groups: int = 32, driver: str = "joint"):
    """Run a reverse sampler from the VE prior at σ = grid[0] down `grid` and record group means
    of (Δ², ‖s_joint‖², ‖s_fact‖²) at every step.

    driver: 'joint' (the seed's trajectory gap) or 'fact' (trajectories of the factorized score).
    Returns (sigmas [n_steps], values [n_steps, groups, 3], final x [n, D])."""
    if driver not in ("joint", "fact"):
        raise ValueError(f"driver: expected 'joint' or 'fact', got {driver!r}")
    grid = jnp.asarray(grid, gm.means.dtype)
    k0, k1 = jax.random.split(key)
    x0 = prior(k0, n, gm.dim, grid[0], gm.means.dtype)
    score = gm.score if driver == "joint" else gm.factorized_score
    fn = gap_terms(gm) if driver == "joint" else cross_terms(gm)
    res = sample(score, x0, grid, key=k1, solver=solver, observers={"g": GroupMean(fn, groups)})
    return np.asarray(res.sigmas), np.asarray(res.observations["g"]), res.x


@eqx.filter_jit
def _norms(gm: GaussianMixture, pts, sig):
    def one(x, s):
        return jnp.stack([jnp.linalg.norm(gm.score(x, s)), jnp.linalg.norm(gm.factorized_score(x, s))])
    return jax.vmap(jax.vmap(one, (None, 0)), (0, None))(pts, sig)


def score_magnitudes(gm: GaussianMixture, points, sigmas):
    """‖s_joint‖ and ‖s_fact‖ at fixed points [P, D] over sigmas [m]: two arrays [P, m]."""
    out = np.asarray(_norms(gm, jnp.asarray(points, gm.means.dtype), jnp.asarray(sigmas, gm.means.dtype)))
    return out[..., 0], out[..., 1]


def entropy_production(sigmas, joint_sq, fact_sq, gap) -> dict:
    """Entropy-production curves from J_joint, J_fact and G (arrays [m] over sigmas [m]).

    Returns per-σ arrays:
      rate_joint_dsigma = σ J_joint,  rate_fact_dsigma = σ J_fact,  excess_dsigma = σ G
      rate_joint_dlnsigma = σ² J_joint, rate_fact_dlnsigma = σ² J_fact, excess_dlnsigma = σ² G
      frac_excess_over_joint = G / J_joint          (excess as a share of the joint budget)
      frac_excess_over_fact = G / J_fact            (excess relative to the factorized rate)
      frac_fact_minus_joint = (J_fact − J_joint)/J_fact  (≤ 0 on exact marginals: the
                              factorized dynamics produces *less* entropy than the joint)
    """
    s = np.asarray(sigmas, np.float64)
    jj, jf, g = (np.asarray(a, np.float64) for a in (joint_sq, fact_sq, gap))
    return {
        "rate_joint_dsigma": s * jj, "rate_fact_dsigma": s * jf, "excess_dsigma": s * g,
        "rate_joint_dlnsigma": s * s * jj, "rate_fact_dlnsigma": s * s * jf, "excess_dlnsigma": s * s * g,
        "frac_excess_over_joint": g / jj, "frac_excess_over_fact": g / jf,
        "frac_fact_minus_joint": (jf - jj) / jf,
    }


def marginal_fisher_quadrature(gm: GaussianMixture, sigma: float, n_grid: int = 4001) -> float:
    """J_fact(σ) = Σ_i ∫ p_σ^{(i)}(u) (d/du log p_σ^{(i)}(u))² du by 1-D trapezoid quadrature in
    float64 NumPy (independent of the JAX code): each marginal is a 1-D Gaussian mixture."""
    mu, w, s = (np.asarray(a, np.float64) for a in (gm.means, gm.weights, gm.stds))
    total = 0.0
    for i in range(mu.shape[1]):
        var = s[:, i] ** 2 + sigma**2
        half = 10 * np.sqrt(var.max())
        u = np.linspace(mu[:, i].min() - half, mu[:, i].max() + half, n_grid)
        comp = w[None, :] * np.exp(-0.5 * (u[:, None] - mu[None, :, i]) ** 2 / var) / np.sqrt(2 * np.pi * var)
        p = comp.sum(1)
        dp = (comp * (-(u[:, None] - mu[None, :, i]) / var)).sum(1)
        integrand = np.where(p > 1e-300, dp * dp / np.maximum(p, 1e-300), 0.0)
        total += np.trapezoid(integrand, u)
    return float(total)

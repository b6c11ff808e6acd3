"""Evaluation of a score (learned or exact) against the exact joint score of the mixture, through
the same integrator for both: the census of its samples (metrics.census), its error per σ
(relative, and ε-space inside the band), and the trajectory gap to the exact joint score
(the config's gap solver from the same starting points, one PairScore pass).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ....integrate import prior, sample
from ....metrics.census import census, product_ghost_mass
from ....mixtures import GaussianMixture
from ....observers import Mean
from ....scores import PairScore, pair_gap
from .config import Config


@eqx.filter_jit
def score_errors(score, gm: GaussianMixture, *, key: PRNGKeyArray, sigmas: Float[Array, " S"], n: int
                 ) -> tuple[Float[Array, " S"], Float[Array, " S"]]:
    """Per σ in `sigmas` [S]: (E‖s − s*‖² / E‖s*‖², E σ²‖s − s*‖²/D) over x ~ p_σ, s* the exact
    joint score. Shapes [S], [S]."""
    def one(k, sig):
        x = gm.sample_noised(k, n, sig)
        s = jax.vmap(score, in_axes=(0, None))(x, sig)
        s0 = jax.vmap(gm.score, in_axes=(0, None))(x, sig)
        d2 = jnp.sum((s - s0) ** 2, axis=1)
        return jnp.mean(d2) / jnp.mean(jnp.sum(s0 * s0, axis=1)), sig * sig * jnp.mean(d2) / x.shape[1]
    return jax.vmap(one)(jax.random.split(key, sigmas.shape[0]), sigmas)


@eqx.filter_jit
def _starts(key: PRNGKeyArray, n: int, dim: int, sigma_max):
    k_init, k_run, k_score = jax.random.split(key, 3)
    x0 = prior(k_init, n, dim, sigma_max)
    return x0, jnp.concatenate([x0, x0], axis=1), k_run, k_score


@eqx.filter_jit
def _final_gap(x: Float[Array, "N D2"]) -> Float[Array, ""]:
    return jnp.mean(jax.vmap(pair_gap)(x))


def _eval_arrays(score, gm, *, key, grid, score_sigmas, cfg: Config, gap: bool):
    """Final samples, score errors, trajectory gap curve. (gj.sample is called at top level, not
    inside a jit: the integrator picks its own compilation options.)"""
    E = cfg.eval
    x0, xp, k_run, k_score = _starts(key, E.n_samples, gm.dim, grid[0])
    x = sample(score, x0, grid, key=k_run, solver=E.method).x
    rel, eps = score_errors(score, gm, key=k_score, sigmas=score_sigmas, n=E.n_score)
    if not gap:
        return x, rel, eps, np.zeros(grid.shape[0] - 1), np.asarray(grid[:-1]), 0.0
    out = sample(PairScore(score, gm.score), xp, grid, key=k_run, solver=E.gap_method,
                 observers={"gap": Mean(pair_gap)})
    return x, rel, eps, out.observations["gap"], out.sigmas, _final_gap(out.x)


def evaluate(score, gm: GaussianMixture, cfg: Config, gap: bool = True) -> dict:
    """Census, score errors and trajectory gap of `score` against the exact joint score of `gm`
    (gap=False: skip the gap, for the exact joint score itself, where it is 0 by construction)."""
    E = cfg.eval
    grid = E.grid.sigmas(E.n_steps, E.sigma_max, E.sigma_min)
    lo, hi = cfg.loss.band(float(gm.mode_std()))
    sig = np.geomspace(1e-3, 1e2, E.score_sigmas)
    both = jnp.asarray(np.concatenate([sig, np.geomspace(lo, hi, 5)]), jnp.float32)  # curve, then band
    x, rel, eps, g, gs, final = _eval_arrays(score, gm, key=jax.random.PRNGKey(E.seed), grid=grid, score_sigmas=both,
                                             cfg=cfg, gap=gap)
    rel, eps, g, gs = np.asarray(rel), np.asarray(eps), np.asarray(g), np.asarray(gs)
    rel, rel_b, eps, eps_b = rel[:sig.size], rel[sig.size:], eps[:sig.size], eps[sig.size:]
    c = census(x, gm, E.tail)
    i = int(np.argmax(g))
    return {
        "ghost_fraction": float(c["ghost_fraction"]), "off_fraction": float(c["off_fraction"]),
        "real_fraction": float(c["real_fraction"]), "t_coordinate": c["t_coordinate"], "c_total": c["c_total"],
        "score_rel_err_band": float(np.mean(rel_b)), "score_eps_mse_band": float(np.mean(eps_b)),
        "gap_peak": float(g[i]), "gap_peak_sigma": float(gs[i]), "gap_final": float(final),
        "score_curve": {"sigma": sig.tolist(), "rel_err": rel.tolist(), "eps_mse": eps.tolist()},
        "gap_curve": {"sigma": gs.tolist(), "gap": g.tolist()},
    }


def exact_references(cfg: Config, gm: GaussianMixture) -> dict:
    """The same evaluation for the exact joint and exact factorized scores, plus the theory value."""
    return {"exact_joint": evaluate(gm.score, gm, cfg, gap=False),
            "exact_factorized": evaluate(gm.factorized_score, gm, cfg),
            "product_ghost_mass": float(product_ghost_mass(gm))}

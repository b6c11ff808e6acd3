"""The opposite-corner cell with exact scores, the census study's cell for sweeps (the `exact` sweep
kind, sweeps/exact.py): ghost census, trajectory gap and entropy production of an opposite-corner
mixture (modes at ±(1,…,1), weights w and 1 − w, std `std`) in dimension `dim`.

Per cell, N particles start from the VE prior N(0, σ_max² I) and are run down a σ grid twice, from
the same starting points: with the exact joint score and with the exact factorized score (one
sampler pass over the stacked state [x_joint, x_fact], so one compiled scan). Reported:
  ghost/real/off_{joint,fact}  census of the final samples (below)
  ghost_predicted              mass of the product of marginals off the data corners
                               (1 − w^D − (1 − w)^D here; census.product_ghost_mass)
  gap_peak_sigma, gap_peak     peak of G_traj(σ) = mean over particles of ‖s_joint − s_fact‖² along
                               the joint-score sampler (an observer: no trajectory is stored), σ in
                               units of σ_data = the mode std (mode_std())
  ep_peak_sigma, ep_peak       peak of the excess entropy-production rate per d ln σ, σ² G_traj(σ)
                               (metrics.gaps.entropy_production's `excess_dlnsigma`)
  ep_total                     ∫ σ² G_traj d ln σ over the grid = the Girsanov KL between the joint
                               and factorized reverse path measures along the joint sampler
Census: metrics.census (one definition for every entry point; `tail` is the probability that an
exact data sample is not called real).

Shapes (dim, n, n_steps), the solver `method` (solvers.Solver), the σ `grid` (processes.Grid, one
that spans sigma_max → sigma_min) and the census tail are static; seed, std, weight, sigma_max,
sigma_min and rho (the exponent of an EDM grid, ignored by the others) are arrays vmapped over the
cells of a batch. Keys come from the cell's seed alone
(PRNGKey(seed), then fold_in 0: prior, 1: sampler noise), and with JAX's partitionable threefry
the draws do not depend on how particles and cells are laid out over devices.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from pydantic import Field, model_validator

from ...config import Section
from ...integrate import prior, sample
from ...metrics.census import DEFAULT_TAIL, census, product_ghost_mass
from ...metrics.gaps import gap_terms
from ...metrics.peaks import find_peak
from ...mixtures import GaussianMixture
from ...observers import Mean
from ...processes import GRIDS, EDMGrid, GeometricGrid, Grid
from ...scores import PairScore
from ...solvers import EulerMaruyama, Solver

NUMERIC = ("seed", "std", "weight", "sigma_max", "sigma_min", "rho")
CENSUS = ("real", "ghost", "off")


class ExactCell(Section):
    dim: int = Field(2, ge=1)
    std: float = Field(0.3, gt=0)
    weight: float = Field(0.5, gt=0, lt=1)
    seed: int = Field(0, ge=0, lt=2**31)
    n: int = Field(4096, ge=1)
    n_steps: int = Field(200, ge=3)
    method: Solver = EulerMaruyama()       # solvers.Solver: a name or a table
    grid: Grid = GeometricGrid()           # processes.Grid: a name or a table, spanning the σ range
    sigma_max: float = Field(30.0, gt=0)
    sigma_min: float = Field(0.003, gt=0)
    rho: float = Field(7.0, gt=0)          # an EDM grid's exponent (a number per cell, vmapped)
    tail: float = Field(DEFAULT_TAIL, gt=0, lt=1)

    @model_validator(mode="after")
    def _rules(self):
        if self.sigma_min >= self.sigma_max:
            raise ValueError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")
        if not self.grid.spans_range:
            spans = [k for k, g in GRIDS.items() if g.spans_range]
            raise ValueError(f"grid: expected one of {', '.join(spans)} (a grid from sigma_max to sigma_min)")
        if isinstance(self.grid, EDMGrid) and self.grid.rho != EDMGrid().rho:
            raise ValueError(f"grid.rho: the cell's rho sets the EDM exponent (write rho = {self.grid.rho:g})")
        return self


def census_fractions(x, gm: GaussianMixture, tail):
    """(real, ghost, off) fractions of samples x [N, D] (metrics.census)."""
    c = census(x, gm, tail)
    return jnp.stack([c[f"{k}_fraction"] for k in CENSUS])


class JointHalfGap(eqx.Module):
    """Per-particle (‖s_joint − s_fact‖², ‖s_joint‖², ‖s_fact‖²) [3] at the joint particles, the
    first half of the PairScore(joint, factorized) state [2D]."""

    gm: GaussianMixture

    def __call__(self, x, sigma, score):
        d = self.gm.dim
        return gap_terms(self.gm)(x[:d], sigma, score[:d])


def cell_fn(static: tuple, particles: NamedSharding | None):
    """The per-cell computation for static settings (dim, n, n_steps, solver, grid, tail)."""
    dim, n, n_steps, solver, grid, tail = static

    def cell(p: dict) -> dict:
        gm = GaussianMixture.opposite_corners(dim, p["std"], p["weight"])
        sd = gm.mode_std()
        g = grid.model_copy(update={"rho": p["rho"]}) if isinstance(grid, EDMGrid) else grid
        sig = g.sigmas(n_steps, p["sigma_max"], p["sigma_min"])
        key = jax.random.PRNGKey(p["seed"])
        x0 = prior(jax.random.fold_in(key, 0), n, dim, p["sigma_max"], sig.dtype)
        x0 = jnp.concatenate([x0, x0], axis=1)  # joint and factorized particles start together
        if particles is not None:
            x0 = jax.lax.with_sharding_constraint(x0, particles)
        res = sample(PairScore(gm.score, gm.factorized_score), x0, sig, key=jax.random.fold_in(key, 1),
                     solver=solver, observers={"gap": Mean(JointHalfGap(gm))})
        x, obs = res.x, res.observations
        return {"joint": census_fractions(x[:, :dim], gm, tail), "fact": census_fractions(x[:, dim:], gm, tail),
                "predicted": product_ghost_mass(gm), "sigma_data": sd,
                "sigmas": sig[:-1], "curve": obs["gap"]}

    return cell


def summarize(out: dict, i: int) -> tuple[dict, dict]:
    """Metrics row and curves of cell i of a batch output (host arrays)."""
    sd = float(out["sigma_data"][i])
    s = np.asarray(out["sigmas"][i], np.float64)
    c = np.asarray(out["curve"][i], np.float64)
    g, ep = c[:, 0], s * s * c[:, 0]
    row = {f"{what}_{which}": float(out[which][i][j]) for which in ("joint", "fact") for j, what in enumerate(CENSUS)}
    row["ghost_predicted"] = float(out["predicted"][i])
    row["sigma_data"] = sd
    pg, pe = find_peak(s / sd, g), find_peak(s / sd, ep)
    row.update(gap_peak_sigma=pg["x"], gap_peak=pg["y"], gap_peak_edge=pg["edge"],
               ep_peak_sigma=pe["x"], ep_peak=pe["y"], ep_peak_edge=pe["edge"],
               ep_total=float(np.trapezoid(ep[::-1], np.log(s[::-1]))))
    curves = {"sigma": s, "sigma_over_sigma_data": s / sd, "G_traj": g, "J_joint": c[:, 1], "J_fact": c[:, 2],
              "excess_ep_dlnsigma": ep}
    return row, {k: np.asarray(v).tolist() for k, v in curves.items()}

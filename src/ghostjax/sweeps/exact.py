"""The exact-score cell: ghost census, trajectory gap and entropy production of an opposite-corner
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

Shapes (dim, n, n_steps, method, grid) and the census tail are static; seed, std, weight,
sigma_max, sigma_min and rho are arrays vmapped over the cells of a batch. Keys come from the cell's seed alone
(PRNGKey(seed), then fold_in 0: prior, 1: sampler noise), and with JAX's partitionable threefry
the draws do not depend on how particles and cells are laid out over devices.
"""

from __future__ import annotations

import time
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from pydantic import Field, model_validator

from .. import integrate
from ..config import ConfigError, Section
from ..integrate import prior, sample
from ..metrics.census import DEFAULT_TAIL, census, product_ghost_mass
from ..metrics.gaps import gap_terms
from ..metrics.peaks import find_peak
from ..mixtures import GaussianMixture
from ..observers import Mean
from ..processes import grid_from_config
from ..scores import PairScore
from ..solvers import SOLVERS, solver_from_name
from . import mesh as meshes

NUMERIC = ("seed", "std", "weight", "sigma_max", "sigma_min", "rho")
CENSUS = ("real", "ghost", "off")


class ExactCell(Section):
    dim: int = Field(2, ge=1)
    std: float = Field(0.3, gt=0)
    weight: float = Field(0.5, gt=0, lt=1)
    seed: int = Field(0, ge=0, lt=2**31)
    n: int = Field(4096, ge=1)
    n_steps: int = Field(200, ge=3)
    method: Literal[tuple(SOLVERS)] = "euler_maruyama"
    grid: Literal["geometric", "edm"] = "geometric"
    sigma_max: float = Field(30.0, gt=0)
    sigma_min: float = Field(0.003, gt=0)
    rho: float = Field(7.0, gt=0)
    tail: float = Field(DEFAULT_TAIL, gt=0, lt=1)

    @model_validator(mode="after")
    def _rules(self):
        if self.sigma_min >= self.sigma_max:
            raise ValueError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")
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
    """The per-cell computation for static settings (dim, n, n_steps, method, grid, tail)."""
    dim, n, n_steps, method, grid, tail = static

    def cell(p: dict) -> dict:
        gm = GaussianMixture.opposite_corners(dim, p["std"], p["weight"])
        sd = gm.mode_std()
        sig = grid_from_config(grid, n_steps, p["sigma_max"], p["sigma_min"], p["rho"])
        key = jax.random.PRNGKey(p["seed"])
        x0 = prior(jax.random.fold_in(key, 0), n, dim, p["sigma_max"], sig.dtype)
        x0 = jnp.concatenate([x0, x0], axis=1)  # joint and factorized particles start together
        if particles is not None:
            x0 = jax.lax.with_sharding_constraint(x0, particles)
        res = sample(PairScore(gm.score, gm.factorized_score), x0, sig, jax.random.fold_in(key, 1), solver=solver_from_name(method),
                     observers={"gap": Mean(JointHalfGap(gm))})
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


class ExactKind:
    name = "exact"
    schema = ExactCell
    batched = True
    metrics = tuple(f"{w}_{s}" for s in ("joint", "fact") for w in CENSUS) + (
        "ghost_predicted", "sigma_data", "gap_peak_sigma", "gap_peak", "gap_peak_edge",
        "ep_peak_sigma", "ep_peak", "ep_peak_edge", "ep_total")
    figure_metrics = ("ghost_fact", "ghost_predicted", "ghost_joint", "gap_peak_sigma", "ep_peak_sigma", "ep_total")

    def __init__(self):
        self._compiled: dict = {}

    def static_key(self, s: ExactCell) -> tuple:
        """Shapes, solver and census tail: cells with equal keys share one compiled program."""
        return (s.dim, s.n, s.n_steps, s.method, s.grid, s.tail)

    def cost(self, s: ExactCell) -> int:
        """Array elements of one cell's particle state (for run.max_batch_elements)."""
        return 2 * s.n * s.dim

    def check(self, s: ExactCell, ctx) -> None:
        n_part = ctx.mesh.shape["particles"]
        if s.n % n_part:
            raise ConfigError(f"n: {s.n} particles do not split over the mesh's {n_part} particle shards "
                              f"(choose n divisible by {n_part}, or set run.mesh_cells)")

    def _program(self, static: tuple, batch: int, ctx):
        """The compiled batch program (AOT: lower + compile, timed; the persistent cache serves reruns)."""
        key = (static, batch, id(ctx.mesh))
        if key not in self._compiled:
            mesh = ctx.mesh
            part = NamedSharding(mesh, P("particles", None))
            fn = jax.vmap(cell_fn(static, part), spmd_axis_name="cells")
            dt = jnp.result_type(float)
            shapes = {k: jax.ShapeDtypeStruct((batch,), jnp.int32 if k == "seed" else dt,
                                              sharding=meshes.cell_sharding(mesh)) for k in NUMERIC}
            t0 = time.perf_counter()
            jitted = jax.jit(fn, out_shardings=meshes.replicated(mesh), compiler_options=integrate.compiler_options())
            compiled = jitted.lower(shapes).compile()
            ctx.record_compile(f"dim={static[0]},n={static[1]},steps={static[2]},batch={batch}",
                               time.perf_counter() - t0)
            self._compiled[key] = compiled
        return self._compiled[key]

    def run(self, cells: list, batch: int, ctx) -> list:
        """Run `cells` (one shape group, at most `batch`) as one padded batch."""
        static = self.static_key(cells[0].settings)
        program = self._program(static, batch, ctx)
        padded = cells + [cells[-1]] * (batch - len(cells))
        dt = jnp.result_type(float)
        host = {k: np.asarray([getattr(c.settings, k) for c in padded], np.int32 if k == "seed" else dt)
                for k in NUMERIC}
        args = {k: meshes.global_array(v, meshes.cell_sharding(ctx.mesh)) for k, v in host.items()}
        out = jax.tree.map(np.asarray, program(args))
        return [summarize(out, i) for i in range(len(cells))]


KIND = ExactKind()

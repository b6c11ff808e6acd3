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
                               (metrics_gaps.entropy_production's `excess_dlnsigma`)
  ep_total                     ∫ σ² G_traj d ln σ over the grid = the Girsanov KL between the joint
                               and factorized reverse path measures along the joint sampler
Census: a sample within `radius` of a data mode is real; otherwise, within `radius` of its nearest
±1 corner, a ghost; otherwise off. radius = 0 means mode_std·(√D + 3) (as the learned study);
with radius ≤ 1 this is exactly census.corner_census.

Shapes (dim, n, n_steps, method, grid) are static; seed, std, weight, sigma_max, sigma_min, rho
and radius are arrays vmapped over the cells of a batch. Keys come from the cell's seed alone
(PRNGKey(seed), then fold_in 0: prior, 1: sampler noise), and with JAX's partitionable threefry
the draws do not depend on how particles and cells are laid out over devices.
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ..config import ConfigError, check
from .. import integrate
from ..integrate import METHODS, sample
from ..metrics import find_peak
from ..metrics_gaps import gap_terms
from ..mixtures import GaussianMixture
from ..observers import Observer
from . import mesh as meshes

F = dataclasses.field
POS = check(lambda v: v > 0, "> 0")

NUMERIC = ("seed", "std", "weight", "sigma_max", "sigma_min", "rho", "radius")
CENSUS = ("real", "ghost", "off")


@dataclasses.dataclass(frozen=True)
class ExactCell:
    dim: int = F(default=2, metadata=check(lambda v: v >= 1, ">= 1"))
    std: float = F(default=0.3, metadata=POS)
    weight: float = F(default=0.5, metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))
    seed: int = F(default=0, metadata=check(lambda v: 0 <= v < 2**31, "in [0, 2^31)"))
    n: int = F(default=4096, metadata=check(lambda v: v >= 1, ">= 1"))
    n_steps: int = F(default=200, metadata=check(lambda v: v >= 3, ">= 3"))
    method: str = "euler_maruyama"
    grid: str = "geometric"
    sigma_max: float = F(default=30.0, metadata=POS)
    sigma_min: float = F(default=0.003, metadata=POS)
    rho: float = F(default=7.0, metadata=POS)
    radius: float = F(default=0.0, metadata=check(lambda v: v >= 0, ">= 0"))

    def validate(self):
        if self.method not in METHODS:
            raise ConfigError(f"method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        if self.grid not in ("geometric", "edm"):
            raise ConfigError(f"grid: expected 'geometric' or 'edm', got {self.grid!r}")
        if self.sigma_min >= self.sigma_max:
            raise ConfigError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")


def sigma_grid(kind: str, sigma_max, sigma_min, n_steps: int, rho):
    """Descending σ grid [n_steps + 1] ending at 0, from traced σ_max, σ_min (as processes.py)."""
    i = jnp.arange(n_steps, dtype=jnp.result_type(sigma_max)) / (n_steps - 1)
    if kind == "geometric":
        s = jnp.exp(jnp.log(sigma_max) + i * (jnp.log(sigma_min) - jnp.log(sigma_max)))
    else:
        a, b = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
        s = (a + i * (b - a)) ** rho
    return jnp.concatenate([s, jnp.zeros((1,), s.dtype)])


def opposite_corners(dim: int, std, weight) -> GaussianMixture:
    """GaussianMixture.opposite_corners with traced std and weight (no Python checks on them)."""
    means = np.stack([np.ones(dim), -np.ones(dim)])
    return GaussianMixture(means, jnp.stack([weight, 1.0 - weight]), std)


def predicted_ghost_mass(gm: GaussianMixture):
    """Product-of-marginals mass off the data corners (distinct ±1 corner modes), traced."""
    p = gm.weights @ (gm.means > 0).astype(gm.weights.dtype)                     # P(+) per coordinate
    logp = jnp.where(gm.means > 0, jnp.log(p)[None, :], jnp.log1p(-p)[None, :])   # [K, D]
    return 1.0 - jnp.sum(jnp.exp(jnp.sum(logp, axis=1)))


def census_fractions(x, gm: GaussianMixture, radius):
    """(real, ghost, off) fractions of samples x [N, D] (see the module docstring)."""
    d2_modes = (jnp.sum(x * x, axis=1)[:, None] - 2.0 * x @ gm.means.T
                + jnp.sum(gm.means**2, axis=1)[None, :])
    real = jnp.min(d2_modes, axis=1) <= radius * radius
    corner = jnp.where(x >= 0, 1.0, -1.0).astype(x.dtype)
    near = jnp.sum((x - corner) ** 2, axis=1) <= radius * radius
    ghost = ~real & near
    f = lambda m: jnp.mean(m.astype(x.dtype))  # noqa: E731
    return jnp.stack([f(real), f(ghost), f(~real & ~near)])


class PairScore(eqx.Module):
    """Score on x = [x_joint, x_fact] (2D): the joint score on the first half, the factorized score
    on the second, so one sampler pass (one compiled scan) moves both particle sets."""

    gm: GaussianMixture

    def __call__(self, x, sigma):
        d = self.gm.dim
        return jnp.concatenate([self.gm.score(x[:d], sigma), self.gm.factorized_score(x[d:], sigma)])


class GapTerms(Observer):
    """Particle means of (‖s_joint − s_fact‖², ‖s_joint‖², ‖s_fact‖²) at the joint particles (the
    first half of a PairScore state) per step: [n_steps, 3]."""

    gm: GaussianMixture

    def update(self, state, x, sigma, score, step):
        d = self.gm.dim
        v = jax.vmap(gap_terms(self.gm), in_axes=(0, None, 0))(x[:, :d], sigma, score[:, :d])
        return state, jnp.mean(v, axis=0)


def cell_fn(static: tuple, particles: NamedSharding | None):
    """The per-cell computation for static settings (dim, n, n_steps, method, grid)."""
    dim, n, n_steps, method, grid = static

    def cell(p: dict) -> dict:
        gm = opposite_corners(dim, p["std"], p["weight"])
        sd = gm.mode_std()
        sig = sigma_grid(grid, p["sigma_max"], p["sigma_min"], n_steps, p["rho"])
        key = jax.random.PRNGKey(p["seed"])
        x0 = p["sigma_max"] * jax.random.normal(jax.random.fold_in(key, 0), (n, dim), sig.dtype)
        x0 = jnp.concatenate([x0, x0], axis=1)  # joint and factorized particles start together
        if particles is not None:
            x0 = jax.lax.with_sharding_constraint(x0, particles)
        res = sample(PairScore(gm), x0, sig, jax.random.fold_in(key, 1), method=method, observers={"gap": GapTerms(gm)})
        x, obs = res.x, res.observations
        radius = jnp.where(p["radius"] > 0, p["radius"], sd * (np.sqrt(dim) + 3.0))
        return {"joint": census_fractions(x[:, :dim], gm, radius), "fact": census_fractions(x[:, dim:], gm, radius),
                "predicted": predicted_ghost_mass(gm), "sigma_data": sd, "radius": radius,
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
    row["sigma_data"], row["radius"] = sd, float(out["radius"][i])
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
        "ghost_predicted", "sigma_data", "radius", "gap_peak_sigma", "gap_peak", "gap_peak_edge",
        "ep_peak_sigma", "ep_peak", "ep_peak_edge", "ep_total")
    figure_metrics = ("ghost_fact", "ghost_predicted", "ghost_joint", "gap_peak_sigma", "ep_peak_sigma", "ep_total")

    def __init__(self):
        self._compiled: dict = {}

    def static_key(self, s: ExactCell) -> tuple:
        return (s.dim, s.n, s.n_steps, s.method, s.grid)

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

"""The `exact` sweep kind: the opposite-corner cell of studies/ghosts/corners_cell.py (ghost census,
trajectory gap and entropy production with the exact joint and factorized scores), vmapped over the
cells of a batch and sharded over the device mesh (kinds.BatchedKind).

Shapes (dim, n, n_steps), the solver, the σ grid and the census tail are static (one compiled
program per combination); seed, std, weight, sigma_max, sigma_min and rho are vmapped numbers.
"""

from __future__ import annotations

from jax.sharding import NamedSharding, PartitionSpec as P

from ..config import ConfigError
from ..studies.ghosts.corners_cell import CENSUS, NUMERIC, ExactCell, cell_fn, summarize
from .kinds import BatchedKind


class ExactKind(BatchedKind):
    name = "exact"
    schema = ExactCell
    numeric = NUMERIC
    metrics = tuple(f"{w}_{s}" for s in ("joint", "fact") for w in CENSUS) + (
        "ghost_predicted", "sigma_data", "gap_peak_sigma", "gap_peak", "gap_peak_edge",
        "ep_peak_sigma", "ep_peak", "ep_peak_edge", "ep_total")
    figure_metrics = ("ghost_fact", "ghost_predicted", "ghost_joint", "gap_peak_sigma", "ep_peak_sigma", "ep_total")

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

    def cell_fn(self, static: tuple, mesh):
        return cell_fn(static, NamedSharding(mesh, P("particles", None)))

    def summarize(self, out: dict, i: int, static: tuple) -> tuple[dict, dict]:
        return summarize(out, i)

    def compile_label(self, static: tuple) -> str:
        return f"dim={static[0]},n={static[1]},steps={static[2]}"


KIND = ExactKind()

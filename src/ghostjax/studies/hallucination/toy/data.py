"""The study's data sets as GaussianMixtures (so the exact score is available beside the network's)
and their fixed training samples.

  line                 1-D modes at `positions`, std `std`, unnormalised (Aithal et al.: {1, 2, 3} with
                       20k samples, {1, 2, 4, 5} with 50k; std 0.05); with `gap`, n_modes modes
                       gap·std apart centred on mean(positions) (Data.line_positions)
  gaussian25           the 5 × 5 grid 2·(i, j), std 0.05, all divided by √(0.05² + 2²·2) ≈ 2.829
  gaussian25_rotated   their diamond: the grid with spacing 2/√2 rotated by 45° (corners at (±4, 0),
                       (0, ±4) before the same normalisation)
  corners              two modes at ±(1,…,1) in D dimensions, weight ½ (ghosts task)
Training sets hold equal counts per mode (row i from mode i mod K), as their generator does.
"""

from __future__ import annotations

import math

import jax

from ....data import EmpiricalData, empirical
from ....mixtures import GaussianMixture
from .config import Data

GRID_SPACING = 2.0


def grid_scale(std: float) -> float:
    """√(std² + spacing²·2): Aithal et al.'s normalisation of Gaussian25 (≈ 2.829 for std 0.05)."""
    return math.sqrt(std**2 + GRID_SPACING**2 * 2.0)


def mixture(d: Data) -> GaussianMixture:
    """The mixture a [[data]] table describes."""
    if d.kind == "line":
        return GaussianMixture.line(list(d.line_positions()), d.std)
    if d.kind == "gaussian25":
        return GaussianMixture.grid(5, GRID_SPACING, d.std, scale=grid_scale(d.std))
    if d.kind == "gaussian25_rotated":
        return GaussianMixture.rotated_grid(5, GRID_SPACING / math.sqrt(2.0), d.std, scale=grid_scale(d.std))
    return GaussianMixture.opposite_corners(d.dim, std=d.std, weight=0.5)


def training_set(d: Data, gm: GaussianMixture | None = None) -> EmpiricalData:
    """The fixed training sample of a data set: n_train rows, equal counts per mode, from `seed`."""
    gm = mixture(d) if gm is None else gm
    return empirical(gm, key=jax.random.PRNGKey(d.seed), n=d.n_train)


def label(d: Data) -> str:
    """A short name for tables and files: line_1_2_3, gaussian25, ..."""
    if d.kind == "line":
        return "line_" + "_".join(f"{p:g}" for p in d.line_positions())
    if d.kind == "corners":
        return f"corners_D{d.dim}"
    return d.kind

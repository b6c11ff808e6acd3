"""Ghost census: samples drawn with the exact joint and factorized scores, classified per corner;
ghost counts 2^D − k against enumeration (including corners that do not see both signs)."""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np

from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...integrate import prior, sample
from ...metrics.census import DEFAULT_TAIL, census, corner_counts, enumerate_ghost_corners, ghost_count, product_ghost_mass
from ...mixtures import GaussianMixture, random_corners
from ...processes import GRIDS, GeometricGrid, Grid
from ...solvers import EulerMaruyama, Solver
from .. import Results, no_progress
from .._common import require
from .claims import census as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)


class Config(Section):
    study: Literal["census"] = "census"
    seed: int = 0
    dim: int = Field(3, ge=1)
    std: float = Field(0.3, gt=0)
    asym_weight: float = Field(0.95, gt=0, lt=1)
    std_ratio: float = Field(2.0, gt=0)        # unequal variances: stds std·(2/(1+r), 2r/(1+r))
    random_dim: int = Field(4, ge=1)
    random_k: int = Field(4, ge=1)
    n: int = Field(4096, ge=1)
    n_steps: int = Field(200, ge=1)
    sigma_max: float = Field(10.0, gt=0)
    sigma_min: float = Field(1e-3, gt=0)
    grid: Grid = GeometricGrid()               # processes.Grid: a name or a table
    method: Solver = EulerMaruyama()           # solvers.Solver: a name or a table
    tail: float = Field(DEFAULT_TAIL, gt=0, lt=1)   # census: P(exact data sample not real)
    enum_max_dim: int = Field(8, ge=1)
    enum_trials: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _rules(self):
        require(self.sigma_min < self.sigma_max, "sigma_min: must be below sigma_max")
        require(self.random_k <= 2**self.random_dim, "random_k: more corners than the random_dim-cube has")
        require(self.enum_max_dim <= 12, "enum_max_dim: must be <= 12 (enumeration is 2^D)")
        require(self.dim <= 12 and self.random_dim <= 12, "dim: census cases need D <= 12")
        spans = [k for k, g in GRIDS.items() if g.spans_range]
        require(self.grid.spans_range, f"grid: expected one of {', '.join(spans)} (a grid from sigma_max to sigma_min)")
        return self


def cases(cfg: Config) -> dict:
    """The mixtures of the census, by name."""
    d, s = cfg.dim, cfg.std
    r = cfg.std_ratio
    key = jax.random.key(cfg.seed)
    partial = np.ones((3, max(cfg.dim, 2)))  # the last coordinate is +1 for every mode
    partial[1, :-1] = -1
    partial[2, ::2] = -1
    partial[2, -1] = 1
    return {
        f"balanced D={d}": GaussianMixture.opposite_corners(d, s, 0.5),
        f"{round(100 * cfg.asym_weight)}/{round(100 - 100 * cfg.asym_weight)} D={d}":
            GaussianMixture.opposite_corners(d, s, cfg.asym_weight),
        f"stds {2 * s / (1 + r):.2g}/{2 * s * r / (1 + r):.2g} D={d}":
            GaussianMixture(np.stack([np.ones(d), -np.ones(d)]), None, np.array([2 * s / (1 + r), 2 * s * r / (1 + r)])),
        f"k={cfg.random_k} random D={cfg.random_dim}":
            GaussianMixture.hypercube(cfg.random_dim, random_corners(key, cfg.random_dim, cfg.random_k), std=s),
        f"k=3 one shared sign D={partial.shape[1]}": GaussianMixture.hypercube(partial.shape[1], partial, std=s),
    }


def _number(v):
    """A census value as a JSON number: counts stay int, fractions and thresholds float."""
    a = np.asarray(v)
    return int(a) if a.dtype.kind in "iub" else float(a)


def census_pair(gm: GaussianMixture, x_joint, x_fact, tail: float) -> dict:
    """Census of samples drawn with the joint and with the factorized score, with per-corner
    counts, the product-of-marginals ghost mass and the ghost count of hypercube mixture `gm`."""
    out = {}
    for name, x in (("joint", x_joint), ("factorized", x_fact)):
        c = {k: _number(v) for k, v in census(x, gm, tail).items()}
        out[name] = {**c, "per_corner": corner_counts(x, gm, tail)}
    return {**out, "predicted_ghost_mass": float(product_ghost_mass(gm)), **ghost_count(np.asarray(gm.means))}


def enumeration_table(cfg: Config) -> list[dict]:
    """Ghost counts for random corner sets, D = 1 … enum_max_dim: the seed's 2^D − k, the counting
    formula 2^{D_free} − k, and brute-force enumeration."""
    out = []
    rng = np.random.default_rng(cfg.seed + 1)
    for d in range(1, cfg.enum_max_dim + 1):
        for t in range(cfg.enum_trials):
            k = int(rng.integers(1, min(2**d, 6) + 1))
            c = np.unique(rng.choice([-1.0, 1.0], size=(k, d)), axis=0)
            if t % 2:  # force a shared sign in some coordinates half of the time
                c[:, : d // 2] = 1.0
                c = np.unique(c, axis=0)
            g = ghost_count(c)
            out.append({"D": d, "k": g["k"], "d_free": g["d_free"], "seed_2D_minus_k": g["formula_2D_minus_k"],
                        "formula": g["count"], "enumerated": enumerate_ghost_corners(c)})
    return out


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    grid = cfg.grid.sigmas(cfg.n_steps, cfg.sigma_max, cfg.sigma_min)
    key = jax.random.key(cfg.seed)
    results, curves = {}, {}
    cs = cases(cfg)
    for i, (name, gm) in enumerate(progress(cs.items(), desc="census cases", total=len(cs))):
        k0, k1, k2 = jax.random.split(jax.random.fold_in(key, i), 3)
        x0 = prior(k0, cfg.n, gm.dim, cfg.sigma_max)
        solver = cfg.method
        xj = sample(gm.score, x0, grid, key=k1, solver=solver).x
        xf = sample(gm.factorized_score, x0, grid, key=k2, solver=solver).x
        c = census_pair(gm, xj, xf, cfg.tail)
        mu = np.asarray(gm.means) > 0
        c["real_corner_codes"] = sorted({int(v) for v in (mu * 2 ** np.arange(gm.dim)).sum(1)})
        results[name] = c
        curves.setdefault("census", []).extend(
            {"case": name, "sampler": w, **{k: c[w][k] for k in ("n", "real", "ghost", "off")}}
            for w in ("joint", "factorized"))
    table = enumeration_table(cfg)
    mismatch = [r for r in table if r["formula"] != r["enumerated"]]
    seed_wrong = [r for r in table if r["seed_2D_minus_k"] != r["enumerated"]]
    metrics = {
        "cases": results,
        "enumeration": {"n_sets": len(table), "formula_mismatches": len(mismatch),
                        "seed_formula_mismatches": len(seed_wrong),
                        "seed_formula_matches_when_all_coords_free": all(
                            r["seed_2D_minus_k"] == r["enumerated"] for r in table if r["d_free"] == r["D"])},
    }
    curves["ghost_counts"] = table
    figs = {"census_bars": plots.census_bars(results)}
    first = next(iter(results))
    if cfg.dim == 3:
        c = results[first]
        figs["corner_occupancy_balanced"] = plots.corner_occupancy(
            c["joint"]["per_corner"], c["factorized"]["per_corner"], c["real_corner_codes"], 3, cfg.n)
        asym = list(results)[1]
        c = results[asym]
        figs["corner_occupancy_asym"] = plots.corner_occupancy(
            c["joint"]["per_corner"], c["factorized"]["per_corner"], c["real_corner_codes"], 3, cfg.n)
    return Results(metrics, curves, figs)

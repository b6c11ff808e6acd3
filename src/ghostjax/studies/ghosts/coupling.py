"""Coupled hypercube data, corner weights ∝ exp(g Σ_{i<j} c_i c_j): the mass the product of
marginals puts where the data has less ("ghost" excess mass) as a function of g, and the order in
which modes split (common mode vs single coordinates) from the covariance spectrum and from
measured clone probabilities (seed 000: the λ± = −β ± g hierarchy)."""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np

from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...metrics.peaks import crossing
from ...metrics.speciation import clone_probability, corner_tables
from ...mixtures import GaussianMixture
from .. import Results, no_progress
from .._common import require, rows
from .claims import coupling as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)


class Config(Section):
    study: Literal["coupling"] = "coupling"
    seed: int = 0
    dim: int = Field(5, ge=1)
    std: float = Field(0.3, gt=0)
    couplings: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.5, 16), 3).tolist())
    clone_couplings: tuple[float, ...] = (0.0, 0.2, 0.5, 1.0)
    start_lo: float = Field(0.05, gt=0)
    start_hi: float = Field(8.0, gt=0)
    n_starts: int = Field(15, ge=1)
    n_pairs: int = Field(1024, ge=1)
    n_steps: int = Field(60, ge=1)

    @model_validator(mode="after")
    def _rules(self):
        require(2 <= self.dim <= 10, "dim: must lie in [2, 10] (2^D corners are enumerated)")
        require(self.dim % 2 == 1, "dim: must be odd, so the sign of Σ_i x_i (the common mode) has no ties")
        require(all(g >= 0 for g in self.couplings + self.clone_couplings), "couplings: must be >= 0")
        require(self.start_lo < self.start_hi, "start_lo: must be below start_hi")
        return self


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    key = jax.random.key(cfg.seed)
    table = []
    for g in cfg.couplings:
        t = corner_tables(GaussianMixture.coupled_hypercube(cfg.dim, g, cfg.std))
        table.append({"g": g, "excess_mass": t["excess_mass"], "kl_q_p": t["kl_q_p"],
                      "mass_on_aligned": t["mass_on_aligned"], "lambda_common": t["lambda_common"],
                      "lambda_diff": t["lambda_diff"], "sigma_S_common": float(np.sqrt(t["lambda_common"])),
                      "sigma_S_diff": float(np.sqrt(t["lambda_diff"]))})
    starts = np.geomspace(cfg.start_lo, cfg.start_hi, cfg.n_starts)
    split, phi_rows, series, styles = {}, [], {}, {}
    for j, g in enumerate(progress(cfg.clone_couplings, desc="couplings")):
        gm = GaussianMixture.coupled_hypercube(cfg.dim, g, cfg.std)
        phi = clone_probability(gm, starts, cfg.n_pairs, key=jax.random.fold_in(key, j), n_steps=cfg.n_steps)
        t = corner_tables(gm)
        split[f"{g:g}"] = {"sigma_split_common": crossing(starts, phi["phi_common"], 0.75, log=False),
                           "sigma_split_coordinate": crossing(starts, phi["phi_coord"], 0.75, log=False),
                           "sigma_S_common_cov": float(np.sqrt(t["lambda_common"])),
                           "sigma_S_diff_cov": float(np.sqrt(t["lambda_diff"]))}
        phi_rows.extend(rows(g=[g] * len(starts), sigma_start=starts, phi_common=phi["phi_common"],
                             phi_coord=phi["phi_coord"], phi_mode=phi["phi_mode"]))
        series[f"g={g:g} common sign"] = (starts, phi["phi_common"])
        series[f"g={g:g} single coordinate"] = (starts, phi["phi_coord"])
        styles[f"g={g:g} common sign"] = {"color": f"C{j}", "ls": "-"}
        styles[f"g={g:g} single coordinate"] = {"color": f"C{j}", "ls": "--"}
    ordered = {k: (v["sigma_split_common"] or 0) > (v["sigma_split_coordinate"] or 0) for k, v in split.items()}
    metrics = {"dim": cfg.dim, "excess_mass": {f"{r['g']:g}": r["excess_mass"] for r in table},
               "split": split, "common_splits_first": ordered,
               "note": "every corner holds data for finite g, so the point-mode ghost count is 0; the "
                       "'ghost' mass here is the excess Σ_c max(q_c − p_c, 0) of the product q over the data p"}
    gs = np.array([r["g"] for r in table])
    fig_mass = plots.curves({"excess (ghost) mass Σ max(q−p,0)": (gs, [r["excess_mass"] for r in table]),
                             "KL(q‖p)": (gs, [r["kl_q_p"] for r in table]),
                             "data mass on ±(1,…,1)": (gs, [r["mass_on_aligned"] for r in table])},
                            xlabel="coupling g", ylabel="", band=False, logx=False,
                            title=f"Product of marginals vs coupled data, D={cfg.dim}")
    fig_split = plots.curves(series, xlabel="start σ (absolute)", ylabel="clone probability", band=False, styles=styles,
                             title="Mode splitting: common mode vs single coordinates")
    fig_spec = plots.curves({"σ_S common = √λ_common": (gs, [r["sigma_S_common"] for r in table]),
                             "σ_S difference = √λ_diff": (gs, [r["sigma_S_diff"] for r in table])},
                            xlabel="coupling g", ylabel="σ_S (VE, √eigenvalue)", band=False, logx=False,
                            title="Covariance hierarchy: common mode speciates first for g > 0")
    return Results(metrics, {"coupling": table, "coupling_clone": phi_rows},
                   {"ghost_mass_vs_g": fig_mass, "split_order": fig_split, "spectrum_vs_g": fig_spec})

"""Speciation vs the ghost peak: σ_S from the data covariance (Biroli et al.) and from measured
clone probabilities, against σ* of the gap, as D grows (seed 000: "σ_S ~ √D, 4–7× above σ*")."""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np

from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...metrics.gaps import EXCESS_MEASURES, distribution_gap
from ...metrics.peaks import crossing, curve_peaks
from ...metrics.speciation import clone_baseline, clone_probability, covariance_speciation
from ...mixtures import GaussianMixture
from .. import Results, no_progress
from .._common import require, rows
from .claims_rates import speciation as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)


class Config(Section):
    study: Literal["speciation"] = "speciation"
    seed: int = 0
    dims: tuple[int, ...] = (2, 3, 4, 6, 8, 16)
    std: float = Field(0.3, gt=0)
    weight: float = Field(0.5, gt=0, lt=1)
    start_lo: float = Field(0.05, gt=0)     # clone start σ, absolute
    start_hi: float = Field(8.0, gt=0)
    n_starts: int = Field(17, ge=1)
    n_pairs: int = Field(1024, ge=1)
    n_steps: int = Field(60, ge=1)
    gap_n: int = Field(4096, ge=1)
    groups: int = Field(32, ge=1)
    n_sigma: int = Field(41, ge=1)
    n_boot: int = Field(100, ge=1)
    level: float = Field(0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _rules(self):
        require(self.start_lo < self.start_hi, "start_lo: must be below start_hi")
        require(self.gap_n % self.groups == 0, "gap_n: must be a multiple of groups")
        return self


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    key = jax.random.key(cfg.seed)
    starts = np.geomspace(cfg.start_lo, cfg.start_hi, cfg.n_starts)
    per_dim, curve_rows, series = {}, [], {}
    for d in progress(cfg.dims, desc="dimensions"):
        gm = GaussianMixture.opposite_corners(d, cfg.std, cfg.weight)
        sd = float(gm.mode_std())
        cov = covariance_speciation(gm)
        phi = clone_probability(gm, starts, cfg.n_pairs, key=jax.random.fold_in(key, d), n_steps=cfg.n_steps)
        base = clone_baseline(gm)
        mid = 0.5 * (1 + base)
        s_meas = crossing(starts, phi["phi_mode"], mid, log=False)
        # ±2 binomial standard errors of φ moved through the crossing: a rough interval for σ_S.
        s_lo = crossing(starts, phi["phi_mode"] - 2 * phi["phi_mode_se"], mid, log=False)
        s_hi = crossing(starts, phi["phi_mode"] + 2 * phi["phi_mode_se"], mid, log=False)
        sig = np.geomspace(0.1, 30, cfg.n_sigma) * sd
        g = distribution_gap(gm, sig, cfg.gap_n, key=jax.random.fold_in(key, 100 + d), groups=cfg.groups)
        pk = curve_peaks(sig, g, sd, EXCESS_MEASURES, seed=cfg.seed, n_boot=cfg.n_boot, level=cfg.level)
        ratios = {m: {"cov": cov["sigma_S"] / (p["x"] * sd),
                      "measured": None if s_meas is None else s_meas / (p["x"] * sd)} for m, p in pk.items()}
        per_dim[str(d)] = {"sigma_data": sd, **cov, "sigma_S_measured": s_meas, "sigma_S_measured_interval": [s_lo, s_hi],
                           "clone_midpoint": mid,
                           "sqrt_D": float(np.sqrt(d)), "sigma_star": {m: p["x"] * sd for m, p in pk.items()},
                           "sigma_star_ci": {m: [p["lo"] * sd, p["hi"] * sd] for m, p in pk.items()},
                           "ratio_sigma_S_over_sigma_star": ratios}
        curve_rows.extend(rows(D=[d] * len(starts), sigma_start=starts, phi_mode=phi["phi_mode"],
                               phi_mode_se=phi["phi_mode_se"]))
        series[f"D={d}"] = (starts, phi["phi_mode"])
    dims = np.asarray(cfg.dims, np.float64)
    dd = [str(d) for d in cfg.dims]
    fig_phi = plots.curves(series, xlabel="start σ (absolute)", ylabel="clone probability φ", band=False,
                           title="Clone probability: two copies from x ~ p_σ end in the same mode")
    fig_ratio = plots.errorbars(dims, {
        "σ_S(cov) / σ*(excess dσ)": ([per_dim[d]["ratio_sigma_S_over_sigma_star"]["excess_dsigma"]["cov"] for d in dd],) * 3,
        "σ_S(measured) / σ*(excess dσ)": ([per_dim[d]["ratio_sigma_S_over_sigma_star"]["excess_dsigma"]["measured"] or np.nan for d in dd],) * 3,
        "σ_S(measured) / σ*(G)": ([per_dim[d]["ratio_sigma_S_over_sigma_star"]["G"]["measured"] or np.nan for d in dd],) * 3,
    }, xlabel="D", ylabel="σ_S / σ*", ref={"seed: 4": 4.0, "seed: 7": 7.0}, title="Speciation over ghost peak")
    fig_s = plots.errorbars(dims, {
        "σ_S = √(Λ−1) (covariance)": ([per_dim[d]["sigma_S"] for d in dd],) * 3,
        "σ_S measured (clone φ midpoint)": ([per_dim[d]["sigma_S_measured"] or np.nan for d in dd],) * 3,
    }, xlabel="D", ylabel="σ_S (absolute)", ref={"√D": np.sqrt(dims)}, title="Speciation noise level vs D")
    metrics = {"per_dim": per_dim}
    return Results(metrics, {"clone_probability": curve_rows},
                   {"clone_probability": fig_phi, "sigma_S_over_sigma_star": fig_ratio, "sigma_S_vs_dim": fig_s})

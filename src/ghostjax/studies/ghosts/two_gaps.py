"""The two gaps of seed 001: the distribution gap G_dist(σ) = E_{p_σ}‖s_joint − s_fact‖² on exact
samples, and the trajectory gap G_traj(σ) along reverse samplers driven by the joint score, with
peak locations σ*/σ_data and bootstrap intervals over particle groups; the trajectory gap's
dependence on the integrator (SDE vs probability-flow ODE, step count, grid)."""

from __future__ import annotations

from typing import Annotated, Literal

import jax
import numpy as np
import pydantic
from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...metrics.gaps import MEASURES, distribution_gap, marginal_fisher_quadrature, trajectory_gap
from ...metrics.peaks import curve_peaks
from ...mixtures import GaussianMixture
from ...processes import GeometricGrid, Grid
from ...solvers import EulerMaruyama, Solver
from .. import Results, no_progress
from .._common import require, rows
from .claims import two_gaps as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)


class Integrator(Section):
    """One sampler of the trajectory gap: `solver` for `steps` steps on `grid` from sigma_max to
    sigma_min (or the grid's own range: the DDPM grid). A config writes 'method:steps:grid' (e.g.
    'euler_maruyama:200:edm'; `label`) or a table {solver = ..., steps = ..., grid = ...}."""

    solver: Solver = EulerMaruyama()
    steps: int = Field(200, ge=2)
    grid: Grid = GeometricGrid()

    @property
    def label(self) -> str:
        """'method:steps:grid' (a solver or grid with options as name(option=value, ...))."""
        def word(v, tag):
            if isinstance(v, str):
                return v
            v = dict(v)
            return f"{v.pop(tag)}({', '.join(f'{k}={x}' for k, x in v.items())})"
        d = self.model_dump()
        return f"{word(d['solver'], 'name')}:{self.steps}:{word(d['grid'], 'kind')}"


def _parse_integrator(v):
    if not isinstance(v, str):
        return v
    parts = v.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        raise ValueError(f"expected 'method:steps:grid' (e.g. 'euler_maruyama:200:geometric'), got {v!r}")
    return {"solver": parts[0], "steps": int(parts[1]), "grid": parts[2]}


def _write_integrator(v: Integrator, handler):
    return v.label if ":" in v.label and "(" not in v.label else handler(v)


IntegratorSpec = Annotated[Integrator, pydantic.BeforeValidator(_parse_integrator),
                           pydantic.WrapSerializer(_write_integrator)]


class Config(Section):
    study: Literal["two_gaps"] = "two_gaps"
    seed: int = 0
    dim: int = Field(3, ge=1)
    std: float = Field(0.3, gt=0)
    weight: float = Field(0.5, gt=0, lt=1)
    n: int = Field(16384, ge=1)
    groups: int = Field(32, ge=1)
    sigma_lo: float = Field(0.1, gt=0)     # σ axis of G_dist in units of σ_data
    sigma_hi: float = Field(30.0, gt=0)
    n_sigma: int = Field(61, ge=1)
    traj_n: int = Field(8192, ge=1)
    sigma_max: float = Field(10.0, gt=0)   # absolute σ range of the samplers
    sigma_min: float = Field(0.003, gt=0)
    integrators: tuple[IntegratorSpec, ...] = tuple(Integrator.model_validate(_parse_integrator(s)) for s in (
        "euler_maruyama:1000:geometric", "euler_maruyama:200:geometric", "euler_maruyama:50:geometric",
        "euler_maruyama:20:geometric", "euler_maruyama:200:edm", "ode_heun:200:geometric",
        "ode_euler:200:geometric", "ddpm:1000:ddpm"))
    reference: str = "euler_maruyama:1000:geometric"
    n_boot: int = Field(300, ge=1)
    level: float = Field(0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _rules(self):
        require(self.sigma_lo < self.sigma_hi, "sigma_lo: must be below sigma_hi")
        require(self.sigma_min < self.sigma_max, "sigma_min: must be below sigma_max")
        require(self.n % self.groups == 0, "n: must be a multiple of groups")
        require(self.traj_n % self.groups == 0, "traj_n: must be a multiple of groups")
        require(self.groups >= 4, "groups: need at least 4 groups for a bootstrap")
        labels = [i.label for i in self.integrators]
        require(len(set(labels)) == len(labels), "integrators: name each integrator once")
        require(self.reference in labels, f"reference: must be one of integrators ({', '.join(labels)})")
        return self


def peaks(sig, groups, sd, cfg, which=MEASURES) -> dict:
    """Bootstrap peaks (in units of σ_data) of each measure from group means [n, B, 3]."""
    return curve_peaks(sig, groups, sd, which, seed=cfg.seed, n_boot=cfg.n_boot, level=cfg.level)


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    gm = GaussianMixture.opposite_corners(cfg.dim, cfg.std, cfg.weight)
    sd = float(gm.mode_std())
    key = jax.random.key(cfg.seed)
    sig = np.geomspace(cfg.sigma_lo, cfg.sigma_hi, cfg.n_sigma) * sd
    dist = distribution_gap(gm, sig, cfg.n, key=jax.random.fold_in(key, 0), groups=cfg.groups)  # [m, B, 3]
    mean = dist.mean(1).astype(np.float64)
    tower = np.abs(mean[:, 0] - (mean[:, 1] - mean[:, 2])) / mean[:, 1]  # relative to J_joint
    quad_idx = np.linspace(0, len(sig) - 1, 7).astype(int)
    quad = np.array([marginal_fisher_quadrature(gm, float(sig[i])) for i in quad_idx])
    metrics = {
        "sigma_data": sd, "dim": cfg.dim,
        "dist": {"peaks": peaks(sig, dist, sd, cfg),
                 "tower_check_max_dev_over_J_joint": float(tower.max()),
                 "fact_mc_vs_quadrature_max_rel_dev": float(np.max(np.abs(mean[quad_idx, 2] - quad) / quad))},
        "traj": {},
    }
    u = np.log(sig / sd)
    in_band = (sig / sd >= 0.1) & (sig / sd <= 1.0)
    metrics["dist"]["band_share"] = {  # share of ∫ f d ln σ over the σ axis lying in [σ_data/10, σ_data]
        name: float(np.trapezoid(np.where(in_band, f(mean, sig), 0.0), u) / np.trapezoid(f(mean, sig), u))
        for name, f in MEASURES.items() if name != "G_rel"}
    curves = {"dist_gap": rows(sigma=sig, sigma_over_sigma_data=sig / sd, G=mean[:, 0], J_joint=mean[:, 1],
                               J_fact=mean[:, 2], G_rel=mean[:, 0] / mean[:, 1],
                               G_se=dist[:, :, 0].std(1) / np.sqrt(cfg.groups))}
    traj_curves = {}
    for j, it in enumerate(progress(cfg.integrators, desc="integrators")):
        spec, steps = it.label, it.steps
        grid = it.grid.sigmas(steps, cfg.sigma_max, cfg.sigma_min)  # the DDPM grid: its own σ range
        s_t, vals, _ = trajectory_gap(gm, grid, cfg.traj_n, key=jax.random.fold_in(key, j + 1), solver=it.solver,
                                      groups=cfg.groups)
        keep = (s_t >= sig[0]) & (s_t <= sig[-1])
        s_k, v_k = s_t[keep], vals[keep]
        m = v_k.mean(1).astype(np.float64)
        g_dist_interp = np.exp(np.interp(np.log(s_k), np.log(sig), np.log(mean[:, 0])))
        pk = peaks(s_k, v_k, sd, cfg, {k: MEASURES[k] for k in ("G", "G_rel")})
        metrics["traj"][spec] = {
            "peaks": pk, "n_steps": steps, "method": it.solver.name, "grid": it.grid.kind,
            "peak_height_over_dist": pk["G"]["y"] / metrics["dist"]["peaks"]["G"]["y"],
            "max_rel_dev_from_dist": float(np.max(np.abs(m[:, 0] / g_dist_interp - 1))),
            "median_rel_dev_from_dist": float(np.median(np.abs(m[:, 0] / g_dist_interp - 1))),
        }
        traj_curves[spec] = (s_k / sd, m[:, 0], m[:, 0] / m[:, 1])
        curves.setdefault("traj_gap", []).extend(rows(integrator=[spec] * len(s_k), sigma=s_k, sigma_over_sigma_data=s_k / sd,
                                                      G=m[:, 0], J_joint=m[:, 1], J_fact=m[:, 2], G_rel=m[:, 0] / m[:, 1]))
    dp = metrics["dist"]["peaks"]
    series = {"G_dist (exact samples)": (sig / sd, mean[:, 0])}
    pks = {"G_dist (exact samples)": dp["G"]}
    for spec, (x, g, _) in traj_curves.items():
        series[f"G_traj {spec}"] = (x, g)
        pks[f"G_traj {spec}"] = metrics["traj"][spec]["peaks"]["G"]
    rel_series = {"G_dist / J_joint": (sig / sd, mean[:, 0] / mean[:, 1])}
    rel_series.update({f"G_traj/J_joint {s}": (x, r) for s, (x, _, r) in traj_curves.items() if s == cfg.reference})
    specs = [it.label for it in cfg.integrators]
    figs = {
        "gap_curves": plots.curves(series, ylabel="E‖s_joint − s_fact‖²", peaks=pks, logy=True,
                                   title=f"Distribution vs trajectory gap, D={cfg.dim}, σ_data={sd:g} (dots: peaks, bars: {cfg.level:.0%} CI)"),
        "relative_gap": plots.curves(rel_series, ylabel="G / E‖s_joint‖²",
                                     peaks={"G_dist / J_joint": dp["G_rel"]}, title="Relative gap"),
        "traj_peaks_by_integrator": plots.errorbars(
            np.arange(len(specs)), {"G_traj peak": (
                [metrics["traj"][s]["peaks"]["G"]["x"] for s in specs],
                [metrics["traj"][s]["peaks"]["G"]["lo"] for s in specs],
                [metrics["traj"][s]["peaks"]["G"]["hi"] for s in specs])},
            xlabel="integrator: " + ", ".join(f"{i}={s}" for i, s in enumerate(specs)), ylabel="σ*_traj / σ_data",
            ref={"G_dist peak": dp["G"]["x"], "seed: 0.86": 0.86}, title="Trajectory-gap peak by integrator"),
    }
    figs["traj_peaks_by_integrator"].axes[0].xaxis.label.set_fontsize(5)
    return Results(metrics, curves, figs)

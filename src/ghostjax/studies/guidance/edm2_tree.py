"""The EDM2 toy example (Karras et al. 2024, "Guiding a Diffusion Model with a Bad Version of Itself",
NVlabs/edm2 toy_example.py) on exact scores: the two-class 2-D tree (fullcov.FullCovMixture.edm2_tree),
sampled by their deterministic sampler (EDM Heun ODE, 32 steps, σ 5 → 0.002, ρ = 7, Euler on the last
step to 0, started from p_A at σ_max) unguided, with classifier-free guidance and with autoguidance.

Their guidance is D = D_g + w (D_n − D_g) (torch lerp). CFG: n = class A, g = classes A+B, their w = 4,
i.e. ghostjax CFG(s_A, s_AB, w − 1). Autoguidance: g = a weak model, their w = 3. Their published
figure uses learned networks (main: 4×64 MLP trained 4096 iterations; weak: 4×32, 512 iterations;
CFG's unconditional: 4×32 on A+B, 512 iterations); here every score is exact, and the weak model is
the class-A tree broadened, Σ_k → f² Σ_k + δ² I (weak_factor, weak_extra_std). Which panels this
computes: their "Ground truth distribution" (the exact score of A: `exact`, identical by
construction), and exact-score counterparts of "Sample distribution with guidance" (`cfg`,
`autoguidance`) and "Trajectories without / with guidance" (figure `trajectories`); their "PDF of
main / guiding model / ratio" row is figure `guiding_pdfs` (exact p_A, the broadened weak model and
their ratio at σ = zoom_sigma_max). "Sample distribution without guidance" shows their learned
network's errors and has no exact counterpart (it equals `exact` here).

Metrics (per run, over its samples x at σ = 0):
  in_outline_A    fraction with log p_A(x) ≥ max_grid log p_A − outline_level², the orange class-A
                  region their figures draw (max over their 400 × 400 plotting grid of the view)
  in_outline_AB   the same for the gray A+B region
  within_k_std    fraction within `within_stds` Mahalanobis standard deviations of some class-A component
  mean_log_pA     mean log p_A(x); median_log_pA its median
  class_accuracy  fraction with π_A p_A(x) > π_B p_B(x) (exact posterior of class A above ½)
  mean_level      mean branch level (0 trunk … 6 tips) of each sample's most responsible A component;
                  level_hist the fractions per level (the data's from exact draws of p_A)
"""

from __future__ import annotations

from typing import Literal

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field, model_validator

from ...config import RunFailed, Section
from ...fullcov import FullCovMixture, edm2_tree_components
from ...guidance import CFG, Autoguidance
from ...integrate import sample
from ...observers import Window
from ...processes import edm_grid
from ...solvers import OdeHeun
from .. import Results, no_progress
from .._common import require, rows

RUNS = ("exact", "cfg", "autoguidance", "weak")
LEVELS = 7


class Config(Section):
    study: Literal["edm2_tree"] = "edm2_tree"
    seed: int = 1
    n: int = Field(16384, ge=64)                     # their first figure: 1 << 14 samples
    steps: int = Field(32, ge=2)                     # their do_sample defaults
    sigma_max: float = Field(5.0, gt=0)
    sigma_min: float = Field(0.002, gt=0)
    rho: float = Field(7.0, gt=0)
    cfg_guidance: float = 4.0                        # their w for CFG (ghostjax CFG weight w − 1)
    auto_guidance: float = 3.0                       # their w for autoguidance
    weak_factor: float = Field(2.0, gt=0)            # weak model: Σ_k → f² Σ_k + δ² I
    weak_extra_std: float = Field(0.0, ge=0)
    outline_level: float = Field(2.12, gt=0)         # their contour level on √(max log p − log p)
    within_stds: float = Field(3.0, gt=0)
    view: tuple[float, float, float] = (0.30, 0.30, 1.2)     # their fig1: centre x, y and half-width
    grid_resolution: int = Field(400, ge=16)
    zoom_view: tuple[float, float, float] = (0.45, 1.22, 0.3)  # their fig2 (trajectories, PDFs)
    zoom_n: int = Field(4096, ge=16)
    zoom_sigma_max: float = Field(0.03, gt=0)
    zoom_spacing: float = Field(0.045, gt=0)         # keep one starting point per cell of this size

    @model_validator(mode="after")
    def _rules(self):
        require(self.sigma_min < self.sigma_max, "sigma_min: must be below sigma_max")
        require(self.sigma_min < self.zoom_sigma_max, "zoom_sigma_max: must be above sigma_min")
        require(self.view[2] > 0 and self.zoom_view[2] > 0, "view: the half-width must be positive")
        return self


def _grid_points(view, res: int):
    cx, cy, h = view
    gx, gy = np.linspace(cx - h, cx + h, res), np.linspace(cy - h, cy + h, res)
    return gx, gy, np.stack(np.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)


@eqx.filter_jit
def _log_prob(fm: FullCovMixture, x, sigma):
    return jax.vmap(fm.log_prob, (0, None))(x, sigma)


@eqx.filter_jit
def _score(fm: FullCovMixture, x, sigma):
    return jax.vmap(fm.score, (0, None))(x, sigma)


@eqx.filter_jit
def _best_component(fm: FullCovMixture, x):
    return jax.vmap(lambda xi: jnp.argmax(fm.log_responsibilities(xi, 0.0)))(x)


def _eval(fn, fm, x, *args) -> np.ndarray:
    return np.asarray(fn(fm, jnp.asarray(x, fm.means.dtype), *args), np.float64)


def _min_mahalanobis2(fm: FullCovMixture, x: np.ndarray) -> np.ndarray:
    """min_k (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k) per sample [N] (float64 NumPy, chunks of samples)."""
    prec = np.linalg.inv(np.asarray(fm.covs, np.float64))
    mu = np.asarray(fm.means, np.float64)
    out = np.empty(len(x))
    for i in range(0, len(x), 1024):
        d = x[i:i + 1024, None, :] - mu[None]
        out[i:i + 1024] = np.einsum("nki,kij,nkj->nk", d, prec, d).min(axis=1)
    return out


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    t_start = time.perf_counter()
    a = FullCovMixture.edm2_tree("A")
    b = FullCovMixture.edm2_tree("B")
    ab = FullCovMixture.edm2_tree("AB")
    weak = a.broaden(cfg.weak_factor, cfg.weak_extra_std)
    comps = edm2_tree_components()
    level_a = comps["level"][comps["cls"] == 0]
    phi = comps["phi"]
    log_prior_a = float(np.log(phi[comps["cls"] == 0].sum() / phi.sum()))
    log_prior_b = float(np.log(phi[comps["cls"] == 1].sum() / phi.sum()))

    scores = {"exact": a.score, "cfg": CFG(a.score, ab.score, cfg.cfg_guidance - 1.0),
              "autoguidance": Autoguidance(a.score, weak.score, cfg.auto_guidance), "weak": weak.score}
    key = jax.random.key(cfg.seed)
    grid = edm_grid(cfg.sigma_max, cfg.sigma_min, cfg.steps, rho=cfg.rho)
    x_init = a.sample_noised(jax.random.fold_in(key, 0), cfg.n, cfg.sigma_max)  # the same noise for every run

    # Their outline regions: log p ≥ max over the plotting grid − level².
    gx, gy, pts = _grid_points(cfg.view, cfg.grid_resolution)
    lp_grid = {"A": _eval(_log_prob, a, pts, 0.0), "AB": _eval(_log_prob, ab, pts, 0.0)}
    thresholds = {k: float(v.max() - cfg.outline_level**2) for k, v in lp_grid.items()}

    def metrics(x: np.ndarray) -> dict:
        lpa, lpb, lpab = _eval(_log_prob, a, x, 0.0), _eval(_log_prob, b, x, 0.0), _eval(_log_prob, ab, x, 0.0)
        best = np.asarray(_best_component(a, jnp.asarray(x, a.means.dtype)))
        lev = level_a[best]
        return {"in_outline_A": float(np.mean(lpa >= thresholds["A"])),
                "in_outline_AB": float(np.mean(lpab >= thresholds["AB"])),
                "within_k_std": float(np.mean(_min_mahalanobis2(a, x) <= cfg.within_stds**2)),
                "mean_log_pA": float(np.mean(lpa)), "median_log_pA": float(np.median(lpa)),
                "class_accuracy": float(np.mean(lpa + log_prior_a > lpb + log_prior_b)),
                "mean_level": float(np.mean(lev)),
                "level_hist": np.bincount(lev, minlength=LEVELS).astype(np.float64) / len(lev),
                "mean_radius": float(np.mean(np.linalg.norm(x, axis=1))),
                "frac_nonfinite": float(np.mean(~np.all(np.isfinite(x), axis=1)))}

    samples, timings, per_run = {}, {}, {}
    data = np.asarray(a.sample(jax.random.fold_in(key, 1), cfg.n), np.float64)
    per_run["data"] = metrics(data)
    for name in progress(RUNS, desc="edm2 tree runs"):
        t0 = time.perf_counter()
        out = sample(scores[name], x_init, grid, key=jax.random.fold_in(key, 2), solver=OdeHeun())
        samples[name] = np.asarray(out.x, np.float64)
        timings[name] = time.perf_counter() - t0
        bad = float(np.mean(~np.all(np.isfinite(samples[name]), axis=1)))
        if bad > 0:  # accuracy and levels of NaN samples would read as numbers
            raise RunFailed(f"edm2_tree: {100 * bad:.0f} % of the {name} samples are non-finite (cfg_guidance "
                            f"{cfg.cfg_guidance:g}, auto_guidance {cfg.auto_guidance:g}: too strong for {cfg.steps} steps)")
        per_run[name] = metrics(samples[name])

    # Their second figure: a few well-spread starting points near a fork, short trajectories from σ = 0.03.
    zx = np.asarray(a.sample_noised(jax.random.fold_in(key, 3), cfg.zoom_n, cfg.zoom_sigma_max), np.float64)
    cx, cy, h = cfg.zoom_view
    inside = (np.abs(zx[:, 0] - cx) <= h) & (np.abs(zx[:, 1] - cy) <= h)
    cells = np.floor(zx / cfg.zoom_spacing).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    keep = np.zeros(len(zx), bool)
    keep[first] = True
    zx = zx[keep & inside]
    zgrid = edm_grid(cfg.zoom_sigma_max, cfg.sigma_min, cfg.steps, rho=cfg.rho)
    trajectories = {}
    for name in ("exact", "cfg", "autoguidance"):
        out = sample(scores[name], jnp.asarray(zx, a.means.dtype), zgrid, key=jax.random.fold_in(key, 4),
                     solver=OdeHeun(), observers={"x": Window(cfg.steps, "x")})
        trajectories[name] = np.concatenate([np.asarray(out.observations["x"]), np.asarray(out.x)[None]], 0)

    table = [{"run": k, **{m: v for m, v in r.items() if m != "level_hist"}} for k, r in per_run.items()]
    levels = rows(level=np.arange(LEVELS), **{k: r["level_hist"] for k, r in per_run.items()})
    ex, cf, au = per_run["exact"], per_run["cfg"], per_run["autoguidance"]
    metrics_out = {
        "settings": {"n": cfg.n, "steps": cfg.steps, "sigma_max": cfg.sigma_max, "sigma_min": cfg.sigma_min, "rho": cfg.rho,
                     "cfg_guidance_theirs": cfg.cfg_guidance, "cfg_w_ghostjax": cfg.cfg_guidance - 1.0,
                     "auto_guidance": cfg.auto_guidance, "weak_factor": cfg.weak_factor,
                     "weak_extra_std": cfg.weak_extra_std, "n_components": {"A": a.n_components, "AB": ab.n_components},
                     "data_std_AB": float(ab.data_std()), "outline_thresholds": thresholds},
        "runs": {k: {m: (v.tolist() if isinstance(v, np.ndarray) else v) for m, v in r.items()} for k, r in per_run.items()},
        "qualitative": {
            "cfg_pushes_to_tips": cf["mean_level"] > ex["mean_level"],
            "cfg_leaves_outline_more_than_exact": cf["in_outline_A"] < ex["in_outline_A"],
            "autoguidance_stays_in_outline": au["in_outline_A"] >= ex["in_outline_A"] - 0.005,
            "autoguidance_raises_log_density": au["mean_log_pA"] > ex["mean_log_pA"]},
        "seconds": {**{f"sample_{k}": v for k, v in timings.items()}, "total": time.perf_counter() - t_start},
        "definitions": {
            "in_outline_A": "fraction of samples with log p_A(x) ≥ max over the 400² plotting grid − outline_level² "
                            "(their orange region)",
            "within_k_std": "fraction within within_stds Mahalanobis stds of some class-A component",
            "class_accuracy": "fraction with exact P(A | x) > 1/2 at σ = 0",
            "mean_level": "mean branch level (0 trunk … 6 tips) of the most responsible class-A component"},
    }
    figures = _figures(cfg, gx, gy, lp_grid, thresholds, data, samples, zx, trajectories, a, weak)
    return Results(metrics_out, {"runs": table, "levels": levels}, figures)


# ---------------------------------------------------------------------------------- figures
def _contours(ax, gx, gy, values, levels, *, colors=None, cmap=None, alpha=1.0, linecolors="k", linealpha=1.0, lw=1.5):
    """Their contour style: levels on −√(max − v)."""
    v = -np.sqrt(np.maximum(values.max() - values, 0.0)).reshape(len(gy), len(gx))
    ax.contourf(gx, gy, v, levels=levels, extend="max", colors=colors, cmap=cmap, alpha=alpha)
    ax.contour(gx, gy, v, levels=levels, colors=linecolors, alpha=linealpha, linewidths=lw, linestyles="solid")


def _frame(ax, view, title):
    cx, cy, h = view
    ax.set_xlim(cx - h, cx + h)
    ax.set_ylim(cy - h, cy + h)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def _figures(cfg, gx, gy, lp_grid, thresholds, data, samples, zx, trajectories, a, weak) -> dict:
    lev = [-cfg.outline_level, 0]
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.8))
    titles = {"data": "exact draws of p_A", "exact": "exact score, no guidance\n(their 'Ground truth distribution')",
              "cfg": f"CFG, their w = {cfg.cfg_guidance:g}\n(exact s_A vs s_AB)",
              "autoguidance": f"autoguidance, w = {cfg.auto_guidance:g}\n(weak: Σ×{cfg.weak_factor:g}² + {cfg.weak_extra_std:g}² I)",
              "weak": "weak model alone"}
    for ax, (name, x) in zip(axes, [("data", data)] + list(samples.items())):
        _contours(ax, gx, gy, lp_grid["AB"], lev, colors=[[0.9, 0.9, 0.9]], linecolors=[[0.7, 0.7, 0.7]])
        _contours(ax, gx, gy, lp_grid["A"], lev, colors=[[1.0, 0.8, 0.6]], linecolors=[[0.8, 0.6, 0.5]])
        ax.plot(x[:, 0], x[:, 1], ".", color="k", alpha=0.25, markersize=2.0, markeredgecolor="none")
        _frame(ax, cfg.view, titles[name])
    fig.tight_layout()
    fig.subplots_adjust(top=0.86)
    figs = {"samples": fig}

    zgx, zgy, zpts = _grid_points(cfg.zoom_view, 200)
    lpa0 = _eval(_log_prob, a, zpts, 0.0)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.8))
    for ax, (name, tr) in zip(axes, trajectories.items()):
        _contours(ax, zgx, zgy, lpa0, np.linspace(-2.5, 3.07, 15)[1:-1], cmap="Oranges", linealpha=0.2, lw=0.8)
        for i in range(tr.shape[1]):
            ax.plot(tr[:, i, 0], tr[:, i, 1], "-", color="k", alpha=0.3, lw=1.5)
        ax.plot(tr[-1, :, 0], tr[-1, :, 1], ".", color="k", markersize=6)
        _frame(ax, cfg.zoom_view, f"trajectories from σ = {cfg.zoom_sigma_max:g}: {name}")
    fig.tight_layout()
    figs["trajectories"] = fig

    s = cfg.zoom_sigma_max
    lpa, lpw = _eval(_log_prob, a, zpts, s), _eval(_log_prob, weak, zpts, s)
    sa, sw = _eval(_score, a, zx, s), _eval(_score, weak, zx, s)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.8))
    for ax, vals, arrows, cmap, col, title in (
            (axes[0], lpa, sa, "Greens", "C2", f"p_A at σ = {s:g} (their 'PDF of main model')"),
            (axes[1], lpw, sw, "Reds", "C3", "weak model (their 'PDF of guiding model')"),
            (axes[2], lpa - lpw, sa - sw, "Blues", "C0", "ratio p_A / p_weak (their 'PDF ratio')")):
        _contours(ax, zgx, zgy, vals, np.linspace(-2.5, 2.5, 20)[1:-1], cmap=cmap, linealpha=0.2, lw=0.8)
        ax.quiver(zx[:, 0], zx[:, 1], arrows[:, 0], arrows[:, 1], color=col, angles="xy", scale_units="xy",
                  scale=1.0 / 0.002, width=4e-3)
        ax.plot(zx[:, 0], zx[:, 1], ".", color="k", markersize=5)
        _frame(ax, cfg.zoom_view, title)
    fig.tight_layout()
    figs["guiding_pdfs"] = fig
    return figs

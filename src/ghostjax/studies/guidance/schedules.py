"""Guidance schedules at equal class accuracy (Ventura et al. 2026; Pavasovic et al. 2025; Karras et
al. 2024): constant CFG, a negative-guidance window (early positive, late negative), the linear
schedule w(t) = w0 + ω t, power-law guidance and autoguidance, each scanned over its strength on
one class mixture, and compared where their class accuracy reaches the same target: which keeps the
within-class variance (and the class mean) closest to the true class?

Every family has one scanned strength (constant: w; window: w_early; linear: ω; power law: ω;
autoguidance: w) and fixed other parameters; accuracy rises with strength, and every metric is
interpolated linearly in strength at the target accuracy (None when the scan does not bracket it).
"""

from __future__ import annotations

from typing import Literal

import jax
import matplotlib.pyplot as plt
from pydantic import Field, model_validator

from ...config import Section
from ...guidance import (AbstractFamily, AutoguidanceFamily, ConstantCFG, LinearCFG, PowerLawFamily,
                        WindowCFG)
from .. import Results, no_progress
from .._common import require
from .claims import schedules as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)
from .common import Classes, Sampler, guided_runs, interpolate_at
from .meanfield import mean_field, schedule_on_grid

METRICS = ("overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr_ratio", "accuracy")


class Config(Section):
    study: Literal["guidance_schedules"] = "guidance_schedules"
    seed: int = 0
    targets: int = Field(2, ge=1)                          # classes 0 … targets−1, sampler.n // targets particles each
    sampler: Sampler = Sampler()
    classes: Classes = Classes()
    dim: int = Field(96, ge=2)
    beta: float = Field(0.05, gt=0, lt=0.5)                # M = max(2, round(e^{β d}))
    target_accuracy: float = Field(0.95, gt=0, lt=1)
    constant_ws: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)
    window_w_early: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 4.0, 8.0)
    window_w_late: tuple[float, ...] = (-0.5, -1.0)
    window_t_switch: tuple[float, ...] = (0.5, 1.0)
    linear_w0: float = -1.0
    linear_omegas: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)
    power_alphas: tuple[float, ...] = (-0.5, 0.5, 1.0)
    power_omegas: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    auto_factor: float = Field(2.0, gt=0)                  # weak model: class stds × auto_factor
    auto_ws: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)

    @model_validator(mode="after")
    def _rules(self):
        m = self.classes.count(self.dim, self.beta)
        require(m <= self.classes.max_classes, f"beta: M = {m} at dim {self.dim} exceeds classes.max_classes")
        require(self.targets <= m, f"targets: at most M = {m}")
        for name in ("constant_ws", "window_w_early", "linear_omegas", "power_omegas", "auto_ws"):
            v = getattr(self, name)
            require(len(v) >= 2 and all(b > a for a, b in zip(v, v[1:])), f"{name}: need at least 2 ascending values")
        require(all(w < 0 for w in self.window_w_late), "window_w_late: the late window must be negative")
        require(all(t > 0 for t in self.window_t_switch), "window_t_switch: must be positive OU times")
        require(all(a >= -1 for a in self.power_alphas), "power_alphas: need α ≥ −1")
        return self

    def scans(self) -> list[tuple[AbstractFamily, tuple[float, ...]]]:
        """Every scanned variant: (its guidance family with the fixed parameters, the strengths)."""
        out: list[tuple[AbstractFamily, tuple[float, ...]]] = [(ConstantCFG(), self.constant_ws)]
        out += [(WindowCFG(w_late=wl, t_switch=ts), self.window_w_early)
                for wl in self.window_w_late for ts in self.window_t_switch]
        out.append((LinearCFG(w0=self.linear_w0), self.linear_omegas))
        out += [(PowerLawFamily(alpha=a), self.power_omegas) for a in self.power_alphas]
        out.append((AutoguidanceFamily(factor=self.auto_factor), self.auto_ws))
        return out


def _variants(cfg: Config) -> list[tuple[str, str, dict, tuple[float, ...], object]]:
    """(family, label, fixed params, strengths, builder(gm, strength, class) -> score)."""
    return [(f.kind, f.label(), f.params(), ws, lambda gm, k, c, f=f: f.score(gm, c, k)) for f, ws in cfg.scans()]


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    key = jax.random.key(cfg.seed)
    m = cfg.classes.count(cfg.dim, cfg.beta)
    gm = cfg.classes.mixture(cfg.dim, key=jax.random.fold_in(key, 0), n_classes=m)
    grid = cfg.sampler.grid()
    variants = _variants(cfg)
    scan, at_target = [], []
    jobs = [(v, k) for v in variants for k in v[3]]
    done: dict[str, list[dict]] = {}
    for j, ((family, label, params, _, build), k) in enumerate(progress(jobs, desc="schedules")):
        r = guided_runs(lambda c, build=build, k=k: build(gm, k, c), gm, cfg.targets, cfg.sampler,
                        key=jax.random.fold_in(key, 1 + j))
        row = {"family": family, "variant": label, **{f"p_{n}": v for n, v in params.items()}, "strength": k,
               **{n: r[n] for n in METRICS}, **{n + "_spread": r[n + "_spread"] for n in ("overshoot", "var_par", "accuracy")}}
        scan.append(row)
        done.setdefault(label, []).append(row)
    families = {f.label(): f for f, _ in cfg.scans()}
    for family, label, params, strengths, _ in variants:
        rs = done[label]
        acc = [r["accuracy"] for r in rs]
        s_t = interpolate_at(cfg.target_accuracy, acc, strengths)
        entry = {"family": family, "variant": label, **params, "strength_at_target": s_t,
                 "accuracy_range": [min(acc), max(acc)]}
        for n in METRICS:
            entry[n] = None if s_t is None else interpolate_at(s_t, strengths, [r[n] for r in rs])
        sched = None if s_t is None else families[label].schedule(s_t)
        if sched is not None:  # the CFG families
            mf = mean_field(grid, sched, beta=cfg.beta, mean_std=cfg.classes.mean_std, std=cfg.classes.std,
                            solver=cfg.sampler.solver)
            entry["mean_field_overshoot"], entry["mean_field_var_ratio"] = mf["overshoot"], mf["var_ratio"]
            entry["mean_field_sigma_collapse"] = mf["sigma_collapse"]
        at_target.append(entry)
    const = next(e for e in at_target if isinstance(families[e["variant"]], ConstantCFG))
    comparison = {}
    for e in at_target:
        if e is const or e["var_par"] is None or const["var_par"] is None:
            continue
        comparison[e["variant"]] = {
            "var_par_minus_constant": e["var_par"] - const["var_par"],
            "var_perp_minus_constant": e["var_perp"] - const["var_perp"],
            "overshoot_minus_constant": e["overshoot"] - const["overshoot"],
            "restores_var_par_towards_1": abs(e["var_par"] - 1) < abs(const["var_par"] - 1)}
    windows = [e for e in at_target if isinstance(families[e["variant"]], WindowCFG) and e["var_par"] is not None]
    best_window = max(windows, key=lambda e: e["var_par"]) if windows else None
    floor = next((r for r in scan if r["variant"] == const["variant"] and r["strength"] == 0.0), None)
    metrics = {
        "dim": cfg.dim, "n_classes": m, "beta": cfg.beta, "target_accuracy": cfg.target_accuracy,
        "unguided": None if floor is None else {n: floor[n] for n in METRICS},
        "at_target": at_target,
        "vs_constant": comparison,
        "best_window": best_window,
        "definitions": {
            "at_target": "each metric interpolated linearly in the family's strength at the strength where the scanned "
                         "class accuracy first reaches target_accuracy",
            "restores_var_par_towards_1": "|ρ_∥ − 1| smaller than constant CFG's at the same accuracy"},
    }
    return Results(metrics, {"schedule_scan": scan, "schedule_at_target": at_target},
                   _figures(cfg, scan, at_target, grid, families))


def _figures(cfg: Config, scan, at_target, grid, families: dict[str, AbstractFamily]) -> dict:
    figs = {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    labels = list(dict.fromkeys(r["variant"] for r in scan))
    for ax, (n, yl) in zip(axes, (("var_par", "ρ_∥ (variance along u / true)"), ("var_perp", "ρ_⊥"),
                                  ("overshoot", "overshoot δμ_∥"))):
        for lab in labels:
            rs = [r for r in scan if r["variant"] == lab]
            ax.plot([r["accuracy"] for r in rs], [r[n] for r in rs], "o-" if "window" not in lab else "s--", ms=3,
                    lw=1.2, label=lab)
        ax.axvline(cfg.target_accuracy, color="k", ls=":", lw=1)
        if n != "overshoot":
            ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_xlabel("class accuracy")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=5.5)
    fig.suptitle(f"Accuracy–distortion frontier, d = {cfg.dim}, M = e^({cfg.beta:g} d) (dotted: target accuracy)",
                 fontsize=10)
    fig.tight_layout()
    figs["frontier"] = fig

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    s = grid[:-1]
    for e in at_target:
        k = e["strength_at_target"]
        sched = None if k is None else families[e["variant"]].schedule(k)
        if sched is None:
            continue
        ax.plot(s, schedule_on_grid(sched, s), label=f"{e['variant']} (strength {k:.2f})")
    ax.set_xscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("w(σ)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_title(f"Schedules at class accuracy {cfg.target_accuracy:g}", fontsize=9)
    if ax.get_legend_handles_labels()[1]:  # no variant reached the target: nothing to label
        ax.legend(fontsize=5.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs["schedules_at_target"] = fig
    return figs

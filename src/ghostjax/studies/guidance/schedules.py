"""Guidance schedules at equal class accuracy, in the separated-class regime of the distortion study:
standard non-negative schedules (constant CFG; guidance in a limited σ interval, Kynkäänniemi et
al. 2024; linear and cosine ramps growing along the reverse process) against the negative window
and w(t) = w0 + ω t of Ventura et al. 2026 (seed 004), with power-law guidance (Pavasovic et al.
2025) and autoguidance (Karras et al. 2024) alongside; and the (w0, ω) phase diagram of w0 + ω t,
where too negative a w0 for its ω loses the class (the mode collapse the seed warns of).

Every family has one scanned strength (constant, interval, ramps: w; window: w_early; linear: ω;
power law: ω; autoguidance: w) and fixed other parameters. Each setting runs on `draws` mixture
draws (common.draw_key); on each draw every metric is interpolated linearly in strength where that
draw's class accuracy first reaches `target_accuracy` (equal accuracy per draw), then reported as
the mean over draws with a Student-t 95 % interval (common.across_draws) and the per-draw values.
The w0 + ω t family is scanned on the whole (w0, ω) grid: each w0 row is one equal-accuracy variant.

Mode-collapse indicators of a guided sample towards class c (`mode_indicators`): 'off_target' = the
fraction of particles whose exact posterior argmax at σ = 0 is not c; 'top_wrong_share' = the largest
fraction captured by one other class; ρ_avg (var_avg) = the sample's total variance over the class's
(→ 0 when the sample collapses onto a point). A cell is `collapsed` when off_target > collapse_off
(the class is lost) or ρ_avg < collapse_var (the variance is).
"""

from __future__ import annotations

import time
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, model_validator

from ...config import Section
from ...guidance import AbstractFamily, AutoguidanceFamily, ConstantCFG, LinearCFG, PowerLawFamily, WindowCFG
from ...guidance_schedules import CosineCFG, IntervalCFG, RampCFG
from ...metrics.guidance import distortion_summary
from .. import Results, no_progress
from .._common import require
from .claims_schedules import schedules as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)
from .common import Classes, Sampler, across_draws, draw_key, finite, guided_samples, interpolate_at
from .meanfield import mean_field
from .schedules_figures import figures
from .theory import identifiability_beta, posterior_quantities

METRICS = ("overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr_ratio", "accuracy",
           "off_target", "top_wrong_share", "nonfinite")
STANDARD = ("constant", "interval", "ramp", "cosine")   # the non-negative schedules
NEGATIVE = ("window", "linear")                        # Ventura et al.'s


def _ascending(v) -> bool:
    return len(v) >= 2 and all(b > a for a, b in zip(v, v[1:]))


class Config(Section):
    study: Literal["guidance_schedules"] = "guidance_schedules"
    seed: int = 0
    targets: int = Field(2, ge=1)                          # classes 0 … targets−1, sampler.n // targets particles each
    draws: int = Field(4, ge=1)                            # mixture draws per setting
    sampler: Sampler = Sampler()
    classes: Classes = Classes()
    dim: int = Field(32, ge=2)
    beta: float = Field(0.1, gt=0, lt=1)                   # M = max(2, round(e^{β d}))
    target_accuracy: float = Field(0.99, gt=0, lt=1)
    constant_ws: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    interval_sigma: tuple[float, float] = (0.28, 5.42)     # Kynkäänniemi et al.'s band (σ_lo, σ_hi]
    interval_ws: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    ramp_ws: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    cosine_ws: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    window_w_early: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    window_w_late: tuple[float, ...] = (-1.0,)
    window_t_switch: tuple[float, ...] = (0.5,)
    phase_w0s: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0)   # w(t) = w0 + ω t, w0 ≥ −1
    phase_omegas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    power_alphas: tuple[float, ...] = (-0.5, 0.5)
    power_omegas: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0)
    auto_factor: float = Field(2.0, gt=0)                  # weak model: class stds × auto_factor
    auto_ws: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
    collapse_off: float = Field(0.5, gt=0, lt=1)           # class lost: off_target above this
    collapse_var: float = Field(0.5, gt=0, lt=1)           # variance lost: ρ_avg below this

    @model_validator(mode="after")
    def _rules(self):
        m = self.classes.count(self.dim, self.beta)
        require(m <= self.classes.max_classes, f"beta: M = {m} at dim {self.dim} exceeds classes.max_classes")
        require(self.targets <= m, f"targets: at most M = {m}")
        for name in ("constant_ws", "interval_ws", "ramp_ws", "cosine_ws", "window_w_early", "phase_omegas",
                     "power_omegas", "auto_ws"):
            require(_ascending(getattr(self, name)), f"{name}: need at least 2 ascending values")
        require(all(w >= 0 for w in self.constant_ws + self.interval_ws + self.ramp_ws + self.cosine_ws),
                "constant_ws: the standard schedules are non-negative (also interval_ws, ramp_ws, cosine_ws)")
        lo, hi = self.interval_sigma
        require(0 <= lo < hi, "interval_sigma: need 0 ≤ σ_lo < σ_hi")
        require(0.0 in self.constant_ws, "constant_ws: must include 0 (the unguided reference)")
        require(all(w < 0 for w in self.window_w_late), "window_w_late: the late window must be negative")
        require(all(t > 0 for t in self.window_t_switch), "window_t_switch: must be positive OU times")
        require(len(self.phase_w0s) >= 1 and all(w >= -1 for w in self.phase_w0s), "phase_w0s: need w0 ≥ −1")
        require(all(o > 0 for o in self.phase_omegas), "phase_omegas: need ω > 0")
        require(all(a >= -1 for a in self.power_alphas), "power_alphas: need α ≥ −1")
        return self

    def scans(self) -> list[tuple[AbstractFamily, tuple[float, ...]]]:
        """Every scanned variant: (its guidance family with the fixed parameters, the strengths); the
        w0 + ω t rows are the phase diagram's."""
        lo, hi = self.interval_sigma
        smax = self.sampler.sigma_max
        out: list[tuple[AbstractFamily, tuple[float, ...]]] = [
            (ConstantCFG(), self.constant_ws), (IntervalCFG(sigma_lo=lo, sigma_hi=hi), self.interval_ws),
            (RampCFG(sigma_max=smax), self.ramp_ws), (CosineCFG(sigma_max=smax), self.cosine_ws)]
        out += [(WindowCFG(w_late=wl, t_switch=ts), self.window_w_early)
                for wl in self.window_w_late for ts in self.window_t_switch]
        out += [(LinearCFG(w0=w0), self.phase_omegas) for w0 in self.phase_w0s]
        out += [(PowerLawFamily(alpha=a), self.power_omegas) for a in self.power_alphas]
        out.append((AutoguidanceFamily(factor=self.auto_factor), self.auto_ws))
        return out


def mode_indicators(pred, label: int, n_classes: int) -> dict:
    """Mode-collapse indicators from the predicted classes `pred` [N] (int) of a sample guided towards
    `label`: {'off_target': fraction not `label`, 'top_wrong_share': the largest fraction in one other
    class (0 when M = 1)}."""
    pred = np.asarray(pred).reshape(-1)
    if pred.size == 0:
        raise ValueError("pred: need at least one prediction")
    counts = np.bincount(pred, minlength=n_classes).astype(np.float64) / pred.size
    wrong = np.delete(counts, label)
    return {"off_target": float(1.0 - counts[label]), "top_wrong_share": float(wrong.max()) if wrong.size else 0.0}


@eqx.filter_jit
def _predict(gm, x):
    zero = jnp.zeros((), x.dtype)
    return jax.lax.map(lambda xi: jnp.argmax(gm.log_responsibilities(xi, zero)), x, batch_size=256)


def _cell(family: AbstractFamily, strength: float, gm, targets: int, smp: Sampler, *, key) -> dict:
    """`family` at `strength` towards classes 0 … targets−1 (smp.n // targets particles each, keys
    fold_in(key, c)): distortion_summary and mode_indicators over the finite particles, averaged over
    the targets; 'nonfinite' the fraction of non-finite particles."""
    each = smp.model_copy(update={"n": max(16, smp.n // targets)})
    per = []
    for c in range(targets):
        x = np.asarray(guided_samples(family.score(gm, c, strength), gm, each, key=jax.random.fold_in(key, c)).x)
        ok = np.isfinite(x).all(axis=-1)
        r = {"nonfinite": float(1 - ok.mean())}
        if ok.sum() >= 4:
            xs = jnp.asarray(x[ok])
            r |= distortion_summary(xs, gm, c)
            r |= mode_indicators(np.asarray(_predict(gm, xs)), c, gm.n_components)
        per.append(r)
    return {k: (None if any(r.get(k) is None for r in per) else float(np.mean([r[k] for r in per]))) for k in METRICS}


def _at_target(target: float, strengths, rows: list[dict]) -> dict:
    """One draw's scan interpolated at `target` accuracy: {'strength_at_target', metrics…} (None when
    the scan does not bracket it)."""
    acc = [np.nan if r["accuracy"] is None else r["accuracy"] for r in rows]
    s_t = interpolate_at(target, acc, strengths)
    out = {"strength_at_target": s_t}
    for k in METRICS:
        ys = [np.nan if r[k] is None else r[k] for r in rows]
        out[k] = None if s_t is None else finite(interpolate_at(s_t, strengths, ys))
    return out


def _summary(per_draw: list[dict], keys) -> dict:
    out = {}
    for k in keys:
        s = across_draws([r.get(k) for r in per_draw])
        out[k], out[k + "_ci"], out[k + "_draws"] = s["mean"], s["ci"], s["draws"]
    return out


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    key = jax.random.key(cfg.seed)
    c = cfg.classes.resolved()
    m = cfg.classes.count(cfg.dim, cfg.beta)
    grid = cfg.sampler.grid()
    scans = cfg.scans()
    raw: dict[int, list[list[dict]]] = {j: [] for j in range(len(scans))}  # variant -> draws -> rows over strength
    t0 = time.perf_counter()
    for k in progress(range(cfg.draws), desc="mixture draws"):
        gm = c.mixture(cfg.dim, key=draw_key(key, 0, k), n_classes=m)
        for j, (fam, ws) in enumerate(scans):
            raw[j].append([_cell(fam, w, gm, cfg.targets, cfg.sampler, key=draw_key(key, 1 + j, k, 1 + i))
                           for i, w in enumerate(ws)])
    seconds = time.perf_counter() - t0

    scan, at_target, phase = [], [], []
    keys = ("strength_at_target",) + METRICS
    for j, (fam, ws) in enumerate(scans):
        for i, w in enumerate(ws):
            row = {"family": fam.kind, "variant": fam.label(), **{f"p_{n}": v for n, v in fam.params().items()},
                   "strength": w, **_summary([d[i] for d in raw[j]], METRICS)}
            scan.append(row)
            if isinstance(fam, LinearCFG):
                row["collapsed"] = bool((row["off_target"] or 0) > cfg.collapse_off
                                        or (row["var_avg"] is not None and row["var_avg"] < cfg.collapse_var))
                phase.append({"w0": fam.w0, "omega": w, **{k: v for k, v in row.items() if k not in ("family", "variant")}})
        per = [_at_target(cfg.target_accuracy, ws, d) for d in raw[j]]
        e = {"family": fam.kind, "variant": fam.label(), **fam.params(), **_summary(per, keys),
             "reached": sum(p["strength_at_target"] is not None for p in per), "draws": cfg.draws,
             "accuracy_range": [min(r["accuracy"] for r in scan[-len(ws):] if r["accuracy"] is not None),
                                max(r["accuracy"] for r in scan[-len(ws):] if r["accuracy"] is not None)]}
        s_t = e["strength_at_target"]
        sched = None if s_t is None else fam.schedule(s_t)
        if sched is not None:  # the CFG families: the project's mean field at the mean tuned strength
            mf = mean_field(grid, sched, beta=float(np.log(m) / cfg.dim), mean_std=c.mean_std, std=c.std,
                            solver=cfg.sampler.solver)
            e["mean_field_overshoot"], e["mean_field_var_ratio"] = mf["overshoot"], mf["var_ratio"]
        at_target.append(e)

    by = {e["variant"]: e for e in at_target}
    const = by[ConstantCFG().label()]

    def ok(e):
        return e["var_par"] is not None

    comparison = {}  # paired over the draws: each draw's difference to constant CFG on the same mixture
    for e in at_target:
        if e is const or not ok(e) or not ok(const):
            continue
        row = {"family": e["family"]}
        for k in ("var_par", "var_perp", "overshoot"):
            d = across_draws([None if a is None or b is None else a - b
                              for a, b in zip(e[k + "_draws"], const[k + "_draws"])])
            row[k + "_minus_constant"], row[k + "_minus_constant_ci"], row[k + "_minus_constant_n"] = (
                d["mean"], d["ci"], d["n"])
        row["restores_var_par_towards_1"] = abs(e["var_par"] - 1) < abs(const["var_par"] - 1)
        comparison[e["variant"]] = row
    neg = [e for e in at_target if e["family"] in NEGATIVE and ok(e)]
    best_negative = min(neg, key=lambda e: abs(e["var_par"] - 1)) if neg else None
    floor = next(r for r in scan if r["family"] == "constant" and r["strength"] == 0.0)
    acc0 = float(posterior_quantities(0.0, cfg.dim, c.mean_std, c.std, n_classes=m)["accuracy"])
    metrics = {
        "dim": cfg.dim, "n_classes": m, "beta": cfg.beta, "target_accuracy": cfg.target_accuracy,
        "regime": {"mean_std": c.mean_std, "std": c.std, "accuracy_0_target": c.accuracy_0,
                   "accuracy_at": None if c.accuracy_at is None else list(c.accuracy_at),
                   "theory_accuracy_0": acc0, "beta_c": identifiability_beta(c.mean_std, c.std),
                   "draws": cfg.draws, "interval": "mean ± t_{0.975, n−1} · sd / √n over mixture draws"},
        "unguided": {n: floor[n] for n in METRICS} | {n + "_ci": floor[n + "_ci"] for n in METRICS},
        "at_target": at_target,
        "vs_constant": comparison,
        "best_negative": best_negative,
        "phase": phase,
        "seconds": seconds,
        "definitions": {
            "at_target": "on each mixture draw, every metric interpolated linearly in the family's strength where that "
                         "draw's class accuracy first reaches target_accuracy; then mean ± 95 % t-interval over the "
                         "draws that reach it ('reached' of 'draws'); '<metric>_draws' the per-draw values",
            "overshoot": "(mean(x) − μ_c)·u / ‖μ_c − μ̄‖, u the unit class-mean direction from the data mean μ̄",
            "var_par / var_perp / var_avg": "sample variance along u / over the D−1 orthogonal directions / over all D, "
                                            "over the true class variance",
            "off_target / top_wrong_share": "fraction of particles whose exact posterior argmax at σ = 0 is not the "
                                            "requested class / largest fraction in one other class",
            "collapsed": f"off_target > {cfg.collapse_off:g} (class lost) or var_avg < {cfg.collapse_var:g} "
                         "(variance collapsed)",
            "mean_field_*": "the project's own mean field (meanfield.py) at the mean tuned strength, β = ln M / d",
            "vs_constant": "per draw, the family's value minus constant CFG's on the same mixture (both at the target "
                           "accuracy), mean ± 95 % t-interval over the draws where both reach it",
            "restores_var_par_towards_1": "|ρ_∥ − 1| smaller than constant CFG's at the same accuracy"},
    }

    def flat(rs):
        return [{k: v for k, v in r.items() if not k.endswith("_draws")} for r in rs]

    return Results(metrics, {"schedule_scan": flat(scan), "schedule_at_target": flat(at_target),
                             "schedule_phase": flat(phase)}, figures(cfg, scan, at_target, phase, grid))

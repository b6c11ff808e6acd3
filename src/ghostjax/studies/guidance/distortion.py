"""CFG distortions on exact class-mixture scores (Ventura et al. 2026; Pavasovic et al. 2025):
how the overshoot of the class mean and the within-class variance of CFG samples depend on the
dimension d for a fixed number of classes M and for M = e^{βd}; the (β, w) phase diagram at one d;
the guided speciation noise level against the unguided one; and how large d must be for the
M = e^{βd} distortion to sit within a tolerance of its d → ∞ value.

Every run: classes N(μ_k, s² I), μ_k ~ N(0, m² I); CFG s(x|c) + w (s(x|c) − s(x)) towards class 0;
the [sampler] from N(0, σ_max² I); metrics of metrics.guidance against the true class. w = 0 is the
exact conditional sampler, so its row is the sampler's own discretisation floor.
"""

from __future__ import annotations

from typing import Literal

import jax
import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...guidance import Constant, cfg as cfg_score, t_of_sigma
from .. import Results, no_progress
from .._common import require, rows
from .claims import distortion as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)
from .common import Classes, Sampler, finite, guided_runs, heatmap
from .meanfield import collapse_v, mean_field

METRICS = ("overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr_ratio", "accuracy")
SPREAD = ("overshoot", "var_par", "accuracy")


class Config(Section):
    study: Literal["guidance_distortion"] = "guidance_distortion"
    seed: int = 0
    targets: int = Field(2, ge=1)                          # classes 0 … targets−1, sampler.n // targets particles each
    sampler: Sampler = Sampler()
    classes: Classes = Classes()
    fixed_classes: int = Field(5, ge=2)                    # M of the fixed-M ladder
    fixed_dims: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    beta: float = Field(0.025, gt=0, lt=0.5)               # M = max(2, round(e^{β d})) ladder
    exp_dims: tuple[int, ...] = (32, 64, 96, 128, 192, 256)
    ladder_ws: tuple[float, ...] = (0.0, 2.0)              # CFG weights on both ladders
    observe: bool = True                                   # class posterior along the ladders' trajectories
    phase_dim: int = Field(96, ge=2)
    phase_betas: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07)
    phase_ws: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    phase_n: int = Field(512, ge=16)
    conv_w: float = 2.0                                    # the w of the convergence check (in ladder_ws)
    tolerance: float = Field(0.05, gt=0)
    fit_min_dim: int = Field(64, ge=2)                     # the d → ∞ fit uses the ladder's d ≥ fit_min_dim
    fit_exponent: float = Field(1.0, ge=0)                 # y = y_∞ + a d^(−γ) with this γ (0: fitted too)
    mf_points: int = Field(41, ge=3)                       # mean-field (β, w) grid per axis

    @model_validator(mode="after")
    def _rules(self):
        c = self.classes
        for name, dims in (("fixed_dims", self.fixed_dims), ("exp_dims", self.exp_dims)):
            require(len(dims) >= 1 and all(d >= 2 for d in dims), f"{name}: need dimensions ≥ 2")
        require(sum(d >= self.fit_min_dim for d in self.exp_dims) >= 3,
                "exp_dims: need at least 3 dimensions ≥ fit_min_dim for the d → ∞ fit")
        require(self.fixed_classes <= c.max_classes, "fixed_classes: exceeds classes.max_classes")
        for d in self.exp_dims:
            require(c.count(d, self.beta) <= c.max_classes,
                    f"exp_dims: M = e^(β d) = {c.count(d, self.beta)} at d = {d} exceeds classes.max_classes")
        for b in self.phase_betas:
            require(0 < b < 0.5, "phase_betas: each β must lie in (0, 0.5)")
            require(c.count(self.phase_dim, b) <= c.max_classes,
                    f"phase_betas: M = {c.count(self.phase_dim, b)} at β = {b} exceeds classes.max_classes")
        for name, ws in (("ladder_ws", self.ladder_ws), ("phase_ws", self.phase_ws)):
            require(len(ws) >= 1 and all(w >= -1 for w in ws), f"{name}: need weights ≥ −1")
        require(self.conv_w in self.ladder_ws, "conv_w: must be one of ladder_ws")
        ms = [self.fixed_classes] + [c.count(d, self.beta) for d in self.exp_dims] + [
            c.count(self.phase_dim, b) for b in self.phase_betas]
        require(self.targets <= min(ms), f"targets: at most {min(ms)} (the smallest M)")
        return self


def _ladder(cfg: Config, *, key, progress) -> tuple[list[dict], dict]:
    out, post = [], {}
    cases = [("fixed", d, cfg.fixed_classes) for d in cfg.fixed_dims]
    cases += [("exp", d, cfg.classes.count(d, cfg.beta)) for d in cfg.exp_dims]
    runs = jax.random.fold_in(key, 0)  # the sampler keys, by position (mixture keys use 1000 d + m ≥ 1000)
    for i, (kind, d, m) in enumerate(progress(cases, desc="ladders")):
        gm = cfg.classes.mixture(d, key=jax.random.fold_in(key, 1000 * d + m), n_classes=m)
        for j, w in enumerate(cfg.ladder_ws):
            r = guided_runs(lambda c, w=w: cfg_score(gm, c, Constant(w)), gm, cfg.targets, cfg.sampler,
                            key=jax.random.fold_in(jax.random.fold_in(runs, i), j), observe=cfg.observe)
            if cfg.observe:
                post[(kind, d, w)] = (r.pop("sigmas"), r.pop("posterior"))
            out.append({"ladder": kind, "d": d, "M": m, "beta_eff": float(np.log(m) / d), "w": w,
                        **{k: r[k] for k in METRICS}, **{k + "_spread": r[k + "_spread"] for k in SPREAD},
                        "sigma_speciation": finite(r.get("sigma_speciation"))})
    return out, post


def _phase(cfg: Config, *, key, progress) -> list[dict]:
    out = []
    smp = cfg.sampler.model_copy(update={"n": cfg.phase_n})
    runs = jax.random.fold_in(key, 0)  # the sampler keys, by position (mixture keys use 50 000 + m)
    for i, b in enumerate(progress(cfg.phase_betas, desc="phase β")):
        m = cfg.classes.count(cfg.phase_dim, b)
        gm = cfg.classes.mixture(cfg.phase_dim, key=jax.random.fold_in(key, 50_000 + m), n_classes=m)
        for j, w in enumerate(cfg.phase_ws):
            r = guided_runs(lambda c, w=w: cfg_score(gm, c, Constant(w)), gm, cfg.targets, smp,
                            key=jax.random.fold_in(jax.random.fold_in(runs, i), j))
            out.append({"beta": b, "M": m, "w": w, **{k: r[k] for k in METRICS}, **{k + "_spread": r[k + "_spread"] for k in SPREAD}})
    return out


def _fit_limit(ds, ys, gamma: float = 0.0) -> tuple[float, float, float]:
    """Least-squares y = y_∞ + a d^(−γ) with the given γ, or (γ = 0) the best γ on a grid in
    [0.25, 3] (y_∞, a linear at each γ); returns (y_∞, a, γ)."""
    ds, ys = np.asarray(ds, np.float64), np.asarray(ys, np.float64)
    best = None
    for g in ([gamma] if gamma > 0 else np.linspace(0.25, 3.0, 111)):
        A = np.stack([np.ones(ds.size), ds ** (-g)], 1)
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        err = float(np.sum((A @ coef - ys) ** 2))
        if best is None or err < best[0]:
            best = (err, float(coef[0]), float(coef[1]), float(g))
    return best[1], best[2], best[3]


def _first_within(ds, rel, tol) -> int | None:
    """Smallest d from which every larger d on the ladder is within tol."""
    ok = np.asarray(rel) <= tol
    for i in range(len(ds)):
        if ok[i:].all():
            return int(ds[i])
    return None


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    key = jax.random.key(cfg.seed)
    grid = cfg.sampler.grid()
    c = cfg.classes
    ladder, post = _ladder(cfg, key=jax.random.fold_in(key, 1), progress=progress)
    phase = _phase(cfg, key=jax.random.fold_in(key, 2), progress=progress)

    def mf(beta, w):
        return mean_field(grid, Constant(w), beta=beta, mean_std=c.mean_std, std=c.std, solver=cfg.sampler.solver)

    floor = mf(0.0, 0.0)["var_ratio"]  # the sampler's variance ratio on the exact class (w = 0)
    # Mean field along both ladders (β_eff = ln M / d) and at the nominal β (the d → ∞ value).
    for r in ladder:
        m = mf(r["beta_eff"], r["w"])
        r["mf_overshoot"], r["mf_var_ratio"], r["mf_sigma_collapse"] = m["overshoot"], m["var_ratio"], m["sigma_collapse"]
    mf_inf = {w: mf(cfg.beta, w) for w in cfg.ladder_ws}

    # Convergence of the M = e^{βd} ladder at conv_w.
    conv_rows = [r for r in ladder if r["ladder"] == "exp" and r["w"] == cfg.conv_w]
    ds = np.array([r["d"] for r in conv_rows])
    fit_mask = ds >= cfg.fit_min_dim
    conv = {}
    for name, mf_key in (("overshoot", "overshoot"), ("var_par", None)):
        ys = np.array([r[name] for r in conv_rows])
        y_inf, a, gam = _fit_limit(ds[fit_mask], ys[fit_mask], cfg.fit_exponent)
        # overshoot: relative to itself; variance ratio: relative to the distortion ρ_∞ − ρ_floor
        scale = abs(y_inf) if name == "overshoot" else abs(y_inf - floor)
        rel_fit = [abs(y - y_inf) / scale for y in ys]
        ref = mf_inf[cfg.conv_w][mf_key] if mf_key else None
        rel_mf = None if ref is None else [abs(y - ref) / abs(ref) for y in ys]
        d_tol = (abs(a) / (cfg.tolerance * scale)) ** (1 / gam) if scale > 0 and a != 0 else None
        mf_slope = None
        if rel_mf is not None and fit_mask.sum() >= 2:
            mf_slope = float(np.polyfit(np.log(ds[fit_mask]), np.log(np.asarray(rel_mf)[fit_mask]), 1)[0])
        conv[name] = {"dims": ds.tolist(), "measured": ys.tolist(), "fit_dims": ds[fit_mask].tolist(),
                      "fit_limit": y_inf, "fit_coef": a, "fit_exponent": gam,
                      "rel_dev_from_fit_limit": rel_fit,
                      "first_d_within_tol_of_fit": _first_within(ds, rel_fit, cfg.tolerance),
                      "d_within_tol_of_fit_extrapolated": d_tol,
                      "mean_field_limit": ref, "rel_dev_from_mean_field": rel_mf,
                      "first_d_within_tol_of_mean_field": None if rel_mf is None else _first_within(ds, rel_mf, cfg.tolerance),
                      "rel_dev_from_mean_field_loglog_slope": mf_slope,
                      "d_within_tol_of_mean_field_extrapolated": (
                          None if mf_slope is None or mf_slope >= 0 else
                          float(ds[-1] * (cfg.tolerance / rel_mf[-1]) ** (1 / mf_slope)))}
    conv["definition"] = ("relative deviation |y(d) − y_∞| / |y_∞| for the overshoot; for ρ_∥ relative to the distortion "
                          "itself, |ρ(d) − ρ_∞| / |ρ_∞ − ρ_floor| (ρ_floor: the sampler's ratio for the exact class); y_∞ "
                          "from a least-squares fit y = y_∞ + a d^(−γ) (γ = fit_exponent) over the ladder's d ≥ fit_min_dim, or the mean-field "
                          "value (overshoot only); 'extrapolated' d: where the fitted correction, or the power law of the "
                          "deviation from the mean field, reaches the tolerance")

    # Decay of the fixed-M distortion: power law over the upper half of the ladder.
    fixed = [r for r in ladder if r["ladder"] == "fixed" and r["w"] == cfg.conv_w]
    half = fixed[len(fixed) // 2:]
    ov = np.array([max(r["overshoot"], 1e-6) for r in half])
    slope = float(np.polyfit(np.log([r["d"] for r in half]), np.log(ov), 1)[0]) if len(half) >= 2 else None

    # Mean-field phase diagram on a fine (β, w) grid.
    betas = np.linspace(0.0025, max(cfg.phase_betas) * 1.2, cfg.mf_points)
    ws = np.linspace(0.0, max(cfg.phase_ws), cfg.mf_points)
    mf_grid = []
    for b in betas:
        for w in ws:
            m = mf(b, w)
            mf_grid.append({"beta": float(b), "w": float(w), "overshoot": m["overshoot"], "var_ratio": m["var_ratio"],
                            "collapsed": m["sigma_collapse"] is not None})
    w_c = []
    for b in betas:  # smallest w on the grid at which the guided mean-field particle collapses onto c
        col = [g["w"] for g in mf_grid if g["beta"] == float(b) and g["collapsed"]]
        w_c.append(min(col) if col else None)

    sigma_spec = {}
    for r in ladder:
        sigma_spec.setdefault(f"{r['ladder']} d={r['d']}", {})[f"w={r['w']:g}"] = r["sigma_speciation"]
    metrics = {
        "definitions": {
            "overshoot": "(mean(x) − μ_c)·u / ‖μ_c − μ̄‖, u the unit class-mean direction from the data mean μ̄",
            "var_par / var_perp / var_avg": "sample variance along u / mean over the D−1 orthogonal directions / mean "
                                            "over all D, divided by the true class variance",
            "pr_ratio": "debiased participation ratio of the sample covariance over the class's (D)",
            "accuracy": "fraction whose exact posterior argmax at σ = 0 is the requested class",
            "sigma_speciation": "largest σ at which the particle mean of P(c | x_σ) crosses ½ along the trajectory",
            "sampler_floor_var_ratio": "variance ratio the sampler gives the exact class score (w = 0), mean field"},
        "sampler_floor_var_ratio": floor,
        "ladder": ladder,
        "fixed_M_overshoot_loglog_slope": slope,
        "mean_field_limit": {f"w={w:g}": {"overshoot": v["overshoot"], "var_ratio": v["var_ratio"],
                                         "sigma_collapse": v["sigma_collapse"]} for w, v in mf_inf.items()},
        "unguided_collapse_sigma_mean_field": finite(np.sqrt(max(collapse_v(cfg.beta, c.mean_std) - c.std**2, 0.0))),
        "identifiability_beta": c.mean_std**2 / (2 * (c.mean_std**2 + c.std**2)),
        "convergence": conv,
        "phase": phase,
        "phase_mean_field_w_collapse": {"betas": betas.tolist(), "w_c": w_c},
        "speciation": sigma_spec,
    }
    figs = _figures(cfg, ladder, phase, post, conv, mf_inf, floor, betas, w_c)
    curves = {"guidance_ladder": ladder, "guidance_phase": phase, "guidance_meanfield": mf_grid}
    if post:
        curves["guidance_posterior"] = [row for (kind, d, w), (s, p) in post.items()
                                        for row in rows(ladder=[kind] * len(s), d=[d] * len(s), w=[w] * len(s),
                                                        sigma=s, t=np.asarray(t_of_sigma(s)), posterior=p)]
    return Results(metrics, curves, figs)


def _figures(cfg, ladder, phase, post, conv, mf_inf, floor, betas, w_c) -> dict:
    figs = {}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (name, label) in zip(axes, (("overshoot", "overshoot δμ_∥"), ("var_par", "ρ_∥ (along u)"),
                                        ("var_perp", "ρ_⊥ (orthogonal)"))):
        for kind, style in (("fixed", "o-"), ("exp", "s-")):
            for w in cfg.ladder_ws:
                if w == 0 and name == "overshoot":
                    continue
                rs = [r for r in ladder if r["ladder"] == kind and r["w"] == w]
                lab = f"M = {cfg.fixed_classes}" if kind == "fixed" else f"M = e^({cfg.beta:g} d)"
                ax.plot([r["d"] for r in rs], [r[name] for r in rs], style, ms=4, label=f"{lab}, w = {w:g}")
                if name != "var_par" and w != 0:
                    key = "mf_overshoot" if name == "overshoot" else "mf_var_ratio"
                    ax.plot([r["d"] for r in rs], [r[key] for r in rs], ":", color=ax.lines[-1].get_color(), lw=1)
        if name != "var_par":
            ref = mf_inf[cfg.conv_w]["overshoot" if name == "overshoot" else "var_ratio"]
            ax.axhline(ref, color="k", ls="--", lw=1, label=f"mean field d → ∞, β = {cfg.beta:g}, w = {cfg.conv_w:g}")
        if name != "overshoot":
            ax.axhline(floor, color="0.5", ls="-.", lw=1, label="sampler floor (w = 0, exact class)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("CFG distortion vs dimension (dotted: mean field at the same M)", fontsize=10)
    fig.tight_layout()
    figs["distortion_vs_dim"] = fig

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    bs, ws = list(cfg.phase_betas), list(cfg.phase_ws)
    for ax, (name, title) in zip(axes, (("overshoot", "overshoot δμ_∥"), ("var_par", "ρ_∥"), ("accuracy", "class accuracy"))):
        z = np.array([[next(r[name] for r in phase if r["beta"] == b and r["w"] == w) for w in ws] for b in bs])
        heatmap(ax, ws, bs, z, xlabel="w", ylabel="β", title=f"{title}, d = {cfg.phase_dim}, M = e^(β d)")
    fig.tight_layout()
    figs["phase_diagram"] = fig

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    wc = np.array([np.nan if v is None else v for v in w_c], np.float64)
    ax.plot(betas, wc, "k-", label="mean field: smallest w whose guided particle collapses onto c")
    ax.axvline(cfg.classes.mean_std**2 / (2 * (cfg.classes.mean_std**2 + cfg.classes.std**2)), color="tab:red", ls="--",
               label="β_id: unguided classes separable at σ = 0 below")
    acc = {(r["beta"], r["w"]): r["accuracy"] for r in phase}
    sc = ax.scatter([b for b, _ in acc], [w for _, w in acc], c=list(acc.values()), cmap="viridis", vmin=0, vmax=1,
                    s=40, label=f"measured accuracy, d = {cfg.phase_dim}")
    plt.colorbar(sc, ax=ax)
    ax.set_xlabel("β")
    ax.set_ylabel("w")
    ax.legend(fontsize=6)
    ax.set_title("Mean-field collapse line and measured accuracy", fontsize=9)
    fig.tight_layout()
    figs["phase_mean_field"] = fig

    c = conv["overshoot"]
    series = {"|δμ(d) − δμ_∞(fit)| / δμ_∞": (c["dims"], c["rel_dev_from_fit_limit"])}
    if c["rel_dev_from_mean_field"] is not None:
        series["|δμ(d) − δμ_∞(mean field)| / δμ_∞"] = (c["dims"], c["rel_dev_from_mean_field"])
    v = conv["var_par"]
    series["|ρ_∥(d) − ρ_∥,∞(fit)| / |ρ_∥,∞ − floor|"] = (v["dims"], v["rel_dev_from_fit_limit"])
    figs["convergence"] = plots.curves(series, xlabel="d", ylabel="relative deviation", band=False, logy=True,
                                       hlines=(), title=f"Finite-d convergence, M = e^({cfg.beta:g} d), w = {cfg.conv_w:g} "
                                                        f"(dotted: {cfg.tolerance:.0%})")
    figs["convergence"].axes[0].axhline(cfg.tolerance, color="k", ls=":", lw=1)

    if post:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for (kind, d, w), (s, p) in post.items():
            if kind == "exp":
                ax.plot(s, p, "-" if w == 0 else "--", label=f"d = {d}, w = {w:g}")
        ax.axhline(0.5, color="k", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("σ")
        ax.set_ylabel("mean P(c | x_σ) along the trajectory")
        ax.set_title(f"Speciation, M = e^({cfg.beta:g} d)", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs["speciation"] = fig
    return figs

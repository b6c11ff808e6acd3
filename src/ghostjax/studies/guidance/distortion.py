"""CFG distortions on exact class-mixture scores (Ventura et al. 2026; Pavasovic et al. 2025) in a
regime of separated classes: how the overshoot of the class mean and the within-class variance of
CFG samples depend on d for class-count laws M(d) (fixed, ∝ d, e^{βd}); the (β, w) phase diagram at
one d with β swept across the identifiability threshold β_c of theory.py; the class posterior along
the unguided (w = 0) trajectories beside the Biroli et al. 2024 prediction; and which theory (the
d → ∞ REM law of theory.py or this repository's mean field) the e^{βd} ladder approaches.

Every setting (law, d) or (β, d) is run on `draws` independent mixture draws (classes N(μ_k, s² I),
μ_k ~ N(0, m² I); keys common.draw_key), each metric reported as the mean over draws with a Student-t
95 % interval (common.across_draws) and the per-draw values. CFG s(x|c) + w (s(x|c) − s(x)) towards
classes 0 … targets−1; the [sampler] from N(0, σ_max² I); metrics of metrics.guidance against the
true class. w = 0 is the exact conditional sampler, so its row is the sampler's discretisation floor.
Figures: distortion_figures.py. Resumable cell by cell (`python -m ghostjax.analyze ... --resume`):
each (setting, draw, w) guided run is a cell of the run directory's runio.Workspace (see `run`).
"""

from __future__ import annotations

import time
from typing import Literal

import jax
import numpy as np
from pydantic import Field, model_validator

from ...config import Section
from ...guidance import Constant, cfg as cfg_score, t_of_sigma
from .. import Results, no_progress
from .._common import require, rows
from .claims import distortion as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)
from .common import Classes, ExponentialM, FixedM, Law, ProportionalM, Sampler, across_draws, draw_key, finite, guided_runs
from .distortion_figures import figures
from .meanfield import collapse_v, mean_field
from .theory import collapse, half_crossing, identifiability_beta, posterior_quantities, theory_curves

METRICS = ("overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr_ratio", "accuracy",
           "sigma_speciation")
THEORY_SIGMAS = 20  # σ points of the theory p_true curve (geometric, sampler range)


class Config(Section):
    study: Literal["guidance_distortion"] = "guidance_distortion"
    seed: int = 0
    targets: int = Field(2, ge=1)                          # classes 0 … targets−1, sampler.n // targets particles each
    draws: int = Field(4, ge=1)                            # mixture draws per setting
    sampler: Sampler = Sampler()
    classes: Classes = Classes()
    laws: tuple[Law, ...] = (FixedM(), ProportionalM(), ExponentialM())
    ladder_ws: tuple[float, ...] = (0.0, 2.0)              # CFG weights on every ladder
    observe: bool = True                                   # class posterior along the ladders' trajectories
    phase_dim: int = Field(32, ge=2)
    phase_beta_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.25)  # β / β_c (theory.identifiability_beta)
    phase_ws: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)
    phase_n: int = Field(512, ge=16)
    conv_w: float = 2.0                                    # the w of the convergence check (in ladder_ws)
    tolerance: float = Field(0.05, gt=0)
    fit_min_dim: int = Field(64, ge=2)                     # the d → ∞ fit uses the e^{βd} ladder's d ≥ fit_min_dim
    fit_exponent: float = Field(1.0, ge=0)                 # y = y_∞ + a d^(−γ) with this γ (0: fitted too)
    mf_points: int = Field(41, ge=3)                       # mean-field (β, w) grid per axis

    @model_validator(mode="after")
    def _rules(self):
        c = self.classes
        kinds = [law.kind for law in self.laws]
        require(len(set(kinds)) == len(kinds), "laws: at most one law of each kind")
        require("exponential" in kinds, "laws: need an exponential law (the convergence check uses it)")
        for law in self.laws:
            require(len(law.dims) >= 1 and all(d >= 2 for d in law.dims), f"laws: {law.kind}: need dimensions ≥ 2")
            for d in law.dims:
                require(law.count(d) <= c.max_classes,
                        f"laws: {law.kind}: M = {law.count(d)} at d = {d} exceeds classes.max_classes")
        require(sum(d >= self.fit_min_dim for d in self.law("exponential").dims) >= 2,
                "laws: the exponential law needs at least 2 dimensions ≥ fit_min_dim for the d → ∞ fit")
        require(all(r > 0 for r in self.phase_beta_ratios), "phase_beta_ratios: each β/β_c must be > 0")
        for name, ws in (("ladder_ws", self.ladder_ws), ("phase_ws", self.phase_ws)):
            require(len(ws) >= 1 and all(w >= -1 for w in ws), f"{name}: need weights ≥ −1")
        require(self.conv_w in self.ladder_ws, "conv_w: must be one of ladder_ws")
        require(0.0 in self.ladder_ws, "ladder_ws: must include 0 (the unguided posterior and speciation)")
        ms = self.phase_counts()
        require(max(ms) <= c.max_classes, f"phase_beta_ratios: M = {max(ms)} at d = {self.phase_dim} exceeds "
                                          "classes.max_classes")
        ms += [law.count(d) for law in self.laws for d in law.dims]
        require(self.targets <= min(ms), f"targets: at most {min(ms)} (the smallest M)")
        return self

    def law(self, kind: str):
        return next(law for law in self.laws if law.kind == kind)

    def phase_betas(self) -> list[float]:
        """The phase diagram's β = ratio · β_c (β_c of the resolved mean scale)."""
        c = self.classes.resolved()
        bc = identifiability_beta(c.mean_std, c.std)
        return [r * bc for r in self.phase_beta_ratios]

    def phase_counts(self) -> list[int]:
        return [max(2, int(round(np.exp(b * self.phase_dim)))) for b in self.phase_betas()]


_Stopped = type("_Stopped", (Exception,), {})  # raised once resume.stop_after cells are finished (args: how many)


class _Cells:
    """The cells (one guided_runs call each) through a runio.Workspace `ws` (None: nothing written): a
    finished cell is read back, a new one saved as it ends; both go through _pack's JSON form, so a
    resumed run's metrics are bitwise an uninterrupted run's. `total`: the number of cells."""

    def __init__(self, ws, total: int):
        self.ws, self.total, self.done = ws, total, 0

    def __call__(self, name: str, compute) -> dict:
        saved = None if self.ws is None else self.ws.finished(name)
        if saved is None:
            t0 = time.perf_counter()
            res = compute()
            saved = _pack({**res, "cell_seconds": time.perf_counter() - t0})
            if self.ws is not None:
                self.ws.finish(name, saved)
        self.done += 1
        stop = None if self.ws is None else self.ws.stop_after
        if stop is not None and stop <= self.done < self.total:
            raise _Stopped(self.done)
        return _unpack(saved)


def _pack(v):
    """A cell result as plain JSON: arrays as {"dtype", "shape", "values"}, non-finite floats as the
    strings 'nan' / 'inf' / '-inf'; _unpack restores it exactly."""
    if isinstance(v, dict):
        return {str(k): _pack(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_pack(x) for x in v]
    if hasattr(v, "shape") and np.ndim(v) > 0:
        a = np.asarray(v)
        return {"dtype": a.dtype.str, "shape": list(a.shape), "values": [_pack(x) for x in a.reshape(-1).tolist()]}
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return v.item() if hasattr(v, "item") else v
    if isinstance(v, (float, np.floating)) or hasattr(v, "shape"):
        return float(v) if np.isfinite(v) else str(float(v))
    return v


def _unpack(v):
    if isinstance(v, dict):
        if set(v) == {"dtype", "shape", "values"}:
            return np.array([_unpack(x) for x in v["values"]], dtype=v["dtype"]).reshape(v["shape"])
        return {k: _unpack(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unpack(x) for x in v]
    return float(v) if v in ("nan", "inf", "-inf") else v


def _runs(cfg: Config, classes: Classes, d: int, m: int, ws, smp: Sampler, *, key, setting: int, observe: bool,
          cells: _Cells | None = None, name: str = ""):
    """Every w of `ws` on `cfg.draws` mixture draws of (d, M = m), each (draw, w) the cell
    '<name>_draw<k>_w<j>' of `cells`: {w: [per-draw guided_runs dicts, with 'cell_seconds']}."""
    out, cells = {w: [] for w in ws}, cells or _Cells(None, 0)
    for k in range(cfg.draws):
        gm = []  # drawn once per draw, only if one of its cells is computed
        def mixture(k=k, gm=gm):  # noqa: E306
            gm[:] = gm or [classes.mixture(d, key=draw_key(key, setting, k), n_classes=m)]
            return gm[0]
        for j, w in enumerate(ws):
            out[w].append(cells(f"{name}_draw{k}_w{j}", lambda k=k, j=j, w=w: guided_runs(
                lambda c: cfg_score(mixture(), c, Constant(w)), mixture(), cfg.targets, smp,
                key=draw_key(key, setting, k, 1 + j), observe=observe)))
    return out


def _summary(per_draw: list[dict]) -> dict:
    out = {}
    for k in METRICS:
        s = across_draws([r.get(k) for r in per_draw])
        out[k], out[k + "_ci"], out[k + "_draws"] = s["mean"], s["ci"], s["draws"]
    return out


def _theory_sigmas(smp: Sampler) -> np.ndarray:
    return np.concatenate([[0.0], np.geomspace(max(smp.sigma_min, 0.05), min(smp.sigma_max, 50.0), THEORY_SIGMAS)])


def _refined(th: dict, d: int, m: int, classes: Classes, points: int = 9) -> dict:
    """theory_curves' σ_½ re-read on `points` σ inside the coarse grid's bracketing interval (the
    coarse grid's linear interpolation of the sigmoid is biased by a few %)."""
    s, p, level = th["sigma"], th["p_true"], 0.5 * (1 + 1 / m)
    for i in range(len(s) - 1):
        if (p[i] - level) * (p[i + 1] - level) <= 0 and p[i] != p[i + 1]:
            fine = np.linspace(s[i], s[i + 1], points)
            pf = posterior_quantities(fine, d, classes.mean_std, classes.std, n_classes=m)["p_true"]
            return {**th, "sigma_half": half_crossing(fine, pf, level)}
    return th


def _ladder(cfg, classes, *, key, progress, cells=None):
    out, post, theory, cost = [], {}, {}, []
    cases = [(law, d) for law in cfg.laws for d in law.dims]
    sig_th = _theory_sigmas(cfg.sampler)
    for i, (law, d) in enumerate(progress(cases, desc="ladders")):
        m = law.count(d)
        res = _runs(cfg, classes, d, m, cfg.ladder_ws, cfg.sampler, key=key, setting=i, observe=cfg.observe,
                    cells=cells, name=f"ladder{i:02d}_{law.kind}_d{d}")
        cost.append({"law": law.kind, "d": d, "M": m, "runs": cfg.draws * len(cfg.ladder_ws),
                     "seconds": _seconds(res)})
        th = _refined(theory_curves(sig_th, dim=d, mean_std=classes.mean_std, std=classes.std, n_classes=m),
                      d, m, classes)
        theory[(law.kind, d)] = th
        for w, per in res.items():
            if cfg.observe:
                post[(law.kind, d, w)] = (per[0]["sigmas"], np.mean([r["posterior"] for r in per], axis=0))
            out.append({"ladder": law.kind, "law": law.label(), "d": d, "M": m, "beta_eff": float(np.log(m) / d),
                        "w": w, **_summary(per),
                        "theory_sigma_C": finite(th["sigma_C"]), "theory_sigma_half": finite(th["sigma_half"]),
                        "theory_accuracy_0": th["accuracy_0"]})
    return out, post, theory, cost


def _seconds(res: dict) -> float:  # the compute time of a setting's cells, measured when each was computed
    return float(sum(r["cell_seconds"] for per in res.values() for r in per))


def _phase(cfg, classes, *, key, progress, cells=None):
    out, cost = [], []
    smp = cfg.sampler.model_copy(update={"n": cfg.phase_n})
    d = cfg.phase_dim
    for i, (r, b, m) in enumerate(progress(list(zip(cfg.phase_beta_ratios, cfg.phase_betas(), cfg.phase_counts())),
                                           desc="phase β")):
        res = _runs(cfg, classes, d, m, cfg.phase_ws, smp, key=key, setting=i, observe=False, cells=cells,
                    name=f"phase{i:02d}")
        cost.append({"beta_ratio": r, "d": d, "M": m, "runs": cfg.draws * len(cfg.phase_ws),
                     "seconds": _seconds(res)})
        acc0 = float(posterior_quantities(0.0, d, classes.mean_std, classes.std, n_classes=m)["accuracy"])
        for w, per in res.items():
            out.append({"beta_ratio": r, "beta": b, "M": m, "w": w, **_summary(per), "theory_accuracy_0": acc0})
    return out, cost


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


def _rel(xs, ref):
    return [None if x is None or ref is None or not ref else abs(x - ref) / abs(ref) for x in xs]


def _convergence(cfg, classes, ladder, mf_inf, floor) -> dict:
    """The e^{βd} ladder against its d → ∞ values: the overshoot (fit; mean field, the only theory of it
    here) and the unguided speciation σ (theory.py's REM collapse σ_C vs the mean field's collapse σ)."""
    law = cfg.law("exponential")
    rs = sorted((r for r in ladder if r["ladder"] == "exponential" and r["w"] == cfg.conv_w), key=lambda r: r["d"])
    r0 = {r["d"]: r for r in ladder if r["ladder"] == "exponential" and r["w"] == 0.0}
    ds = np.array([r["d"] for r in rs])
    mask = ds >= cfg.fit_min_dim
    conv = {}
    for name in ("overshoot", "var_par"):
        ys = np.array([r[name] for r in rs])
        y_inf, a, gam = _fit_limit(ds[mask], ys[mask], cfg.fit_exponent)
        scale = abs(y_inf) if name == "overshoot" else abs(y_inf - floor)
        ref = mf_inf[cfg.conv_w]["overshoot"] if name == "overshoot" else None
        conv[name] = {"dims": ds.tolist(), "measured": ys.tolist(), "ci": [r[name + "_ci"] for r in rs],
                      "fit_dims": ds[mask].tolist(), "fit_limit": y_inf, "fit_coef": a, "fit_exponent": gam,
                      "rel_dev_from_fit_limit": [abs(y - y_inf) / scale if scale else None for y in ys],
                      "mean_field_limit": ref, "rel_dev_from_mean_field": None if ref is None else _rel(ys, ref)}
    s_meas = [r0[d]["sigma_speciation"] for d in ds]
    rem = collapse(law.beta, classes.mean_std, classes.std)["sigma_C"]
    mf_s = finite(np.sqrt(max(collapse_v(law.beta, classes.mean_std) - classes.std**2, 0.0)))
    dev_rem, dev_mf = _rel(s_meas, rem), _rel(s_meas, mf_s)
    last = [(a, b) for a, b in zip(dev_rem, dev_mf) if a is not None and b is not None]
    ci_last = r0[ds[-1]]["sigma_speciation_ci"] if len(ds) else None
    conv["speciation"] = {
        "dims": ds.tolist(), "measured_w0": s_meas, "ci": [r0[d]["sigma_speciation_ci"] for d in ds],
        "finite_d_theory": [r0[d]["theory_sigma_half"] for d in ds],
        "rem_sigma_C_d_inf": rem, "mean_field_sigma_c": mf_s,
        "rel_dev_from_rem": dev_rem, "rel_dev_from_mean_field": dev_mf,
        "closer_at_largest_d": None if not last else ("theory.py d → ∞ law (REM)" if last[-1][0] <= last[-1][1]
                                                      else "mean field (project's own)"),
        "distinguishable_at_largest_d": None if ci_last is None or rem is None or mf_s is None else bool(
            abs(rem - mf_s) > ci_last),
        "guided_measured": [r["sigma_speciation"] for r in rs],
        "mean_field_guided_collapse": mf_inf[cfg.conv_w]["sigma_collapse"]}
    conv["definition"] = ("relative deviation |y(d) − y_∞| / |y_∞| (overshoot; for ρ_∥ relative to the distortion, "
                          "|ρ(d) − ρ_∞| / |ρ_∞ − ρ_floor|); y_∞ from a least-squares fit y = y_∞ + a d^(−γ) over the "
                          "ladder's d ≥ fit_min_dim, or the mean-field value (the only overshoot theory here). Unguided "
                          "speciation σ (mean over draws) against theory.py's d → ∞ REM collapse σ_C at the law's β "
                          "and the mean field's unguided collapse σ (project's own)")
    return conv


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    """The study (studies/base.py). resume: a runio.Workspace, or None (nothing is written). With a
    Workspace each cell (one guided_runs call: ladder or phase setting, mixture draw, w) is saved as
    cells/<cell>/result.json as soon as it ends; with `resume.resume` finished cells are read back,
    not recomputed (bitwise the metrics of an uninterrupted run); once `resume.stop_after` cells are
    finished (read back or computed) the run stops with Results(stopped_at=that count)."""
    key = jax.random.key(cfg.seed)
    grid = cfg.sampler.grid()
    c = cfg.classes.resolved()
    total = cfg.draws * (sum(len(law.dims) for law in cfg.laws) * len(cfg.ladder_ws)
                         + len(cfg.phase_beta_ratios) * len(cfg.phase_ws))
    cells = _Cells(resume, total)
    try:
        ladder, post, theory, cost_l = _ladder(cfg, c, key=jax.random.fold_in(key, 1), progress=progress, cells=cells)
        phase, cost_p = _phase(cfg, c, key=jax.random.fold_in(key, 2), progress=progress, cells=cells)
    except _Stopped as e:
        return Results({}, stopped_at=e.args[0])

    def mf(beta, w):
        return mean_field(grid, Constant(w), beta=beta, mean_std=c.mean_std, std=c.std, solver=cfg.sampler.solver)

    floor = mf(0.0, 0.0)["var_ratio"]  # the sampler's variance ratio on the exact class (w = 0)
    for r in ladder:  # mean field along every ladder at β_eff = ln M / d
        m = mf(r["beta_eff"], r["w"])
        r["mf_overshoot"], r["mf_var_ratio"], r["mf_sigma_collapse"] = m["overshoot"], m["var_ratio"], m["sigma_collapse"]
    beta = cfg.law("exponential").beta
    mf_inf = {w: mf(beta, w) for w in cfg.ladder_ws}
    conv = _convergence(cfg, c, ladder, mf_inf, floor)

    slope = None  # decay of the fixed-M overshoot: power law over the upper half of its ladder
    fixed = [r for r in ladder if r["ladder"] == "fixed" and r["w"] == cfg.conv_w]
    half = fixed[len(fixed) // 2:]
    if len(half) >= 2:
        ov = np.array([max(r["overshoot"], 1e-6) for r in half])
        slope = float(np.polyfit(np.log([r["d"] for r in half]), np.log(ov), 1)[0])

    betas = np.linspace(0.0025, max(cfg.phase_betas()) * 1.2, cfg.mf_points)  # mean-field (β, w) grid
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

    th_rows = {f"{k} d={d}": {"sigma_C": finite(t["sigma_C"]), "sigma_half": finite(t["sigma_half"]),
                              "sigma_S": finite(t["sigma_S"]), "accuracy_0": t["accuracy_0"], "beta": t["beta"],
                              "n_classes": t["n_classes"]} for (k, d), t in theory.items()}
    metrics = {
        "definitions": {
            "overshoot": "(mean(x) − μ_c)·u / ‖μ_c − μ̄‖, u the unit class-mean direction from the data mean μ̄",
            "var_par / var_perp / var_avg": "sample variance along u / mean over the D−1 orthogonal directions / mean "
                                            "over all D, divided by the true class variance",
            "pr_ratio": "debiased participation ratio of the sample covariance over the class's (D)",
            "accuracy": "fraction whose exact posterior argmax at σ = 0 is the requested class",
            "sigma_speciation": "largest σ at which the particle mean of P(c | x_σ) crosses (1 + 1/M)/2 along the "
                                "trajectory",
            "<metric>, <metric>_ci, <metric>_draws": f"mean over {cfg.draws} mixture draws, the half-width of its "
                                                     "Student-t 95 % interval (t_{0.975, n−1} · sd / √n), the per-draw "
                                                     "values (each the mean over the target classes)",
            "theory_*": "Biroli et al. 2024 (studies/guidance/theory.py) at the setting's (d, M): sigma_C the d → ∞ "
                        "REM collapse at β = ln M / d, sigma_half the finite-(d, M) ½-crossing of E P(c | x_σ), "
                        "accuracy_0 the exact class accuracy at w = 0",
            "sampler_floor_var_ratio": "variance ratio the sampler gives the exact class score (w = 0), mean field"},
        "regime": {"mean_std": c.mean_std, "std": c.std, "accuracy_0_target": c.accuracy_0,
                   "accuracy_at": None if c.accuracy_at is None else list(c.accuracy_at),
                   "beta_c": identifiability_beta(c.mean_std, c.std),
                   "beta_id_mean_field": c.mean_std**2 / (2 * (c.mean_std**2 + c.std**2)),
                   "exponential_beta": beta, "exponential_beta_over_beta_c": beta / identifiability_beta(c.mean_std, c.std),
                   "draws": cfg.draws, "interval": "mean ± t_{0.975, n−1} · sd / √n over mixture draws"},
        "sampler_floor_var_ratio": floor,
        "ladder": ladder,
        "fixed_M_overshoot_loglog_slope": slope,
        "mean_field_limit": {f"w={w:g}": {"overshoot": v["overshoot"], "var_ratio": v["var_ratio"],
                                         "sigma_collapse": v["sigma_collapse"]} for w, v in mf_inf.items()},
        "unguided_collapse_sigma_mean_field": finite(np.sqrt(max(collapse_v(beta, c.mean_std) - c.std**2, 0.0))),
        "unguided_collapse_sigma_rem": finite(collapse(beta, c.mean_std, c.std)["sigma_C"]),
        "identifiability_beta": c.mean_std**2 / (2 * (c.mean_std**2 + c.std**2)),
        "identifiability_beta_c": identifiability_beta(c.mean_std, c.std),
        "theory": th_rows,
        "convergence": conv,
        "phase": phase,
        "phase_mean_field_w_collapse": {"betas": betas.tolist(), "w_c": w_c},
        "cost": {"ladder": cost_l, "phase": cost_p},
    }
    figs = figures(cfg, c, ladder, phase, post, theory, conv, mf_inf, floor, betas, w_c)
    def flat(rs):  # the CSVs keep the means and intervals; the per-draw values are in metrics.json
        return [{k: v for k, v in r.items() if not k.endswith("_draws")} for r in rs]

    curves = {"guidance_ladder": flat(ladder), "guidance_phase": flat(phase), "guidance_meanfield": mf_grid,
              "guidance_theory": [row for (k, d), t in theory.items()
                                  for row in rows(ladder=[k] * len(t["sigma"]), d=[d] * len(t["sigma"]),
                                                  sigma=t["sigma"], p_true=t["p_true"], entropy=t["entropy"],
                                                  accuracy=t["accuracy"])]}
    if post:
        curves["guidance_posterior"] = [row for (kind, d, w), (s, p) in post.items()
                                        for row in rows(ladder=[kind] * len(s), d=[d] * len(s), w=[w] * len(s),
                                                        sigma=s, t=np.asarray(t_of_sigma(s)), posterior=p)]
    return Results(metrics, curves, figs)

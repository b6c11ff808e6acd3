"""Learned scores on opposite-corner mixtures: train networks, then census their samples.

One config trains every (dim, band factor A, network kind, seed) cell of its sweep at the same
budget and evaluates each against the exact joint and exact factorized scores through the same
integrator: ghost and off-support fractions of the samples, the learned-vs-exact score error per σ
(and its mean inside the band [σ_lo, σ_hi]), and the trajectory gap of the learned score against
the exact joint score (probability-flow ODE from the same starting points).
`run(cfg, out_dir, ...)` writes a run directory and returns the summary rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..census import corner_census, product_ghost_mass
from ..config import ConfigError, check
from ..integrate import METHODS, prior, sample
from ..losses import SIGMA_DISTS, WEIGHTINGS, LossSpec
from ..mixtures import GaussianMixture
from ..nets import EMBEDDINGS, NET_KINDS, PRECONDS, make_net
from ..observers import Mean
from ..processes import grid_from_config
from ..runio import atomic_write_csv, atomic_write_json, atomic_write_text
from ..training import OptimSpec, ema_model, fit

F = dataclasses.field
POS = check(lambda v: v > 0, "> 0")
POS_INT = check(lambda v: v >= 1, ">= 1")
NONNEG = check(lambda v: v >= 0, ">= 0")


def _tuple(default, meta=None):
    return F(default=tuple(default), metadata=meta or {})


@dataclasses.dataclass(frozen=True)
class Data:
    dim: int = F(default=8, metadata=check(lambda v: 1 <= v <= 30, "in [1, 30]"))
    std: float = F(default=0.3, metadata=POS)
    weight: float = F(default=0.5, metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))


@dataclasses.dataclass(frozen=True)
class Model:
    kinds: tuple[str, ...] = _tuple(("joint", "factorized"))
    width: int = F(default=64, metadata=POS_INT)
    depth: int = F(default=2, metadata=POS_INT)
    embed_dim: int = F(default=16, metadata=check(lambda v: v >= 2 and v % 2 == 0, "an even integer >= 2"))
    embed: str = "sinusoidal"
    precond: str = "edm"
    factorized_mode: str = "shared"
    coord_dim: int = F(default=8, metadata=POS_INT)
    pool_dim: int = F(default=16, metadata=POS_INT)
    per_position_width: int = F(default=32, metadata=POS_INT)  # width of factorized/pooled per-position MLPs

    def validate(self):
        if not self.kinds:
            raise ConfigError("kinds: must name at least one network")
        for k in self.kinds:
            if k not in NET_KINDS:
                raise ConfigError(f"kinds: expected entries in {NET_KINDS}, got {k!r}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ConfigError("kinds: repeated network kind")
        if self.embed not in EMBEDDINGS:
            raise ConfigError(f"embed: expected one of {EMBEDDINGS}, got {self.embed!r}")
        if self.precond not in PRECONDS:
            raise ConfigError(f"precond: expected one of {PRECONDS}, got {self.precond!r}")
        if self.factorized_mode not in ("shared", "ensemble"):
            raise ConfigError(f"factorized_mode: expected 'shared' or 'ensemble', got {self.factorized_mode!r}")


@dataclasses.dataclass(frozen=True)
class Loss:
    sigma_dist: str = "lognormal"
    sigma_min: float = F(default=1e-3, metadata=POS)
    sigma_max: float = F(default=1e2, metadata=POS)
    p_mean: float = -1.2
    p_std: float = F(default=1.2, metadata=POS)
    ddpm_T: int = F(default=1000, metadata=POS_INT)
    ddpm_beta_start: float = F(default=1e-4, metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))
    ddpm_beta_end: float = F(default=0.02, metadata=check(lambda v: 0 < v < 1, "in (0, 1)"))
    weighting: str = "edm"
    band_lo: float = F(default=0.0, metadata=NONNEG)   # 0: σ_data/10 (σ_data = mode width)
    band_hi: float = F(default=0.0, metadata=NONNEG)   # 0: σ_data
    band_factor: float = F(default=1.0, metadata=POS)  # A; 1 = off
    band_prob: float = F(default=0.0, metadata=check(lambda v: 0 <= v <= 1, "in [0, 1]"))

    def validate(self):
        if self.sigma_dist not in SIGMA_DISTS:
            raise ConfigError(f"sigma_dist: expected one of {SIGMA_DISTS}, got {self.sigma_dist!r}")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting: expected one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.sigma_min >= self.sigma_max:
            raise ConfigError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")
        if self.ddpm_beta_start > self.ddpm_beta_end:
            raise ConfigError("ddpm_beta_start: must be <= ddpm_beta_end")
        if self.band_lo and self.band_hi and self.band_lo >= self.band_hi:
            raise ConfigError(f"band_lo: must be < band_hi ({self.band_hi}), got {self.band_lo}")


@dataclasses.dataclass(frozen=True)
class Optim:
    name: str = "adam"
    lr: float = F(default=3e-3, metadata=POS)
    warmup: int = F(default=100, metadata=NONNEG)
    final_lr_frac: float = F(default=0.05, metadata=check(lambda v: 0 <= v <= 1, "in [0, 1]"))
    clip: float = F(default=1.0, metadata=NONNEG)
    weight_decay: float = F(default=1e-4, metadata=NONNEG)
    ema_decay: float = F(default=0.999, metadata=check(lambda v: 0 <= v < 1, "in [0, 1)"))

    def validate(self):
        if self.name not in ("adam", "adamw"):
            raise ConfigError(f"name: expected 'adam' or 'adamw', got {self.name!r}")


@dataclasses.dataclass(frozen=True)
class Train:
    steps: int = F(default=2000, metadata=POS_INT)
    batch: int = F(default=256, metadata=POS_INT)
    steps_per_call: int = F(default=500, metadata=POS_INT)
    checkpoint_every: int = F(default=1000, metadata=POS_INT)
    seed: int = F(default=0, metadata=NONNEG)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Empty lists mean the single value from data.dim, loss.band_factor, train.seed."""

    dims: tuple[int, ...] = ()
    band_factors: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()

    def validate(self):
        if any(not 1 <= d <= 30 for d in self.dims):
            raise ConfigError(f"dims: every entry must be in [1, 30], got {list(self.dims)}")
        if any(a <= 0 for a in self.band_factors):
            raise ConfigError(f"band_factors: every entry must be > 0, got {list(self.band_factors)}")
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds: every entry must be >= 0, got {list(self.seeds)}")


@dataclasses.dataclass(frozen=True)
class Eval:
    n_samples: int = F(default=4000, metadata=POS_INT)
    n_steps: int = F(default=100, metadata=POS_INT)
    method: str = "euler_maruyama"
    grid: str = "edm"
    sigma_max: float = F(default=80.0, metadata=POS)
    sigma_min: float = F(default=2e-3, metadata=POS)
    gap_method: str = "ode_euler"
    radius: float = F(default=0.0, metadata=NONNEG)  # 0: σ_data (√D + 3), beyond which a sample is off
    n_score: int = F(default=1024, metadata=POS_INT)
    score_sigmas: int = F(default=16, metadata=check(lambda v: v >= 2, ">= 2"))
    seed: int = F(default=12345, metadata=NONNEG)

    def validate(self):
        for k in ("method", "gap_method"):
            if getattr(self, k) not in METHODS:
                raise ConfigError(f"{k}: expected one of {METHODS}, got {getattr(self, k)!r}")
        if self.grid not in ("edm", "geometric", "ddpm"):
            raise ConfigError(f"grid: expected 'edm', 'geometric' or 'ddpm', got {self.grid!r}")
        if self.sigma_min >= self.sigma_max:
            raise ConfigError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")


@dataclasses.dataclass(frozen=True)
class Config:
    name: str = "quickstart"
    data: Data = F(default_factory=Data)
    model: Model = F(default_factory=Model)
    loss: Loss = F(default_factory=Loss)
    optim: Optim = F(default_factory=Optim)
    train: Train = F(default_factory=Train)
    sweep: Sweep = F(default_factory=Sweep)
    eval: Eval = F(default_factory=Eval)

    def validate(self):
        if not self.name or any(c in self.name for c in "/\\") or self.name.startswith("."):
            raise ConfigError(f"name: must be a plain folder name, got {self.name!r}")


# ---------------------------------------------------------------------------------------- cells
def cells(cfg: Config) -> list[dict]:
    """Every (dim, A, kind, seed) of the sweep, in run order."""
    dims = cfg.sweep.dims or (cfg.data.dim,)
    amps = cfg.sweep.band_factors or (cfg.loss.band_factor,)
    seeds = cfg.sweep.seeds or (cfg.train.seed,)
    return [{"dim": d, "band_factor": a, "kind": k, "seed": s, "name": f"{k}_D{d}_A{a:g}_s{s}"}
            for d in dims for a in amps for k in cfg.model.kinds for s in seeds]


def mixture(cfg: Config, dim: int) -> GaussianMixture:
    return GaussianMixture.opposite_corners(dim, std=cfg.data.std, weight=cfg.data.weight)


def band(cfg: Config, gm: GaussianMixture) -> tuple[float, float]:
    sd = float(gm.mode_std())
    return (cfg.loss.band_lo or sd / 10.0, cfg.loss.band_hi or sd)


def loss_spec(cfg: Config, gm: GaussianMixture, band_factor: float) -> LossSpec:
    lo, hi = band(cfg, gm)
    L = cfg.loss
    return LossSpec(sigma_dist=L.sigma_dist, sigma_min=L.sigma_min, sigma_max=L.sigma_max, p_mean=L.p_mean,
                    p_std=L.p_std, ddpm_T=L.ddpm_T, ddpm_beta_start=L.ddpm_beta_start,
                    ddpm_beta_end=L.ddpm_beta_end, weighting=L.weighting, sigma_data=float(gm.data_std()),
                    band_lo=lo, band_hi=hi, band_factor=float(band_factor), band_prob=L.band_prob)


def optim_spec(cfg: Config) -> OptimSpec:
    o = cfg.optim
    return OptimSpec(name=o.name, lr=o.lr, warmup=o.warmup, total_steps=cfg.train.steps,
                     final_lr_frac=o.final_lr_frac, clip=o.clip, weight_decay=o.weight_decay)


def build_net(cfg: Config, kind: str, dim: int, seed: int, gm: GaussianMixture):
    m = cfg.model
    width = m.per_position_width if kind in ("factorized", "pooled") else m.width
    return make_net(kind, dim, jax.random.fold_in(jax.random.PRNGKey(seed), 7), width=width, depth=m.depth,
                    embed_dim=m.embed_dim, embed=m.embed, sigma_data=float(gm.data_std()),
                    precond=m.precond if kind != "aithal" else "eps", mode=m.factorized_mode,
                    coord_dim=m.coord_dim, pool_dim=m.pool_dim)


# ---------------------------------------------------------------------------------------- evaluation
class PairScore(eqx.Module):
    """Score on [x_a, x_b] (2D) that runs score `a` on the first half and `b` on the second, so one
    integrator pass moves both from the same start with the same steps (trajectory gap)."""

    a: object
    b: object

    def __call__(self, x, sigma):
        d = x.shape[0] // 2
        return jnp.concatenate([self.a(x[:d], sigma), self.b(x[d:], sigma)])


def _pair_gap(x, sigma, score):
    d = x.shape[0] // 2
    return jnp.sqrt(jnp.mean((x[:d] - x[d:]) ** 2))


@eqx.filter_jit
def score_errors(score, gm, key, sigmas, n: int):
    """Per σ in `sigmas` [S]: (E‖s − s*‖² / E‖s*‖², E σ²‖s − s*‖²/D) over x ~ p_σ, s* the exact
    joint score. Shapes [S], [S]."""
    def one(k, sig):
        x = gm.sample_noised(k, n, sig)
        s = jax.vmap(score, in_axes=(0, None))(x, sig)
        s0 = jax.vmap(gm.score, in_axes=(0, None))(x, sig)
        d2 = jnp.sum((s - s0) ** 2, axis=1)
        return jnp.mean(d2) / jnp.mean(jnp.sum(s0 * s0, axis=1)), sig * sig * jnp.mean(d2) / x.shape[1]
    return jax.vmap(one)(jax.random.split(key, sigmas.shape[0]), sigmas)


@eqx.filter_jit
def _starts(key, n: int, dim: int, sigma_max):
    k_init, k_run, k_score = jax.random.split(key, 3)
    x0 = prior(k_init, n, dim, sigma_max)
    return x0, jnp.concatenate([x0, x0], axis=1), k_run, k_score


@eqx.filter_jit
def _final_gap(x):
    return jnp.mean(jax.vmap(_pair_gap, in_axes=(0, None, None))(x, 0.0, None))


def _eval_arrays(score, gm, key, grid, score_sigmas, n_samples: int, n_score: int, method: str,
                 gap_method: str, gap: bool):
    """Final samples, score errors, trajectory gap curve. (gj.sample is called at top level, not
    inside a jit: the integrator picks its own compilation options.)"""
    x0, xp, k_run, k_score = _starts(key, n_samples, gm.dim, grid[0])
    x = sample(score, x0, grid, k_run, method=method).x
    rel, eps = score_errors(score, gm, k_score, score_sigmas, n_score)
    if not gap:
        z = np.zeros(grid.shape[0] - 1)
        return x, rel, eps, z, np.asarray(grid[:-1]), 0.0
    out = sample(PairScore(score, gm.score), xp, grid, k_run, method=gap_method, observers={"gap": Mean(_pair_gap)})
    return x, rel, eps, out.observations["gap"], out.sigmas, _final_gap(out.x)


def evaluate(score, gm: GaussianMixture, cfg: Config, gap: bool = True) -> dict:
    """Census, score errors and trajectory gap of `score` against the exact joint score of `gm`
    (gap=False: skip the gap, for the exact joint score itself, where it is 0 by construction)."""
    E = cfg.eval
    D = gm.dim
    grid = grid_from_config(E.grid, E.n_steps, E.sigma_max, E.sigma_min)
    lo, hi = band(cfg, gm)
    sig = np.geomspace(1e-3, 1e2, E.score_sigmas)
    both = jnp.asarray(np.concatenate([sig, np.geomspace(lo, hi, 5)]), jnp.float32)  # curve, then band
    x, rel, eps, g, gs, final = _eval_arrays(score, gm, jax.random.PRNGKey(E.seed), grid, both, E.n_samples,
                                             E.n_score, E.method, E.gap_method, gap)
    rel, eps, g, gs = np.asarray(rel), np.asarray(eps), np.asarray(g), np.asarray(gs)
    rel, rel_b, eps, eps_b = rel[:sig.size], rel[sig.size:], eps[:sig.size], eps[sig.size:]
    radius = E.radius or float(gm.mode_std()) * (math.sqrt(D) + 3.0)
    c = corner_census(x, gm, radius=radius)
    i = int(np.argmax(g))
    return {
        "ghost_fraction": c["ghost_fraction"], "off_fraction": c["off_fraction"], "real_fraction": c["real_fraction"],
        "radius": radius, "score_rel_err_band": float(np.mean(rel_b)), "score_eps_mse_band": float(np.mean(eps_b)),
        "gap_peak": float(g[i]), "gap_peak_sigma": float(gs[i]), "gap_final": float(final),
        "score_curve": {"sigma": sig.tolist(), "rel_err": rel.tolist(), "eps_mse": eps.tolist()},
        "gap_curve": {"sigma": gs.tolist(), "gap": g.tolist()},
    }


def exact_references(cfg: Config, gm: GaussianMixture) -> dict:
    """The same evaluation for the exact joint and exact factorized scores, plus the theory value."""
    return {"exact_joint": evaluate(gm.score, gm, cfg, gap=False), "exact_factorized": evaluate(gm.factorized_score, gm, cfg),
            "product_ghost_mass": product_ghost_mass(gm)}


# ---------------------------------------------------------------------------------------- driver
SUMMARY_KEYS = ("ghost_fraction", "off_fraction", "gap_peak", "score_rel_err_band")


def train_cell(cfg: Config, cell: dict, cell_dir: Path, *, resume: bool, stop_after: int | None,
               progress: bool, meta: dict):
    gm = mixture(cfg, cell["dim"])
    net = build_net(cfg, cell["kind"], cell["dim"], cell["seed"], gm)
    state, history = fit(
        net, gm, loss_spec(cfg, gm, cell["band_factor"]), optim_spec(cfg), seed=cell["seed"],
        steps=cfg.train.steps, batch=cfg.train.batch, steps_per_call=cfg.train.steps_per_call,
        ema_decay=cfg.optim.ema_decay, ckpt_dir=cell_dir / "checkpoints", checkpoint_every=cfg.train.checkpoint_every,
        resume=resume, stop_after=stop_after, meta=meta, progress=progress, desc=cell["name"])
    return gm, state, history


def run(cfg: Config, out_dir: Path, *, resume: bool = False, stop_after: int | None = None,
        progress: bool = True, meta: dict | None = None, log=print) -> list[dict]:
    """Train and evaluate every cell; write <cell>/result.json, curves.csv, summary.csv and figures.

    With `resume`, finished cells are read back and interrupted ones continue from their checkpoint.
    Returns one summary row per cell plus one per (dim, exact score)."""
    from ..checkpoints import read_meta

    meta = dict(meta or {})
    rows, refs = [], {}
    for cell in cells(cfg):
        cell_dir = out_dir / "cells" / cell["name"]
        done = cell_dir / "result.json"
        if resume and done.is_file():
            result = json.loads(done.read_text())
        else:
            t0 = time.perf_counter()
            has_ckpt = resume and read_meta(cell_dir / "checkpoints") is not None
            gm, state, history = train_cell(cfg, cell, cell_dir, resume=has_ckpt, stop_after=stop_after,
                                            progress=progress, meta=meta)
            if int(state.step) < cfg.train.steps:  # interrupted on purpose (stop_after)
                log(f"{cell['name']}: stopped at step {int(state.step)} (resume with --resume)")
                return rows
            t1 = time.perf_counter()
            ev = evaluate(ema_model(state), gm, cfg)
            result = {**cell, "train_s": round(t1 - t0, 2), "eval_s": round(time.perf_counter() - t1, 2),
                      "final_loss": history[-1]["loss"], "steps_per_s": history[-1]["steps_per_s"], **ev}
            atomic_write_csv(cell_dir / "curves.csv", history)
            atomic_write_json(done, result)
        if cell["dim"] not in refs:
            gm = mixture(cfg, cell["dim"])
            refs[cell["dim"]] = exact_references(cfg, gm)
        rows.append(result)
    summary = [{k: r[k] for k in ("name", "kind", "dim", "band_factor", "seed") + SUMMARY_KEYS} for r in rows]
    for d, ref in refs.items():
        for which in ("exact_joint", "exact_factorized"):
            summary.append({"name": f"{which}_D{d}", "kind": which, "dim": d, "band_factor": "",
                            "seed": "", **{k: ref[which][k] for k in SUMMARY_KEYS}})
    atomic_write_csv(out_dir / "summary.csv", summary)
    table = aggregate(rows, refs)
    atomic_write_json(out_dir / "metrics.json", {"meta": meta, "cells": rows, "exact": refs, "table": table})
    atomic_write_text(out_dir / "table.md", markdown_table(table, refs))
    write_figures(rows, refs, out_dir)
    return summary


def aggregate(rows: list[dict], refs: dict) -> list[dict]:
    """Mean and std over seeds per (dim, kind, A), with the exact references per dim."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["dim"], r["kind"], r["band_factor"]), []).append(r)
    out = []
    for (d, kind, a), rs in groups.items():
        row = {"dim": d, "kind": kind, "band_factor": a, "n_seeds": len(rs)}
        for k in SUMMARY_KEYS:
            v = np.array([r[k] for r in rs], dtype=float)
            row[k], row[k + "_std"] = float(v.mean()), float(v.std())
        row["exact_factorized_ghost"] = refs[d]["exact_factorized"]["ghost_fraction"]
        row["theory_product_ghost"] = refs[d]["product_ghost_mass"]
        out.append(row)
    return out


def markdown_table(table: list[dict], refs: dict) -> str:
    """The study table (mean ± std over seeds) as Markdown, exact references first per dim."""
    head = ("| D | score | A | ghost fraction | off-support | gap peak | score error in band |\n"
            "|---|---|---|---|---|---|---|\n")
    out = []
    f = lambda m, s: f"{m:.3f} ± {s:.3f}"
    for d in sorted(refs):
        r = refs[d]
        out.append(f"| {d} | exact joint | – | {r['exact_joint']['ghost_fraction']:.3f} | "
                   f"{r['exact_joint']['off_fraction']:.3f} | 0 | 0 |")
        ef = r["exact_factorized"]
        out.append(f"| {d} | exact factorized (bound 1−w^D−(1−w)^D = {r['product_ghost_mass']:.3f}) | – | "
                   f"{ef['ghost_fraction']:.3f} | {ef['off_fraction']:.3f} | {ef['gap_peak']:.3f} | "
                   f"{ef['score_rel_err_band']:.3f} |")
        for t in sorted((t for t in table if t["dim"] == d), key=lambda t: (t["kind"], t["band_factor"])):
            out.append(f"| {d} | {t['kind']} | {t['band_factor']:g} | {f(t['ghost_fraction'], t['ghost_fraction_std'])} | "
                       f"{f(t['off_fraction'], t['off_fraction_std'])} | {f(t['gap_peak'], t['gap_peak_std'])} | "
                       f"{f(t['score_rel_err_band'], t['score_rel_err_band_std'])} |")
    return head + "\n".join(out) + "\n"


def write_figures(rows: list[dict], refs: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runio import atomic_savefig

    table = aggregate(rows, refs)
    dims = sorted(refs)
    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
    for ax, d in zip(axes[0], dims):
        ts = [t for t in table if t["dim"] == d]
        labels = [f"{t['kind']}\nA={t['band_factor']:g}" for t in ts] + ["exact\njoint", "exact\nfact."]
        vals = [t["ghost_fraction"] for t in ts] + [refs[d]["exact_joint"]["ghost_fraction"],
                                                      refs[d]["exact_factorized"]["ghost_fraction"]]
        errs = [t["ghost_fraction_std"] for t in ts] + [0.0, 0.0]
        ax.bar(range(len(vals)), vals, yerr=errs, color=["C0"] * len(ts) + ["k", "0.5"])
        ax.axhline(refs[d]["product_ghost_mass"], ls="--", c="r", lw=1, label="1 − w^D − (1−w)^D")
        ax.set_xticks(range(len(vals)), labels, fontsize=7, rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"D = {d}: ghost fraction")
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / "figures" / "ghosts.png", dpi=110)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    firsts = {}
    for r in rows:
        firsts.setdefault((r["dim"], r["kind"], r["band_factor"]), r)
    for (d, kind, a), r in firsts.items():
        lab = f"{kind} D={d} A={a:g}"
        a1.loglog(r["score_curve"]["sigma"], r["score_curve"]["rel_err"], label=lab)
        a2.semilogx(r["gap_curve"]["sigma"], r["gap_curve"]["gap"], label=lab)
    for d in dims:
        ef = refs[d]["exact_factorized"]
        a1.loglog(ef["score_curve"]["sigma"], ef["score_curve"]["rel_err"], "k--", lw=1, label=f"exact fact. D={d}")
        a2.semilogx(ef["gap_curve"]["sigma"], ef["gap_curve"]["gap"], "k--", lw=1, label=f"exact fact. D={d}")
    a1.set(xlabel="σ", ylabel="E‖s − s*‖² / E‖s*‖²", title="score error vs exact joint")
    a2.set(xlabel="σ", ylabel="rms gap per coordinate", title="trajectory gap vs exact joint (PF-ODE)")
    a2.invert_xaxis()
    if len(firsts) <= 12:
        a1.legend(fontsize=6)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / "figures" / "score_error_gap.png", dpi=110)
    plt.close(fig)

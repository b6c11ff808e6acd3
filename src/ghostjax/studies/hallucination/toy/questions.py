"""What the paper left open, measured at equal training budget.

gap           1-D lines of K modes spaced `gap` mode stds apart, centred on the mean of data[0]'s
              positions (2 for {1, 2, 3}), K in
              sweep.n_modes, gap in sweep.gaps: the between-mode fraction of a network trained on each,
              next to the exact score's; fitted trends of ln(between fraction per gap) against the gap
              (exponential) and against ln gap (power law), per K and pooled.
architecture  network variants on data[0] (width, depth, steps, block sharing, Fourier input, DSM on
              the fixed set / on fresh mixture draws / regression on the exact score): their
              out-of-support fractions against the exact score's (the floor), and their ε-space score
              error between the modes at small σ.
ghosts        opposite corners in D dimensions: samples of the exact joint and exact factorized scores
              and of trained networks (variants, e.g. a factorized one); the census splits them into
              real / ghost / off, and the trajectory-variance detector is scored on ghosts vs reals.
Every trained network also reports whether it converged to the data (toy/convergence.py: its cell's
`convergence`, the flat columns in its summary row; snapshots beside its checkpoints).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ....metrics import hallucination as hm
from ....metrics.census import GHOST, REAL, classify
from ....runio import Workspace
from ...base import Results
from . import convergence, report
from .config import Config, Variant
from .data import label, mixture, training_set
from .evaluate import ddpm_sigmas, detector, draw, measure
from .fitting import net_key, train
from .nets import build_net
from .summary import row


def _key(cfg: Config, *salt: int) -> jax.Array:
    k = jax.random.PRNGKey(cfg.eval.seed)
    for s in salt:
        k = jax.random.fold_in(k, s)
    return k


def fit_trend(x: list[float], y: list[float]) -> dict:
    """Least-squares fits over the points with y > 0: exponential ln y = intercept + slope·x (with
    its residual rms) and power law ln y = power_intercept + power·ln x (with its residual rms)."""
    pts = [(a, b) for a, b in zip(x, y) if b > 0]
    if len(pts) < 2:
        return {"slope": None, "intercept": None, "power": None, "n": len(pts)}
    a, b = np.array(pts).T
    lb = np.log(b)
    slope, intercept = np.polyfit(a, lb, 1)
    power, p_int = np.polyfit(np.log(a), lb, 1)
    return {"slope": float(slope), "intercept": float(intercept), "n": len(pts), "decay_per_std": float(np.exp(slope)),
            "rms": float(np.sqrt(np.mean((lb - intercept - slope * a) ** 2))), "power": float(power),
            "power_intercept": float(p_int), "power_rms": float(np.sqrt(np.mean((lb - p_int - power * np.log(a)) ** 2)))}


def run_gap(cfg: Config, progress: bool, log, ws: Workspace | None = None) -> Results:
    """The gap task: metrics {fits, between_per_gap_vs_K, summary, cells}, figure gap_trend."""
    E, d = cfg.eval, cfg.data[0]
    rows, cells = [], []
    for i, k in enumerate(cfg.sweep.n_modes):
        for j, gap in enumerate(cfg.sweep.gaps):
            dd = d.model_copy(update={"gap": float(gap), "n_modes": k})
            gm = mixture(dd)
            ex, _ = draw(gm.score, 1, E.n_samples, key=_key(cfg, i, j, 0), loss=cfg.loss, E=E)
            exact = hm.support_split(np.asarray(ex), gm, E.tail)
            net = build_net(cfg.model, 1, key=net_key(cfg.train.seed), blocks=cfg.model.blocks[0])
            cname = f"K{k}_gap{gap:g}"
            snaps = convergence.snapshots_for(cfg, gm, ws, cname)
            model, tlog = train(cfg, net, training_set(dd, gm), seed=cfg.train.seed, progress=progress,
                                desc=f"K={k} gap={gap:g}", workspace=ws, name=cname, snapshot_at=snaps.steps,
                                on_snapshot=snaps)
            x, traj = draw(model, 1, E.n_samples, key=_key(cfg, i, j, 1), loss=cfg.loss, E=E)
            m = measure(x, traj, gm, E, windows=False)
            conv = convergence.report(x, gm, E.tail, snaps)
            r = row(cname, label(dd), cfg.model.kind, cfg.train.seed, m,
                    {"n_modes": k, "gap": gap, "exact_out_fraction": exact["out_fraction"],
                     "exact_between_fraction": exact["between_fraction"], "train_s": tlog["train_s"],
                     **convergence.columns(conv)})
            r["between_per_gap"] = r["between_fraction"] / (k - 1)
            rows.append(r)
            cells.append({"name": cname, "n_modes": k, "gap": gap, **m, "exact": exact, "train": tlog,
                          "convergence": conv})
            log(f"K={k} gap={gap:g}: between {r['between_fraction']:.4f} (exact {exact['between_fraction']:.4f}), "
                f"beyond {r['beyond_fraction']:.4f}")
    fits = {str(k): fit_trend([r["gap"] for r in rows if r["n_modes"] == k],
                              [r["between_per_gap"] for r in rows if r["n_modes"] == k]) for k in cfg.sweep.n_modes}
    fits["all"] = fit_trend([r["gap"] for r in rows], [r["between_per_gap"] for r in rows])
    per_k = {}
    for gap in cfg.sweep.gaps:  # between fraction against K − 1 at each gap: slope of a line through 0
        pts = [(r["n_modes"] - 1, r["between_fraction"]) for r in rows if r["gap"] == gap]
        kk, bb = np.array(pts).T
        per_k[f"{gap:g}"] = float(np.sum(kk * bb) / np.sum(kk * kk))
    return Results({"fits": fits, "between_per_gap_vs_K": per_k, "summary": rows, "cells": cells},
                   figures={"gap_trend": report.trend_figure(rows, fits)})


def score_error_between(model, gm, loss, sigma_cap: float, t_list=(1, 10, 50)) -> dict:
    """ε-space squared error σ²(s − s*)² of `model`, averaged over 400 points evenly spaced between
    the outer modes (1-D), at σ_t for t in t_list."""
    if gm.dim != 1:
        return {}
    sig = np.asarray(ddpm_sigmas(loss, sigma_cap))[::-1]  # ascending: σ_1, σ_2, …
    m = np.asarray(gm.means)[:, 0]
    xs = jnp.asarray(np.linspace(m.min(), m.max(), 400)[:, None], gm.means.dtype)
    ss = jnp.asarray(np.asarray([sig[t - 1] for t in t_list]), gm.means.dtype)
    err = np.asarray(_eps_errors(model, gm, xs, ss))
    return {f"t{t}": float(e) for t, e in zip(t_list, err)}


@eqx.filter_jit
def _eps_errors(model, gm, xs, ss):
    """σ²·mean over xs [n, 1] of (model − exact score)² at each σ of ss [k] (one compiled program)."""

    def at(s):
        diff = jax.vmap(model, in_axes=(0, None))(xs, s) - jax.vmap(gm.score, in_axes=(0, None))(xs, s)
        return s * s * jnp.mean(diff**2)

    return jax.vmap(at)(ss)


def _variant_net(cfg: Config, v: Variant, dim: int, seed: int):
    return build_net(cfg.model, dim, key=net_key(seed), kind=v.kind, blocks=v.blocks or cfg.model.blocks[0],
                     width=v.width, depth=v.depth, t_proj=v.t_proj)


def run_architecture(cfg: Config, progress: bool, log, ws: Workspace | None = None) -> Results:
    """The architecture task: metrics {exact, summary, cells}, figure architecture."""
    E, d = cfg.eval, cfg.data[0]
    gm, name = mixture(d), label(d)
    data = training_set(d, gm)
    rows, cells = [], []
    x, traj = draw(gm.score, gm.dim, E.n_samples, key=_key(cfg, 0), loss=cfg.loss, E=E)
    ex = measure(x, traj, gm, E, windows=False)
    rows.append(row("exact", name, "exact", "", ex, {"score_err_between": {}}))
    log(f"exact: out {ex['split']['out_fraction']:.4f}")
    for i, v in enumerate(cfg.sweep.variants):
        for s in cfg.training_seeds():
            net, cname = _variant_net(cfg, v, gm.dim, s), f"{v.name}_s{s}"
            snaps = convergence.snapshots_for(cfg, gm, ws, cname, steps=v.steps)
            model, tlog = train(cfg, net, data if v.source == "fixed" else gm, seed=s, steps=v.steps, target=v.target,
                                progress=progress, desc=v.name, workspace=ws, name=cname, snapshot_at=snaps.steps,
                                on_snapshot=snaps)
            x, traj = draw(model, gm.dim, E.n_samples, key=_key(cfg, 1), loss=cfg.loss, E=E)
            m = measure(x, traj, gm, E, windows=False)
            err = score_error_between(model, gm, cfg.loss, E.sigma_cap)
            conv = convergence.report(x, gm, E.tail, snaps)
            rows.append(row(v.name if len(cfg.sweep.seeds) < 2 else cname, name, v.kind or cfg.model.kind,
                            s, m, {"variant": v.model_dump(), "train_s": tlog["train_s"], "final_loss": tlog["final_loss"],
                                   "score_err_between": err, **convergence.columns(conv)}))
            cells.append({"name": cname, "variant": v.name, "seed": s, **m, "train": tlog, "convergence": conv})
            log(f"{v.name} s{s}: out {m['split']['out_fraction']:.4f} (between {m['split']['between_fraction']:.4f}), "
                f"ε-error between modes {err}")
    fig = report.bars_figure(rows[1:], ex["split"]["out_fraction"], f"{name}: variants at equal budget")
    return Results({"exact": ex, "summary": rows, "cells": cells}, figures={"architecture": fig})


def ghost_detection(x, traj, gm, cfg: Config) -> dict:
    """Census fractions and the detector scored on ghosts (positives) vs reals (negatives)."""
    E = cfg.eval
    lab = np.asarray(classify(x, gm, E.tail)[0])
    out = {"real_fraction": float(np.mean(lab == REAL)), "ghost_fraction": float(np.mean(lab == GHOST)),
           "off_fraction": float(np.mean((lab != REAL) & (lab != GHOST)))}
    keep = (lab == REAL) | (lab == GHOST)
    pos = lab[keep] == GHOST
    if pos.any() and not pos.all():
        out["ghost_vs_real"] = detector(traj[:, keep], pos, E)
    out["out_vs_real"] = detector(traj, lab != REAL, E) if (lab != REAL).any() and (lab == REAL).any() else None
    return out


def run_ghosts(cfg: Config, progress: bool, log, ws: Workspace | None = None) -> Results:
    """The ghosts task: metrics {summary, cells}, figure ghost_roc."""
    E, d = cfg.eval, cfg.data[0]
    gm, name = mixture(d), label(d)
    data = training_set(d, gm)
    scores = [("exact_joint", gm.score, None, None), ("exact_factorized", gm.factorized_score, None, None)]
    for v in cfg.sweep.variants:
        net = _variant_net(cfg, v, gm.dim, cfg.train.seed)
        snaps = convergence.snapshots_for(cfg, gm, ws, v.name, steps=v.steps)
        model, tlog = train(cfg, net, data if v.source == "fixed" else gm, seed=cfg.train.seed, steps=v.steps,
                            target=v.target, progress=progress, desc=v.name, workspace=ws, name=v.name,
                            snapshot_at=snaps.steps, on_snapshot=snaps)
        scores.append((v.name, model, tlog, snaps))
    rows, cells, curves = [], [], []
    for i, (sname, score, tlog, snaps) in enumerate(scores):
        x, traj = draw(score, gm.dim, E.n_samples, key=_key(cfg, i), loss=cfg.loss, E=E)
        g = ghost_detection(x, traj, gm, cfg)
        g["convergence"] = convergence.report(x, gm, E.tail, snaps)
        gv = g.get("ghost_vs_real") or {}
        rows.append({"name": sname, "data": name, "real_fraction": g["real_fraction"],
                     "ghost_fraction": g["ghost_fraction"], "off_fraction": g["off_fraction"],
                     "ghost_auc": gv.get("auc"), "ghost_auc_se": gv.get("auc_se"),
                     "ghost_detection_at_retention": gv.get("at_retention_detection"),
                     "out_auc": (g["out_vs_real"] or {}).get("auc"),
                     "train_s": tlog["train_s"] if tlog else None, **convergence.columns(g["convergence"])})
        cells.append({"name": sname, **g, "train": tlog})
        if gv:
            curves.append((f"{sname}: ghosts vs real, AUC {gv['auc']:.3f}", gv["roc"]))
        log(f"{sname}: real {g['real_fraction']:.3f} ghost {g['ghost_fraction']:.3f} off {g['off_fraction']:.3f}, "
            f"ghost AUC {gv.get('auc', float('nan')):.3f}")
    figures = {"ghost_roc": report.roc_figure(curves, f"{name}: does trajectory variance flag ghosts?")} if curves else {}
    return Results({"summary": rows, "cells": cells}, figures=figures)

"""The study driver: expand the config into cells, train each cell's network, evaluate it, resume
interrupted runs, and aggregate the cells over seeds.

A cell is one (dim, band factor A, network kind, seed); every cell trains at the same budget.
Network names become classes here (`build_net` through nets.make_net), once per cell.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from ....checkpoints import read_meta
from ....mixtures import GaussianMixture
from ....nets import AbstractScoreNet, make_net
from ....runio import atomic_write_csv, atomic_write_json, atomic_write_text
from ....training import TrainState, ema_model, fit
from .config import Config, Model
from .evaluate import evaluate, exact_references
from .report import markdown_table, write_figures

SUMMARY_KEYS = ("ghost_fraction", "off_fraction", "gap_peak", "score_rel_err_band")


def cells(cfg: Config) -> list[dict]:
    """Every (dim, A, kind, seed) of the sweep, in run order."""
    dims = cfg.sweep.dims or (cfg.data.dim,)
    amps = cfg.sweep.band_factors or (cfg.loss.band_factor,)
    seeds = cfg.sweep.seeds or (cfg.train.seed,)
    return [{"dim": d, "band_factor": a, "kind": k, "seed": s, "name": f"{k}_D{d}_A{a:g}_s{s}"}
            for d in dims for a in amps for k in cfg.model.kinds for s in seeds]


def mixture(cfg: Config, dim: int) -> GaussianMixture:
    return GaussianMixture.opposite_corners(dim, std=cfg.data.std, weight=cfg.data.weight)


def net_hyper(m: Model, kind: str) -> dict:
    """The make_net keywords of network `kind` from the [model] table (AithalMLP is always
    ε-preconditioned, as in its paper; per-position networks use per_position_width)."""
    common = dict(depth=m.depth, embed_dim=m.embed_dim, embed=m.embed)
    per_kind = {
        "joint": dict(width=m.width, precond=m.precond),
        "factorized": dict(width=m.per_position_width, precond=m.precond, mode=m.factorized_mode,
                           coord_dim=m.coord_dim),
        "pooled": dict(width=m.per_position_width, precond=m.precond, coord_dim=m.coord_dim, pool_dim=m.pool_dim),
        "aithal": dict(width=m.width, precond="eps"),
    }
    return {**common, **per_kind[kind]}


def build_net(cfg: Config, kind: str, dim: int, seed: int, gm: GaussianMixture) -> AbstractScoreNet:
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 7)
    return make_net(kind, dim, key=key, sigma_data=float(gm.data_std()), **net_hyper(cfg.model, kind))


def train_cell(cfg: Config, cell: dict, cell_dir: Path, *, resume: bool, stop_after: int | None,
               progress: bool, meta: dict) -> tuple[GaussianMixture, TrainState, list[dict]]:
    """Train the network of `cell` (checkpoints in cell_dir/checkpoints). Returns (gm, state, history)."""
    gm = mixture(cfg, cell["dim"])
    net = build_net(cfg, cell["kind"], cell["dim"], cell["seed"], gm)
    loss = cfg.loss.model_copy(update={"band_factor": float(cell["band_factor"])})
    state, history = fit(
        net, gm, loss, cfg.optim, seed=cell["seed"], steps=cfg.train.steps, batch=cfg.train.batch,
        steps_per_call=cfg.train.steps_per_call, ckpt_dir=cell_dir / "checkpoints",
        checkpoint_every=cfg.train.checkpoint_every, resume=resume, stop_after=stop_after, meta=meta,
        progress=progress, desc=cell["name"])
    return gm, state, history


def run(cfg: Config, out_dir: Path, *, resume: bool = False, stop_after: int | None = None,
        progress: bool = True, meta: dict | None = None, log=print) -> list[dict]:
    """Train and evaluate every cell; write <cell>/result.json, curves.csv, summary.csv and figures.

    With `resume`, finished cells are read back and interrupted ones continue from their checkpoint.
    Returns one summary row per cell plus one per (dim, exact score)."""
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
            refs[cell["dim"]] = exact_references(cfg, mixture(cfg, cell["dim"]))
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
    write_figures(rows, refs, table, out_dir)
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

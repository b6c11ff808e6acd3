"""The study driver: expand the config into cells, train each cell's network, evaluate it, resume
interrupted runs through a runio.Workspace, and aggregate the cells over seeds into the Results.

A cell is one (dim, band factor A, network kind, seed); every cell trains at the same budget.
Network names become classes here (`build_net` through nets.make_net), once per cell. Nothing here
writes a file but the Workspace's checkpoints and finished cells.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from ....mixtures import GaussianMixture
from ....nets import AbstractScoreNet, make_net
from ....training import TrainState, ema_model, fit
from ...base import Results, no_progress
from .config import Config, Model
from .evaluate import evaluate, exact_references
from .report import figures, markdown_table, summary_text

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


def train_cell(cfg: Config, cell: dict, cell_dir: Path | None, *, resume: bool, stop_after: int | None,
               progress: bool, meta: dict) -> tuple[GaussianMixture, TrainState, list[dict]]:
    """Train the network of `cell` (checkpoints in cell_dir/checkpoints; cell_dir None: in memory, no
    checkpoints). Returns (gm, state, history)."""
    gm = mixture(cfg, cell["dim"])
    net = build_net(cfg, cell["kind"], cell["dim"], cell["seed"], gm)
    loss = cfg.loss.model_copy(update={"band_factor": float(cell["band_factor"])})
    state, history = fit(
        net, gm, loss, cfg.optim, seed=cell["seed"], steps=cfg.train.steps, batch=cfg.train.batch,
        steps_per_call=cfg.train.steps_per_call, ckpt_dir=None if cell_dir is None else Path(cell_dir) / "checkpoints",
        checkpoint_every=cfg.train.checkpoint_every, resume=resume, stop_after=stop_after, meta=meta,
        progress=progress, desc=cell["name"])
    return gm, state, history


def run_cell(cfg: Config, cell: dict, resume=None, *, progress: bool = False) -> tuple[dict | None, list[dict], int]:
    """Train and evaluate one cell: (result, training history, step reached). The result is None when
    training stopped on purpose before train.steps (resume.stop_after). `resume`: a runio.Workspace
    keeping the cell's checkpoints (None: in memory)."""
    ws = resume
    t0 = time.perf_counter()
    if ws is None:
        gm, state, history = train_cell(cfg, cell, None, resume=False, stop_after=None, progress=progress, meta={})
    else:
        gm, state, history = train_cell(cfg, cell, ws.checkpoints(cell["name"]).parent,
                                        resume=ws.resume_training(cell["name"]), stop_after=ws.stop_after,
                                        progress=progress, meta=ws.meta)
    step = int(state.step)
    if step < cfg.train.steps:
        return None, history, step
    t1 = time.perf_counter()
    ev = evaluate(ema_model(state), gm, cfg)
    result = {**cell, "train_s": round(t1 - t0, 2), "eval_s": round(time.perf_counter() - t1, 2),
              "final_loss": history[-1]["loss"], "steps_per_s": history[-1]["steps_per_s"], **ev}
    return result, history, step


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    """Train and evaluate every cell (the study interface, studies/base.py). Writes nothing itself.

    resume: a runio.Workspace, or None (train in memory). With a Workspace every cell keeps its
    checkpoints and, once finished, cells/<cell>/{result.json, curves.csv}; with `resume.resume`
    finished cells are read back and interrupted ones continue from their checkpoint (bitwise as an
    uninterrupted run); at `resume.stop_after` the run stops with Results(stopped_at=step).

    Results: metrics {"cells", "exact", "table"}; curves {"summary"} (one row per cell and per
    (dim, exact score)); files {"table.md"}; figures {"ghosts", "score_error_gap"}; summary: the
    table printed at the end."""
    ws, show = resume, progress is not no_progress
    rows, refs = [], {}
    for cell in cells(cfg):
        result = None if ws is None else ws.finished(cell["name"])
        if result is None:
            result, history, step = run_cell(cfg, cell, ws, progress=show)
            if result is None:  # stopped on purpose (stop_after)
                return Results(metrics={}, stopped_at=step,
                               summary=f"{cell['name']}: stopped at step {step} (resume with --resume)")
            if ws is not None:
                ws.finish(cell["name"], result, history)
        if cell["dim"] not in refs:
            refs[cell["dim"]] = exact_references(cfg, mixture(cfg, cell["dim"]))
        rows.append(result)
    return results(rows, refs)


def results(rows: list[dict], refs: dict) -> Results:
    """The study's Results from its cell results and exact references per dim."""
    summary = summary_rows(rows, refs)
    table = aggregate(rows, refs)
    return Results(metrics={"cells": rows, "exact": refs, "table": table}, curves={"summary": summary},
                   files={"table.md": markdown_table(table, refs)}, figures=figures(rows, refs, table),
                   summary=summary_text(summary, refs))


def summary_rows(rows: list[dict], refs: dict) -> list[dict]:
    """summary.csv: one row per cell, then one per (dim, exact joint / exact factorized score)."""
    out = [{k: r[k] for k in ("name", "kind", "dim", "band_factor", "seed") + SUMMARY_KEYS} for r in rows]
    for d, ref in refs.items():
        for which in ("exact_joint", "exact_factorized"):
            out.append({"name": f"{which}_D{d}", "kind": which, "dim": d, "band_factor": "",
                        "seed": "", **{k: ref[which][k] for k in SUMMARY_KEYS}})
    return out


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

"""The learned-score cell: train one score network on an opposite-corner mixture and evaluate it
against the exact scores (experiments/learned/ does both; this kind runs it per cell).

Settings: the learned study's tables (data, model, loss, optim, train, eval) plus `net`, the
network kind of the cell (model.kinds is replaced by [net]); its seed is train.seed. Grid keys are
dotted: "data.dim", "loss.band_factor", "net", "train.seed", "model.width", ...
Each cell trains on the process's default device (no vmap over cells: every cell is its own
program; networks of equal shape reuse it through the persistent cache). Checkpoints go to
<out>/cells/<id>/checkpoints, so an interrupted cell resumes from its last checkpoint. In a
multi-process run every process trains the same cell (process 0 alone writes).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Literal

import pydantic

from ..checkpoints import read_meta
from ..config import Section
from ..studies.ghosts import learned as L
from ..studies.ghosts.learned.config import check_band
from ..metrics.census import product_ghost_mass
from ..nets import NETS
from ..training import ema_model

SCALARS = ("ghost_fraction", "off_fraction", "real_fraction", "t_coordinate", "c_total", "score_rel_err_band",
           "score_eps_mse_band", "gap_peak", "gap_peak_sigma", "gap_final")


class LearnedCell(Section):
    """One cell's settings: the learned study's tables, and `net`, the network kind."""

    net: Literal[tuple(NETS)] = "joint"  # type: ignore[valid-type]
    data: L.Data = L.Data()
    model: L.Model = L.Model()
    loss: L.Loss = L.Loss()
    optim: L.Optim = L.Optim()
    train: L.Train = L.Train()
    eval: L.Eval = L.Eval()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> LearnedCell:
        check_band(self.loss, self.data)
        return self


def study_config(s: LearnedCell, name: str) -> L.Config:
    """The learned study's Config of the cell (model.kinds = [net], no sweep lists)."""
    model = s.model.model_copy(update={"kinds": (s.net,)})
    return L.Config(name=name, data=s.data, model=model, loss=s.loss, optim=s.optim, train=s.train,
                    sweep=L.Sweep(), eval=s.eval)


class LearnedKind:
    name = "learned"
    schema = LearnedCell
    batched = False
    hidden = ("model.kinds",)  # replaced by `net`
    metrics = SCALARS + ("ghost_predicted", "final_loss", "train_s")
    figure_metrics = ("ghost_fraction", "off_fraction", "gap_peak", "score_rel_err_band")

    def static_key(self, s: LearnedCell) -> tuple:
        return ("learned", s.net, s.data.dim)

    def check(self, s: LearnedCell, ctx) -> None:
        return None

    def run(self, cells: list, batch: int, ctx) -> list:
        out = []
        for cell in cells:
            s = cell.settings
            cfg = study_config(s, cell.id)
            spec = {"dim": s.data.dim, "band_factor": s.loss.band_factor, "kind": s.net, "seed": s.train.seed,
                    "name": cell.id}
            with tempfile.TemporaryDirectory() as tmp:
                cell_dir = ctx.out / "cells" / cell.id if ctx.writer else Path(tmp)
                resume = read_meta(cell_dir / "checkpoints") is not None
                t0 = time.perf_counter()
                gm, state, history = L.train_cell(cfg, spec, cell_dir, resume=resume, stop_after=None,
                                                  progress=ctx.progress and ctx.writer, meta={"sweep_cell": cell.label})
                train_s = time.perf_counter() - t0
                ev = L.evaluate(ema_model(state), gm, cfg)
            row = {k: ev[k] for k in SCALARS}
            row.update(ghost_predicted=float(product_ghost_mass(gm)), final_loss=history[-1]["loss"] if history else None,
                       train_s=round(train_s, 3))
            out.append((row, {"sigma": ev["gap_curve"]["sigma"], "gap": ev["gap_curve"]["gap"]}))
        return out


KIND = LearnedKind()

"""The learned-score cell: train one score network on an opposite-corner mixture and evaluate it
against the exact scores (experiments/learned.py does both; this kind runs it per cell).

Settings: the learned study's tables (data, model, loss, optim, train, eval) plus `net`, the
network kind of the cell (model.kinds is replaced by [net]); its seed is train.seed. Grid keys are
dotted: "data.dim", "loss.band_factor", "net", "train.seed", "model.width", ...
Each cell trains on the process's default device (no vmap over cells: every cell is its own
program; networks of equal shape reuse it through the persistent cache). Checkpoints go to
<out>/cells/<id>/checkpoints, so an interrupted cell resumes from its last checkpoint. In a
multi-process run every process trains the same cell (process 0 alone writes).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from ..census import product_ghost_mass
from ..checkpoints import read_meta
from ..config import ConfigError
from ..experiments import learned as L
from ..nets import NET_KINDS
from ..training import ema_model

F = dataclasses.field
SCALARS = ("ghost_fraction", "off_fraction", "real_fraction", "radius", "score_rel_err_band",
           "score_eps_mse_band", "gap_peak", "gap_peak_sigma", "gap_final")


@dataclasses.dataclass(frozen=True)
class LearnedCell:
    net: str = "joint"
    data: L.Data = F(default_factory=L.Data)
    model: L.Model = F(default_factory=L.Model)
    loss: L.Loss = F(default_factory=L.Loss)
    optim: L.Optim = F(default_factory=L.Optim)
    train: L.Train = F(default_factory=L.Train)
    eval: L.Eval = F(default_factory=L.Eval)

    def validate(self):
        if self.net not in NET_KINDS:
            raise ConfigError(f"net: expected one of {', '.join(NET_KINDS)}, got {self.net!r}")


def study_config(s: LearnedCell, name: str) -> L.Config:
    model = dataclasses.replace(s.model, kinds=(s.net,))
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
            row.update(ghost_predicted=product_ghost_mass(gm), final_loss=history[-1]["loss"] if history else None,
                       train_s=round(train_s, 3))
            out.append((row, {"sigma": ev["gap_curve"]["sigma"], "gap": ev["gap_curve"]["gap"]}))
        return out


KIND = LearnedKind()

"""The learned study as a sweep cell (sweeps/learned.py): one network trained on an opposite-corner
mixture and evaluated against the exact scores, at the settings of one grid point.

  Cell         the cell's settings: the study's tables (data, model, loss, optim, train, eval) and
               `net`, the network kind (model.kinds is replaced by [net]); its seed is train.seed
  METRICS      the columns `cell` returns
  cell(s, workspace, name)   train (checkpoints in workspace.checkpoints(name), resumed when one is
               there), evaluate, and return (metrics row, curves)
"""

from __future__ import annotations

from typing import Literal

import pydantic

from ....config import Section
from ....metrics.census import product_ghost_mass
from ....nets import NETS
from ....runio import Workspace
from .config import Config, Data, Eval, Loss, Model, Optim, Sweep, Train, check_band
from .run import mixture, run_cell

SCALARS = ("ghost_fraction", "off_fraction", "real_fraction", "t_coordinate", "c_total", "score_rel_err_band",
           "score_eps_mse_band", "gap_peak", "gap_peak_sigma", "gap_final")
METRICS = SCALARS + ("ghost_predicted", "final_loss", "train_s")


class Cell(Section):
    """One cell's settings: the learned study's tables, and `net`, the network kind."""

    net: Literal[tuple(NETS)] = "joint"  # type: ignore[valid-type]
    data: Data = Data()
    model: Model = Model()
    loss: Loss = Loss()
    optim: Optim = Optim()
    train: Train = Train()
    eval: Eval = Eval()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Cell:
        check_band(self.loss, self.data)
        return self


def study_config(s: Cell, name: str) -> Config:
    """The learned study's Config of the cell (model.kinds = [net], no sweep lists)."""
    model = s.model.model_copy(update={"kinds": (s.net,)})
    return Config(name=name, data=s.data, model=model, loss=s.loss, optim=s.optim, train=s.train,
                  sweep=Sweep(), eval=s.eval)


def cell(s: Cell, workspace: Workspace, name: str, *, progress: bool = False) -> tuple[dict, dict]:
    """Train and evaluate the network of cell `s`: (metrics row with the METRICS keys, curves
    {'sigma', 'gap'}: the trajectory gap against the exact joint score). Checkpoints go to
    workspace.checkpoints(name); training resumes from one when workspace.resume and it is there.
    workspace.meta is recorded in every checkpoint; workspace.stop_after must be None."""
    if workspace.stop_after is not None:
        raise ValueError("workspace: a sweep cell trains to the end (stop_after must be None)")
    cfg = study_config(s, name)
    spec = {"dim": s.data.dim, "band_factor": s.loss.band_factor, "kind": s.net, "seed": s.train.seed, "name": name}
    result, _, _ = run_cell(cfg, spec, workspace, progress=progress)
    row = {k: result[k] for k in SCALARS}
    row.update(ghost_predicted=float(product_ghost_mass(mixture(cfg, s.data.dim))), final_loss=result["final_loss"],
               train_s=result["train_s"])
    return row, {"sigma": result["gap_curve"]["sigma"], "gap": result["gap_curve"]["gap"]}

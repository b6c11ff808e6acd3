"""The learned-score cell: train one score network on an opposite-corner mixture and evaluate it
against the exact scores (studies/ghosts/learned does both; its cell function,
studies.ghosts.learned.cell, runs one grid point).

Settings: the learned study's tables (data, model, loss, optim, train, eval) plus `net`, the
network kind of the cell (model.kinds is replaced by [net]); its seed is train.seed. Grid keys are
dotted: "data.dim", "loss.band_factor", "net", "train.seed", "model.width", ...
Each cell trains on the process's default device (kinds.TrainingKind: no vmap over cells, every
cell is its own program; networks of equal shape reuse it through the persistent cache).
Checkpoints go to <out>/cells/<id>/checkpoints, so an interrupted cell resumes from its last
checkpoint.
"""

from __future__ import annotations

from ..studies.ghosts.learned.cell import METRICS, Cell, cell
from .kinds import TrainingKind


class LearnedKind(TrainingKind):
    name = "learned"
    schema = Cell
    hidden = ("model.kinds",)  # replaced by `net`
    metrics = METRICS
    figure_metrics = ("ghost_fraction", "off_fraction", "gap_peak", "score_rel_err_band")

    def static_key(self, s: Cell) -> tuple:
        return ("learned", s.net, s.data.dim)

    def run_cell(self, c, workspace, progress: bool) -> tuple[dict, dict]:
        return cell(c.settings, workspace, c.id, progress=progress)


KIND = LearnedKind()

"""The hallucination cell (Aithal et al. 2024; studies/hallucination/toy): train one DDPM network on
one data set and measure how many of its samples fall between or beyond the modes, and how well the
trajectory-variance detector finds them. The study's cell function does the work
(studies.hallucination.toy.cell: settings, metrics, keys).

Settings: the study's tables (data, model, loss, optim, train, eval) plus, per cell, `blocks`
(AithalMLP variant, replaces model.blocks), `target` (dsm | exact: regression on the mixture's exact
score) and `source` (fixed training set | fresh mixture draws). Grid keys are dotted: "data.gap"
(1-D modes gap·std apart), "data.n_modes", "data.kind" (line, gaussian25, gaussian25_rotated),
"model.width", "model.depth", "train.steps", "train.seed", "blocks", ...
Each cell trains on the process's default device (kinds.TrainingKind), checkpointed to
<out>/cells/<id>/checkpoints, so an interrupted cell resumes; cells of equal network shape reuse the
compiled training and sampling programs within the process and the persistent cache across runs.
"""

from __future__ import annotations

from ..studies.hallucination.toy.cell import METRICS, Cell, cell
from .kinds import TrainingKind


class HallucinationKind(TrainingKind):
    name = "hallucination"
    study = "hallucination"  # its recorded sweeps feed the toy study's claims and tables (report.load_runs)
    schema = Cell
    hidden = ("model.blocks",)  # replaced by `blocks`
    metrics = METRICS
    figure_metrics = ("out_fraction", "between_fraction", "beyond_fraction", "auc", "detection_at_retention",
                      "exact_out_fraction")

    def static_key(self, s: Cell) -> tuple:
        return ("hallucination", s.data.kind, s.model.kind, s.model.width, s.model.depth, s.blocks)

    def run_cell(self, c, workspace, progress: bool) -> tuple[dict, dict]:
        return cell(c.settings, workspace, c.id, label=c.label, progress=progress)


KIND = HallucinationKind()

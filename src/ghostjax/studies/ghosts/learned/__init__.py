"""Learned scores on opposite-corner mixtures: train networks, then census their samples.

One config trains every (dim, band factor A, network kind, seed) cell of its sweep at the same
budget and evaluates each against the exact joint and exact factorized scores through the same
integrator: real / ghost / off-support fractions of the samples (metrics.census), the
learned-vs-exact score error per σ (and its mean inside the band [σ_lo, σ_hi]), and the
trajectory gap of the learned score against the exact joint score (from the same starting points).

  config.py    the pydantic Config and its sections (Data, Model, Train, Sweep, Eval; Loss, Optim)
  evaluate.py  score errors, trajectory gap, census
  run.py       cells, train_cell, run_cell, `run(cfg, *, progress, resume) -> Results` (the study
               interface, studies/base.py; checkpoints through a runio.Workspace), aggregation
  report.py    Markdown and text tables, figures
  cell.py      the public cell function the learned sweep kind calls
"""

from .config import Config, Data, Eval, Loss, Model, Optim, Sweep, Train
from .evaluate import evaluate, exact_references, score_errors
from .report import figures, format_table, markdown_table, summary_text
from .run import SUMMARY_KEYS, aggregate, build_net, cells, mixture, net_hyper, results, run, run_cell, train_cell

__all__ = [
    "Config", "Data", "Model", "Loss", "Optim", "Train", "Sweep", "Eval",
    "evaluate", "exact_references", "score_errors", "figures", "format_table", "markdown_table", "summary_text",
    "SUMMARY_KEYS", "aggregate", "build_net", "cells", "mixture", "net_hyper", "results", "run", "run_cell",
    "train_cell",
]

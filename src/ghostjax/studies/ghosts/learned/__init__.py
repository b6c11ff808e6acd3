"""Learned scores on opposite-corner mixtures: train networks, then census their samples.

One config trains every (dim, band factor A, network kind, seed) cell of its sweep at the same
budget and evaluates each against the exact joint and exact factorized scores through the same
integrator: real / ghost / off-support fractions of the samples (metrics.census), the
learned-vs-exact score error per σ (and its mean inside the band [σ_lo, σ_hi]), and the
trajectory gap of the learned score against the exact joint score (from the same starting points).

  config.py    the pydantic Config and its sections (Data, Model, Train, Sweep, Eval; Loss, Optim)
  evaluate.py  score errors, trajectory gap, census
  run.py       cells, train_cell, the resume driver `run(cfg, out_dir, ...)`, aggregation
  report.py    Markdown table and figures
"""

from .config import Config, Data, Eval, Loss, Model, Optim, Sweep, Train
from .evaluate import evaluate, exact_references, score_errors
from .report import markdown_table, write_figures
from .run import SUMMARY_KEYS, aggregate, build_net, cells, mixture, net_hyper, run, train_cell

__all__ = [
    "Config", "Data", "Model", "Loss", "Optim", "Train", "Sweep", "Eval",
    "evaluate", "exact_references", "score_errors", "markdown_table", "write_figures",
    "SUMMARY_KEYS", "aggregate", "build_net", "cells", "mixture", "net_hyper", "run", "train_cell",
]

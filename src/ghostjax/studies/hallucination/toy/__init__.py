"""Hallucination by mode interpolation (Aithal, Maini, Lipton, Kolter 2024): DDPM toy experiments on
1-D and 2-D Gaussian mixtures, the trajectory-variance detector, recursive training, and the
questions the paper left open. Run with `python -m ghostjax.train --config configs/hallucination_*.toml`.

  config.py     the pydantic Config (study = "hallucination", task = basic | recursive | gap |
                architecture | ghosts) and its sections
  data.py       the data sets as GaussianMixtures and their fixed equal-count training sets
  nets.py       the networks by name (AithalMLP shared / independent blocks, Fourier input, ...)
  fitting.py    training one network (training.fit on the fixed set, or on the mixture)
  evaluate.py   Aithal et al.'s sampler with the predicted-x0 window; support split, detector, windows
  convergence.py  whether each trained network converged (metrics.convergence): out-of-support
                snapshots at 0.8T, 0.9T, T during training, mode widths / weights of its samples
  run.py        the basic task and `run(cfg, *, progress, resume) -> Results` (metrics, the summary
                and window-study tables, figures; writes nothing: the entry point writes them)
  recursive.py  recursive training with the none / random / variance selection rules
  questions.py  gap and number of modes, architecture, ghosts vs hallucinations
  summary.py    the summary row of one network (shared by run.py, questions.py, cell.py)
  cell.py       the public cell function the hallucination sweep kind calls
  report.py     figures
Its claims (docs/REPRODUCTION.md rows) are in ../claims.py.
"""

from .config import Config
from .data import mixture, training_set
from .run import run
from ..claims import hallucination as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)

__all__ = ["Config", "mixture", "run", "training_set"]

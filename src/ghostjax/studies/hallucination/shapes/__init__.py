"""Image-level hallucination (Aithal, Maini, Lipton, Kolter 2024): the Simple Shapes experiment. A
score network (the equinox UNet by default) trained with DDPM ε-prediction on procedurally generated
Simple Shapes images, sampled through the DDPM sampler with the x̂0 window, its samples classified
by the data set's own rules. Run with `python -m ghostjax.train --config configs/shapes.toml`.
`task = "recursive"` (configs/shapes_recursive.toml) trains generations from scratch on the previous
generation's samples, kept by a selection rule, and measures the rate per generation and rule.

  config.py    the pydantic Config (study = "shapes") and its sections
  data.py      the generator (their rules and pixels, 64×64, and a 32×32 half-scale variant)
  classify.py  the hallucination classifier (connected components, template IoU, column rules)
  run.py       `run(cfg, *, progress, resume) -> Results`: the config's task; basic: train, sample,
               classify, rate with interval, detector (writes nothing; the entry point writes the Results)
  recursive.py the recursive task (`run_recursive`), on run.py's train / sample / rate and the
               theme's selection rules (studies/hallucination/selection.py)
  report.py    figures
"""

from .classify import CATEGORIES, Classification, classify
from .config import Config
from .data import FULL, HALF, ShapesData, generate
from .run import run
from ..claims_shapes import shapes as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)

__all__ = ["CATEGORIES", "Classification", "Config", "FULL", "HALF", "ShapesData", "classify", "generate", "run"]

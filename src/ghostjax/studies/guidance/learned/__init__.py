"""Guidance with a learned class-conditional score (issue 12 item 4; the open question 1 of Ventura
et al. 2026): a ConditionalMLP trained with label dropout (conditional.conditional_dsm_loss through
training.fit) on a Gaussian class mixture, then sampled with constant CFG and with negative-guidance
windows at matched class accuracy, next to the exact scores of the same mixture through the same
sampler with the same random numbers, over several training seeds (mean ± Student-t interval). Does the late negative window still restore the within-class variance with learned scores,
or does it push the samples off the data? Run with
`python -m ghostjax.train --config configs/guidance_learned.toml`.

  config.py  the pydantic Config (study = "guidance_learned") and its [model] / [train] tables
  run.py     training, the guided scans, matching at the target accuracy, the off-data measures,
             `run(cfg, *, progress, resume) -> Results` (metrics; curves scan, score_errors,
             training, summary, loss)
  figures.py the frontier and score-error figures
  claims.py  its row of docs/REPRODUCTION.md (open question 1); the results table is
             studies/guidance/tables.py `learned`
"""

from .claims import learned as claims
from .config import Config
from .run import run

__all__ = ["Config", "claims", "run"]

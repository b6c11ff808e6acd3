"""The studies, grouped by theme (ghosts/, hallucination/, guidance/), each behind one interface
(base.py) and listed once in registry.STUDIES. A study never imports another study; pieces a
theme's studies share sit beside them (guidance/common.py, guidance/meanfield.py)."""

from .base import Claim, Results, finite_metrics, no_progress

__all__ = ["Claim", "Results", "finite_metrics", "no_progress"]

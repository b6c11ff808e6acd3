"""Metrics: pure functions of samples, curves and mixtures, shared by every study and sweep.

  census      real / ghost / off-support (one definition), ghost counts, product-of-marginals mass
  peaks       peak location with bootstrap intervals, level crossings
  gaps        distribution and trajectory gaps, score magnitudes, entropy production
  speciation  speciation σ from the covariance, clone probabilities, coupled-corner tables

A metric never imports a study.
"""

from .census import census, classify, corner_counts, product_ghost_mass, thresholds

__all__ = ["census", "classify", "corner_counts", "product_ghost_mass", "thresholds"]

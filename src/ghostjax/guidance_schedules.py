"""Standard non-negative CFG weight schedules beside guidance.py's (constant, negative window,
w0 + ω t): guidance in a limited σ interval (Kynkäänniemi et al. 2024) and the two monotone ramps
that grow as sampling proceeds (linear and cosine; the "increasing" schedulers of Wang et al. 2024),
as Schedules and as guidance families (config values, tagged by `kind`; SCHEDULE_FAMILIES).

Clock as in guidance.py: OU time t = ½ log(1 + σ²). The ramps are written in the sampling progress
p = 1 − t / t_max ∈ [0, 1] (0 at the sampler's σ_max, 1 at σ = 0; t_max = t(σ_max), p clipped):

  Interval   w(σ) = w for sigma_lo < σ ≤ sigma_hi, 0 outside
  Ramp       w(σ) = w p                       (linearly increasing along the reverse process)
  CosineRamp w(σ) = w (1 − cos(π p)) / 2      (cosine ramp, same ends)
"""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
from jaxtyping import Array, Float
from pydantic import Field, model_validator

from ._util import concrete
from .guidance import AbstractFamily, Schedule, _arr, t_of_sigma


def _progress(t, t_max):
    """p = clip(1 − t / t_max, 0, 1)."""
    return jnp.clip(1.0 - t / t_max.astype(t.dtype), 0.0, 1.0)


class Interval(Schedule):
    """w inside the band sigma_lo < σ ≤ sigma_hi, 0 outside (Kynkäänniemi et al. 2024)."""

    w: Float[Array, ""]
    t_lo: Float[Array, ""]
    t_hi: Float[Array, ""]

    def __init__(self, w, sigma_lo, sigma_hi):
        lo, hi = concrete(sigma_lo), concrete(sigma_hi)
        if lo is not None and hi is not None and not 0 <= float(lo) < float(hi):
            raise ValueError(f"sigma_lo: need 0 ≤ sigma_lo < sigma_hi, got {sigma_lo}, {sigma_hi}")
        self.w, self.t_lo, self.t_hi = _arr(w), t_of_sigma(_arr(sigma_lo)), t_of_sigma(_arr(sigma_hi))

    def at_time(self, t):
        inside = (t > self.t_lo.astype(t.dtype)) & (t <= self.t_hi.astype(t.dtype))
        return jnp.where(inside, self.w.astype(t.dtype), jnp.zeros((), t.dtype))


class Ramp(Schedule):
    """w(σ) = w p, p = 1 − t(σ)/t(σ_max) clipped to [0, 1]: 0 at σ_max, w at σ = 0."""

    w: Float[Array, ""]
    t_max: Float[Array, ""]

    def __init__(self, w, sigma_max):
        s = concrete(sigma_max)
        if s is not None and not float(s) > 0:
            raise ValueError(f"sigma_max: must be positive, got {sigma_max}")
        self.w, self.t_max = _arr(w), t_of_sigma(_arr(sigma_max))

    def at_time(self, t):
        return self.w.astype(t.dtype) * _progress(t, self.t_max)


class CosineRamp(Ramp):
    """w(σ) = w (1 − cos(π p)) / 2 with Ramp's progress p: 0 at σ_max, w at σ = 0, flat at both ends."""

    def at_time(self, t):
        return self.w.astype(t.dtype) * 0.5 * (1.0 - jnp.cos(math.pi * _progress(t, self.t_max)))


class IntervalCFG(AbstractFamily):
    """CFG with weight w inside sigma_lo < σ ≤ sigma_hi and none outside (Kynkäänniemi et al. 2024)."""

    kind: Literal["interval"] = "interval"
    sigma_lo: float = Field(0.28, ge=0)
    sigma_hi: float = Field(5.42, gt=0)

    @model_validator(mode="after")
    def _band(self):
        if not self.sigma_lo < self.sigma_hi:
            raise ValueError("sigma_hi: must exceed sigma_lo")
        return self

    def schedule(self, w):
        return Interval(w, self.sigma_lo, self.sigma_hi)

    def label(self):
        return f"interval σ ∈ ({self.sigma_lo:g}, {self.sigma_hi:g}]"


class RampCFG(AbstractFamily):
    """CFG with w(σ) = w (1 − t/t_max): linearly increasing as sampling proceeds, t_max = t(sigma_max)."""

    kind: Literal["ramp"] = "ramp"
    sigma_max: float = Field(40.0, gt=0)

    def schedule(self, w):
        return Ramp(w, self.sigma_max)

    def label(self):
        return "linear ramp w (1 − t/t_max)"


class CosineCFG(AbstractFamily):
    """CFG with the cosine ramp w (1 − cos(π (1 − t/t_max)))/2, t_max = t(sigma_max)."""

    kind: Literal["cosine"] = "cosine"
    sigma_max: float = Field(40.0, gt=0)

    def schedule(self, w):
        return CosineRamp(w, self.sigma_max)

    def label(self):
        return "cosine ramp"


SCHEDULE_FAMILIES = (IntervalCFG, RampCFG, CosineCFG)
"""The families of this module (extend guidance.FAMILIES' classes with them where a study needs them)."""

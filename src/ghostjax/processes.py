"""Noise processes and σ grids.

The engine works in the variance-exploding (VE) parametrisation x_σ = x_0 + σ ε. A
variance-preserving (VP) process x_t = α_t x_0 + β_t ε (α_t² + β_t² = 1) is the same process seen
through σ = β_t / α_t and x_VE = x_VP / α_t, so every grid below is returned as VE σ values and the
VP quantities are recovered with `vp_alpha` / `vp_score`.

Grids are descending arrays [n + 1] from σ_max to the last value (0 when `include_zero`).

Grids as config values: `GeometricGrid`, `EDMGrid` (ρ) and `DDPMGrid` (its β schedule) are Sections
tagged by `kind` (the name a config writes, once); `Grid` is the config field type (a table
{kind = "edm", rho = 5.0} or the bare name "edm"), and `grid.sigmas(n, sigma_max, sigma_min)` the
grid itself.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float
from pydantic import Field

from ._util import concrete
from .config import Section, tag_of, tagged


def _check_range(sigma_max, sigma_min, n: int) -> None:
    if n < 1:
        raise ValueError(f"n: number of steps must be at least 1, got {n}")
    hi, lo = concrete(sigma_max), concrete(sigma_min)
    if hi is not None and not hi > 0:
        raise ValueError(f"sigma_max: must be positive, got {sigma_max}")
    if hi is not None and lo is not None and not 0 < lo < hi:
        raise ValueError(f"sigma_min: must lie in (0, sigma_max), got {sigma_min}")


def _dtype(dtype, *values):
    if dtype is not None:
        return jnp.dtype(dtype)
    traced = [v for v in values if concrete(v) is None]
    return jnp.result_type(*traced) if traced else jnp.result_type(float)


def _grid(formula, values: tuple, n: int, include_zero: bool, dtype) -> Float[Array, " m"]:
    """Evaluate formula(xp, i [m], *values) -> σ [m] at i = 0 … 1 (m = n + 1 − include_zero), in
    float64 NumPy when every value is concrete (exact end points), else in JAX (traced values)."""
    dt = _dtype(dtype, *values)
    m = n + 1 - int(include_zero)
    if all(concrete(v) is not None for v in values):
        s = jnp.asarray(formula(np, np.arange(m) / max(m - 1, 1), *(np.float64(v) for v in values)), dt)
    else:
        s = formula(jnp, jnp.arange(m, dtype=dt) / max(m - 1, 1), *(jnp.asarray(v, dt) for v in values))
    return jnp.concatenate([s, jnp.zeros((1,), dt)]) if include_zero else s


def _geometric(xp, i, hi, lo):
    return xp.exp(xp.log(hi) + i * (xp.log(lo) - xp.log(hi)))


def _karras(xp, i, hi, lo, rho):
    a, b = hi ** (1.0 / rho), lo ** (1.0 / rho)
    return (a + i * (b - a)) ** rho


def geometric_grid(sigma_max, sigma_min, n: int, include_zero: bool = True, dtype=None) -> Float[Array, " m"]:
    """n geometric steps σ_max → σ_min (n + 1 values), then 0 if include_zero.

    σ_max and σ_min may be traced (sweeps vmap over them); n is static."""
    _check_range(sigma_max, sigma_min, n)
    return _grid(_geometric, (sigma_max, sigma_min), n, include_zero, dtype)


def edm_grid(sigma_max, sigma_min, n: int, rho=7.0, include_zero: bool = True, dtype=None) -> Float[Array, " m"]:
    """Karras et al. (2022) grid σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.

    N = n (+1 without the final zero) values, then 0: n steps in all when include_zero.
    σ_max, σ_min and ρ may be traced; n is static."""
    _check_range(sigma_max, sigma_min, n)
    r = concrete(rho)
    if r is not None and not r > 0:
        raise ValueError(f"rho: must be positive, got {rho}")
    return _grid(_karras, (sigma_max, sigma_min, rho), n, include_zero, dtype)


def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """DDPM linear β_t, t = 1…T (Ho et al. 2020 default 1e-4…0.02)."""
    if T < 1:
        raise ValueError(f"T: must be at least 1, got {T}")
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"beta_start/beta_end: need 0 < beta_start ≤ beta_end < 1, got {beta_start}, {beta_end}")
    return np.linspace(beta_start, beta_end, T)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal cosine schedule β_t, t = 1…T, clipped at max_beta."""
    if T < 1:
        raise ValueError(f"T: must be at least 1, got {T}")
    t = np.arange(T + 1) / T
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    abar = f / f[0]
    return np.clip(1.0 - abar[1:] / abar[:-1], 0.0, max_beta)


def sigmas_from_betas(betas, include_zero: bool = True, dtype=None) -> Float[Array, " m"]:
    """VE σ_t = sqrt((1 − ᾱ_t)/ᾱ_t) for t = T…1 (descending), then 0 (t = 0).

    ᾱ_t = Π_{s≤t}(1 − β_s); 1/ᾱ_t − 1 = expm1(−Σ log1p(−β)) is computed without cancellation.
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0:
        raise ValueError("betas: expected a non-empty 1-D array")
    if np.any(betas <= 0) or np.any(betas >= 1):
        raise ValueError("betas: every β_t must lie in (0, 1)")
    sig = np.sqrt(np.expm1(-np.cumsum(np.log1p(-betas))))
    s = np.concatenate([sig[::-1], [0.0]]) if include_zero else sig[::-1]
    return jnp.asarray(s, jnp.dtype(dtype) if dtype is not None else jnp.result_type(float))


def ddpm_grid(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, schedule: str = "linear",
              dtype=None) -> Float[Array, " m"]:
    """The DDPM discrete grid as VE σ values [T + 1] (σ_T … σ_1, 0)."""
    if schedule == "linear":
        betas = linear_betas(T, beta_start, beta_end)
    elif schedule == "cosine":
        betas = cosine_betas(T)
    else:
        raise ValueError(f"schedule: expected 'linear' or 'cosine', got {schedule!r}")
    return sigmas_from_betas(betas, dtype=dtype)


def vp_alpha(sigma):
    """α = 1/√(1+σ²) of the VP process matching VE noise level σ (so β = σ α)."""
    return 1.0 / jnp.sqrt(1.0 + sigma * sigma)


def ve_sigma(alpha):
    """VE σ = β/α = √(1 − α²)/α for a VP signal level α ∈ (0, 1]."""
    return jnp.sqrt(1.0 - alpha * alpha) / alpha


def vp_score(score, x_vp, sigma):
    """Score of the VP marginal at x_vp, from a VE score: s_VP(x) = s_VE(x/α, σ)/α."""
    a = vp_alpha(sigma)
    return score(x_vp / a, sigma) / a


class AbstractGrid(Section):
    """How a grid spaces its n steps: `sigmas(n, sigma_max, sigma_min)` -> descending σ [n + 1],
    ending at 0. Subclasses carry a `kind` tag (a one-value Literal, the name a config writes) and
    their own parameters. σ_max and σ_min may be traced; n is static; `spans_range` is False for a
    grid that fixes its own σ range (the DDPM grid ignores σ_max and σ_min)."""

    spans_range: ClassVar[bool] = True

    def sigmas(self, n: int, sigma_max: Float[ArrayLike, ""], sigma_min: Float[ArrayLike, ""],
               dtype=None) -> Float[Array, " m"]:
        raise NotImplementedError


class GeometricGrid(AbstractGrid):
    """n geometric steps σ_max → σ_min, then 0 (`geometric_grid`)."""

    kind: Literal["geometric"] = "geometric"

    def sigmas(self, n, sigma_max, sigma_min, dtype=None):
        return geometric_grid(sigma_max, sigma_min, n, dtype=dtype)


class EDMGrid(AbstractGrid):
    """The Karras et al. grid with exponent ρ (`edm_grid`); ρ may be traced through
    `model_copy(update={"rho": ...})` (sweeps vmap over it)."""

    kind: Literal["edm"] = "edm"
    rho: float = Field(7.0, gt=0)

    def sigmas(self, n, sigma_max, sigma_min, dtype=None):
        return edm_grid(sigma_max, sigma_min, n, rho=self.rho, dtype=dtype)


class DDPMGrid(AbstractGrid):
    """The DDPM discrete grid of T = n levels (`ddpm_grid`: linear β beta_start → beta_end, or the
    cosine schedule); its σ range is its own (σ_max and σ_min are ignored)."""

    kind: Literal["ddpm"] = "ddpm"
    beta_start: float = Field(1e-4, gt=0, lt=1)
    beta_end: float = Field(0.02, gt=0, lt=1)
    schedule: Literal["linear", "cosine"] = "linear"
    spans_range: ClassVar[bool] = False

    def sigmas(self, n, sigma_max=None, sigma_min=None, dtype=None):
        return ddpm_grid(n, self.beta_start, self.beta_end, self.schedule, dtype=dtype)


GRIDS: dict[str, type[AbstractGrid]] = {tag_of(c): c for c in (GeometricGrid, EDMGrid, DDPMGrid)}
Grid = tagged(*GRIDS.values())
"""Config field type of a σ grid: one of GRIDS' classes, as a table or its bare name."""

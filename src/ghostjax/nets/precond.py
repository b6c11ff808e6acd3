"""Preconditionings: how a body F(x_in, emb) becomes a score and a denoiser, so that one set of
weights spans σ from 1e-3 to 1e2. Both act coordinate-wise around F, so a body whose output i
depends only on x_i gives a score whose Jacobian is exactly diagonal.

  EDMPrecond(σ_d)  (Karras et al. 2022): D(x) = c_skip x + c_out F(c_in x), score = (D(x) − x)/σ²,
                   c_skip = σ_d²/(σ²+σ_d²), c_out = σσ_d/√(σ²+σ_d²), c_in = 1/√(σ²+σ_d²).
  EpsPrecond()     (DDPM ε-prediction, as in Aithal et al.): ε̂ = F(x/√(1+σ²)), score = −ε̂/σ,
                   D(x) = x − σ ε̂.
`PRECONDS` maps the names used in config files to the classes; `cls.for_data(σ_d)` builds one for
data of scale σ_d (EpsPrecond ignores it).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

Vec = Float[Array, " D"]
Scalar = Float[Array, ""]


class AbstractPrecond(eqx.Module):
    """Network input, score and denoiser from the body output f = F(inputs(x, σ), emb), all [D]."""

    @classmethod
    def for_data(cls, sigma_data: float) -> AbstractPrecond:
        """The preconditioning for data of overall std `sigma_data`."""
        del sigma_data
        return cls()

    @abc.abstractmethod
    def inputs(self, x: Vec, sigma: Scalar) -> Vec:
        """The body's input for x at noise level σ."""

    @abc.abstractmethod
    def score(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        """Score estimate ∇ log p_σ(x) from the body output f."""

    @abc.abstractmethod
    def denoise(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        """Denoiser estimate E[x_0 | x_σ = x] from the body output f."""


class EDMPrecond(AbstractPrecond):
    """EDM preconditioning with data std `sigma_data` (see the module docstring)."""

    sigma_data: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not self.sigma_data > 0:
            raise ValueError(f"sigma_data: must be > 0, got {self.sigma_data}")

    @classmethod
    def for_data(cls, sigma_data: float) -> EDMPrecond:
        return cls(float(sigma_data))

    def inputs(self, x: Vec, sigma: Scalar) -> Vec:
        c_in = jax.lax.rsqrt(sigma * sigma + jnp.asarray(self.sigma_data**2, x.dtype))
        return c_in * x

    def _r(self, x: Vec, sigma: Scalar) -> tuple[Scalar, Scalar]:
        sd = jnp.asarray(self.sigma_data, x.dtype)
        return sd, jax.lax.rsqrt(sigma * sigma + sd * sd)

    def score(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        # (D(x) − x)/σ² with D = c_skip x + c_out F, simplified to avoid the 1/σ² cancellation:
        # c_skip − 1 = −σ² r² with r = 1/√(σ²+σ_d²), so score = −r² x + (σ_d r / σ) F.
        sd, r = self._r(x, sigma)
        return -(r * r) * x + (sd * r / sigma) * f

    def denoise(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        sd, r = self._r(x, sigma)
        return (sd * sd * r * r) * x + (sigma * sd * r) * f


class EpsPrecond(AbstractPrecond):
    """ε-prediction on VP-scaled inputs (see the module docstring)."""

    def inputs(self, x: Vec, sigma: Scalar) -> Vec:
        # Above σ = 1e4, 1 + σ² rounds to σ² in float32, and σ² overflows past σ ≈ 1.8e19 (Aithal et
        # al.'s DDPM grid reaches σ_T ≈ 3e23): divide by σ there.
        return jnp.where(sigma > 1e4, x / sigma, x / jnp.sqrt(1.0 + sigma * sigma))

    def score(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        return -f / sigma

    def denoise(self, f: Vec, x: Vec, sigma: Scalar) -> Vec:
        return x - sigma * f


PRECONDS: dict[str, type[AbstractPrecond]] = {"edm": EDMPrecond, "eps": EpsPrecond}

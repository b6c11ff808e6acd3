"""Noise embeddings: the scalar c_noise = ¼ ln σ as [cos(f c), sin(f c)] over dim/2 frequencies f.

An embedding is an `AbstractEmbedding` whose `frequencies()` [dim/2] are fixed (not parameters):
  SinusoidalEmbedding  geometric frequencies from 1 to max_freq
  FourierEmbedding     random Gaussian frequencies of scale max_freq/6, drawn from a constant key
`EMBEDDINGS` maps the names used in config files to the classes.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractEmbedding(eqx.Module):
    """c_noise (scalar) -> features [dim] (dim even)."""

    dim: eqx.AbstractVar[int]
    max_freq: eqx.AbstractVar[float]

    def __check_init__(self):
        if self.dim < 2 or self.dim % 2:
            raise ValueError(f"embed_dim: must be an even integer >= 2, got {self.dim}")

    @abc.abstractmethod
    def frequencies(self) -> Float[Array, " half"]:
        """The dim/2 frequencies (float32 constants)."""

    def __call__(self, c_noise: Float[Array, ""]) -> Float[Array, " dim"]:
        arg = self.frequencies().astype(c_noise.dtype) * c_noise
        return jnp.concatenate([jnp.cos(arg), jnp.sin(arg)])


class SinusoidalEmbedding(AbstractEmbedding):
    """Geometric frequencies exp(linspace(0, ln max_freq, dim/2))."""

    dim: int = eqx.field(static=True)
    max_freq: float = eqx.field(static=True, default=100.0)

    def frequencies(self) -> Float[Array, " half"]:
        return jnp.exp(jnp.linspace(0.0, math.log(self.max_freq), self.dim // 2))


class FourierEmbedding(AbstractEmbedding):
    """Random Fourier features: frequencies (max_freq/6)·N(0, 1) from the constant key 0."""

    dim: int = eqx.field(static=True)
    max_freq: float = eqx.field(static=True, default=100.0)

    def frequencies(self) -> Float[Array, " half"]:
        return (self.max_freq / 6.0) * jax.random.normal(jax.random.PRNGKey(0), (self.dim // 2,))


EMBEDDINGS: dict[str, type[AbstractEmbedding]] = {"sinusoidal": SinusoidalEmbedding, "fourier": FourierEmbedding}

"""The abstract score network: one call signature net(x [D], σ) -> score [D] for every body.

A concrete network (mlps.py, aithal.py) is a final subclass of `AbstractScoreNet` that declares its
own fields, among them `embedding` (an AbstractEmbedding of c_noise = ¼ ln σ) and `precond` (an
AbstractPrecond), and implements `body(x_in [D], emb [E]) -> [D]`. The score and the denoiser
are the preconditioning of the body output, computed here once for all networks.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .embedding import AbstractEmbedding
from .precond import AbstractPrecond


def check_dim(dim: int) -> int:
    """`dim` as a positive int (ValueError naming `dim` otherwise)."""
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim}")
    return int(dim)


class AbstractScoreNet(eqx.Module):
    """Preconditioning around a body F(x_in [D], emb [E]) -> [D]."""

    embedding: eqx.AbstractVar[AbstractEmbedding]
    precond: eqx.AbstractVar[AbstractPrecond]

    @abc.abstractmethod
    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        """The raw network output F for preconditioned input x_in and noise embedding emb."""

    def _features(self, x, sigma):
        x = jnp.asarray(x)
        sigma = jnp.asarray(sigma, x.dtype)
        f = self.body(self.precond.inputs(x, sigma), self.embedding(0.25 * jnp.log(sigma)))
        return f, x, sigma

    def __call__(self, x: Float[Array, " D"], sigma: Float[ArrayLike, ""]) -> Float[Array, " D"]:
        """Score estimate ∇ log p_σ(x), shape [D]."""
        f, x, sigma = self._features(x, sigma)
        return self.precond.score(f, x, sigma)

    def denoise(self, x: Float[Array, " D"], sigma: Float[ArrayLike, ""]) -> Float[Array, " D"]:
        """Predicted E[x_0 | x_σ = x], shape [D]."""
        f, x, sigma = self._features(x, sigma)
        return self.precond.denoise(f, x, sigma)

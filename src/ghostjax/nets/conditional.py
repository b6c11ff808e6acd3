"""A class-conditional score network and the per-example score callables CFG needs.

  ConditionalMLP  net(x [D], σ, c) -> score [D]: an MLP on [c_in x, e(σ) + E_c] (JointMLP's body,
                  preconditioning and noise embedding e(σ), with a learned class embedding E [M + 1, E]
                  added to the noise embedding); c ∈ 0 … M−1 a class, c = M the null class (the
                  unconditional score of label-dropout training, conditional.conditional_dsm_loss).
  CondScore       s(x | c) = net(x, σ, c) as a per-example score(x, σ) (c an int array: traced)
  UncondScore     s(x) = net(x, σ, M)
  guided(net, c, schedule)  guidance.CFG(CondScore(net, c), UncondScore(net), schedule)

Import from ghostjax.nets.conditional (not in the nets registry: its call takes a label).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ..guidance import CFG
from .base import check_dim
from .embedding import AbstractEmbedding, SinusoidalEmbedding
from .layers import mlp_apply
from .precond import AbstractPrecond, EDMPrecond


class ConditionalMLP(eqx.Module):
    """Class-conditional JointMLP (module docstring). n_classes = M real classes; null class M."""

    mlp: eqx.nn.MLP
    class_embedding: Float[Array, "M1 E"]
    embedding: AbstractEmbedding
    precond: AbstractPrecond
    n_classes: int = eqx.field(static=True)

    def __init__(self, dim: int, n_classes: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3,
                 embed_dim: int = 32, embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EDMPrecond, sigma_data: float = 1.0, class_init: float = 1.0):
        dim = check_dim(dim)
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes: must be a positive integer, got {n_classes}")
        k_mlp, k_emb = jax.random.split(key)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        self.mlp = eqx.nn.MLP(dim + embed_dim, dim, width, depth, activation=jax.nn.silu, key=k_mlp)
        self.class_embedding = class_init * jax.random.normal(k_emb, (n_classes + 1, embed_dim))
        self.n_classes = int(n_classes)

    @property
    def null_class(self) -> int:
        return self.n_classes

    def _features(self, x, sigma, label):
        x = jnp.asarray(x)
        sigma = jnp.asarray(sigma, x.dtype)
        emb = self.embedding(0.25 * jnp.log(sigma)) + self.class_embedding[label].astype(x.dtype)
        f = mlp_apply(self.mlp, jnp.concatenate([self.precond.inputs(x, sigma), emb]))
        return f, x, sigma

    def __call__(self, x: Float[Array, " D"], sigma: Float[ArrayLike, ""], label: Int[ArrayLike, ""]) -> Float[Array, " D"]:
        """Score estimate ∇ log p_σ(x | c = label) (label = M: ∇ log p_σ(x)), [D]."""
        f, x, sigma = self._features(x, sigma, label)
        return self.precond.score(f, x, sigma)

    def denoise(self, x: Float[Array, " D"], sigma: Float[ArrayLike, ""], label: Int[ArrayLike, ""]) -> Float[Array, " D"]:
        """Predicted E[x_0 | x_σ = x, c = label], [D]."""
        f, x, sigma = self._features(x, sigma, label)
        return self.precond.denoise(f, x, sigma)


class CondScore(eqx.Module):
    """s(x | c) = net(x, σ, label) as a per-example score (x [D], σ) -> [D]; label traced."""

    net: ConditionalMLP
    label: Int[Array, ""]

    def __init__(self, net: ConditionalMLP, label):
        self.net, self.label = net, jnp.asarray(label, jnp.int32)

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        return self.net(x, sigma, self.label)


class UncondScore(eqx.Module):
    """s(x) = net(x, σ, M) (the null class) as a per-example score (x [D], σ) -> [D]."""

    net: ConditionalMLP

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        return self.net(x, sigma, jnp.int32(self.net.null_class))


def guided(net: ConditionalMLP, label, schedule=0.0) -> CFG:
    """Classifier-free guidance of the learned scores towards class `label`:
    s(x|c) + w(σ)(s(x|c) − s(x)), schedule a guidance.Schedule or a number."""
    return CFG(CondScore(net, label), UncondScore(net), schedule)

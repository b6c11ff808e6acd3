"""MLP score networks: JointMLP (every output sees every coordinate), FactorizedNet (output i sees
x_i and σ only: an exactly diagonal score Jacobian), PooledNet (per-position outputs that also see
a mean over positions).

Each takes `embedding` and `precond` classes (built here with `embed_dim` and `sigma_data`).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .base import AbstractScoreNet, check_dim
from .embedding import AbstractEmbedding, SinusoidalEmbedding
from .layers import mlp_apply
from .precond import AbstractPrecond, EDMPrecond

FACTORIZED_MODES = ("shared", "ensemble")


def _mlp(n_in: int, n_out, width: int, depth: int, *, key: PRNGKeyArray) -> eqx.nn.MLP:
    return eqx.nn.MLP(n_in, n_out, width, depth, activation=jax.nn.silu, key=key)


def _per_position(mlp, x_in, emb, coords, extra=None):
    """Apply a scalar-output mlp to each position i on [x_i, emb, coord_i(, extra)] -> [D]."""
    def one(xi, ci):
        parts = [xi[None], emb, ci] + ([extra] if extra is not None else [])
        return mlp_apply(mlp, jnp.concatenate(parts))
    return jax.vmap(one)(x_in, coords)


class JointMLP(AbstractScoreNet):
    """MLP on [c_in x, emb] -> [D]: every output sees every coordinate."""

    mlp: eqx.nn.MLP
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EDMPrecond, sigma_data: float = 1.0):
        dim = check_dim(dim)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        self.mlp = _mlp(dim + embed_dim, dim, width, depth, key=key)

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        return mlp_apply(self.mlp, jnp.concatenate([x_in, emb]))


class FactorizedNet(AbstractScoreNet):
    """Output i depends only on x_i and σ: the Jacobian of the score is exactly diagonal.

    mode 'shared': one MLP for all positions, told which position by a learned embedding [D, C].
    mode 'ensemble': D independent MLPs (a vmapped ensemble, leading axis D on every weight).
    """

    mlp: eqx.nn.MLP
    coords: Float[Array, "D C"]
    mode: Literal["shared", "ensemble"] = eqx.field(static=True)
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EDMPrecond, sigma_data: float = 1.0,
                 mode: str = "shared", coord_dim: int = 8):
        if mode not in FACTORIZED_MODES:
            raise ValueError(f"mode: expected 'shared' or 'ensemble', got {mode!r}")
        dim = check_dim(dim)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        k_mlp, k_c = jax.random.split(key)
        c = coord_dim if mode == "shared" else 0

        def make(k):
            return _mlp(1 + embed_dim + c, "scalar", width, depth, key=k)

        if mode == "shared":
            self.mlp = make(k_mlp)
        else:
            self.mlp = eqx.filter_vmap(make)(jax.random.split(k_mlp, dim))
        self.coords = jax.random.normal(k_c, (dim, c)) if c else jnp.zeros((dim, 0))
        self.mode = mode

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        if self.mode == "shared":
            return _per_position(self.mlp, x_in, emb, self.coords)

        def one(mlp, xi):
            return mlp_apply(mlp, jnp.concatenate([xi[None], emb]))
        return eqx.filter_vmap(one)(self.mlp, x_in)


class PooledNet(AbstractScoreNet):
    """Per-position outputs that also see a permutation-invariant pooled summary.

    h_i = φ([x_i, emb, c_i]) ∈ R^H, m = mean_i h_i, out_i = ψ([x_i, emb, c_i, m]). The mean over
    positions is the cheapest cross-dimension information (one H-vector shared by all outputs).
    """

    phi: eqx.nn.MLP
    psi: eqx.nn.MLP
    coords: Float[Array, "D C"]
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EDMPrecond, sigma_data: float = 1.0,
                 coord_dim: int = 8, pool_dim: int = 32):
        dim = check_dim(dim)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        k1, k2, k3 = jax.random.split(key, 3)
        inp = 1 + embed_dim + coord_dim
        self.phi = _mlp(inp, pool_dim, width, max(depth - 1, 1), key=k1)
        self.psi = _mlp(inp + pool_dim, "scalar", width, depth, key=k2)
        self.coords = jax.random.normal(k3, (dim, coord_dim))

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        h = _per_position(self.phi, x_in, emb, self.coords)  # [D, H]
        return _per_position(self.psi, x_in, emb, self.coords, extra=jnp.mean(h, axis=0))

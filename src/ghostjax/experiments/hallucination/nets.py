"""The study's networks by name, all ε-preconditioned (DDPM ε-prediction):

  aithal           nets.AithalMLP; blocks 'shared' (one block applied `depth` times, as Aithal et
                   al.'s code does) or 'independent'
  fourier_aithal   FourierAithal: the same body fed [x, sin 2πBx, cos 2πBx] with a fixed random B
                   (a joint-aware input: every feature mixes all coordinates)
  factorized       nets.FactorizedNet (output i sees x_i only: ghosts task)
  joint            nets.JointMLP
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ...nets import AbstractScoreNet, AithalBlock, SinusoidalEmbedding, make_net
from ...nets.embedding import AbstractEmbedding
from ...nets.layers import dense, layer_norm
from ...nets.precond import AbstractPrecond, EpsPrecond
from .config import Model


def _act(v):
    return jax.nn.leaky_relu(v, 0.02)


class FourierAithal(AbstractScoreNet):
    """AithalMLP body on Fourier features of the input: Linear([x, sin 2πBx, cos 2πBx] → W, no bias)
    → `depth` AithalBlocks (independent) → LayerNorm → Linear(W → D). B [F, D] ~ scale·N(0, 1) is
    fixed (a stop-gradient constant)."""

    freqs: Float[Array, "F D"]
    inp: eqx.nn.Linear
    blocks: tuple[AithalBlock, ...]
    norm: eqx.nn.LayerNorm
    out: eqx.nn.Linear
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 128,
                 features: int = 32, scale: float = 1.0):
        keys = jax.random.split(key, depth + 3)
        self.freqs = scale * jax.random.normal(keys[0], (features, dim))
        self.embedding, self.precond = SinusoidalEmbedding(embed_dim), EpsPrecond()
        self.inp = eqx.nn.Linear(dim + 2 * features, width, use_bias=False, key=keys[1])
        self.blocks = tuple(AithalBlock(width, embed_dim, key=k) for k in keys[2:2 + depth])
        self.norm = eqx.nn.LayerNorm(width)
        self.out = eqx.nn.Linear(width, dim, key=keys[-1])

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        arg = 2.0 * jnp.pi * (jax.lax.stop_gradient(self.freqs) @ x_in)
        h = dense(self.inp, jnp.concatenate([x_in, jnp.sin(arg), jnp.cos(arg)]))
        for block in self.blocks:
            h = block(h, emb)
        return dense(self.out, layer_norm(self.norm, h))


def build_net(m: Model, dim: int, key: PRNGKeyArray, *, kind: str | None = None, blocks: str = "shared",
              width: int | None = None, depth: int | None = None) -> AbstractScoreNet:
    """The network `kind` (default m.kind) with [model]'s hyperparameters, overridable per variant."""
    kind = kind or m.kind
    width, depth = width or m.width, depth or m.depth
    if kind == "aithal":
        return make_net("aithal", dim, key=key, width=width, depth=depth, embed_dim=m.embed_dim,
                        shared_blocks=blocks == "shared", precond="eps")
    if kind == "fourier_aithal":
        return eqx.filter_jit(lambda k: FourierAithal(dim, key=k, width=width, depth=depth, embed_dim=m.embed_dim,
                                                      features=m.fourier_features, scale=m.fourier_scale))(key)
    if kind == "factorized":
        return make_net("factorized", dim, key=key, width=width, depth=depth, embed_dim=m.embed_dim, precond="eps")
    return make_net("joint", dim, key=key, width=width, depth=depth, embed_dim=m.embed_dim, precond="eps")

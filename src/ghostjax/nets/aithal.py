"""The toy residual score network of Aithal et al. (2024), "Understanding hallucinations in
diffusion models through mode interpolation".

Linear(D→W, no bias) → `depth` time-conditioned residual blocks (LayerNorm → LeakyReLU(0.02) →
Linear + projected noise embedding; LayerNorm → LeakyReLU → Linear; skip) → LayerNorm → Linear(W→D).
Blocks have independent weights by default; `shared_blocks=True` applies one block `depth` times,
as the public code of the paper does (by accident). `t_proj=True` passes the noise embedding once
through Linear(E→E) + LeakyReLU(0.02) before the blocks, as their code's `t_proj` does (default off:
the architecture of the recorded runs). Default preconditioning: ε-prediction.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .base import AbstractScoreNet, check_dim
from .embedding import AbstractEmbedding, SinusoidalEmbedding
from .layers import dense, layer_norm
from .precond import AbstractPrecond, EpsPrecond


def _act(v):
    return jax.nn.leaky_relu(v, 0.02)


class AithalBlock(eqx.Module):
    """h + Linear(act(LN(Linear(act(LN(h))) + Linear(emb)))), width W."""

    norm1: eqx.nn.LayerNorm
    lin1: eqx.nn.Linear
    temb: eqx.nn.Linear
    norm2: eqx.nn.LayerNorm
    lin2: eqx.nn.Linear

    def __init__(self, width: int, embed_dim: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(width), eqx.nn.LayerNorm(width)
        self.lin1 = eqx.nn.Linear(width, width, key=k1)
        self.temb = eqx.nn.Linear(embed_dim, width, key=k2)
        self.lin2 = eqx.nn.Linear(width, width, key=k3)

    def __call__(self, h: Float[Array, " W"], emb: Float[Array, " E"]) -> Float[Array, " W"]:
        u = dense(self.lin1, _act(layer_norm(self.norm1, h))) + dense(self.temb, emb)
        return h + dense(self.lin2, _act(layer_norm(self.norm2, u)))


class AithalMLP(AbstractScoreNet):
    """Aithal et al.'s residual MLP (see the module docstring)."""

    inp: eqx.nn.Linear
    blocks: tuple[AithalBlock, ...]
    norm: eqx.nn.LayerNorm
    out: eqx.nn.Linear
    depth: int = eqx.field(static=True)
    embedding: AbstractEmbedding
    precond: AbstractPrecond
    t_proj: eqx.nn.Linear | None

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 128,
                 embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EpsPrecond, sigma_data: float = 1.0, shared_blocks: bool = False,
                 t_proj: bool = False):
        dim = check_dim(dim)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        keys = jax.random.split(key, depth + 2)
        self.inp = eqx.nn.Linear(dim, width, use_bias=False, key=keys[0])
        n_blocks = min(depth, 1) if shared_blocks else depth
        self.blocks = tuple(AithalBlock(width, embed_dim, key=k) for k in keys[1:1 + n_blocks])
        self.norm = eqx.nn.LayerNorm(width)
        self.out = eqx.nn.Linear(width, dim, key=keys[-1])
        self.depth = depth
        # its own key (folded in), so the other layers' initial weights do not depend on t_proj
        self.t_proj = eqx.nn.Linear(embed_dim, embed_dim, key=jax.random.fold_in(key, 1)) if t_proj else None

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        if self.t_proj is not None:
            emb = _act(dense(self.t_proj, emb))
        h = dense(self.inp, x_in)
        for i in range(self.depth):
            h = self.blocks[i % len(self.blocks)](h, emb)
        return dense(self.out, layer_norm(self.norm, h))


class FourierAithal(AbstractScoreNet):
    """AithalMLP body on Fourier features of the input (a joint-aware input: every feature mixes all
    coordinates): Linear([x, sin 2πBx, cos 2πBx] → W, no bias) → `depth` independent AithalBlocks →
    LayerNorm → Linear(W → D). B [F, D] ~ scale·N(0, 1) is fixed (a stop-gradient constant)."""

    freqs: Float[Array, "F D"]
    inp: eqx.nn.Linear
    blocks: tuple[AithalBlock, ...]
    norm: eqx.nn.LayerNorm
    out: eqx.nn.Linear
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 128,
                 features: int = 32, scale: float = 1.0, embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EpsPrecond, sigma_data: float = 1.0):
        dim = check_dim(dim)
        keys = jax.random.split(key, depth + 3)
        self.freqs = scale * jax.random.normal(keys[0], (features, dim))
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
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

"""The toy residual score network of Aithal et al. (2024), "Understanding hallucinations in
diffusion models through mode interpolation".

Linear(D→W, no bias) → `depth` time-conditioned residual blocks (LayerNorm → LeakyReLU(0.02) →
Linear + projected noise embedding; LayerNorm → LeakyReLU → Linear; skip) → LayerNorm → Linear(W→D).
Blocks have independent weights by default; `shared_blocks=True` applies one block `depth` times,
as the public code of the paper does (by accident). `t_proj=True` passes the noise embedding once
through Linear(E→E) + LeakyReLU(0.02) before the blocks, as their code's `t_proj` does (default off:
the architecture of the recorded runs). `block_bias=False` drops the biases of the two block linears
(their code has none there). Default preconditioning: ε-prediction.

Their network exactly (locuslab/diffusion-model-hallucination, ddpm_torch/toy/toy_model.py Decoder):
AithalMLP(shared_blocks=True, t_proj=True, block_bias=False, embedding=StepEmbedding) passed through
`xavier_init` (their modules.Linear: Xavier-uniform weights, zero biases; equinox's default is
U(±1/√fan_in) for weights and biases). `StepEmbedding` is their get_timestep_embedding of the DDPM step
index t = 0 … T−1, recovered from σ on their linear-β grid.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .base import AbstractScoreNet, check_dim
from .embedding import AbstractEmbedding, SinusoidalEmbedding, cos_sin
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

    def __init__(self, width: int, embed_dim: int, *, key: PRNGKeyArray, bias: bool = True):
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(width), eqx.nn.LayerNorm(width)
        self.lin1 = eqx.nn.Linear(width, width, use_bias=bias, key=k1)
        self.temb = eqx.nn.Linear(embed_dim, width, key=k2)
        self.lin2 = eqx.nn.Linear(width, width, use_bias=bias, key=k3)

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
                 t_proj: bool = False, block_bias: bool = True):
        dim = check_dim(dim)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        keys = jax.random.split(key, depth + 2)
        self.inp = eqx.nn.Linear(dim, width, use_bias=False, key=keys[0])
        n_blocks = min(depth, 1) if shared_blocks else depth
        self.blocks = tuple(AithalBlock(width, embed_dim, key=k, bias=block_bias) for k in keys[1:1 + n_blocks])
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


# Their DDPM grid (train_toy.py defaults: --timesteps 1000, linear β from 0.001 to 0.2).
AITHAL_DDPM = (1000, 0.001, 0.2)


class StepEmbedding(AbstractEmbedding):
    """Aithal et al.'s get_timestep_embedding of the DDPM step index: c_noise = ¼ ln σ → the index
    t ∈ {0 … T−1} of the nearest σ_t (in ln σ) on the linear-β grid (T, beta_start, beta_end) →
    [sin(t f), cos(t f)] [dim], f_i = exp(−i ln(10⁴)/(dim/2 − 1)), i = 0 … dim/2 − 1 (frequencies 1 → 10⁻⁴).
    Exact on the grid (their σ_t are ≥ 0.0158 apart in ln σ, float32 rounding ≤ 4e-6); between grid
    points it is constant (the nearest step)."""

    dim: int = eqx.field(static=True)
    max_freq: float = eqx.field(static=True, default=1.0)
    T: int = eqx.field(static=True, default=AITHAL_DDPM[0])
    beta_start: float = eqx.field(static=True, default=AITHAL_DDPM[1])
    beta_end: float = eqx.field(static=True, default=AITHAL_DDPM[2])

    def frequencies(self) -> Float[Array, " half"]:
        half = self.dim // 2
        return jnp.exp(-jnp.arange(half, dtype=jnp.float32) * (math.log(10000.0) / max(half - 1, 1)))

    def log_sigmas(self) -> np.ndarray:
        """ln σ_t [T], t = 0 … T−1, in float64 (σ_t = √(1/ᾱ_t − 1), as losses.DDPMSigmas.table)."""
        betas = np.linspace(self.beta_start, self.beta_end, self.T, dtype=np.float64)
        return 0.5 * np.log(np.expm1(-np.cumsum(np.log1p(-betas))))

    def step(self, c_noise: Float[Array, ""]) -> Float[Array, ""]:
        """The step index t (as a float) whose σ_t is nearest to σ = exp(4 c_noise) in ln σ: the
        number of midpoints between grid neighbours below ln σ, by binary search (a comparison with
        all T − 1 midpoints cost 26 ms per 10,000 σ on this CPU, the search 1.4 ms with the sines)."""
        ls = self.log_sigmas()
        mid = jnp.asarray(0.5 * (ls[1:] + ls[:-1]), c_noise.dtype)
        return jnp.searchsorted(mid, 4.0 * c_noise, side="left", method="scan").astype(c_noise.dtype)

    def __call__(self, c_noise: Float[Array, ""]) -> Float[Array, " dim"]:
        arg = self.step(c_noise) * self.frequencies().astype(c_noise.dtype)
        half = self.dim // 2
        if c_noise.dtype != jnp.float32:
            return jnp.concatenate([jnp.sin(arg), jnp.cos(arg)])
        both = cos_sin(jnp.concatenate([arg, arg]), half)  # [cos, sin] in one pass (|t f| < 8192)
        return jnp.concatenate([both[half:], both[:half]])


def _linears(model) -> list[eqx.nn.Linear]:
    return [x for x in jax.tree_util.tree_leaves(model, is_leaf=lambda x: isinstance(x, eqx.nn.Linear))
            if isinstance(x, eqx.nn.Linear)]


def xavier_init(model, *, key: PRNGKeyArray):
    """`model` with every eqx.nn.Linear re-initialised as Aithal et al.'s modules.Linear is (PyTorch's
    xavier_uniform_ with gain 1): weight [out, in] ~ U(±√(6/(in + out))), bias 0. One key per layer, in
    tree order; other leaves (LayerNorms, embeddings) are kept."""
    layers = _linears(model)
    keys = jax.random.split(key, max(len(layers), 1))

    def xavier(lin: eqx.nn.Linear, k) -> Float[Array, "o i"]:
        fan_out, fan_in = lin.weight.shape
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(k, lin.weight.shape, lin.weight.dtype, -bound, bound)

    model = eqx.tree_at(lambda m: [lin.weight for lin in _linears(m)], model,
                        [xavier(lin, k) for lin, k in zip(layers, keys)])
    with_bias = [lin for lin in layers if lin.bias is not None]
    return eqx.tree_at(lambda m: [lin.bias for lin in _linears(m) if lin.bias is not None], model,
                       [jnp.zeros_like(lin.bias) for lin in with_bias])

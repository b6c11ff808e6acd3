"""Equinox score networks with one call signature: net(x [D], sigma) -> score [D].

Every network is a body F(x_in [D], emb [E]) -> [D] wrapped in a preconditioning that lets one
set of weights span σ from 1e-3 to 1e2 (`precond`):
  'edm'  (Karras et al. 2022): D(x) = c_skip x + c_out F(c_in x, emb(c_noise)), score = (D(x) − x)/σ²,
         c_skip = σ_d²/(σ²+σ_d²), c_out = σσ_d/√(σ²+σ_d²), c_in = 1/√(σ²+σ_d²), c_noise = ¼ ln σ.
  'eps'  (DDPM ε-prediction, as in Aithal et al.): ε̂ = F(x/√(1+σ²), emb(c_noise)), score = −ε̂/σ.
Both act coordinate-wise around F, so a body whose output i depends only on x_i gives a score
whose Jacobian is exactly diagonal.

Bodies: JointMLP (sees all of x), FactorizedNet (output i sees x_i and σ only; shared weights with
a learned coordinate embedding, or an ensemble of D independent networks), PooledNet (per-position
outputs that also see the mean over positions of per-position features), AithalMLP (the toy
residual network of Aithal et al. 2024). `make_net(kind, dim, key, **hyper)` builds any of them.
"""

from __future__ import annotations

import functools
import inspect
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

NET_KINDS = ("joint", "factorized", "pooled", "aithal")
EMBEDDINGS = ("sinusoidal", "fourier")
PRECONDS = ("edm", "eps")


def noise_embedding(c_noise: Float[Array, ""], dim: int, kind: str = "sinusoidal",
                    max_freq: float = 100.0) -> Float[Array, " dim"]:
    """Embedding [dim] of the scalar c_noise = ¼ ln σ: [cos(f c), sin(f c)] for dim/2 frequencies.

    'sinusoidal': geometric frequencies from 1 to max_freq; 'fourier': fixed random Gaussian
    frequencies of scale max_freq/6 (drawn from a constant key, so they are not parameters).
    """
    half = dim // 2
    if kind == "sinusoidal":
        freqs = jnp.exp(jnp.linspace(0.0, math.log(max_freq), half))
    elif kind == "fourier":
        freqs = (max_freq / 6.0) * jax.random.normal(jax.random.PRNGKey(0), (half,))
    else:
        raise ValueError(f"embed: expected one of {EMBEDDINGS}, got {kind!r}")
    arg = freqs.astype(c_noise.dtype) * c_noise
    return jnp.concatenate([jnp.cos(arg), jnp.sin(arg)])


def dense(layer: eqx.nn.Linear, x: Float[Array, "... in"]) -> Float[Array, "... out"]:
    """`layer(x)` for an eqx.nn.Linear, computed as x Wᵀ + b instead of W x + b.

    The same maths with x on the left: vmapped over a batch, the dot then yields [B, out] with the
    batch leading, where W x yields [out, B] and XLA:CPU transposes it (the backward pass read those
    transposes in its elementwise fusions, column by column). Measured on 2 cores: AithalMLP training
    13-14 -> 17-18 steps/s (benchmarks/bench_train.py). Handles 'scalar' in/out features like Linear.
    """
    if layer.in_features == "scalar":
        x = jnp.broadcast_to(x, (1,))
    y = x @ layer.weight.T
    if layer.bias is not None:
        y = y + layer.bias
    if layer.out_features == "scalar":
        y = jnp.squeeze(y, axis=-1)
    return y


def mlp_apply(mlp: eqx.nn.MLP, x: Float[Array, " in"]) -> Float[Array, " out"]:
    """`mlp(x)` for an unscanned eqx.nn.MLP with a plain-function activation, through `dense`."""
    if getattr(mlp, "scan", False) or any(eqx.is_array(a) for a in jax.tree.leaves(mlp.activation)):
        return mlp(x)  # learnt / scanned activations: equinox's own path
    for layer in mlp.layers[:-1]:
        x = mlp.activation(dense(layer, x))
    return mlp.final_activation(dense(mlp.layers[-1], x))


def layer_norm(norm: eqx.nn.LayerNorm, x: Float[Array, " W"]) -> Float[Array, " W"]:
    """`norm(x)` for an eqx.nn.LayerNorm of shape [W] and one example x [W], with the mean and the
    variance taken as products with a constant 1/W vector instead of reductions.

    Same maths (two-pass variance, eps inside the square root, optional weight and bias). XLA:CPU splits
    a vmapped 128-wide row reduction into an unfused reduce-window pass; a matrix-vector product is
    one fused dot. AithalMLP training: +8 % steps/s in interleaved A/Bs (benchmarks/README.md).
    """
    if tuple(norm.shape) != x.shape:
        return norm(x)  # any other layout: equinox's own path (it raises on a mismatch)
    w = jnp.full((x.shape[-1],), 1.0 / x.shape[-1], x.dtype)
    centred = x - x @ w
    out = centred * jax.lax.rsqrt(centred * centred @ w + norm.eps)
    if norm.use_weight:
        out = norm.weight * out
    if norm.use_bias:
        out = out + norm.bias
    return out


class ScoreNet(eqx.Module):
    """Base class: preconditioning around `body`. Subclasses define body(x_in [D], emb [E]) -> [D]."""

    sigma_data: float = eqx.field(static=True)
    embed_dim: int = eqx.field(static=True)
    embed: str = eqx.field(static=True)
    precond: str = eqx.field(static=True)

    def body(self, x_in, emb):  # pragma: no cover - abstract
        raise NotImplementedError

    def _raw(self, x, sigma):
        x = jnp.asarray(x)
        sigma = jnp.asarray(sigma, x.dtype)
        emb = noise_embedding(0.25 * jnp.log(sigma), self.embed_dim, self.embed)
        if self.precond == "eps":
            return self.body(x / jnp.sqrt(1.0 + sigma * sigma), emb), x, sigma
        sd2 = jnp.asarray(self.sigma_data**2, x.dtype)
        c_in = jax.lax.rsqrt(sigma * sigma + sd2)
        return self.body(c_in * x, emb), x, sigma

    def denoise(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Predicted E[x_0 | x_σ = x], shape [D]."""
        f, x, sigma = self._raw(x, sigma)
        if self.precond == "eps":
            return x - sigma * f
        sd = jnp.asarray(self.sigma_data, x.dtype)
        r = jax.lax.rsqrt(sigma * sigma + sd * sd)
        return (sd * sd * r * r) * x + (sigma * sd * r) * f

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Score estimate ∇ log p_σ(x), shape [D]."""
        f, x, sigma = self._raw(x, sigma)
        if self.precond == "eps":
            return -f / sigma
        sd = jnp.asarray(self.sigma_data, x.dtype)
        r = jax.lax.rsqrt(sigma * sigma + sd * sd)
        # (D(x) − x)/σ² with D = c_skip x + c_out F, simplified to avoid the 1/σ² cancellation:
        # c_skip − 1 = −σ² r², so score = −r² x + (σ_d r / σ) F.
        return -(r * r) * x + (sd * r / sigma) * f


def _check(dim, embed, precond):
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim}")
    if embed not in EMBEDDINGS:
        raise ValueError(f"embed: expected one of {EMBEDDINGS}, got {embed!r}")
    if precond not in PRECONDS:
        raise ValueError(f"precond: expected one of {PRECONDS}, got {precond!r}")


class JointMLP(ScoreNet):
    """MLP on [c_in x, emb] -> [D]: every output sees every coordinate."""

    mlp: eqx.nn.MLP

    def __init__(self, dim: int, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embed: str = "sinusoidal", sigma_data: float = 1.0, precond: str = "edm"):
        _check(dim, embed, precond)
        self.mlp = eqx.nn.MLP(dim + embed_dim, dim, width, depth, activation=jax.nn.silu, key=key)
        self.sigma_data, self.embed_dim, self.embed, self.precond = float(sigma_data), embed_dim, embed, precond

    def body(self, x_in, emb):
        return mlp_apply(self.mlp, jnp.concatenate([x_in, emb]))


def _per_position(mlp, x_in, emb, coords, extra=None):
    """Apply a scalar-output mlp to each position i on [x_i, emb, coord_i(, extra)] -> [D]."""
    def one(xi, ci):
        parts = [xi[None], emb, ci] + ([extra] if extra is not None else [])
        return mlp_apply(mlp, jnp.concatenate(parts))
    return jax.vmap(one)(x_in, coords)


class FactorizedNet(ScoreNet):
    """Output i depends only on x_i and σ: the Jacobian of the score is exactly diagonal.

    mode 'shared': one MLP for all positions, told which position by a learned embedding [D, C].
    mode 'ensemble': D independent MLPs (a vmapped ensemble, leading axis D on every weight).
    """

    mlp: eqx.nn.MLP
    coords: Float[Array, "D C"]
    mode: str = eqx.field(static=True)

    def __init__(self, dim: int, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embed: str = "sinusoidal", sigma_data: float = 1.0, precond: str = "edm",
                 mode: str = "shared", coord_dim: int = 8):
        _check(dim, embed, precond)
        if mode not in ("shared", "ensemble"):
            raise ValueError(f"mode: expected 'shared' or 'ensemble', got {mode!r}")
        k_mlp, k_c = jax.random.split(key)
        c = coord_dim if mode == "shared" else 0
        make = lambda k: eqx.nn.MLP(1 + embed_dim + c, "scalar", width, depth, activation=jax.nn.silu, key=k)
        if mode == "shared":
            self.mlp = make(k_mlp)
        else:
            self.mlp = eqx.filter_vmap(make)(jax.random.split(k_mlp, dim))
        self.coords = jax.random.normal(k_c, (dim, c)) if c else jnp.zeros((dim, 0))
        self.mode = mode
        self.sigma_data, self.embed_dim, self.embed, self.precond = float(sigma_data), embed_dim, embed, precond

    def body(self, x_in, emb):
        if self.mode == "shared":
            return _per_position(self.mlp, x_in, emb, self.coords)

        def one(mlp, xi):
            return mlp_apply(mlp, jnp.concatenate([xi[None], emb]))
        return eqx.filter_vmap(one)(self.mlp, x_in)


class PooledNet(ScoreNet):
    """Per-position outputs that also see a permutation-invariant pooled summary.

    h_i = φ([x_i, emb, c_i]) ∈ R^H, m = mean_i h_i, out_i = ψ([x_i, emb, c_i, m]). The mean over
    positions is the cheapest cross-dimension information (one H-vector shared by all outputs).
    """

    phi: eqx.nn.MLP
    psi: eqx.nn.MLP
    coords: Float[Array, "D C"]

    def __init__(self, dim: int, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 32,
                 embed: str = "sinusoidal", sigma_data: float = 1.0, precond: str = "edm",
                 coord_dim: int = 8, pool_dim: int = 32):
        _check(dim, embed, precond)
        k1, k2, k3 = jax.random.split(key, 3)
        inp = 1 + embed_dim + coord_dim
        self.phi = eqx.nn.MLP(inp, pool_dim, width, max(depth - 1, 1), activation=jax.nn.silu, key=k1)
        self.psi = eqx.nn.MLP(inp + pool_dim, "scalar", width, depth, activation=jax.nn.silu, key=k2)
        self.coords = jax.random.normal(k3, (dim, coord_dim))
        self.sigma_data, self.embed_dim, self.embed, self.precond = float(sigma_data), embed_dim, embed, precond

    def body(self, x_in, emb):
        h = _per_position(self.phi, x_in, emb, self.coords)  # [D, H]
        return _per_position(self.psi, x_in, emb, self.coords, extra=jnp.mean(h, axis=0))


class _AithalBlock(eqx.Module):
    norm1: eqx.nn.LayerNorm
    lin1: eqx.nn.Linear
    temb: eqx.nn.Linear
    norm2: eqx.nn.LayerNorm
    lin2: eqx.nn.Linear

    def __init__(self, width: int, embed_dim: int, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(width), eqx.nn.LayerNorm(width)
        self.lin1 = eqx.nn.Linear(width, width, key=k1)
        self.temb = eqx.nn.Linear(embed_dim, width, key=k2)
        self.lin2 = eqx.nn.Linear(width, width, key=k3)

    def __call__(self, h, emb):
        act = lambda v: jax.nn.leaky_relu(v, 0.02)
        u = dense(self.lin1, act(layer_norm(self.norm1, h))) + dense(self.temb, emb)
        return h + dense(self.lin2, act(layer_norm(self.norm2, u)))


class AithalMLP(ScoreNet):
    """Aithal et al. (2024) toy network: Linear(D→W, no bias) → `depth` time-conditioned residual
    blocks (LayerNorm → LeakyReLU(0.02) → Linear + projected noise embedding; LayerNorm → LeakyReLU
    → Linear; skip) → LayerNorm → Linear(W→D). Blocks have independent weights (the public code
    shares them by accident). Default preconditioning 'eps' (ε-prediction, as in the paper)."""

    inp: eqx.nn.Linear
    blocks: tuple
    norm: eqx.nn.LayerNorm
    out: eqx.nn.Linear

    def __init__(self, dim: int, key: PRNGKeyArray, width: int = 128, depth: int = 3, embed_dim: int = 128,
                 embed: str = "sinusoidal", sigma_data: float = 1.0, precond: str = "eps"):
        _check(dim, embed, precond)
        keys = jax.random.split(key, depth + 2)
        self.inp = eqx.nn.Linear(dim, width, use_bias=False, key=keys[0])
        self.blocks = tuple(_AithalBlock(width, embed_dim, k) for k in keys[1:-1])
        self.norm = eqx.nn.LayerNorm(width)
        self.out = eqx.nn.Linear(width, dim, key=keys[-1])
        self.sigma_data, self.embed_dim, self.embed, self.precond = float(sigma_data), embed_dim, embed, precond

    def body(self, x_in, emb):
        h = dense(self.inp, x_in)
        for b in self.blocks:
            h = b(h, emb)
        return dense(self.out, layer_norm(self.norm, h))


_CLASSES = {"joint": JointMLP, "factorized": FactorizedNet, "pooled": PooledNet, "aithal": AithalMLP}


def make_net(kind: str, dim: int, key: PRNGKeyArray, **hyper) -> ScoreNet:
    """Build a network by name ('joint', 'factorized', 'pooled', 'aithal') with its hyperparameters.

    Keyword arguments a kind does not take (e.g. `mode` for 'joint') are ignored, so one table of
    model settings serves every kind."""
    if kind not in _CLASSES:
        raise ValueError(f"model kind: expected one of {NET_KINDS}, got {kind!r}")
    cls = _CLASSES[kind]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "dim", "key"}
    kept = tuple(sorted((k, v) for k, v in hyper.items() if k in accepted))
    return _builder(kind, int(dim), kept)(key)


@functools.lru_cache(maxsize=128)
def _builder(kind: str, dim: int, hyper: tuple):
    """A jitted constructor per (kind, dim, hyperparameters): initialising weights is one compiled
    call instead of one small compilation per eager random op (seeds then reuse it)."""
    cls = _CLASSES[kind]
    _check(dim, dict(hyper).get("embed", "sinusoidal"), dict(hyper).get("precond", "edm"))
    if dict(hyper).get("mode", "shared") not in ("shared", "ensemble"):
        raise ValueError(f"mode: expected 'shared' or 'ensemble', got {dict(hyper)['mode']!r}")
    return eqx.filter_jit(functools.partial(cls, dim, **dict(hyper)))

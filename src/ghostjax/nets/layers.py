"""Layers computed as equinox's, with the batch leading under vmap (faster on XLA:CPU).

  dense(layer, x)       eqx.nn.Linear as x Wᵀ + b
  mlp_apply(mlp, x)     eqx.nn.MLP through `dense` (SiLU through `silu`)
  layer_norm(norm, x)   eqx.nn.LayerNorm with its statistics as products with a 1/W vector and a
                        hand-written backward pass
  silu(z)               jax.nn.silu whose backward pass recomputes the sigmoid from z

All compute the same maths as the equinox layers (tested equal, values and gradients); they differ in
what XLA:CPU materialises and in how many kernels the backward pass becomes
(benchmarks/README.md, bench_train section).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def dense(layer: eqx.nn.Linear, x: Float[Array, "..."]) -> Float[Array, "..."]:
    """`layer(x)` for an eqx.nn.Linear, computed as x Wᵀ + b instead of W x + b.

    The same maths with x on the left: vmapped over a batch, the dot then yields [B, out] with the
    batch leading, where W x yields [out, B] and XLA:CPU transposes it (the backward pass read those
    transposes in its elementwise fusions, column by column; benchmarks/README.md, "Design decisions").
    Handles 'scalar' in/out features like Linear.
    """
    if layer.in_features == "scalar":
        x = jnp.broadcast_to(x, (1,))
    y = x @ layer.weight.T
    if layer.bias is not None:
        y = y + layer.bias
    if layer.out_features == "scalar":
        y = jnp.squeeze(y, axis=-1)
    return y


@jax.custom_jvp
def silu(z: Float[Array, "..."]) -> Float[Array, "..."]:
    """jax.nn.silu(z) = z σ(z) with a hand-written derivative σ (1 + z (1 − σ)), formed in the forward
    pass's kernel: reverse mode then keeps that one factor, where autodiff of z σ(z) kept σ(z) and z
    and combined them again in the backward pass (one array of the layer's size less to read per
    hidden layer and step). A custom JVP, so forward mode (divergences) works too."""
    return z * jax.nn.sigmoid(z)


@silu.defjvp
def _silu_jvp(primals, tangents):
    (z,), (t,) = primals, tangents
    s = jax.nn.sigmoid(z)
    return z * s, t * (s * (1 + z * (1 - s)))


# Activations replaced by a hand-differentiated equivalent in mlp_apply.
_FUSED_ACTIVATIONS = {jax.nn.silu: silu}


def mlp_apply(mlp: eqx.nn.MLP, x: Float[Array, " in"]) -> Float[Array, "*out"]:
    """`mlp(x)` for an unscanned eqx.nn.MLP with a plain-function activation, through `dense`."""
    if getattr(mlp, "scan", False) or any(eqx.is_array(a) for a in jax.tree.leaves(mlp.activation)):
        return mlp(x)  # learnt / scanned activations: equinox's own path
    act = _FUSED_ACTIVATIONS.get(mlp.activation, mlp.activation)
    for layer in mlp.layers[:-1]:
        x = act(dense(layer, x))
    return mlp.final_activation(dense(mlp.layers[-1], x))


def layer_norm(norm: eqx.nn.LayerNorm, x: Float[Array, " W"]) -> Float[Array, " W"]:
    """`norm(x)` for an eqx.nn.LayerNorm of shape [W] and one example x [W], with the mean and the
    variance taken as products with a constant 1/W vector instead of reductions.

    Same maths (two-pass variance, eps inside the square root, optional weight and bias). XLA:CPU splits
    a vmapped 128-wide row reduction into an unfused reduce-window pass; a matrix-vector product is
    one fused dot. The backward pass is written out (`_layer_norm`): dx = r (g − ⟨g⟩ − x̂ ⟨g x̂⟩) with
    g = γ dy, x̂ the normalised x, r = 1/√(var + eps), its two means products of dy and dy x̂ with γ/W
    (dy x̂ is also what the γ gradient sums; a custom JVP, whose transpose is that backward pass;
    forward mode works too); autodiff
    of the forward pass gave ~10 kernels per LayerNorm, among them two row reductions
    (benchmarks/README.md, bench_train section).
    """
    if tuple(norm.shape) != x.shape:
        return norm(x)  # any other layout: equinox's own path (it raises on a mismatch)
    one = jnp.ones((), x.dtype)
    weight = norm.weight if norm.use_weight else one
    bias = norm.bias if norm.use_bias else jnp.zeros((), x.dtype)
    return _layer_norm(x, weight, bias, float(norm.eps))


def _ln_stats(x, eps):
    w = jnp.full((x.shape[-1],), 1.0 / x.shape[-1], x.dtype)
    centred = x - x @ w
    r = jax.lax.rsqrt(centred * centred @ w + eps)
    return centred * r, r, w


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _layer_norm(x, weight, bias, eps):
    """γ x̂ + β with x̂ = (x − ⟨x⟩) / √(⟨(x − ⟨x⟩)²⟩ + eps); weight/bias [W] or scalars."""
    return weight * _ln_stats(x, eps)[0] + bias


@_layer_norm.defjvp
def _layer_norm_jvp(eps, primals, tangents):
    # γ r (tx − ⟨tx⟩ − x̂⟨tx x̂⟩) + tγ x̂ + tβ, with γ applied by the spreads (s ↦ s γ as a product) and r
    # to their scalars, so that the transpose (the backward pass) takes its two row sums straight from
    # the incoming cotangent c and from c x̂ (the product the γ gradient sums too) as products with γ,
    # instead of materialising −γ r c and −γ r c x̂ for them first (the minus signs sit on the scalars
    # for the same reason): two passes over the activations less per LayerNorm (AithalMLP's step:
    # 279 -> 264 fusions). Same maths; r and 1/W are applied to the row sums instead of to their
    # terms (rounding only; tested against equinox's autodiff).
    (x, weight, bias), (tx, tw, tb) = primals, tangents
    xhat, r, w = _ln_stats(x, eps)
    gamma = jnp.broadcast_to(weight, x.shape)[None]
    spread = lambda s: s[None] @ gamma  # noqa: E731
    dy = (weight * r) * tx + spread(-r * (tx @ w)) + spread(-r * ((tx * xhat) @ w)) * xhat
    return weight * xhat + bias, dy + tw * xhat + tb

"""Layers computed as equinox's, with the batch leading under vmap (faster on XLA:CPU).

  dense(layer, x)       eqx.nn.Linear as x Wᵀ + b
  mlp_apply(mlp, x)     eqx.nn.MLP through `dense`
  layer_norm(norm, x)   eqx.nn.LayerNorm with its statistics as products with a 1/W vector
"""

from __future__ import annotations

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


def mlp_apply(mlp: eqx.nn.MLP, x: Float[Array, " in"]) -> Float[Array, "*out"]:
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
    one fused dot (benchmarks/README.md, "Design decisions").
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

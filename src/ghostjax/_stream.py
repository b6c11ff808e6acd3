"""Log-space weighted averages over mixture components, streamed in chunks of modes.

Everything the exact mixture needs (log density, joint and factorized scores, the Tweedie
denoiser) is an average over K components of a per-component value [D], with weights
softmax(logits) taken in log space. For large K the components are visited in chunks with a
running log-sum-exp (the "online softmax"), so memory per example is O(chunk · D) and, vmapped
over N particles, O(N · chunk) for the logits: [N, K, D] is never materialised.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

# (log_weight [c], means [c, D], variances-of-data [c, D]) -> (logits [c, 1|D], values [c, D])
ChunkFn = Callable[[Array, Array, Array], tuple[Array, Array]]


def _pad_to(a: Array, n: int, fill: float) -> Array:
    pad = n - a.shape[0]
    if pad == 0:
        return a
    widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
    return jnp.pad(a, widths, constant_values=fill)


def stream_average(
    fn: ChunkFn,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    variances: Float[Array, "K D"],
    chunk: int,
) -> tuple[Float[Array, " R"], Float[Array, " D"]]:
    """Return (logsumexp of logits over K, softmax-weighted average of values over K).

    `fn` maps a chunk of components to logits of shape [c, R] (R = 1 for the joint posterior
    over components, R = D for per-coordinate marginals) and values of shape [c, D]. Padding
    components (when chunk does not divide K) get log-weight -inf and contribute nothing.
    """
    k = log_weights.shape[0]
    if k <= chunk:
        logits, values = fn(log_weights, means, variances)
        # One pass: shift by the max (finite: some weight is positive and every logit finite),
        # exponentiate once, normalise the weighted sum by the plain sum.
        top = jax.lax.stop_gradient(jnp.max(logits, axis=0))
        p = jnp.exp(logits - top[None, :])
        total = jnp.sum(p, axis=0)
        return top + jnp.log(total), jnp.sum(p * values, axis=0) / total

    n_chunks = -(-k // chunk)
    total = n_chunks * chunk
    lw = _pad_to(log_weights, total, -jnp.inf).reshape(n_chunks, chunk)
    mu = _pad_to(means, total, 0.0).reshape(n_chunks, chunk, -1)
    var = _pad_to(variances, total, 1.0).reshape(n_chunks, chunk, -1)

    def body(carry, inputs):
        run_max, run_sum, run_acc = carry
        logits, values = fn(*inputs)
        new_max = jnp.maximum(run_max, jnp.max(logits, axis=0))
        # A padding-only chunk leaves new_max = -inf where nothing has been seen yet; guard it.
        safe = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
        scale = jnp.exp(run_max - safe)
        p = jnp.exp(logits - safe[None, :])
        run_sum = run_sum * scale + jnp.sum(p, axis=0)
        run_acc = run_acc * scale + jnp.sum(p * values, axis=0)
        return (new_max, run_sum, run_acc), None

    r = fn(lw[0], mu[0], var[0])[0].shape[1]
    d = means.shape[1]
    dtype = means.dtype
    init = (
        jnp.full((r,), -jnp.inf, dtype),
        jnp.zeros((r,), dtype),
        jnp.zeros((d,), dtype),
    )
    (run_max, run_sum, run_acc), _ = jax.lax.scan(body, init, (lw, mu, var))
    return run_max + jnp.log(run_sum), run_acc / run_sum

"""Log-space weighted averages over mixture components, streamed in chunks of modes.

Everything the exact mixture needs (log density, joint and factorized scores, the Tweedie
denoiser) is an average over K components of a per-component value [D], with weights
softmax(logits) taken in log space. For large K the components are visited in chunks with a
running log-sum-exp (the "online softmax"), so memory per example is O(chunk · D) and, vmapped
over N particles, O(N · chunk) for the logits: [N, K, D] is never materialised.

The joint posterior of large mixtures (D >= 16 and K · D >= 8192) takes the matrix-product path
of _matmul.py instead; this path keeps the per-coordinate marginals and small mixtures.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

# One component: (log_weight [], mean [D], variance-of-data [D]) -> (logit [R], value [D]),
# R = 1 for the joint posterior over components, R = D for per-coordinate marginals.
ComponentFn = Callable[[Array, Array, Array], tuple[Array, Array]]

# Up to this many components (and at most `chunk`) the softmax is unrolled component by component.
UNROLL_MAX = 8


def _unrolled_small(fn: ComponentFn, log_w, means, variances):
    """(max, Σ_k exp(l_k − max), Σ_k exp(l_k − max) v_k) over the c ≤ chunk components.

    The components are visited one by one in a static Python loop (c is small), each through
    `fn`, and combined by elementwise maximum / add. Vmapped over
    particles, XLA then fuses the softmax and the weighted sum into the consumer of the result
    (one pass over [N, D]) instead of running a reduce over the component axis for each of
    them (inside the streamed scan over chunks the reduce over the chunk axis stays: unrolling was
    slower there; benchmarks/README.md, "Design decisions").
    """
    parts = [fn(log_w[i], means[i], variances[i]) for i in range(log_w.shape[0])]
    top = parts[0][0]
    for logits, _ in parts[1:]:
        top = jnp.maximum(top, logits)
    # The max only shifts the exponent; taken as a constant, the gradient of the log-sum-exp
    # is the softmax (the caller returns top + log(total)).
    top = jax.lax.stop_gradient(top)
    total, acc = None, None
    for logits, values in parts:
        p = jnp.exp(logits - top)
        total = p if total is None else total + p
        acc = p * values if acc is None else acc + p * values
    return top, total, acc


def _pad_to(a: Array, n: int, fill: float) -> Array:
    pad = n - a.shape[0]
    if pad == 0:
        return a
    widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
    return jnp.pad(a, widths, constant_values=fill)


def stream_average(
    fn: ComponentFn,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    variances: Float[Array, "K D"],
    chunk: int,
) -> tuple[Float[Array, " R"], Float[Array, " D"]]:
    """Return (logsumexp of logits over K, softmax-weighted average of values over K).

    `fn` maps one component to its logit [R] (R = 1 for the joint posterior over components,
    R = D for per-coordinate marginals) and value [D]; chunks of components go through
    jax.vmap(fn). Padding components (when chunk does not divide K) get log-weight -inf and
    contribute nothing.
    """
    chunk_fn = jax.vmap(fn)
    k = log_weights.shape[0]
    if k <= chunk:
        # One pass: shift by the max (finite: some weight is positive and every logit finite),
        # exponentiate once, normalise the weighted sum by the plain sum.
        if k <= UNROLL_MAX:
            top, total, acc = _unrolled_small(fn, log_weights, means, variances)
            return top + jnp.log(total), acc / total
        logits, values = chunk_fn(log_weights, means, variances)
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
        logits, values = chunk_fn(*inputs)
        new_max = jnp.maximum(run_max, jnp.max(logits, axis=0))
        # A padding-only chunk leaves new_max = -inf where nothing has been seen yet; guard it.
        safe = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
        scale = jnp.exp(run_max - safe)
        p = jnp.exp(logits - safe[None, :])
        run_sum = run_sum * scale + jnp.sum(p, axis=0)
        run_acc = run_acc * scale + jnp.sum(p * values, axis=0)
        return (new_max, run_sum, run_acc), None

    r = jax.eval_shape(fn, lw[0, 0], mu[0, 0], var[0, 0])[0].shape[0]
    d = means.shape[1]
    dtype = means.dtype
    init = (
        jnp.full((r,), -jnp.inf, dtype),
        jnp.zeros((r,), dtype),
        jnp.zeros((d,), dtype),
    )
    (run_max, run_sum, run_acc), _ = jax.lax.scan(body, init, (lw, mu, var))
    return run_max + jnp.log(run_sum), run_acc / run_sum

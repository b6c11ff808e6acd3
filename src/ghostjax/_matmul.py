"""The joint posterior over mixture components by matrix products, streamed over chunks of modes.

For axis-aligned Gaussians (variance v_k = s_k² + σ² per coordinate) the log density of one
component is a matrix product away from x:

    Σ_d (x_d − μ_kd)² / v_kd = Σ_d x_d² a_kd − 2 Σ_d x_d b_kd + Σ_d μ_kd b_kd,   a = 1/v, b = μ/v,

and the posterior averages are two more: score Σ_k r_k (μ_k − x)/v_k = r·b − x ⊙ (r·a). The code
here is written for ONE example (x: [D], σ scalar) like the rest of mixtures.py; vmapped over N
particles with σ shared, `u @ W.T` (u [2D], W [C, 2D]) becomes an [N, 2D] @ [2D, C] GEMM and
`p @ W` an [N, C] @ [C, 2D] GEMM, while everything that depends on σ alone (1/v, b, the
normalisers) is formed once per chunk for all particles. Components are visited in chunks of C
with a running log-sum-exp, so memory is O(N · C) whatever K is (N = 1e5, K = 1e4, D = 128:
~1 GiB of XLA buffers).

Precision. The expanded square cancels: its float32 error is about u · Σ_d (x_d² + μ_kd²)/v_kd
(u = 6e-8): for std-0.05 modes at |μ| = 5 and σ → 0 that is 1e4 · u ≈ 1e-3 in a logit, and it
grows with |x|². Three measures bring the results back to the accuracy of direct differences:
  1. Centring: x − c and μ − c enter the products, c = the mean of the means (free; removes the
     error for mixtures that sit away from the origin).
  2. The common part of x'²/v is left out: the products use 1/v − ā (ā = mean_k 1/v_k), and
     −½ Σ x'² ā, the same for every component, never enters the softmax. For equal variances the
     x'² term is then exactly zero, so far from the modes (|x| ≫ |μ|) the error is u·|x'||μ'|/v
     instead of u·|x'|²/v.
  3. Exact winners: the matrix-product logits only pick the components that matter. Each chunk's
     positions are split into CLASSES residue classes (position mod CLASSES, so components listed
     together fall in different classes); the two largest approximate logits of every class
     over all chunks are kept (one max and one min reduction per chunk and an elementwise merge:
     cheap under vmap, unlike lax.top_k or argmax on XLA:CPU), the TOP best of these are
     recomputed by direct differences and their approximate contributions swapped for exact
     ones. The rest keep their product weights, moved to the exact footing by the winner's
     (exact − approximate) shift.
Up to TOP near-equal winners are exact unless three of them share a class (a point equidistant
from 16 tight modes: exact; from more, or three in one class: the product accuracy for those).

XLA:CPU. With jaxlib 0.10.2 a YNNPACK dot fusion whose operand folds to a broadcast scalar returns
garbage (inf/NaN/wrong values). 1/(s² + σ²) is such a broadcast for a mixture with equal stds
that a caller's jit closes over (XLA folds the constant). Here the dot operands are always
concatenations ([1/v − ā, μ'/v], [1/v, μ'/v], [s²/v, μ'/v] and the per-example [x'², −2x']), never
a bare 1/v, which keeps them from folding to a broadcast; tests/test_mixtures_matmul.py checks
closed-over mixtures under the default and the sampler's compile options (benchmarks/README.md).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

_LOG_2PI = math.log(2.0 * math.pi)

# Components per chunk: [N, 2D] @ [2D, C] GEMMs are efficient from a few hundred columns on, and
# the [N, C] logits of one chunk are the working set (N = 1e5: 0.2 GiB per buffer at 512).
MATMUL_CHUNK = 512
# Candidates: the two largest approximate logits of each of CLASSES residue classes (component
# position mod CLASSES within a chunk) over all chunks; the TOP best are recomputed exactly.
CLASSES = 64
TOP = 16


def _pad_rows(a: Array, n: int, fill=None) -> Array:
    """Pad the leading axis of `a` to n rows with `fill`, or with copies of the last row."""
    pad = n - a.shape[0]
    if pad == 0:
        return a
    widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
    if fill is None:
        return jnp.pad(a, widths, mode="edge")
    return jnp.pad(a, widths, constant_values=fill)


def _chunk_size(k: int, chunk: int) -> int:
    """Components per chunk: K itself up to CLASSES, else a multiple of CLASSES (<= chunk)."""
    if k <= CLASSES:
        return k
    per = max(1, chunk // CLASSES)
    return CLASSES * min(per, -(-k // CLASSES))


def _global_terms(means, data_var, s2):
    """Centre c = mean of the means [D] and mean precision ā = mean_k 1/(s_k² + σ²) [D]."""
    return jnp.mean(means, axis=0), jnp.mean(1.0 / (data_var + s2), axis=0)


def _chunk_terms(log_w, mu, data_var, s2, centre, inv_mean, value: str):
    """σ-only terms of one chunk of C components (shared by all particles under vmap).

    log_w [C], mu [C, D], data_var [C, D], centre c [D], inv_mean ā [D] -> const [C] (log w −
    ½ Σ log 2πv − ½ Σ μ'²/v, μ' = μ − c), w_logit [C, 2D] = [1/v − ā, μ'/v] and w_value [C, 2D]
    ([1/v, μ'/v] for the score, [s²/v, μ'/v] for the denoiser).
    With x' = x − c the logit is const − ½ [x'², −2x'] · w_logit − ½ Σ x'² ā; the last term is
    the same for every component, so it is left out (softmax weights do not change).
    """
    var = data_var + s2
    inv = 1.0 / var
    mup = mu - centre[None, :]
    b = mup * inv
    const = log_w - 0.5 * jnp.sum(jnp.log(var) + _LOG_2PI, axis=1) - 0.5 * jnp.sum(mup * b, axis=1)
    w_logit = jnp.concatenate([inv - inv_mean[None, :], b], axis=1)
    scale = data_var * inv if value == "denoise" else inv
    w_value = jnp.concatenate([scale, b], axis=1)
    return const, w_logit, w_value


def _chunk_value(g: Float[Array, " D2"], xp: Float[Array, " D"], c, s2, total, value: str):
    """Σ_k p_k value_k of one chunk from g = p @ w_value [2D] (xp = x − c, total = Σ_k p_k).

    score:   Σ p (μ − x)/v = Σ p b − x' Σ p/v;
    denoise: Σ p (μ + s²/v (x − μ)) = c Σ p + σ² Σ p b + x' Σ p s²/v."""
    d = xp.shape[0]
    if value == "score":
        return g[d:] - xp * g[:d]
    return c * total + s2 * g[d:] + xp * g[:d]


def _class_maxima(logits: Float[Array, " C"], n_classes: int):
    """Maximum [n_classes] and its position [n_classes] (int32) of each residue class of `logits`.

    Class c holds the positions p with p mod n_classes = c: components listed together fall in
    different classes. One [C / n_classes, n_classes] max reduction and one min reduction (ties
    go to the lowest position): cheap under vmap, unlike lax.top_k or argmax on XLA:CPU.
    """
    c = logits.shape[0]
    grid = logits.reshape(c // n_classes, n_classes)
    class_max = jnp.max(grid, axis=0)
    pos = jnp.arange(c, dtype=jnp.int32).reshape(c // n_classes, n_classes)
    class_pos = jnp.min(jnp.where(grid >= class_max[None, :], pos, c), axis=0)
    return class_max, jnp.minimum(class_pos, c - 1)


def _merge_best_two(best, new_v, new_i):
    """Running two best (value, index) per class, updated with one new candidate per class.

    best = (v1, i1, v2, i2), each [n_classes], v1 >= v2; elementwise only (fuses into one pass).
    """
    v1, i1, v2, i2 = best
    first = new_v > v1
    loser_v = jnp.where(first, v1, new_v)
    loser_i = jnp.where(first, i1, new_i)
    second = loser_v > v2
    return (jnp.where(first, new_v, v1), jnp.where(first, new_i, i1),
            jnp.where(second, loser_v, v2), jnp.where(second, loser_i, i2))


def _exact_one(x, s2, log_w, means, data_var, i: Int[Array, ""], value: str):
    """Direct-difference logit [] and value [D] of component i."""
    mu = jnp.take(means, i, axis=0, mode="clip")
    dv = jnp.take(data_var, i, axis=0, mode="clip")
    var = dv + s2
    diff = x - mu
    scaled = diff / var
    logit = jnp.take(log_w, i, mode="clip") - 0.5 * jnp.sum(jnp.log(var) + _LOG_2PI + diff * scaled)
    if value == "score":
        return logit, -scaled
    if value == "denoise":
        return logit, mu + (dv / var) * diff
    return logit, jnp.zeros_like(diff)


def _exact_logits(x, s2, log_w, means, data_var, idx: Int[Array, " M"]) -> Float[Array, " M"]:
    """Direct-difference logits of components `idx`, one at a time (vmapped: [N, D] at a time,
    never [N, M, D])."""
    def body(_, i):
        return None, _exact_one(x, s2, log_w, means, data_var, i, "none")[0]

    return jax.lax.scan(body, None, idx)[1]


def _exact_sum(x, s2, log_w, means, data_var, idx: Int[Array, " M"], coef: Float[Array, " M"], value: str):
    """Σ_m coef_m value(idx_m) [D] by direct differences, one component at a time."""
    def body(acc, inputs):
        i, c = inputs
        return acc + c * _exact_one(x, s2, log_w, means, data_var, i, value)[1], None

    return jax.lax.scan(body, jnp.zeros_like(x), (idx, coef))[0]


def _chunked(log_w, means, data_var, chunk: int):
    """[K], [K, D], [K, D] -> [n, C], [n, C, D], [n, C, D]; padding has log-weight −inf."""
    k, d = means.shape
    n_chunks = -(-k // chunk)
    kp = n_chunks * chunk
    lw = _pad_rows(log_w, kp, -jnp.inf).reshape(n_chunks, chunk)
    mu = _pad_rows(means, kp).reshape(n_chunks, chunk, d)
    dv = _pad_rows(data_var, kp).reshape(n_chunks, chunk, d)
    return lw, mu, dv


def _centred(x, means, data_var, s2):
    """(centre c [D], ā [D], x' = x − c [D], u = [x'², −2x'] [2D], common = −½ Σ x'² ā [])."""
    centre, inv_mean = _global_terms(means, data_var, s2)
    xp = x - centre
    return centre, inv_mean, xp, jnp.concatenate([xp * xp, -2.0 * xp]), -0.5 * jnp.sum(xp * xp * inv_mean)


def _approx_stream(x, s2, log_w, means, data_var, value: str, chunk: int):
    """Online softmax over chunks with matrix-product logits l' (the logits less `common`).

    Returns (max m [], Σ exp(l' − m) [], Σ exp(l' − m) value [D], candidate logits l' [2 · classes]
    (the two best of each residue class over all chunks), their indices, common []).
    """
    d = means.shape[1]
    dtype = means.dtype
    lw, mu, dv = _chunked(log_w, means, data_var, chunk)
    n_classes = min(CLASSES, chunk)
    centre, inv_mean, xp, u, common = _centred(x, means, data_var, s2)

    def body(carry, inputs):
        run_max, run_sum, run_acc, best = carry
        j, lw_c, mu_c, dv_c = inputs
        const, w_logit, w_value = _chunk_terms(lw_c, mu_c, dv_c, s2, centre, inv_mean, value)
        logits = const - 0.5 * (u @ w_logit.T)  # [C]: a GEMM under vmap
        class_max, class_pos = _class_maxima(logits, n_classes)
        best = _merge_best_two(best, class_max, j * chunk + class_pos)
        new_max = jnp.maximum(run_max, jax.lax.stop_gradient(jnp.max(class_max)))
        # A chunk of padding alone keeps −inf where nothing finite was seen yet; guard it.
        safe = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
        scale = jnp.exp(run_max - safe)
        p = jnp.exp(logits - safe)
        total = jnp.sum(p)
        run_sum = run_sum * scale + total
        if value != "none":
            g = p @ w_value  # [2D]: a GEMM under vmap
            run_acc = run_acc * scale + _chunk_value(g, xp, centre, s2, total, value)
        return (new_max, run_sum, run_acc, best), None

    no_v = jnp.full((n_classes,), -jnp.inf, dtype)
    no_i = jnp.zeros((n_classes,), jnp.int32)
    init = (jnp.array(-jnp.inf, dtype), jnp.zeros((), dtype), jnp.zeros((d,), dtype), (no_v, no_i, no_v, no_i))
    xs = (jnp.arange(lw.shape[0], dtype=jnp.int32), lw, mu, dv)
    (run_max, run_sum, run_acc, (v1, i1, v2, i2)), _ = jax.lax.scan(body, init, xs)
    return run_max, run_sum, run_acc, jnp.concatenate([v1, v2]), jnp.concatenate([i1, i2]), common


@jax.custom_jvp
def _value_with_tangent_of(value, carrier):
    """`value`, differentiated as if it were `carrier` (the forward pass never computes carrier)."""
    return value


@_value_with_tangent_of.defjvp
def _value_with_tangent_of_jvp(primals, tangents):
    return primals[0], tangents[1]


def _rest_shift(exact_top, approx_top, common):
    """exact − approximate logit of the winner, as a constant whose gradient is ∇common.

    The approximate logits l' leave out `common` (and carry the product error); shifted by this
    they sit on the exact footing. Its value is exact_top − approx_top; its gradient is that of
    `common` alone (the part of every logit that l' lacks), so autodiff of log_prob stays the score.
    """
    return _value_with_tangent_of(jax.lax.stop_gradient(exact_top - approx_top), common)


def matmul_average(
    x: Float[Array, " D"],
    sigma,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    data_var: Float[Array, "K D"],
    value: str,
    chunk: int = MATMUL_CHUNK,
) -> tuple[Float[Array, " 1"], Float[Array, " D"]]:
    """(log Σ_k w_k N(x; μ_k, s_k² + σ²) [1], posterior average of `value` [D]) for one x.

    value: "score" (Σ_k r_k (μ_k − x)/v_k), "denoise" (Σ_k r_k (μ_k + s_k²/v_k (x − μ_k))) or
    "none" (zeros). Same contract as _stream.stream_average with R = 1.
    """
    s2 = sigma * sigma
    chunk = _chunk_size(means.shape[0], chunk)
    m_approx, tot, acc, cand_v, cand_i, common = _approx_stream(x, s2, log_weights, means, data_var, value, chunk)
    top_v, pos = jax.lax.top_k(cand_v, min(TOP, cand_v.shape[0]))
    top_i = cand_i[pos]
    exact = _exact_logits(x, s2, log_weights, means, data_var, top_i)
    exact = jnp.where(top_v > -jnp.inf, exact, -jnp.inf)  # padding / zero weight: nothing
    m_exact = jax.lax.stop_gradient(jnp.max(exact))
    p_approx = jnp.exp(top_v - m_approx)  # what the stream added for these components
    p_exact = jnp.exp(exact - m_exact)
    # The others keep their approximate weights, moved to the exact footing by the winner's
    # shift (its approximate logit top_v[0] is m_approx, so the factor is exp(exact[0] − m_exact)
    # <= 1). m_approx, not top_v[0]: an element of lax.top_k's output here made XLA:CPU several
    # times slower at small K (benchmarks/README.md).
    rest_scale = jnp.exp(_rest_shift(exact[0], m_approx, common) + m_approx - m_exact)
    rest_tot = jnp.maximum(tot - jnp.sum(p_approx), 0.0)
    total = jnp.sum(p_exact) + rest_scale * rest_tot
    lse = m_exact + jnp.log(total)
    if value == "none":
        return lse[None], jnp.zeros_like(x)
    # Σ p_exact value + rest_scale (acc − Σ p_approx value): swap the top components' weights.
    coef = p_exact - rest_scale * p_approx
    avg = (_exact_sum(x, s2, log_weights, means, data_var, top_i, coef, value) + rest_scale * acc) / total
    return lse[None], avg


def matmul_logits(
    x: Float[Array, " D"],
    sigma,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    data_var: Float[Array, "K D"],
    chunk: int = MATMUL_CHUNK,
) -> Float[Array, " K"]:
    """log w_k + log N(x; μ_k, s_k² + σ²) for every k [K], by matrix products.

    The TOP largest are recomputed by direct differences; the others carry the matrix-product
    error, moved to the exact footing by the winner's shift as in matmul_average.
    """
    k = means.shape[0]
    s2 = sigma * sigma
    lw, mu, dv = _chunked(log_weights, means, data_var, _chunk_size(k, chunk))
    centre, inv_mean, _, u, common = _centred(x, means, data_var, s2)

    def body(_, inputs):
        const, w_logit, _ = _chunk_terms(*inputs, s2, centre, inv_mean, "none")
        return None, const - 0.5 * (u @ w_logit.T)

    _, logits = jax.lax.scan(body, None, (lw, mu, dv))
    logits = logits.reshape(-1)[:k]
    top_v, top_i = jax.lax.top_k(logits, min(TOP, k))
    exact = _exact_logits(x, s2, log_weights, means, data_var, top_i)
    exact = jnp.where(top_v > -jnp.inf, exact, -jnp.inf)
    return (logits + _rest_shift(exact[0], jnp.max(logits), common)).at[top_i].set(exact)


# Dispatch: the streamed path of _stream.py stays cheaper while the products are thin (D < 16) or
# few (K · D below ~8192, where the fixed passes over the logits and the final exact step
# dominate); measurements in benchmarks/README.md ("Design decisions").
MATMUL_MIN_D = 16
MATMUL_MIN_K = 64
MATMUL_MIN_KD = 8192


def use_matmul(k: int, d: int) -> bool:
    """Whether the joint posterior of K components in D dimensions goes through matrix products."""
    return d >= MATMUL_MIN_D and k >= MATMUL_MIN_K and k * d >= MATMUL_MIN_KD

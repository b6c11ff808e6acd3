"""The guided pair (class-conditional score, unconditional mixture score) in one pass over the components.

Classifier-free guidance on a Gaussian mixture needs, per particle and step, the score of the whole
mixture s(x) = Σ_k r_k g_k (r = softmax of the logits l_k over all K components, g_k = (μ_k − x)/v_k)
and the class score s(x | c): the same softmax restricted to the components of class c. Both come
from the same logits, so one pass over the components serves both (`guided_pair`):

Isotropic components (v_k = s_k² + σ², the same in every coordinate: the class mixtures of
guidance.class_mixture) need products of width D + 1, not the 2D of _matmul.py's diagonal case:

    l_k = const_k + x'·b_k − ½ (1/v_k − ā) ‖x'‖²   (x' = x − c, b_k = μ'_k/v_k, ā = mean_k 1/v_k),
    Σ_k p_k g_k = Σ_k p_k b_k − x' Σ_k p_k/v_k,

i.e. u = [x', ‖x'‖²] against W_logit = [b, −½(1/v − ā)] for the logits and p against
W_value = [b, 1/v, 1] for the average and Σp: vmapped over N particles with σ shared, an [N, D+1] @ [D+1, C]
GEMM and an [N, C] @ [C, D+2] GEMM per chunk of C components (4·N·K·D flop per score; the
concatenated column also keeps the operands from folding to a broadcast scalar, see _matmul.py's
note on XLA:CPU). The running log-sum-exp, the residue-class candidates and the exact recomputation
of the TOP winners are those of _matmul.py (same accuracy).

Class scores. One component per class (`classes` None: class c is component c): s(x | c) is that
component's score, O(D). Several components per class (`classes` [K] int, the class of each
component): a second online softmax over the same chunk logits with the other classes masked to −inf
(and a second value product; the logit products are shared). Its logits are the product logits
(no exact swap of its winners: the relative error of the conditional weights is the products',
~u·|x'||μ'|/v).

Dispatch. guidance.ClassScore decides once, at construction, whether this path applies
(`fused_applies`: the product path's sizes and concrete isotropic stds); CFG and PowerLawGuidance
built from ClassScore(gm, c) and gm.score call `ClassScore.pair`, so gj.sample and the guidance
studies get one pass without changes at their call sites. Otherwise the two scores are computed
separately, as before.

Pruning. `pruned_pair` computes the logit products only and averages over the TOP exact winners,
with a proven bound on the error of the unconditional score (its docstring); skipping the value
products can only pay when every particle of the batch is certified, which a caller decides
(benchmarks/bench_guided.py measures it: faster where the classes are separated at small σ, slower
where they are not, since the full pass must then follow; it is not on the default path).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._matmul import (CLASSES, TOP, _chunk_size, _class_maxima, _merge_best_two, _pad_rows, _rest_shift,
                      use_matmul)

_LOG_2PI = math.log(2.0 * math.pi)
# Components per chunk of the isotropic products (a multiple of _matmul.CLASSES).
GUIDED_CHUNK = 1024


def isotropic_variances(stds) -> bool:
    """Whether every component's std is the same in all coordinates (stds [K, D], concrete).

    False for traced stds (the caller then keeps the separate, diagonal computation)."""
    if isinstance(stds, jax.core.Tracer):
        return False
    s = np.asarray(stds)
    return bool(s.ndim == 2 and np.all(s == s[:, :1]))


def fused_applies(k: int, d: int, stds) -> bool:
    """Whether guided_pair's products serve a mixture of K components in D dims with these stds."""
    return use_matmul(k, d) and isotropic_variances(stds)


def _exact_iso(x, s2, log_w, means, var0, i: Int[Array, ""]):
    """Direct-difference logit [] and score value (μ_i − x)/v_i [D] of component i."""
    mu = jnp.take(means, i, axis=0, mode="clip")
    var = jnp.take(var0, i, mode="clip") + s2
    diff = x - mu
    logit = jnp.take(log_w, i, mode="clip") - 0.5 * (x.shape[0] * (jnp.log(var) + _LOG_2PI) + jnp.sum(diff * diff) / var)
    return logit, -diff / var


def _chunks(log_w, means, var0, classes, chunk):
    k, d = means.shape
    n = -(-k // chunk)
    kp = n * chunk
    lw = _pad_rows(log_w, kp, -jnp.inf).reshape(n, chunk)
    mu = _pad_rows(means, kp).reshape(n, chunk, d)
    vv = _pad_rows(var0, kp).reshape(n, chunk)
    cl = None if classes is None else _pad_rows(classes, kp, -1).reshape(n, chunk)
    return lw, mu, vv, cl


def _online(run, logits, chunk_max, w_value, xp):
    """One chunk of an online softmax: run = (max, Σp, Σp g [D]) updated with logits [C] whose
    maximum is chunk_max [] (w_value None: no average, Σp g stays as it is).

    w_value [C, D + 2] = [b, 1/v, 1]: its last column makes the value GEMM return Σp too, so the [C]
    exponentials are read once, by the GEMM; with the unguided maximum taken from the residue-class
    maxima, one pass over the logits less (together 2–5 % faster at M = 10⁵, D = 64 on an Intel Xeon)."""
    run_max, run_sum, run_acc = run
    d = xp.shape[0]
    new_max = jnp.maximum(run_max, jax.lax.stop_gradient(chunk_max))
    safe = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
    scale = jnp.exp(run_max - safe)
    p = jnp.exp(logits - safe)
    if w_value is None:
        return new_max, run_sum * scale + jnp.sum(p), run_acc
    g = p @ w_value  # [D + 2]: a GEMM under vmap
    return new_max, run_sum * scale + g[d + 1], run_acc * scale + (g[:d] - xp * g[d])


def _iso_stream(x, s2, log_w, means, var0, classes, label, chunk, values: bool = True):
    """One pass: (uncond max, Σp, Σp g, candidates (values, indices), common) and, with classes,
    the conditional (max, Σp, Σp g). values False: the logits only (no value products, Σp g = 0)."""
    k, d = means.shape
    dtype = means.dtype
    centre = jnp.mean(means, axis=0)
    inv_mean = jnp.mean(1.0 / (var0 + s2))
    xp = x - centre
    xx = jnp.sum(xp * xp)
    u = jnp.concatenate([xp, xx[None]])
    common = -0.5 * inv_mean * xx
    lw, mu, vv, cl = _chunks(log_w, means, var0, classes, chunk)
    n_classes = min(CLASSES, chunk)

    def body(carry, inputs):
        unc, best, cond = carry
        j, lw_c, mu_c, vv_c, cl_c = inputs
        var = vv_c + s2
        inv = 1.0 / var
        mup = mu_c - centre[None, :]
        b = mup * inv[:, None]
        const = lw_c - 0.5 * d * (jnp.log(var) + _LOG_2PI) - 0.5 * jnp.sum(mup * b, axis=1)
        w_logit = jnp.concatenate([b, (-0.5 * (inv - inv_mean))[:, None]], axis=1)  # [C, D + 1]
        w_value = jnp.concatenate([b, inv[:, None], jnp.ones_like(inv)[:, None]], axis=1)  # [C, D + 2]
        logits = const + u @ w_logit.T  # [C]: a GEMM under vmap, shared by both scores
        class_max, class_pos = _class_maxima(logits, n_classes)
        best = _merge_best_two(best, class_max, j * chunk + class_pos)
        unc = _online(unc, logits, jnp.max(class_max), w_value if values else None, xp)
        if cl_c is not None:
            masked = jnp.where(cl_c == label, logits, -jnp.inf)
            cond = _online(cond, masked, jnp.max(masked), w_value, xp)
        return (unc, best, cond), None

    run0 = (jnp.array(-jnp.inf, dtype), jnp.zeros((), dtype), jnp.zeros((d,), dtype))
    no_v = jnp.full((n_classes,), -jnp.inf, dtype)
    no_i = jnp.zeros((n_classes,), jnp.int32)
    init = (run0, (no_v, no_i, no_v, no_i), run0 if classes is not None else None)
    xs = (jnp.arange(lw.shape[0], dtype=jnp.int32), lw, mu, vv, cl)
    (unc, (v1, i1, v2, i2), cond), _ = jax.lax.scan(body, init, xs)
    return unc, (jnp.concatenate([v1, v2]), jnp.concatenate([i1, i2])), common, cond


def _uncond_score(x, s2, log_w, means, var0, unc, cand, common):
    """The unconditional score from the stream, its TOP winners swapped for direct differences
    (as _matmul.matmul_average)."""
    m_approx, tot, acc = unc
    cand_v, cand_i = cand
    top_v, pos = jax.lax.top_k(cand_v, min(TOP, cand_v.shape[0]))
    top_i = cand_i[pos]

    def one(_, i):
        return None, _exact_iso(x, s2, log_w, means, var0, i)

    _, (exact, values) = jax.lax.scan(one, None, top_i)  # [T], [T, D] (T = 16: small)
    exact = jnp.where(top_v > -jnp.inf, exact, -jnp.inf)
    m_exact = jax.lax.stop_gradient(jnp.max(exact))
    p_approx = jnp.exp(top_v - m_approx)
    p_exact = jnp.exp(exact - m_exact)
    rest_scale = jnp.exp(_rest_shift(exact[0], m_approx, common) + m_approx - m_exact)
    rest_tot = jnp.maximum(tot - jnp.sum(p_approx), 0.0)
    total = jnp.sum(p_exact) + rest_scale * rest_tot
    coef = p_exact - rest_scale * p_approx
    return (jnp.sum(coef[:, None] * values, axis=0) + rest_scale * acc) / total


def guided_pair(
    x: Float[Array, " D"],
    sigma,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    var0: Float[Array, " K"],
    label: Int[Array, ""],
    classes: Int[Array, " K"] | None = None,
    chunk: int = GUIDED_CHUNK,
) -> tuple[Float[Array, " D"], Float[Array, " D"]]:
    """(s(x | label) [D], s(x) [D]) of the isotropic mixture Σ_k w_k N(μ_k, (var0_k + σ²) I) for one x.

    classes None: class `label` is component `label`; else the components k with classes[k] = label
    (one of them at least). One pass over the components (module docstring)."""
    s2 = sigma * sigma
    chunk = _chunk_size(means.shape[0], chunk)
    unc, cand, common, cond = _iso_stream(x, s2, log_weights, means, var0, classes, label, chunk)
    s_unc = _uncond_score(x, s2, log_weights, means, var0, unc, cand, common)
    if classes is None:
        s_cond = (jnp.take(means, label, axis=0, mode="clip") - x) / (jnp.take(var0, label, mode="clip") + s2)
    else:
        s_cond = cond[2] / cond[1]
    return s_cond, s_unc


def pruned_pair(
    x: Float[Array, " D"],
    sigma,
    log_weights: Float[Array, " K"],
    means: Float[Array, "K D"],
    var0: Float[Array, " K"],
    label: Int[Array, ""],
    radius: Float[Array, ""],
    chunk: int = GUIDED_CHUNK,
) -> tuple[Float[Array, " D"], Float[Array, " D"], Float[Array, ""]]:
    """Certified pruning of guided_pair (one component per class): (s(x | label), ŝ(x), bound).

    The logit products only (no value products, no softmax sums); ŝ is the posterior average over
    the TOP candidates alone, their logits by direct differences (exact). Every other component has
    a product logit below l_out = max(the best candidate left out, the runner-up of every residue
    class), so its exact logit is below l_out + common + δ (the product logits leave out the common
    −½ ā‖x'‖²; δ: the products' worst-case rounding, Higham's γ_{D+3} times the magnitudes) and the
    mass ρ of all of them, as a fraction of the total, is at most K exp(l_out + common + δ − m)
    (m the exact top logit). With s = (1 − ρ) ŝ + ρ s_out,

        ‖s − ŝ‖ = ρ ‖s_out − ŝ‖ ≤ ρ (max_k ‖g_k‖ + ‖ŝ‖) ≤ ρ ((‖x − c‖ + radius)/min_k v_k + ‖ŝ‖) = bound,

    radius ≥ max_k ‖μ_k − c‖ (c the mean of the means). A caller keeps ŝ where bound ≤ ε (for all
    particles: then the value products are skipped) and takes guided_pair otherwise."""
    k, d = means.shape
    s2 = sigma * sigma
    chunk = _chunk_size(k, chunk)
    _, (cand_v, cand_i), common, _ = _iso_stream(x, s2, log_weights, means, var0, None, label, chunk, values=False)
    n_top = min(TOP, cand_v.shape[0] - 1)
    top_v, pos = jax.lax.top_k(cand_v, n_top + 1)
    top_i = cand_i[pos[:n_top]]

    def one(_, i):
        return None, _exact_iso(x, s2, log_weights, means, var0, i)

    _, (exact, values) = jax.lax.scan(one, None, top_i)
    exact = jnp.where(top_v[:n_top] > -jnp.inf, exact, -jnp.inf)
    m = jnp.max(exact)
    p = jnp.exp(exact - m)
    s_hat = (p @ values) / jnp.sum(p)
    l_out = jnp.maximum(top_v[n_top], jnp.max(cand_v[cand_v.shape[0] // 2:]))
    xp_norm = jnp.linalg.norm(x - jnp.mean(means, axis=0))
    v_min = jnp.min(var0) + s2
    scale = (xp_norm * radius + xp_norm**2 + radius**2) / v_min + d * jnp.abs(jnp.log(2 * jnp.pi * v_min))
    delta = (d + 3) * jnp.finfo(x.dtype).eps * (scale + jnp.max(jnp.where(jnp.isfinite(log_weights), jnp.abs(log_weights), 0.0)))
    rho = jnp.minimum(k * jnp.exp(l_out + common + delta - m), 1.0)
    bound = rho * ((xp_norm + radius) / v_min + jnp.linalg.norm(s_hat))
    s_cond = (jnp.take(means, label, axis=0, mode="clip") - x) / (jnp.take(var0, label, mode="clip") + s2)
    return s_cond, s_hat, bound


def restricted_score(gm, x: Float[Array, " D"], sigma, label: Int[Array, ""], classes: Int[Array, " K"]):
    """The separate computation of a several-component class score: the score of `gm` with the
    weights of the other classes set to zero (log weight −inf), by gm's own two paths [D]."""
    from ._matmul import matmul_average

    k, d = gm.means.shape
    log_w = jnp.where(classes == label, jnp.log(gm.weights), -jnp.inf)
    data_var = gm.stds**2
    if use_matmul(k, d):
        return matmul_average(x, sigma, log_w, gm.means, data_var, "score")[1]
    var = data_var + sigma * sigma
    diff = x[None, :] - gm.means
    logits = log_w - 0.5 * jnp.sum(diff * diff / var + jnp.log(var), axis=1)
    return jax.nn.softmax(logits) @ (-diff / var)


def shares_mixture(cond, uncond) -> bool:
    """Whether uncond is the `score` of the mixture of cond, a guidance.ClassScore (then one pass
    serves both: `pair`)."""
    from .mixtures import bound_mixture

    gm = getattr(cond, "gm", None)
    return callable(getattr(cond, "pair", None)) and gm is not None and bound_mixture(uncond) is gm


def product_components(guided) -> int:
    """K for a CFG / PowerLawGuidance on the one-pass guided pair over K components, else 0: gj.sample's
    compile options depend on it (integrate.product_components)."""
    if guided.fused and getattr(guided.cond, "one_pass", False):
        return int(guided.cond.gm.means.shape[0])
    return 0


def pair(guided, x, sigma):
    """(s(x | c), s(x)) of a CFG / PowerLawGuidance: cond.pair where `guided.fused`, else separately."""
    if guided.fused:
        return guided.cond.pair(x, sigma)
    return guided.cond(x, sigma), guided.uncond(x, sigma)

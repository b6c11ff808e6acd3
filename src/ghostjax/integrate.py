"""Reverse-time sampling: one lax.scan over a descending σ grid, particles vmapped.

`sample(score, x_init, sigmas, key=key, solver=EulerMaruyama())` integrates particles [N, D] from
σ = sigmas[0] down the grid with a solver of solvers.py. The score is any per-example callable
score(x [D], sigma) -> [D] (an exact mixture score, a network, a guided combination). It is passed
through eqx.filter_jit, so its arrays (mixture parameters, network weights), the σ grid, the key and
x_init are traced: changing their values never recompiles; changing shapes or the solver does.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._util import all_finite, check_sigma
from ._xla import BackendJit
from .observers import Observer
from .solvers import AbstractSolver, EulerMaruyama

class SampleResult(NamedTuple):
    """x: final particles [N, D]; observations: {name: observer result}; sigmas: the σ_i at which
    each observation was taken [n_steps]."""

    x: Float[Array, "N D"]
    observations: dict
    sigmas: Float[Array, " n"]


# On CPU the particles go through the score in blocks of about _CPU_BLOCK_FLOATS / D, so the working
# set of a streamed mixture score (~ block · chunk · D floats) stays in cache when D is large (at
# D = 8 a block holds 16384 particles). Each particle's score is computed exactly as under one vmap.
# Measurements: benchmarks/README.md, "Design decisions and what they measured".
_CPU_BLOCK_FLOATS = 2**17


def _block_size(n: int, d: int) -> int:
    """Particles per score call: n, or on the CPU blocks of max(1024, _CPU_BLOCK_FLOATS / d)."""
    block = max(1024, _CPU_BLOCK_FLOATS // max(d, 1))
    return n if n <= block or jax.default_backend() != "cpu" else block


def _batched(score: Callable):
    vscore = jax.vmap(score, in_axes=(0, None))

    def call(x, sig):
        n, d = x.shape
        block = _block_size(n, d)
        if block == n:
            return vscore(x, sig)
        return jax.lax.map(lambda xi: score(xi, sig), x, batch_size=block)

    return call


def _run_impl(score, x_init, sigmas, *, key, observers, solver: AbstractSolver, final_denoise):
    n_steps = sigmas.shape[0] - 1
    batched = _batched(score)
    keys = jax.random.split(key, n_steps)
    names = tuple(sorted(observers))
    obs_states = {k: observers[k].init(x_init) for k in names}

    def body(carry, inputs):
        x, states = carry
        i, k = inputs
        sig, sig_next = sigmas[i], sigmas[i + 1]
        s = batched(x, sig)
        new_states, outs = {}, {}
        for name in names:
            new_states[name], outs[name] = observers[name].update(states[name], x, sig, s, i)
        z = jax.random.normal(k, x.shape, x.dtype) if solver.stochastic else None
        x = solver.step(batched, x, s, sig, sig_next, z)
        return (x, new_states), outs

    steps = jnp.arange(n_steps)
    (x, states), outs = jax.lax.scan(body, (x_init, obs_states), (steps, keys))
    if final_denoise:
        last = sigmas[-1]
        x = jnp.where(last > 0, x + last * last * batched(x, last), x)
    results = {name: observers[name].finalize(states[name], outs[name]) for name in names}
    return x, results


# XLA:CPU (jaxlib 0.10) hands reductions to YNNPACK library fusions by default. For the
# vmapped [N, c, D] reductions of the streamed mixture score these materialise broadcast
# operands and run slower than XLA's own loop fusions (benchmarks/README.md).
# Keep YNNPACK for dots only (network scores), as an option of this one compilation (see _xla.py:
# CPU backend only, only when this jaxlib accepts the option, plain jit inside a caller's jit).
_CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}
_run = BackendJit(_run_impl, _CPU_COMPILER_OPTIONS)

# Scores on the product path of large mixtures (_matmul.py, guided_score.py) spend their time in
# GEMMs and in the softmax passes over their [N, C] logit blocks (max, exp, sums). At large
# (particles per call) × (components) those passes run faster as YNNPACK fusions too (recorded in
# bench_guided --threshold, Intel AVX-512: 0.72–1.05× at N·K = 2²⁰–2²¹, even at 2²², 1.06–1.18× at 2²³,
# 1.01–1.30× from 2²⁴ up; earlier exploratory runs read 0.84–0.94× up to 2²³, so the threshold
# stays at 2²⁴ where both agree; benchmarks/README.md), unlike the [N, c, D]
# reductions of the streamed path above. Such a score reports its component count
# (`product_components`), and gj.sample compiles with YNNPACK fusing dots, element-wise ops and
# reductions above LIBRARY_REDUCTIONS_MIN_WORK. Its product operands are concatenations, so none folds
# to a broadcast scalar under these fusions (benchmarks/README.md, the YNN hazard; tested under both).
_CPU_REDUCTION_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                          "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE"}
_run_reductions = BackendJit(_run_impl, _CPU_REDUCTION_OPTIONS)
LIBRARY_REDUCTIONS_MIN_WORK = 2**24  # particles per score call × components


def product_components(score) -> int:
    """K when `score` streams a K-component mixture through the product path, else 0: a score
    object's own `product_components` (guidance.CFG / PowerLawGuidance on the one-pass guided pair), or
    GaussianMixture.score of a mixture where _matmul.use_matmul holds."""
    k = getattr(score, "product_components", 0)
    if isinstance(k, int) and k > 0:
        return k
    from ._matmul import use_matmul
    from .mixtures import bound_mixture

    gm = bound_mixture(score)
    return int(gm.means.shape[0]) if gm is not None and use_matmul(*gm.means.shape) else 0


def uses_library_reductions(score, shape: tuple[int, int]) -> bool:
    """Whether gj.sample compiles `score` for particles of `shape` (N, D) with YNNPACK reductions:
    (particles per score call) × product_components(score) ≥ LIBRARY_REDUCTIONS_MIN_WORK."""
    n, d = shape
    return product_components(score) * _block_size(n, d) >= LIBRARY_REDUCTIONS_MIN_WORK


def _runner(score, shape) -> BackendJit:
    return _run_reductions if shape is not None and uses_library_reductions(score, shape) else _run


def compiler_options(score=None, shape: tuple[int, int] | None = None) -> dict | None:
    """The XLA options gj.sample compiles with on this backend (None: the defaults) for `score` and
    particles of `shape` (N, D); without them, those of a score off the product path.

    For callers that put gj.sample inside their own top-level jit (nested calls use the plain
    compilation, so the outer jit should carry these options to keep the sampler's speed)."""
    return _runner(score, shape).options()


def _validate(x_init, sigmas, solver, observers):
    if not isinstance(solver, AbstractSolver):
        raise ValueError(f"solver: expected a solver (gj.EulerMaruyama(), gj.OdeHeun(), ...), got {solver!r}")
    if jnp.ndim(x_init) != 2:
        raise ValueError(f"x_init: expected shape [N, D], got {jnp.shape(x_init)}")
    if jnp.ndim(sigmas) != 1 or jnp.shape(sigmas)[0] < 2:
        raise ValueError(f"sigmas: expected a 1-D grid of at least 2 values, got shape {jnp.shape(sigmas)}")
    if all_finite(x_init) is False:
        raise ValueError("x_init: must be finite (it holds NaN or inf)")
    if not isinstance(sigmas, jax.core.Tracer):
        s = np.asarray(sigmas)
        check_sigma(s, "sigmas")
        if np.any(np.diff(s) >= 0):
            raise ValueError("sigmas: must be strictly decreasing (σ_max first)")
    for name, ob in observers.items():
        if not isinstance(ob, Observer):
            raise ValueError(f"observers[{name!r}]: expected an Observer, got {type(ob).__name__}")


def sample(
    score: Callable,
    x_init: Float[Array, "N D"],
    sigmas: Float[Array, " m"],
    *,
    key: PRNGKeyArray,
    solver: AbstractSolver | None = None,
    observers: Mapping[str, Observer] | None = None,
    final_denoise: bool = False,
) -> SampleResult:
    """Integrate from x_init at σ = sigmas[0] down the grid `sigmas` [n_steps + 1].

    solver: an AbstractSolver (default EulerMaruyama()). Observers are evaluated at σ_0 … σ_{n−1} (before each step) and reduced over particles.
    With `final_denoise`, the Tweedie mean x + σ_last² s(x, σ_last) replaces x at the end
    (a no-op when the grid ends at 0).

    ValueError naming the argument for a concrete x_init holding NaN or inf, and for a concrete grid
    with a negative, NaN or infinite σ or one that does not decrease. Under an outer jit (traced
    x_init or sigmas) those checks are skipped: non-finite input gives non-finite particles.
    """
    solver = EulerMaruyama() if solver is None else solver
    observers = dict(observers or {})
    _validate(x_init, sigmas, solver, observers)
    x_init = jnp.asarray(x_init)
    sigmas = jnp.asarray(sigmas, x_init.dtype)
    x, results = _runner(score, x_init.shape)(score, x_init, sigmas, key=key, observers=observers, solver=solver, final_denoise=final_denoise)
    return SampleResult(x, results, sigmas[:-1])


def prior(key: PRNGKeyArray, n: int, dim: int, sigma_max, dtype=None) -> Float[Array, "n dim"]:
    """The VE prior N(0, σ_max² I): [n, dim] starting points.

    ValueError naming the argument for n < 0, dim < 1 (both static) and for a concrete sigma_max
    that is negative, NaN or infinite (a traced sigma_max is not checked)."""
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n: must be a non-negative integer, got {n!r}")
    if isinstance(dim, bool) or int(dim) != dim or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim!r}")
    check_sigma(sigma_max, "sigma_max")
    dtype = dtype if dtype is not None else jnp.result_type(float)
    return jnp.asarray(sigma_max, dtype) * jax.random.normal(key, (n, dim), dtype)

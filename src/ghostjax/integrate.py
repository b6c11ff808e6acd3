"""Reverse-time samplers: one lax.scan over a descending σ grid, particles vmapped.

Methods (step σ_i → σ_{i+1}, Δ = σ_i² − σ_{i+1}², s = score(x, σ_i)):
  euler_maruyama  reverse VE SDE:  x ← x + Δ s + √Δ z
  ode_euler       probability-flow ODE dx/dσ = −σ s, Euler step in σ
  ode_heun        the same ODE, Heun (2nd order; plain Euler on the last step to σ = 0)
  ddpm            DDPM ancestral sampling, done in VP coordinates y = x/√(1+σ²) with
                  ᾱ_i = 1/(1+σ_i²), α = ᾱ_i/ᾱ_{i+1}, β = 1 − α, ε̂ = −√(1−ᾱ_i) s_VP and
                  y ← (y − β/√(1−ᾱ_i) ε̂)/√α + √v z, v = β ('beta') or the posterior β̃ ('posterior')

The score is any per-example callable score(x [D], sigma) -> [D] (an exact mixture score, a
network, a guided combination). It is passed through eqx.filter_jit, so its arrays (mixture
parameters, network weights), the σ grid, the key and x_init are traced: changing their values
never recompiles; changing shapes or the method does.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._xla import BackendJit
from .observers import Observer

METHODS = ("euler_maruyama", "ode_euler", "ode_heun", "ddpm")
STOCHASTIC = ("euler_maruyama", "ddpm")


class SampleResult(NamedTuple):
    """x: final particles [N, D]; observations: {name: observer result}; sigmas: the σ_i at which
    each observation was taken [n_steps]."""

    x: Float[Array, "N D"]
    observations: dict
    sigmas: Float[Array, " n"]


# On CPU the particles go through the score in blocks of about _CPU_BLOCK_FLOATS / D, so the working
# set of a streamed mixture score (~ block · chunk · D floats) stays in cache when D is large
# (measured 2x faster at N = 8192, K = 1024, D = 128; at D = 8 a block holds 16384 particles and
# nothing changes for N <= 16384). Each particle's score is computed exactly as under one vmap.
_CPU_BLOCK_FLOATS = 2**17


def _batched(score: Callable):
    vscore = jax.vmap(score, in_axes=(0, None))

    def call(x, sig):
        n, d = x.shape
        block = max(1024, _CPU_BLOCK_FLOATS // max(d, 1))
        if n <= block or jax.default_backend() != "cpu":
            return vscore(x, sig)
        return jax.lax.map(lambda xi: score(xi, sig), x, batch_size=block)

    return call


def _step(method: str, ddpm_variance: str, score, x, s, sig, sig_next, z):
    """One step of `method`; `s` is score(x, sig) already computed. Returns new x."""
    ds2 = sig * sig - sig_next * sig_next
    if method == "euler_maruyama":
        return x + ds2 * s + jnp.sqrt(ds2) * z
    if method == "ode_euler":
        return x + (sig - sig_next) * sig * s
    if method == "ode_heun":
        d1 = -sig * s
        x_e = x + (sig_next - sig) * d1
        safe_next = jnp.where(sig_next > 0, sig_next, sig)  # score is not evaluated at σ = 0
        d2 = -safe_next * _batched(score)(x_e, safe_next)
        return jnp.where(sig_next > 0, x + (sig_next - sig) * 0.5 * (d1 + d2), x_e)
    if method == "ddpm":
        abar_i = 1.0 / (1.0 + sig * sig)
        abar_n = 1.0 / (1.0 + sig_next * sig_next)
        alpha = abar_i / abar_n
        beta = -jnp.expm1(jnp.log(abar_i) - jnp.log(abar_n))  # 1 − α without cancellation
        y = x * jnp.sqrt(abar_i)
        s_vp = s / jnp.sqrt(abar_i)
        eps_hat = -jnp.sqrt(1.0 - abar_i) * s_vp
        mean = (y - beta / jnp.sqrt(1.0 - abar_i) * eps_hat) / jnp.sqrt(alpha)
        if ddpm_variance == "beta":
            var = beta
        else:
            var = (1.0 - abar_n) / (1.0 - abar_i) * beta
        y_next = mean + jnp.sqrt(var) * z
        return y_next / jnp.sqrt(abar_n)
    raise ValueError(f"method: expected one of {METHODS}, got {method!r}")


def _run_impl(score, x_init, sigmas, key, observers, method, ddpm_variance, final_denoise):
    n_steps = sigmas.shape[0] - 1
    stochastic = method in STOCHASTIC
    keys = jax.random.split(key, n_steps)
    names = tuple(sorted(observers))
    obs_states = {k: observers[k].init(x_init) for k in names}

    def body(carry, inputs):
        x, states = carry
        i, k = inputs
        sig, sig_next = sigmas[i], sigmas[i + 1]
        s = _batched(score)(x, sig)
        new_states, outs = {}, {}
        for name in names:
            new_states[name], outs[name] = observers[name].update(states[name], x, sig, s, i)
        z = jax.random.normal(k, x.shape, x.dtype) if stochastic else None
        x = _step(method, ddpm_variance, score, x, s, sig, sig_next, z)
        return (x, new_states), outs

    steps = jnp.arange(n_steps)
    (x, states), outs = jax.lax.scan(body, (x_init, obs_states), (steps, keys))
    if final_denoise:
        last = sigmas[-1]
        x = jnp.where(last > 0, x + last * last * _batched(score)(x, last), x)
    results = {name: observers[name].finalize(states[name], outs[name]) for name in names}
    return x, results


# XLA:CPU (jaxlib 0.10) hands reductions to YNNPACK library fusions by default. For the
# vmapped [N, c, D] reductions of the streamed mixture score these materialise broadcast
# operands and run 5-9x slower than XLA's own loop fusions (benchmarks/bench_sampler.py).
# Keep YNNPACK for dots only (network scores), as an option of this one compilation (see _xla.py:
# CPU backend only, only when this jaxlib accepts the option, plain jit inside a caller's jit).
_CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}
_run = BackendJit(_run_impl, _CPU_COMPILER_OPTIONS)


def compiler_options() -> dict | None:
    """The XLA options the sampler is compiled with on this backend (None: the defaults).

    For callers that put gj.sample inside their own top-level jit (nested calls use the plain
    compilation, so the outer jit should carry these options to keep the sampler's speed)."""
    return _run.options()


def _validate(x_init, sigmas, method, ddpm_variance, observers):
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if ddpm_variance not in ("beta", "posterior"):
        raise ValueError(f"ddpm_variance: expected 'beta' or 'posterior', got {ddpm_variance!r}")
    if jnp.ndim(x_init) != 2:
        raise ValueError(f"x_init: expected shape [N, D], got {jnp.shape(x_init)}")
    if jnp.ndim(sigmas) != 1 or jnp.shape(sigmas)[0] < 2:
        raise ValueError(f"sigmas: expected a 1-D grid of at least 2 values, got shape {jnp.shape(sigmas)}")
    if not isinstance(sigmas, jax.core.Tracer):
        s = np.asarray(sigmas)
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError("sigmas: must be finite and non-negative")
        if np.any(np.diff(s) >= 0):
            raise ValueError("sigmas: must be strictly decreasing (σ_max first)")
    for name, ob in observers.items():
        if not isinstance(ob, Observer):
            raise ValueError(f"observers[{name!r}]: expected an Observer, got {type(ob).__name__}")


def sample(
    score: Callable,
    x_init: Float[Array, "N D"],
    sigmas: Float[Array, " m"],
    key: PRNGKeyArray,
    *,
    method: str = "euler_maruyama",
    observers: Mapping[str, Observer] | None = None,
    final_denoise: bool = False,
    ddpm_variance: str = "beta",
) -> SampleResult:
    """Integrate from x_init at σ = sigmas[0] down the grid `sigmas` [n_steps + 1].

    Observers are evaluated at σ_0 … σ_{n−1} (before each step) and reduced over particles.
    With `final_denoise`, the Tweedie mean x + σ_last² s(x, σ_last) replaces x at the end
    (a no-op when the grid ends at 0).
    """
    observers = dict(observers or {})
    _validate(x_init, sigmas, method, ddpm_variance, observers)
    x_init = jnp.asarray(x_init)
    sigmas = jnp.asarray(sigmas, x_init.dtype)
    x, results = _run(score, x_init, sigmas, key, observers, method, ddpm_variance, final_denoise)
    return SampleResult(x, results, sigmas[:-1])


def prior(key: PRNGKeyArray, n: int, dim: int, sigma_max, dtype=None) -> Float[Array, "n dim"]:
    """The VE prior N(0, σ_max² I): [n, dim] starting points."""
    dtype = dtype if dtype is not None else jnp.result_type(float)
    return jnp.asarray(sigma_max, dtype) * jax.random.normal(key, (n, dim), dtype)

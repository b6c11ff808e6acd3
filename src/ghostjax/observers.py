"""Observers: functions of the sampler state reduced over particles at every step.

An observer sees, at each step i, the particles x [N, D], the noise level σ_i, the score values
s [N, D] already computed by the integrator, and the step index. It returns a small per-step
output (stacked by lax.scan into [n_steps, ...]) and may carry a bounded state (the `Window`
keeps the last k steps). Nothing of size steps × N × D is ever stored.

Per-particle functions `fn(x [D], sigma, score [D]) -> array` are vmapped over particles.
"""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp


def _per_particle(fn, x, sigma, score):
    return jax.vmap(fn, in_axes=(0, None, 0))(x, sigma, score)


class Observer(eqx.Module):
    """Base class. Subclasses implement `update` (and `init`/`finalize` if they carry state)."""

    def init(self, x) -> Any:
        return None

    def update(self, state, x, sigma, score, step):
        raise NotImplementedError

    def finalize(self, state, outputs):
        return outputs


class Mean(Observer):
    """Mean over particles of fn(x, σ, s): output [n_steps, *fn_shape]."""

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)

    def update(self, state, x, sigma, score, step):
        return state, jnp.mean(_per_particle(self.fn, x, sigma, score), axis=0)


class Moments(Observer):
    """Mean and variance over particles: {'mean': [n_steps, ...], 'var': [n_steps, ...]}."""

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)

    def update(self, state, x, sigma, score, step):
        v = _per_particle(self.fn, x, sigma, score)
        m = jnp.mean(v, axis=0)
        return state, {"mean": m, "var": jnp.mean((v - m[None]) ** 2, axis=0)}


class Quantiles(Observer):
    """Quantiles over particles of a scalar fn: [n_steps, len(qs)]."""

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)
    qs: tuple[float, ...] = eqx.field(static=True, default=(0.05, 0.5, 0.95))

    def update(self, state, x, sigma, score, step):
        v = _per_particle(self.fn, x, sigma, score)
        return state, jnp.quantile(v, jnp.asarray(self.qs, v.dtype), axis=0)


class Histogram(Observer):
    """Counts of a scalar fn in `bins` equal bins over [lo, hi] (outliers clipped into the ends).

    Output [n_steps, bins] (int32).
    """

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)
    lo: float = eqx.field(static=True, default=-3.0)
    hi: float = eqx.field(static=True, default=3.0)
    bins: int = eqx.field(static=True, default=60)

    def update(self, state, x, sigma, score, step):
        v = _per_particle(self.fn, x, sigma, score)
        idx = jnp.clip(jnp.floor((v - self.lo) / (self.hi - self.lo) * self.bins), 0, self.bins - 1)
        counts = jnp.zeros((self.bins,), jnp.int32).at[idx.astype(jnp.int32)].add(1)
        return state, counts


class GroupMean(Observer):
    """Mean of fn(x, σ, s) over each of `groups` contiguous blocks of particles.

    Output [n_steps, groups, *fn_shape]: independent batch means, from which bootstrap intervals
    over particles are drawn without storing per-particle trajectories. N must be divisible by
    `groups`.
    """

    fn: Callable  # a function (held static by filter_jit) or an eqx.Module (its arrays traced)
    groups: int = eqx.field(static=True, default=32)

    def update(self, state, x, sigma, score, step):
        v = _per_particle(self.fn, x, sigma, score)
        n = v.shape[0]
        if n % self.groups:
            raise ValueError(f"GroupMean: {n} particles do not split into {self.groups} groups")
        return state, jnp.mean(v.reshape((self.groups, n // self.groups) + v.shape[1:]), axis=1)


def tweedie_x0(x, sigma, score):
    """Predicted x0 = x + σ² s (Tweedie), per particle [D]."""
    return x + sigma * sigma * score


class Window(Observer):
    """Keep the last k steps of x ('x') or of the predicted x0 ('x0'): result [k, N, D], oldest first."""

    k: int = eqx.field(static=True, default=10)
    what: str = eqx.field(static=True, default="x0")

    def __check_init__(self):
        if self.what not in ("x", "x0"):
            raise ValueError(f"what: expected 'x' or 'x0', got {self.what!r}")
        if self.k < 1:
            raise ValueError(f"k: window length must be at least 1, got {self.k}")

    def init(self, x):
        return {"buf": jnp.zeros((self.k,) + x.shape, x.dtype), "count": jnp.zeros((), jnp.int32)}

    def update(self, state, x, sigma, score, step):
        val = x if self.what == "x" else tweedie_x0(x, sigma, score)
        i = state["count"] % self.k
        buf = jax.lax.dynamic_update_index_in_dim(state["buf"], val, i, axis=0)
        return {"buf": buf, "count": state["count"] + 1}, None

    def finalize(self, state, outputs):
        order = (state["count"] + jnp.arange(self.k)) % self.k
        return state["buf"][order]

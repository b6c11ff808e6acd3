"""Combinators of score functions: per-example callables score(x [D], σ) -> [D].

  PairScore(a, b)   score `a` on the first half of a [2D] state and `b` on the second, so one
                    integrator pass moves two copies of the particles with the same noise and
                    steps (trajectory gaps between two scores from the same starting points)
"""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


class PairScore(eqx.Module):
    """[a(x[:D], σ), b(x[D:], σ)] for a state x = [x_a, x_b] of length 2D."""

    a: Callable
    b: Callable

    def __call__(self, x: Float[Array, " n"], sigma: Float[ArrayLike, ""]) -> Float[Array, " n"]:
        d = x.shape[0] // 2
        return jnp.concatenate([self.a(x[:d], sigma), self.b(x[d:], sigma)])


def pair_gap(x: Float[Array, " n"], sigma=None, score=None) -> Float[Array, ""]:
    """Root mean square difference per coordinate between the halves of a PairScore state [2D]
    (the signature of a per-particle observer function: sigma and score are unused)."""
    d = x.shape[0] // 2
    return jnp.sqrt(jnp.mean((x[:d] - x[d:]) ** 2))

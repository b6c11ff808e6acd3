"""Small helpers shared by the core modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def concrete(a) -> np.ndarray | None:
    """A NumPy view of `a` when its value is known now (not a tracer), else None: value checks
    run on concrete inputs and are skipped under jit/vmap, where the caller vouches for them."""
    if isinstance(a, jax.core.Tracer) or any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(a)):
        return None
    return np.asarray(a)


def check_sigma(sigma, name: str = "sigma") -> None:
    """ValueError naming `name` when a concrete σ (scalar or array) is negative, NaN or infinite.
    Under jit/vmap (a traced σ) nothing is checked: a NaN σ gives NaN results and a negative σ acts
    as |σ| (the densities read σ² only)."""
    s = concrete(sigma)
    if s is None or s.dtype.kind not in "fiub":
        return
    bad = ~np.isfinite(s) | (s < 0)
    if np.any(bad):
        raise ValueError(f"{name}: must be finite and non-negative, got {float(np.ravel(s)[np.argmax(np.ravel(bad))])!r}")


def all_finite(a) -> bool | None:
    """Whether every entry of a concrete array is finite (None when `a` is traced). A JAX array is
    reduced where it lives, so only one bool crosses to the host."""
    if isinstance(a, jax.core.Tracer):
        return None
    if isinstance(a, jax.Array):
        with jax.ensure_compile_time_eval():  # a concrete array inside a caller's jit: still a value
            return bool(jnp.all(jnp.isfinite(a)))
    return bool(np.all(np.isfinite(np.asarray(a))))

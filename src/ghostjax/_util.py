"""Small helpers shared by the core modules."""

from __future__ import annotations

import jax
import numpy as np


def concrete(a) -> np.ndarray | None:
    """A NumPy view of `a` when its value is known now (not a tracer), else None: value checks
    run on concrete inputs and are skipped under jit/vmap, where the caller vouches for them."""
    if isinstance(a, jax.core.Tracer) or any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(a)):
        return None
    return np.asarray(a)

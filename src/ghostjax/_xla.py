"""Per-compilation XLA options for the CPU backend (no process-wide XLA_FLAGS are touched).

`BackendJit(fn, cpu_options)` calls eqx.filter_jit(fn), compiled with `cpu_options` when the default
backend is the CPU and this jaxlib accepts them, and with XLA's defaults otherwise (GPU/TPU, or an
older/newer jaxlib that does not know an option). Options can only be attached to a top-level jit:
called with traced inputs (inside a caller's jit/vmap), the plain compilation is used and the
caller's jit decides.
"""

from __future__ import annotations

import functools
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp


@functools.cache
def _accepted(items: tuple) -> bool:
    try:
        probe = jax.jit(lambda a: jnp.sum(a @ a, axis=0), compiler_options=dict(items))
        probe.lower(jnp.zeros((2, 2), jnp.float32)).compile()
    except Exception:  # option unknown to this jaxlib
        return False
    return True


def options_for_backend(cpu_options: dict) -> dict | None:
    """`cpu_options` if the default backend is the CPU and accepts them, else None (defaults)."""
    if jax.default_backend() != "cpu" or not _accepted(tuple(sorted(cpu_options.items()))):
        return None
    return dict(cpu_options)


class BackendJit:
    """eqx.filter_jit(fn) with backend-dependent XLA options; see the module docstring."""

    def __init__(self, fn: Callable, cpu_options: dict):
        self.fn, self.cpu_options = fn, dict(cpu_options)
        self.default = eqx.filter_jit(fn)
        self._tuned = None
        # Name and docstring only: copying a Module's __dict__ would overwrite self.fn.
        functools.update_wrapper(self, fn, updated=())

    def tuned(self):
        """The top-level compilation: with the options where they apply, else `self.default`."""
        if self._tuned is None:
            opts = self.options()
            self._tuned = eqx.filter_jit(self.fn, compiler_options=opts) if opts else self.default
        return self._tuned

    def options(self) -> dict | None:
        """The options the top-level compilation uses on the default backend (None: XLA defaults)."""
        return options_for_backend(self.cpu_options)

    def __call__(self, *args, **kwargs):
        leaves = jax.tree_util.tree_leaves((args, kwargs))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return self.default(*args, **kwargs)
        return self.tuned()(*args, **kwargs)

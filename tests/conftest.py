"""Test-wide JAX settings: strict dtype promotion and rank promotion that raises, so silent
broadcasting or float64 leaks fail loudly (../shared/DESIGN.md, "Style")."""

import os

# The suite is bound by XLA compilation (tiny arrays, many programs): XLA's backend optimisation
# level 0 compiles ~30 % faster (tests/test_nets.py + test_mixtures_matmul.py on 2 cores: 76 -> 52 s)
# and computes the same operations. Set before the first computation initialises the backend; a
# caller's own XLA_FLAGS setting of the level wins. Benchmarks never run under this conftest.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


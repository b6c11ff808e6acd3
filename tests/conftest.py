"""Test-wide JAX settings: strict dtype promotion and rank promotion that raises, so silent
broadcasting or float64 leaks fail loudly (../shared/DESIGN.md, "Style")."""

import jax

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

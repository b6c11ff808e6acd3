"""Fixed finite training sets: what `training.fit` trains on in place of a mixture's fresh draws.

`EmpiricalData(x)` holds N rows [N, D] and answers what the training loop asks of its data object:
`sample(key, n)` (n rows drawn uniformly with replacement), `data_std()` and `mode_std()` (read by
`Loss.resolve` for the EDM σ_d and the band; `mode_std` is the generating mixture's mode width when
known, else the overall std). Its rows are a traced array, so a new data set of the same size (the
next generation of recursive training) trains through the same compiled step.

`equal_count_sample(gm, key=key, n=n)` draws a fixed set with exactly ⌊n/K⌋ or ⌈n/K⌉ rows per mode (row i
from mode i mod K, as Aithal et al.'s toy data), instead of multinomial counts.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .distributions import AbstractDistribution
from .mixtures import GaussianMixture


class EmpiricalData(AbstractDistribution):
    """A fixed data set x [N, D] (see the module docstring)."""

    x: Float[Array, "N D"]
    width: Float[Array, ""]

    def __init__(self, x: Float[ArrayLike, "N D"], mode_std: float | None = None):
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x: expected a non-empty [N, D] array, got shape {tuple(x.shape)}")
        if mode_std is not None and not mode_std > 0:
            raise ValueError(f"mode_std: must be positive, got {mode_std}")
        self.x = x
        self.width = jnp.asarray(mode_std, x.dtype) if mode_std is not None else self.data_std()

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "n D"]:
        """n rows drawn uniformly with replacement, [n, D]."""
        return self.x[jax.random.randint(key, (n,), 0, self.x.shape[0])]

    def data_std(self) -> Float[Array, ""]:
        """Root of the mean per-coordinate variance of the rows (EDM's σ_data)."""
        return jnp.sqrt(jnp.mean(jnp.var(self.x, axis=0)))

    def mode_std(self) -> Float[Array, ""]:
        """Width of one mode: the value given at construction, else data_std()."""
        return self.width


def equal_count_sample(gm: GaussianMixture, *, key: PRNGKeyArray, n: int) -> Float[Array, "n D"]:
    """n rows of mixture `gm` with row i drawn from mode i mod K (equal counts, weights ignored)."""
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    return _equal_count_sample(gm, key, n)


@eqx.filter_jit
def _equal_count_sample(gm: GaussianMixture, key, n: int):
    labels = jnp.arange(n) % gm.n_components
    eps = jax.random.normal(key, (n, gm.dim), gm.means.dtype)
    return gm.means[labels] + gm.stds[labels] * eps


def empirical(gm: GaussianMixture, *, key: PRNGKeyArray, n: int) -> EmpiricalData:
    """A fixed equal-count set of n rows of `gm`, with gm's mode width."""
    return EmpiricalData(equal_count_sample(gm, key=key, n=n), float(gm.mode_std()))

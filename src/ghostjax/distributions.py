"""The abstract bases of the data classes: what training, the samplers and the metrics ask of a data
object, written once.

  AbstractDistribution  anything `training.fit` trains on: `dim`, `sample(key, n)`, `data_std()`
                        and `mode_std()` (read by `losses.Loss.resolve` for EDM's σ_d and the band).
  AbstractMixture       a mixture p_0 = Σ_k w_k N(μ_k, Σ_k) with its exact VE-noised density
                        p_σ = Σ_k w_k N(μ_k, Σ_k + σ² I): fields means [K, D] and weights [K]; the
                        per-example log_prob / score / denoise / log_responsibilities (x [D],
                        σ scalar; vmap them) and `sample` per subclass; n_components, dim, mean(),
                        covariance(), data_std(), mode_std(), responsibilities() and sample_noised()
                        here, from the one per-class moment `within_covariance()` = Σ_k w_k Σ_k.

Subclasses: mixtures.GaussianMixture (diagonal Σ_k), fullcov.FullCovMixture (full Σ_k),
conditional.LabelledMixture (a GaussianMixture's components as classes; `sample` returns
(x, labels)) and data.EmpiricalData (a fixed set of rows).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractDistribution(eqx.Module):
    """Data a score network is trained on (see the module docstring)."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """D, the dimension of one example."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, n: int):
        """n draws: [n, D] (LabelledMixture: (x [n, D], labels [n]), what its objective reads)."""

    @abc.abstractmethod
    def data_std(self) -> Float[Array, ""]:
        """Root of the mean per-coordinate variance of p_0 (the σ_data of EDM)."""

    def mode_std(self) -> Float[Array, ""]:
        """Width of one mode (the band's σ_mode); here, without modes, data_std()."""
        return self.data_std()


class AbstractMixture(AbstractDistribution):
    """A mixture of K Gaussians in D dimensions under VE noise (see the module docstring).

    Fields of every subclass: means [K, D]; weights [K] (non-negative, summing to 1)."""

    means: eqx.AbstractVar[Float[Array, "K D"]]
    weights: eqx.AbstractVar[Float[Array, " K"]]

    # ------------------------------------------------------------------ shapes and moments
    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @abc.abstractmethod
    def within_covariance(self) -> Float[Array, "D D"]:
        """Σ_k w_k Σ_k, shape [D, D]: the weighted mean of the component covariances."""

    def mean(self) -> Float[Array, " D"]:
        """E[x_0], shape [D]."""
        return self.weights @ self.means

    def covariance(self) -> Float[Array, "D D"]:
        """Cov[x_0] = Σ_k w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ, shape [D, D] (written Σ_k w_k (μ_k − m)(μ_k − m)ᵀ
        + within_covariance(), without the cancellation)."""
        centred = self.means - self.mean()[None, :]
        return (centred.T * self.weights[None, :]) @ centred + self.within_covariance()

    def data_std(self) -> Float[Array, ""]:
        """Root of the mean per-coordinate variance of p_0 (the σ_data of EDM)."""
        return jnp.sqrt(jnp.trace(self.covariance()) / self.dim)

    def mode_std(self) -> Float[Array, ""]:
        """Weighted root-mean-square component std, √(tr Σ_k w_k Σ_k / D) (the width of one mode)."""
        return jnp.sqrt(jnp.trace(self.within_covariance()) / self.dim)

    # ------------------------------------------------------------------ exact densities (per example)
    @abc.abstractmethod
    def log_prob(self, x: Float[Array, " D"], sigma) -> Float[Array, ""]:
        """log p_σ(x) for one example x [D]; scalar."""

    @abc.abstractmethod
    def score(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Exact score ∇_x log p_σ(x), shape [D]."""

    @abc.abstractmethod
    def denoise(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Tweedie posterior mean E[x_0 | x_σ = x] = x + σ² ∇log p_σ(x), shape [D]."""

    @abc.abstractmethod
    def log_responsibilities(self, x: Float[Array, " D"], sigma) -> Float[Array, " K"]:
        """log P(component k | x_σ = x), shape [K]."""

    def responsibilities(self, x: Float[Array, " D"], sigma) -> Float[Array, " K"]:
        """P(component k | x_σ = x), shape [K], summing to 1."""
        return jnp.exp(self.log_responsibilities(x, sigma))

    # ------------------------------------------------------------------ sampling
    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, n: int, return_labels: bool = False):
        """Draw n samples from p_0: [n, D] (and component labels [n] when return_labels)."""

    def sample_noised(self, key: PRNGKeyArray, n: int, sigma) -> Float[Array, "n D"]:
        """Draw n exact samples of p_σ, shape [n, D] (x_0 from split(key)[0], ε from split(key)[1])."""
        k0, k1 = jax.random.split(key)
        x0 = self.sample(k0, n)
        return x0 + jnp.asarray(sigma, x0.dtype) * jax.random.normal(k1, x0.shape, x0.dtype)

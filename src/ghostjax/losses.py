"""Denoising score matching: σ sampling distributions, loss weightings λ(σ), the band factor.

For x_σ = x_0 + σ ε the DSM target is −ε/σ, and the per-example loss is
    ℓ = λ(σ) · A(σ) · mean_i (s_θ(x_σ, σ)_i + ε_i/σ)²,
with A(σ) = band_factor on [band_lo, band_hi] and 1 elsewhere (band_factor = 1: off).
Weightings λ(σ) (`WEIGHTINGS`), all expressed on the score error:
  Sigma2Weighting      σ²                      (ε-prediction MSE; DDPM's "simple" loss, Aithal et al.)
  EDMWeighting(σ_d)    σ²(σ²+σ_d²)/σ_d²        (EDM's x0 weighting (σ²+σ_d²)/(σσ_d)² times the σ⁴ that
                                                turns a denoiser error into a score error)
  LikelihoodWeighting  g² = 2σ / p(σ)          (Song et al. 2021 likelihood weighting: the path-space
                                                KL integrand ∫ E‖Δs‖² dσ² importance-sampled with the
                                                training density p(σ), band mixing excluded)
  UniformWeighting     σ⁴                      (unweighted x0-prediction MSE ‖D_θ − x_0‖²)
σ distributions (`SIGMA_DISTS`): LogUniform on [sigma_min, sigma_max]; LogNormal (EDM: ln σ ~
N(P_mean, P_std²)); DDPMSigmas (uniform over the T discrete σ_t of a linear-β DDPM). With
band_prob > 0 a fraction band_prob of each batch is instead drawn log-uniformly inside the band
(sampling more σ in the band instead of weighting it). Losses are also reduced per σ bucket
(ε-space MSE σ²‖Δs‖²/D) for logging. With target = "exact" the ε of the loss is replaced by the
noise-free E[ε | x_σ] of the mixture (regression on the exact score instead of DSM).

`Loss` is the config section (`[loss]` of a learned-score TOML) and the static argument of the
jitted training step; it maps its names to the classes above (`sigma_distribution()`,
`weighting_fn()`). Values known only from the data (σ_d, the band) are filled by `resolve(gm)`.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pydantic
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray
from pydantic import Field

from .config import Section
from .processes import linear_betas

DEFAULT_EDGES = (1e-2, 1e-1, 1.0, 10.0)
Sigmas = Float[Array, " n"]


# ------------------------------------------------------------------------------ σ distributions
class AbstractSigmaDist(eqx.Module):
    """A distribution of training noise levels σ > 0."""

    @classmethod
    @abc.abstractmethod
    def from_config(cls, loss: Loss) -> AbstractSigmaDist:
        """The distribution the settings `loss` describe."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, n: int, dtype=jnp.float32) -> Sigmas:
        """n draws, shape [n]."""

    @abc.abstractmethod
    def likelihood_weight(self, sigma: Sigmas) -> Sigmas:
        """2σ / p(σ): the likelihood weighting g² importance-sampled with this density."""


class LogUniform(AbstractSigmaDist):
    """ln σ uniform on [ln sigma_min, ln sigma_max]: p(σ) = 1 / (σ ln(σ_max/σ_min))."""

    sigma_min: float = eqx.field(static=True)
    sigma_max: float = eqx.field(static=True)

    def __check_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min: need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    @classmethod
    def from_config(cls, loss: Loss) -> LogUniform:
        return cls(loss.sigma_min, loss.sigma_max)

    def sample(self, key: PRNGKeyArray, n: int, dtype=jnp.float32) -> Sigmas:
        u = jax.random.uniform(key, (n,), dtype)
        return jnp.exp(math.log(self.sigma_min) + u * math.log(self.sigma_max / self.sigma_min))

    def pdf(self, sigma: Sigmas) -> Sigmas:
        return 1.0 / (sigma * math.log(self.sigma_max / self.sigma_min))

    def likelihood_weight(self, sigma: Sigmas) -> Sigmas:
        return 2.0 * (sigma * sigma) * math.log(self.sigma_max / self.sigma_min)


class LogNormal(AbstractSigmaDist):
    """ln σ ~ N(p_mean, p_std²) (EDM's training distribution)."""

    p_mean: float = eqx.field(static=True)
    p_std: float = eqx.field(static=True)

    @classmethod
    def from_config(cls, loss: Loss) -> LogNormal:
        return cls(loss.p_mean, loss.p_std)

    def sample(self, key: PRNGKeyArray, n: int, dtype=jnp.float32) -> Sigmas:
        return jnp.exp(self.p_mean + self.p_std * jax.random.normal(key, (n,), dtype))

    def pdf(self, sigma: Sigmas) -> Sigmas:
        z = (jnp.log(sigma) - self.p_mean) / self.p_std
        return jnp.exp(-0.5 * z * z) / (sigma * self.p_std * math.sqrt(2 * math.pi))

    def likelihood_weight(self, sigma: Sigmas) -> Sigmas:
        return 2.0 * sigma / self.pdf(sigma)


class DDPMSigmas(AbstractSigmaDist):
    """Uniform over the T noise levels σ_t = √(1/ᾱ_t − 1) of a linear-β DDPM."""

    T: int = eqx.field(static=True)
    beta_start: float = eqx.field(static=True)
    beta_end: float = eqx.field(static=True)

    @classmethod
    def from_config(cls, loss: Loss) -> DDPMSigmas:
        return cls(loss.ddpm_T, loss.ddpm_beta_start, loss.ddpm_beta_end)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """Ascending σ_t [T] and 2σ/p(σ) at each, p(σ_t) ≈ 1/(T Δσ_t) from the spacing. NumPy only
        (usable while tracing), as in processes.sigmas_from_betas."""
        betas = linear_betas(self.T, self.beta_start, self.beta_end)
        sig = np.sqrt(np.expm1(-np.cumsum(np.log1p(-betas))))
        spacing = np.gradient(sig) if sig.size > 1 else np.ones_like(sig)
        return sig, 2.0 * sig * self.T * spacing

    def sample(self, key: PRNGKeyArray, n: int, dtype=jnp.float32) -> Sigmas:
        table, _ = self.table()
        return jnp.asarray(table, dtype)[jax.random.randint(key, (n,), 0, table.size)]

    def likelihood_weight(self, sigma: Sigmas) -> Sigmas:
        table, w = self.table()
        idx = jnp.clip(jnp.searchsorted(jnp.asarray(table, sigma.dtype), sigma), 0, table.size - 1)
        return jnp.asarray(w, sigma.dtype)[idx]


# ------------------------------------------------------------------------------ weightings λ(σ)
class AbstractWeighting(eqx.Module):
    """λ(σ), the weight of the mean squared score error at σ (times σ² per coordinate)."""

    uses_sigma_data: ClassVar[bool] = False  # reads Loss.sigma_data (else it is no part of the compiled step)

    @classmethod
    def from_config(cls, loss: Loss) -> AbstractWeighting:
        """The weighting the settings `loss` describe."""
        del loss
        return cls()

    @abc.abstractmethod
    def __call__(self, sigma: Sigmas) -> Sigmas:
        """λ(σ) for an array of σ."""


class Sigma2Weighting(AbstractWeighting):
    """λ = σ² (ε-prediction MSE)."""

    def __call__(self, sigma: Sigmas) -> Sigmas:
        return sigma * sigma


class UniformWeighting(AbstractWeighting):
    """λ = σ⁴ (unweighted x0-prediction MSE)."""

    def __call__(self, sigma: Sigmas) -> Sigmas:
        s2 = sigma * sigma
        return s2 * s2


class EDMWeighting(AbstractWeighting):
    """λ = σ²(σ²+σ_d²)/σ_d² (EDM)."""

    uses_sigma_data: ClassVar[bool] = True
    sigma_data: float = eqx.field(static=True)

    def __check_init__(self):
        if not self.sigma_data > 0:
            raise ValueError(f"sigma_data: must be > 0 for the 'edm' weighting, got {self.sigma_data} "
                             "(Loss.resolve(gm) fills 0 with the data's std)")

    @classmethod
    def from_config(cls, loss: Loss) -> EDMWeighting:
        return cls(loss.sigma_data)

    def __call__(self, sigma: Sigmas) -> Sigmas:
        s2, sd2 = sigma * sigma, self.sigma_data**2
        return s2 * (s2 + sd2) / sd2


class LikelihoodWeighting(AbstractWeighting):
    """λ = g² = 2σ / p(σ) for the training density p of `dist`."""

    dist: AbstractSigmaDist

    @classmethod
    def from_config(cls, loss: Loss) -> LikelihoodWeighting:
        return cls(loss.sigma_distribution())

    def __call__(self, sigma: Sigmas) -> Sigmas:
        return self.dist.likelihood_weight(sigma)


SIGMA_DISTS: dict[str, type[AbstractSigmaDist]] = {"log_uniform": LogUniform, "lognormal": LogNormal,
                                                   "ddpm": DDPMSigmas}
WEIGHTINGS: dict[str, type[AbstractWeighting]] = {"sigma2": Sigma2Weighting, "edm": EDMWeighting,
                                                  "likelihood": LikelihoodWeighting, "uniform": UniformWeighting}


# ------------------------------------------------------------------------------ settings
class Loss(Section):
    """DSM loss settings (the `[loss]` table; hashable, a static argument of the training step).

    sigma_data 0, band_lo 0 and band_hi 0 stand for values of the data: the overall std, the mode
    std / 10 and the mode std; `resolve(gm)` fills them."""

    sigma_dist: Literal[tuple(SIGMA_DISTS)] = "lognormal"  # type: ignore[valid-type]
    sigma_min: float = Field(1e-3, gt=0)
    sigma_max: float = Field(1e2, gt=0)
    p_mean: float = -1.2
    p_std: float = Field(1.2, gt=0)
    ddpm_T: int = Field(1000, ge=1)
    ddpm_beta_start: float = Field(1e-4, gt=0, lt=1)
    ddpm_beta_end: float = Field(0.02, gt=0, lt=1)
    weighting: Literal[tuple(WEIGHTINGS)] = "edm"  # type: ignore[valid-type]
    sigma_data: float = Field(0.0, ge=0)     # EDM σ_d; 0: the data's overall std
    band_lo: float = Field(0.0, ge=0)        # 0: mode std / 10
    band_hi: float = Field(0.0, ge=0)        # 0: mode std
    band_factor: float = Field(1.0, gt=0)    # A; 1 = off
    band_prob: float = Field(0.0, ge=0, le=1)
    bucket_edges: tuple[float, ...] = DEFAULT_EDGES
    target: Literal["dsm", "exact"] = "dsm"  # "exact": regress on E[ε | x_σ] of a mixture (no target noise)

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Loss:
        if self.sigma_min >= self.sigma_max:
            raise ValueError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")
        if self.ddpm_beta_start > self.ddpm_beta_end:
            raise ValueError("ddpm_beta_start: must be <= ddpm_beta_end")
        if self.band_lo and self.band_hi and self.band_lo >= self.band_hi:
            raise ValueError(f"band_lo: must be < band_hi ({self.band_hi}), got {self.band_lo}")
        e = self.bucket_edges
        if any(v <= 0 for v in e) or any(b <= a for a, b in zip(e, e[1:])):
            raise ValueError(f"bucket_edges: must be positive and increasing, got {list(e)}")
        return self

    @classmethod
    def ddpm(cls, beta_start: float = 1e-4, beta_end: float = 0.02, T: int = 1000) -> Loss:
        """DDPM training (Ho et al. 2020): the T levels of a linear β schedule beta_start → beta_end,
        ε-prediction with the unweighted MSE (λ = σ²)."""
        return cls(sigma_dist="ddpm", weighting="sigma2", ddpm_T=T, ddpm_beta_start=beta_start, ddpm_beta_end=beta_end)

    def band(self, mode_std: float) -> tuple[float, float]:
        """(band_lo, band_hi) with 0 replaced by mode_std/10 and mode_std; ValueError if empty."""
        lo, hi = self.band_lo or mode_std / 10.0, self.band_hi or mode_std
        if lo >= hi:
            raise ValueError(f"band_lo: must be < band_hi ({hi:g}), got {lo:g}")
        return lo, hi

    def resolve(self, gm) -> Loss:
        """A copy with σ_d and the band taken from mixture `gm` where they are 0 (host-side)."""
        lo, hi = self.band(float(gm.mode_std()))
        return self.model_copy(update={"sigma_data": self.sigma_data or float(gm.data_std()),
                                       "band_lo": lo, "band_hi": hi})

    def compiled(self) -> Loss:
        """The settings a compiled training step depends on: band_factor set to 1 (the step takes A
        as a traced argument) and sigma_data to 0 unless the weighting reads it. Equal for runs that
        differ only in those values (e.g. recursive generations, whose data std differs), so they
        share one compilation."""
        keep_sd = WEIGHTINGS[self.weighting].uses_sigma_data
        return self.model_copy(update={"band_factor": 1.0, "sigma_data": self.sigma_data if keep_sd else 0.0})

    def sigma_distribution(self) -> AbstractSigmaDist:
        return SIGMA_DISTS[self.sigma_dist].from_config(self)

    def weighting_fn(self) -> AbstractWeighting:
        return WEIGHTINGS[self.weighting].from_config(self)

    @property
    def n_buckets(self) -> int:
        return len(self.bucket_edges) + 1

    def bucket_names(self) -> list[str]:
        e = ("0",) + tuple(f"{v:g}" for v in self.bucket_edges) + ("inf",)
        return [f"[{e[i]},{e[i + 1]})" for i in range(len(e) - 1)]


# ------------------------------------------------------------------------------ the loss
def sample_sigmas(key: PRNGKeyArray, n: int, spec: Loss, dtype=jnp.float32) -> Sigmas:
    """Training noise levels [n] drawn from spec.sigma_dist (mixed with the band when band_prob > 0)."""
    k_base, k_band, k_mix = jax.random.split(key, 3)
    sig = spec.sigma_distribution().sample(k_base, n, dtype)
    if spec.band_prob > 0:
        band = LogUniform(spec.band_lo, spec.band_hi).sample(k_band, n, dtype)
        sig = jnp.where(jax.random.uniform(k_mix, (n,), dtype) < spec.band_prob, band, sig)
    return sig


def weight(sigma: Sigmas, spec: Loss, band_factor: Float[ArrayLike, ""] | None = None) -> Sigmas:
    """λ(σ)·A(σ) for an array of σ (see the module docstring). `band_factor` (an array) overrides
    spec.band_factor, so a sweep over A can share one compiled training step."""
    lam = spec.weighting_fn()(sigma)
    in_band = (sigma >= spec.band_lo) & (sigma <= spec.band_hi)
    amp = spec.band_factor if band_factor is None else band_factor
    return lam * jnp.where(in_band, jnp.asarray(amp, sigma.dtype), jnp.ones((), sigma.dtype))


def eps_weight(sigma: Sigmas, spec: Loss, band_factor: Float[ArrayLike, ""] | None = None) -> Sigmas:
    """λ(σ)·A(σ)/σ², the weight of the ε-space error σ²‖Δs‖²/D in the loss. For λ = σ² it is A(σ)
    itself, formed without σ² (which overflows float32 above σ ≈ 1.8e19, e.g. the DDPM grid with
    β_T = 0.2 of Aithal et al. reaches σ_T ≈ 3e23)."""
    if isinstance(spec.weighting_fn(), Sigma2Weighting):
        in_band = (sigma >= spec.band_lo) & (sigma <= spec.band_hi)
        amp = spec.band_factor if band_factor is None else band_factor
        return jnp.where(in_band, jnp.asarray(amp, sigma.dtype), jnp.ones((), sigma.dtype))
    return weight(sigma, spec, band_factor) / (sigma * sigma)


def exact_eps(gm, xs: Float[Array, "n D"], sigma: Sigmas, eps: Float[Array, "n D"]) -> Float[Array, "n D"]:
    """The noise-free regression target E[ε | x_σ] = −σ s*(x_σ, σ) of a GaussianMixture `gm` (the exact
    score, as in the EDM2 toy example), [n, D]. Above σ = 1e4 the drawn ε itself, which differs from it
    by O(|x_0|/σ) and keeps σ² inside float32 (a DDPM grid with β_T = 0.2 reaches σ ≈ 3e23)."""
    capped = jnp.minimum(sigma, 1e4)
    target = -capped[:, None] * jax.vmap(gm.score)(xs, capped)
    return jnp.where(sigma[:, None] > 1e4, eps, target)


def dsm_loss(model, gm, *, key: PRNGKeyArray, spec: Loss, batch: int,
             band_factor: Float[ArrayLike, ""] | None = None) -> tuple[Float[Array, ""], dict]:
    """Weighted DSM loss of `model` on a fresh batch from mixture `gm`.

    Returns (loss, aux) with aux = {'bucket_sum' [n_buckets], 'bucket_count' [n_buckets],
    'band_sum', 'band_count'}: sums of the ε-space MSE σ²‖s_θ + ε/σ‖²/D per σ bucket.
    """
    k0, k1, k2 = jax.random.split(key, 3)
    x0 = gm.sample(k0, batch)
    sigma = sample_sigmas(k1, batch, spec, x0.dtype)
    eps = jax.random.normal(k2, x0.shape, x0.dtype)
    xs = x0 + sigma[:, None] * eps
    if spec.target == "exact":
        eps = exact_eps(gm, xs, sigma, eps)
    s = jax.vmap(model)(xs, sigma)
    err = jnp.mean((sigma[:, None] * s + eps) ** 2, axis=1)  # σ²‖Δs‖²/D
    loss = jnp.mean(eps_weight(sigma, spec, band_factor) * err)
    return loss, bucket_aux(jax.lax.stop_gradient(err), sigma, spec)


def bucket_aux(err: Sigmas, sigma: Sigmas, spec: Loss) -> dict:
    """The logged sums of `err` [n] by σ bucket and in the band: {'bucket_sum', 'bucket_count'
    [n_buckets], 'band_sum', 'band_count'}. Bucket i holds edges[i−1] < σ ≤ edges[i] (searchsorted's
    left side). All four sums are one product [err, 1] · [one-hot bucket, in band] ([2, n] × [n, nb + 1]):
    a searchsorted loop and two scatter-adds per step cost more on XLA:CPU (benchmarks/README.md, bench_train)."""
    edges = jnp.asarray(spec.bucket_edges, sigma.dtype)
    idx = jnp.sum(sigma[:, None] > edges[None, :], axis=1)
    cols = jnp.concatenate([idx[:, None] == jnp.arange(spec.n_buckets)[None, :],
                            ((sigma >= spec.band_lo) & (sigma <= spec.band_hi))[:, None]], axis=1)
    sums = jnp.stack([err, jnp.ones_like(err)]) @ cols.astype(err.dtype)
    nb = spec.n_buckets
    return {"bucket_sum": sums[0, :nb], "bucket_count": sums[1, :nb], "band_sum": sums[0, nb], "band_count": sums[1, nb]}


def loss_and_grad(model, gm, *, key: PRNGKeyArray, spec: Loss, batch: int, band_factor=None, objective=None):
    """((loss, aux), grads) with grads for the inexact arrays of `model`. `objective` (default
    `dsm_loss`) is any function with dsm_loss's signature, objective(model, data, *, key, spec, batch,
    band_factor), and return value (loss, aux with the same keys): the extension point for losses
    that need more than (x, σ), e.g. class labels."""
    value_and_grad = eqx.filter_value_and_grad(objective or dsm_loss, has_aux=True)
    return value_and_grad(model, gm, key=key, spec=spec, batch=batch, band_factor=band_factor)

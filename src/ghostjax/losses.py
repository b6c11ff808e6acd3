"""Denoising score matching: σ sampling distributions, loss weightings λ(σ), the band factor.

For x_σ = x_0 + σ ε the DSM target is −ε/σ, and the per-example loss is
    ℓ = λ(σ) · A(σ) · mean_i (s_θ(x_σ, σ)_i + ε_i/σ)²,
with A(σ) = band_factor on [band_lo, band_hi] and 1 elsewhere (band_factor = 1: off).
Weightings λ(σ), all expressed on the score error:
  'sigma2'      σ²                      (ε-prediction MSE; DDPM's "simple" loss, Aithal et al.)
  'edm'         σ²(σ²+σ_d²)/σ_d²        (EDM's x0 weighting (σ²+σ_d²)/(σσ_d)² times the σ⁴ that
                                         turns a denoiser error into a score error)
  'likelihood'  g² = 2σ / p(σ)          (Song et al. 2021 likelihood weighting: the path-space
                                         KL integrand ∫ E‖Δs‖² dσ² importance-sampled with the
                                         training density p(σ) of `sigma_dist`, band mixing excluded)
  'uniform'     σ⁴                      (unweighted x0-prediction MSE ‖D_θ − x_0‖²)
σ distributions: 'log_uniform' on [sigma_min, sigma_max]; 'lognormal' (EDM: ln σ ~ N(P_mean, P_std²));
'ddpm' (uniform over the T discrete σ_t of a linear-β DDPM). With band_prob > 0 a fraction band_prob
of each batch is instead drawn log-uniformly inside the band (sampling more σ in the band instead
of weighting it). Losses are also reduced per σ bucket (ε-space MSE σ²‖Δs‖²/D) for logging.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .processes import linear_betas

SIGMA_DISTS = ("log_uniform", "lognormal", "ddpm")
WEIGHTINGS = ("sigma2", "edm", "likelihood", "uniform")
DEFAULT_EDGES = (1e-2, 1e-1, 1.0, 10.0)


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Hashable loss settings (a static argument of the jitted training step)."""

    sigma_dist: str = "lognormal"
    sigma_min: float = 1e-3
    sigma_max: float = 1e2
    p_mean: float = -1.2
    p_std: float = 1.2
    ddpm_T: int = 1000
    ddpm_beta_start: float = 1e-4
    ddpm_beta_end: float = 0.02
    weighting: str = "edm"
    sigma_data: float = 1.0          # EDM σ_d (overall data std), used by 'edm'
    band_lo: float = 0.03
    band_hi: float = 0.3
    band_factor: float = 1.0
    band_prob: float = 0.0
    bucket_edges: tuple = DEFAULT_EDGES

    def __post_init__(self):
        if self.sigma_dist not in SIGMA_DISTS:
            raise ValueError(f"sigma_dist: expected one of {SIGMA_DISTS}, got {self.sigma_dist!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {self.weighting!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("sigma_min/sigma_max: need 0 < sigma_min < sigma_max")
        if not 0 < self.band_lo < self.band_hi:
            raise ValueError("band_lo/band_hi: need 0 < band_lo < band_hi")
        if self.band_factor <= 0:
            raise ValueError("band_factor: must be positive")
        if not 0 <= self.band_prob <= 1:
            raise ValueError("band_prob: must lie in [0, 1]")

    @property
    def n_buckets(self) -> int:
        return len(self.bucket_edges) + 1

    def bucket_names(self) -> list[str]:
        e = ("0",) + tuple(f"{v:g}" for v in self.bucket_edges) + ("inf",)
        return [f"[{e[i]},{e[i + 1]})" for i in range(len(e) - 1)]


def _ddpm_table(spec: LossSpec):
    """Ascending DDPM σ_t [T] and the likelihood weight 2σ/p(σ) at each (p from the spacing).
    NumPy only (usable while tracing): σ_t = √(1/ᾱ_t − 1), as in processes.sigmas_from_betas."""
    betas = linear_betas(spec.ddpm_T, spec.ddpm_beta_start, spec.ddpm_beta_end)
    sig = np.sqrt(np.expm1(-np.cumsum(np.log1p(-betas))))
    spacing = np.gradient(sig) if sig.size > 1 else np.ones_like(sig)
    return sig, 2.0 * sig * spec.ddpm_T * spacing  # p(σ_t) ≈ 1 / (T Δσ_t)


def sample_sigmas(key, n: int, spec: LossSpec, dtype=jnp.float32):
    """Training noise levels [n] drawn from spec.sigma_dist (mixed with the band when band_prob > 0)."""
    k_base, k_band, k_mix = jax.random.split(key, 3)
    if spec.sigma_dist == "log_uniform":
        u = jax.random.uniform(k_base, (n,), dtype)
        sig = jnp.exp(math.log(spec.sigma_min) + u * math.log(spec.sigma_max / spec.sigma_min))
    elif spec.sigma_dist == "lognormal":
        sig = jnp.exp(spec.p_mean + spec.p_std * jax.random.normal(k_base, (n,), dtype))
    else:
        table, _ = _ddpm_table(spec)
        sig = jnp.asarray(table, dtype)[jax.random.randint(k_base, (n,), 0, table.size)]
    if spec.band_prob > 0:
        u = jax.random.uniform(k_band, (n,), dtype)
        band = jnp.exp(math.log(spec.band_lo) + u * math.log(spec.band_hi / spec.band_lo))
        sig = jnp.where(jax.random.uniform(k_mix, (n,), dtype) < spec.band_prob, band, sig)
    return sig


def weight(sigma, spec: LossSpec, band_factor=None):
    """λ(σ)·A(σ) for an array of σ (see the module docstring). `band_factor` (an array) overrides
    spec.band_factor, so a sweep over A can share one compiled training step."""
    s2 = sigma * sigma
    if spec.weighting == "sigma2":
        lam = s2
    elif spec.weighting == "edm":
        sd2 = spec.sigma_data**2
        lam = s2 * (s2 + sd2) / sd2
    elif spec.weighting == "uniform":
        lam = s2 * s2
    else:  # likelihood: 2σ / p(σ)
        if spec.sigma_dist == "log_uniform":
            lam = 2.0 * s2 * math.log(spec.sigma_max / spec.sigma_min)
        elif spec.sigma_dist == "lognormal":
            z = (jnp.log(sigma) - spec.p_mean) / spec.p_std
            pdf = jnp.exp(-0.5 * z * z) / (sigma * spec.p_std * math.sqrt(2 * math.pi))
            lam = 2.0 * sigma / pdf
        else:
            table, w = _ddpm_table(spec)
            idx = jnp.clip(jnp.searchsorted(jnp.asarray(table, sigma.dtype), sigma), 0, table.size - 1)
            lam = jnp.asarray(w, sigma.dtype)[idx]
    in_band = (sigma >= spec.band_lo) & (sigma <= spec.band_hi)
    amp = spec.band_factor if band_factor is None else band_factor
    return lam * jnp.where(in_band, jnp.asarray(amp, sigma.dtype), jnp.ones((), sigma.dtype))


def dsm_loss(model, gm, key, spec: LossSpec, batch: int, band_factor=None):
    """Weighted DSM loss of `model` on a fresh batch from mixture `gm`.

    Returns (loss, aux) with aux = {'bucket_sum' [n_buckets], 'bucket_count' [n_buckets],
    'band_sum', 'band_count'}: sums of the ε-space MSE σ²‖s_θ + ε/σ‖²/D per σ bucket.
    """
    k0, k1, k2 = jax.random.split(key, 3)
    x0 = gm.sample(k0, batch)
    sigma = sample_sigmas(k1, batch, spec, x0.dtype)
    eps = jax.random.normal(k2, x0.shape, x0.dtype)
    xs = x0 + sigma[:, None] * eps
    s = jax.vmap(model)(xs, sigma)
    err = jnp.mean((sigma[:, None] * s + eps) ** 2, axis=1)  # σ²‖Δs‖²/D
    lam = weight(sigma, spec, band_factor)
    loss = jnp.mean(lam / (sigma * sigma) * err)
    err = jax.lax.stop_gradient(err)
    idx = jnp.searchsorted(jnp.asarray(spec.bucket_edges, sigma.dtype), sigma)
    nb = spec.n_buckets
    in_band = (sigma >= spec.band_lo) & (sigma <= spec.band_hi)
    aux = {
        "bucket_sum": jnp.zeros((nb,), err.dtype).at[idx].add(err),
        "bucket_count": jnp.zeros((nb,), err.dtype).at[idx].add(1.0),
        "band_sum": jnp.sum(jnp.where(in_band, err, 0.0)),
        "band_count": jnp.sum(in_band.astype(err.dtype)),
    }
    return loss, aux


def loss_and_grad(model, gm, key, spec: LossSpec, batch: int, band_factor=None):
    """((loss, aux), grads) with grads for the inexact arrays of `model`."""
    return eqx.filter_value_and_grad(dsm_loss, has_aux=True)(model, gm, key, spec, batch, band_factor)

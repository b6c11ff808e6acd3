"""Class-labelled data and the class-conditional DSM objective with label dropout (classifier-free
guidance training, Ho & Salimans 2022).

  LabelledMixture       a one-component-per-class GaussianMixture plus the label dropout probability
                        p_uncond; `sample(key, n)` gives (x [n, D], labels [n]), `drop_labels`
                        replaces each label by the null class M with probability p_uncond.
  conditional_dsm_loss  losses.dsm_loss with the label: the network is called as model(x, σ, c)
                        with c the data label, or the null class M (probability p_uncond). With
                        p_uncond = 0 it is the conditional DSM loss E‖σ s_θ(x_σ, σ, c) + ε‖²; one
                        network then learns s(x | c) (c < M) and s(x) (c = M).

`conditional_dsm_loss` has the signature and return value of losses.dsm_loss, so it is passed to
training.fit(..., objective=conditional_dsm_loss) with a LabelledMixture as the data: the existing
training loop (scan, EMA, checkpoints) trains the conditional network. p_uncond is an array field
of the data, so changing it does not recompile.

Randomness of one batch (key → k_data, k_sigma, k_eps, k_drop = split(key, 4)):
x0, labels = data.sample(k_data, n); σ = losses.sample_sigmas(k_sigma, n, spec); ε ~ N(0, I) from
k_eps; c = data.drop_labels(k_drop, labels).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ._util import concrete
from .distributions import AbstractDistribution
from .losses import Loss, bucket_aux, eps_weight, sample_sigmas
from .mixtures import GaussianMixture


class LabelledMixture(AbstractDistribution):
    """Class-labelled data: class k ~ N(μ_k, diag s_k²) with prior w_k (component k of `gm`),
    classes 0 … M−1; the label M is the null class ("no label"). `p_uncond` ∈ [0, 1]: the label
    dropout probability of conditional_dsm_loss. Exposes the GaussianMixture methods fit needs
    (data_std, mode_std) and the exact scores (score, conditional_score)."""

    gm: GaussianMixture
    p_uncond: Float[Array, ""]

    def __init__(self, gm: GaussianMixture, p_uncond=0.1):
        p = concrete(p_uncond)
        if p is not None and not (0.0 <= float(p) <= 1.0):
            raise ValueError(f"p_uncond: must lie in [0, 1], got {float(p)}")
        self.gm, self.p_uncond = gm, jnp.asarray(p_uncond, gm.means.dtype)

    @property
    def n_classes(self) -> int:
        return self.gm.n_components

    @property
    def null_class(self) -> int:
        """The label that stands for "unconditional": M."""
        return self.gm.n_components

    @property
    def dim(self) -> int:
        return self.gm.dim

    def data_std(self) -> Float[Array, ""]:
        return self.gm.data_std()

    def mode_std(self) -> Float[Array, ""]:
        return self.gm.mode_std()

    def score(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Exact unconditional score s(x) of p_σ, [D]."""
        return self.gm.score(x, sigma)

    def conditional_score(self, x: Float[Array, " D"], sigma, label: Int[Array, ""]) -> Float[Array, " D"]:
        """Exact class score s(x | c), [D]."""
        return self.gm.conditional_score(x, sigma, label)

    def sample(self, key: PRNGKeyArray, n: int) -> tuple[Float[Array, "n D"], Int[Array, " n"]]:
        """n labelled draws: x [n, D] and their classes [n] (int32, in 0 … M−1)."""
        x, labels = self.gm.sample(key, n, return_labels=True)
        return x, labels.astype(jnp.int32)

    def drop_labels(self, key: PRNGKeyArray, labels: Int[Array, " n"]) -> Int[Array, " n"]:
        """labels with each one replaced by the null class M with probability p_uncond
        (independently, u ~ U[0, 1) from `key`, dropped where u < p_uncond)."""
        u = jax.random.uniform(key, labels.shape, self.p_uncond.dtype)
        return jnp.where(u < self.p_uncond, jnp.int32(self.null_class), labels).astype(jnp.int32)


def conditional_dsm_loss(model, data: LabelledMixture, *, key: PRNGKeyArray, spec: Loss, batch: int,
                         band_factor: Float[ArrayLike, ""] | None = None) -> tuple[Float[Array, ""], dict]:
    """Weighted conditional DSM loss of model(x [D], σ, c) -> [D] on a fresh labelled batch, with
    label dropout (module docstring): mean over the batch of λ(σ)A(σ)/σ² · σ²‖s_θ(x_σ, σ, c) + ε/σ‖²/D.

    Returns (loss, aux) with the keys of losses.dsm_loss: 'bucket_sum', 'bucket_count' [n_buckets]
    and 'band_sum', 'band_count' (sums of the ε-space MSE per σ bucket, for the training log).
    spec.target must be "dsm" (the exact-target regression is not defined here)."""
    if spec.target != "dsm":
        raise ValueError(f"target: conditional_dsm_loss needs target = 'dsm', got {spec.target!r}")
    k_data, k_sig, k_eps, k_drop = jax.random.split(key, 4)
    x0, labels = data.sample(k_data, batch)
    sigma = sample_sigmas(k_sig, batch, spec, x0.dtype)
    eps = jax.random.normal(k_eps, x0.shape, x0.dtype)
    c = data.drop_labels(k_drop, labels)
    xs = x0 + sigma[:, None] * eps
    s = jax.vmap(model)(xs, sigma, c)
    err = jnp.mean((sigma[:, None] * s + eps) ** 2, axis=1)  # σ²‖Δs‖²/D
    loss = jnp.mean(eps_weight(sigma, spec, band_factor) * err)
    return loss, bucket_aux(jax.lax.stop_gradient(err), sigma, spec)


"""The data-class bases (distributions.py): the four data classes are instances of them, and the
moments written once in AbstractMixture agree with the per-class closed forms Σ_k w_k (Σ_k + μ_k μ_kᵀ)
− m mᵀ computed in float64 NumPy (the uncentred route, not the base's centred one)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax.conditional import LabelledMixture
from ghostjax.data import EmpiricalData
from ghostjax.distributions import AbstractDistribution, AbstractMixture


def random_mixture(seed: int = 0, k: int = 4, d: int = 3):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d))
    w = rng.uniform(0.2, 1.0, size=k)
    w /= w.sum()
    stds = rng.uniform(0.2, 1.5, size=(k, d))
    a = rng.normal(size=(k, d, d))
    covs = a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)
    return means, w, stds, covs


def uncentred_cov(means, w, comp_covs):
    m = w @ means
    return np.einsum("k,kij->ij", w, comp_covs + means[:, :, None] * means[:, None, :]) - np.outer(m, m)


def test_the_four_classes_share_the_base():
    means, w, stds, covs = random_mixture()
    gm = gj.GaussianMixture(means, w, stds)
    fc = gj.FullCovMixture(means, w, covs)
    data = [gm, fc, LabelledMixture(gm, 0.1), EmpiricalData(gm.sample(jax.random.PRNGKey(0), 16))]
    assert all(isinstance(x, AbstractDistribution) for x in data)
    assert isinstance(gm, AbstractMixture) and isinstance(fc, AbstractMixture)
    assert [x.dim for x in data] == [3] * 4

    class Incomplete(AbstractMixture):  # no densities, no sampler, no within_covariance
        means: jax.Array
        weights: jax.Array

    with pytest.raises(TypeError, match="abstract methods .*within_covariance"):
        Incomplete(jnp.zeros((2, 3)), jnp.full((2,), 0.5))
    assert issubclass(AbstractDistribution, eqx.Module)


def test_shared_moments_match_the_per_class_closed_forms():
    means, w, stds, covs = random_mixture(1)
    gm = gj.GaussianMixture(means, w, stds)
    fc = gj.FullCovMixture(means, w, covs)
    diag = stds[:, :, None] ** 2 * np.eye(3)[None]
    for mix, comp in ((gm, diag), (fc, covs)):
        ref = uncentred_cov(means, w, comp)
        np.testing.assert_allclose(np.asarray(mix.mean()), w @ means, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(mix.covariance()), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(float(mix.data_std()), np.sqrt(np.trace(ref) / 3), rtol=1e-5)
        np.testing.assert_allclose(float(mix.mode_std()), np.sqrt(np.einsum("k,kii->", w, comp) / 3), rtol=1e-5)
        x = jnp.asarray([0.3, -0.2, 0.5], jnp.float32)
        np.testing.assert_allclose(float(jnp.sum(mix.responsibilities(x, jnp.float32(0.4)))), 1.0, rtol=1e-5)
    lab = LabelledMixture(gm, 0.2)
    assert lab.n_classes == 4 and float(lab.data_std()) == float(gm.data_std())
    # sample_noised (written once): x_0 from split(key)[0], noise from split(key)[1]
    key = jax.random.PRNGKey(3)
    k0, k1 = jax.random.split(key)
    for mix in (gm, fc):
        ref = mix.sample(k0, 8) + 0.5 * jax.random.normal(k1, (8, 3), jnp.float32)
        np.testing.assert_allclose(np.asarray(mix.sample_noised(key, 8, 0.5)), np.asarray(ref), rtol=1e-6, atol=1e-6)

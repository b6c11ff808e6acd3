"""The census (metrics/census.py): its definition against an independent NumPy implementation,
exact samples of the data real at every D up to the stated tail, constructed ghost and off points,
the threshold's tail probability, tracing under jit, and the product-of-marginals ghost mass."""

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
import scipy.stats

from ghostjax.metrics.census import GHOST, OFF, REAL, classify, corner_counts, product_ghost_mass, thresholds


def numpy_labels(x, means, stds, t, c):
    """The census definition written directly in float64 NumPy, sample by sample."""
    def at(z):
        return np.max(np.abs(z)) <= t and np.sum(z * z) <= c

    out = []
    for xi in np.asarray(x, np.float64):
        if any(at((xi - m) / s) for m, s in zip(means, stds)):
            out.append(REAL)
            continue
        k = np.argmin(np.abs(xi[None, :] - means), axis=0)
        snap, s = means[k, np.arange(xi.size)], stds[k, np.arange(xi.size)]
        is_data = any(np.array_equal(snap, m) for m in means)
        out.append(GHOST if (not is_data and at((xi - snap) / s)) else OFF)
    return np.array(out)


def test_thresholds_have_the_stated_tail_probabilities():
    for d in (1, 3, 8, 128, 1024):
        t, c = thresholds(d, 1e-3)
        p_box = (1 - 2 * NormalDist().cdf(-t)) ** d  # every coordinate within t stds
        assert abs((1 - p_box) - 0.5e-3) < 1e-6, (d, t)
        assert abs(scipy.stats.chi2.sf(c, d) - 0.5e-3) < 1e-9, (d, c)
    assert abs(thresholds(1, 0.1)[0] - 1.959964) < 1e-4  # D = 1: the two-sided 5 % point
    with pytest.raises(ValueError, match="tail"):
        thresholds(3, 1.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_classify_matches_independent_numpy_definition(seed):
    rng = np.random.default_rng(seed)
    gm = gj.GaussianMixture(rng.choice([-1.0, 1.0], size=(3, 4)), [0.5, 0.3, 0.2], rng.uniform(0.2, 0.4, size=(3, 4)))
    x = rng.choice([-1.0, 1.0], size=(3000, 4)) + rng.normal(scale=0.5, size=(3000, 4))
    labels, _ = classify(jnp.asarray(x, jnp.float32), gm)
    ref = numpy_labels(x, np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64), *thresholds(4))
    assert np.mean(np.asarray(labels) == ref) > 0.999  # float32 vs float64 at the boundary only
    assert {REAL, GHOST, OFF} <= set(ref.tolist())   # every class is exercised


@pytest.mark.parametrize("dim", [1, 3, 8, 16, 64, 128])
def test_exact_samples_of_the_data_are_real_up_to_the_tail(dim):
    gm = gj.GaussianMixture.opposite_corners(dim, std=0.3, weight=0.5)
    n, tail = 20000, 1e-3
    c = gj.census(gm.sample(jax.random.key(dim), n), gm, tail)
    not_real = 1.0 - float(c["real_fraction"])
    assert not_real < tail + 4 * math.sqrt(tail / n), (dim, not_real)
    # Aithal's tight 1-D modes and the 5x5 grid: the same holds.
    for mix in (gj.GaussianMixture.line([1.0, 2.0, 3.0], std=0.05),
                gj.GaussianMixture.grid(5, 2.0, 0.05, scale=math.sqrt(0.05**2 + 8.0))):
        c = gj.census(mix.sample(jax.random.key(0), n), mix, tail)
        assert 1.0 - float(c["real_fraction"]) < tail + 4 * math.sqrt(tail / n)


def test_constructed_points_real_ghost_off():
    gm = gj.GaussianMixture.opposite_corners(3, std=0.2)  # t·std = 0.75 < 1: the boxes do not overlap
    pts = jnp.array([[1.0, 1.0, 1.0], [-1.1, -0.9, -1.0],       # real
                     [1.0, -1.0, 1.0], [-1.0, 1.05, 0.95],      # ghost corners
                     [0.0, 0.0, 0.0], [1.0, 1.0, 3.0]])         # between modes, beyond the outer mode
    labels, _ = classify(pts, gm)
    assert labels.tolist() == [REAL, REAL, GHOST, GHOST, OFF, OFF]
    assert corner_counts(pts, gm) == {7: 1, 0: 1, 5: 1, 6: 1}
    # A coordinate on which every mode agrees has no ghost: (1, 1, -1) is off for modes (1,1,1), (-1,1,1).
    half = gj.GaussianMixture.hypercube(3, [[1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]], std=0.1)
    assert classify(jnp.array([[1.0, 1.0, -1.0], [-1.0, 1.0, 1.0]]), half)[0].tolist() == [OFF, REAL]
    # 1-D modes at 1, 2, 3 (std 0.05): between modes is off, at a mode real.
    line = gj.GaussianMixture.line([1.0, 2.0, 3.0], std=0.05)
    assert classify(jnp.array([[1.5], [2.02], [4.0]]), line)[0].tolist() == [OFF, REAL, OFF]
    # High D, std 0.3 (t·std > 1, the per-coordinate boxes of neighbouring corners overlap): the origin and
    # a point 0.9 off in every coordinate are off (the χ² test), a sample with one coordinate at 3.5 stds is
    # real, a one-coordinate flip to a ghost corner is a ghost.
    d = 64
    big = gj.GaussianMixture.opposite_corners(d, std=0.3)
    one = jnp.ones((d,))
    pts = jnp.stack([jnp.zeros((d,)), 0.1 * one, one.at[0].set(1.0 - 3.5 * 0.3), one.at[0].set(-1.0)])
    assert classify(pts, big)[0].tolist() == [OFF, OFF, REAL, GHOST]


def test_census_traces_under_jit_and_vmap_over_cells():
    def fractions(std, w):
        gm = gj.GaussianMixture.opposite_corners(4, std, w)
        x = gm.sample(jax.random.key(0), 512)
        c = gj.census(x, gm)
        return jnp.stack([c["real_fraction"], c["ghost_fraction"], c["off_fraction"]])

    out = jax.jit(jax.vmap(fractions))(jnp.array([0.3, 0.2]), jnp.array([0.5, 0.9]))
    np.testing.assert_allclose(np.asarray(out).sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(fractions(0.2, 0.9)), atol=1e-6)


@pytest.mark.parametrize("dim, w", [(2, 0.5), (5, 0.3), (8, 0.9)])
def test_product_ghost_mass_closed_form(dim, w):
    gm = gj.GaussianMixture.opposite_corners(dim, 0.3, w)
    np.testing.assert_allclose(float(product_ghost_mass(gm)), 1 - w**dim - (1 - w) ** dim, rtol=1e-5)
    traced = jax.jit(lambda ww: product_ghost_mass(gj.GaussianMixture.opposite_corners(dim, 0.3, ww)))
    np.testing.assert_allclose(float(traced(jnp.float32(w))), 1 - w**dim - (1 - w) ** dim, rtol=1e-5)

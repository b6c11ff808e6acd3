"""Ghost-mode metrics: peak finder, crossings, ghost counts against enumeration, the distribution
gap against J_joint − J_fact by independent NumPy quadrature, entropy-production definitions,
speciation and coupling tables."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax.metrics.census import enumerate_ghost_corners, ghost_count, n_ghost_corners
from ghostjax.metrics.gaps import distribution_gap, entropy_production, marginal_fisher_quadrature, trajectory_gap
from ghostjax.metrics.peaks import bootstrap_peak, crossing, find_peak
from ghostjax.metrics.speciation import clone_probability, corner_tables, covariance_speciation
from ghostjax.observers import GroupMean


# ---------------------------------------------------------------- peaks
def bump(x, x0=0.7, w=0.6):
    return np.exp(-((np.log(x) - np.log(x0)) ** 2) / (2 * w * w))


def test_find_peak_recovers_known_maximum_between_grid_points():
    x = np.geomspace(0.05, 20, 40)  # 0.7 is not a grid point
    p = find_peak(x, 3.0 * bump(x))
    assert not p["edge"]
    assert abs(p["x"] / 0.7 - 1) < 0.01
    assert abs(p["y"] - 3.0) < 0.01
    # The raw argmax alone is off by up to half a grid step (≈ 8 %); refinement must beat it.
    assert abs(p["x"] / 0.7 - 1) < abs(x[np.argmax(bump(x))] / 0.7 - 1)


def test_find_peak_flags_edge_and_rejects_bad_input():
    x = np.geomspace(1, 10, 10)
    assert find_peak(x, x)["edge"] and find_peak(x, x)["x"] == pytest.approx(10)
    with pytest.raises(ValueError):
        find_peak(x[:2], x[:2])


def test_bootstrap_peak_interval_covers_truth_and_narrows_with_less_noise():
    x = np.geomspace(0.05, 20, 40)
    rng = np.random.default_rng(0)
    widths = []
    for noise in (0.3, 0.03):
        groups = bump(x)[None, :] + noise * rng.standard_normal((32, x.size))
        p = bootstrap_peak(x, groups, seed=1, n_boot=200)
        assert p["lo"] <= 0.7 <= p["hi"]
        widths.append(p["hi"] / p["lo"])
    assert widths[1] < widths[0]


def test_crossing_of_decreasing_curve():
    x = np.geomspace(0.01, 10, 50)
    assert crossing(x, 1.0 / x, 4.0) == pytest.approx(0.25, rel=1e-6)
    assert crossing(x, 1.0 / x, 1e6) is None


# ---------------------------------------------------------------- ghost counts
def test_ghost_count_matches_enumeration_for_every_corner_set_in_d3():
    corners = gj.all_corners(3)
    for k in range(1, 9):
        for idx in itertools.combinations(range(8), k):
            c = corners[list(idx)]
            g = ghost_count(c)
            e = enumerate_ghost_corners(c)
            assert g["count"] == e == n_ghost_corners(c)
            # The seed's 2^D − k is right exactly when every coordinate sees both signs.
            assert (g["formula_2D_minus_k"] == e) == (g["d_free"] == 3)


def test_ghost_count_random_sets_d4_to_d7_and_shared_sign_example():
    rng = np.random.default_rng(0)
    for d in range(4, 8):
        for _ in range(10):
            c = np.unique(rng.choice([-1.0, 1.0], size=(int(rng.integers(1, 7)), d)), axis=0)
            assert ghost_count(c)["count"] == enumerate_ghost_corners(c)
    shared = np.array([[1, 1, 1], [-1, -1, 1], [-1, 1, 1.0]])  # last coordinate always +1
    g = ghost_count(shared)
    assert g["count"] == 1 and g["formula_2D_minus_k"] == 5


# ---------------------------------------------------------------- gaps
def numpy_fisher_joint_2d(means, w, std, sigma, n=801):
    """J_joint = ∫ p ‖∇ log p‖² on a 2-D grid, float64 (independent of the JAX code)."""
    var = std**2 + sigma**2
    half = 8 * np.sqrt(var)
    u = np.linspace(means.min() - half, means.max() + half, n)
    X, Y = np.meshgrid(u, u, indexing="ij")
    p = np.zeros_like(X)
    gx, gy = np.zeros_like(X), np.zeros_like(X)
    for m, wk in zip(means, w):
        c = wk * np.exp(-((X - m[0]) ** 2 + (Y - m[1]) ** 2) / (2 * var)) / (2 * np.pi * var)
        p += c
        gx += c * (m[0] - X) / var
        gy += c * (m[1] - Y) / var
    f = np.where(p > 1e-300, (gx**2 + gy**2) / np.maximum(p, 1e-300), 0.0)
    return np.trapezoid(np.trapezoid(f, u, axis=1), u)


def numpy_fisher_marginals(means, w, std, sigma, n=4001):
    var = std**2 + sigma**2
    total = 0.0
    for i in range(means.shape[1]):
        u = np.linspace(-12, 12, n)
        c = w[None, :] * np.exp(-((u[:, None] - means[None, :, i]) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
        p, dp = c.sum(1), (c * (means[None, :, i] - u[:, None]) / var).sum(1)
        total += np.trapezoid(dp * dp / p, u)
    return total


@pytest.mark.parametrize("weight", [0.5, 0.8])
def test_distribution_gap_equals_fisher_difference_by_quadrature(weight):
    gm = gj.GaussianMixture.opposite_corners(2, 0.3, weight)
    means, w = np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([weight, 1 - weight])
    sig = np.array([0.3, 0.6])
    groups = distribution_gap(gm, sig, 16384, key=jax.random.key(0), groups=32)
    vals = groups.mean(1)
    se = groups.std(1) / np.sqrt(32)  # Δ² is heavy-tailed: compare within 4 standard errors
    for j, s in enumerate(sig):
        jj = numpy_fisher_joint_2d(means, w, 0.3, s)
        jf = numpy_fisher_marginals(means, w, 0.3, s)
        assert jj > jf  # the tower property makes the gap non-negative
        assert abs(vals[j, 0] - (jj - jf)) < 4 * se[j, 0] + 0.01 * (jj - jf)
        assert se[j, 0] < 0.08 * (jj - jf)  # and the check is sharp enough to mean something (se ≈ 6 % of the gap)
        assert abs(vals[j, 1] - jj) < 4 * se[j, 1] + 0.01 * jj
        assert marginal_fisher_quadrature(gm, float(s)) == pytest.approx(jf, rel=1e-4)


def test_group_mean_observer_and_trajectory_gap_shapes():
    gm = gj.GaussianMixture.opposite_corners(2, 0.3)
    grid = gj.geometric_grid(5.0, 0.05, 12)
    s, v, x = trajectory_gap(gm, grid, 64, key=jax.random.key(1), solver=gj.OdeEuler(), groups=8)
    assert v.shape == (12, 8, 3) and s.shape == (12,) and x.shape == (64, 2)
    assert np.all(v >= 0) and np.all(np.isfinite(v))
    # Δ² = ‖s_j‖² − 2 s_j·s_f + ‖s_f‖² ≤ (‖s_j‖ + ‖s_f‖)² per particle, hence per group mean of the bound
    ob = GroupMean(lambda x, sig, sc: jnp.sum(x), groups=4)
    _, out = ob.update(None, jnp.arange(8.0).reshape(4, 2), 1.0, jnp.zeros((4, 2)), 0)
    np.testing.assert_allclose(np.asarray(out), [1.0, 5.0, 9.0, 13.0])
    with pytest.raises(ValueError):
        GroupMean(lambda x, sig, sc: jnp.sum(x), groups=3).update(None, jnp.zeros((4, 2)), 1.0, jnp.zeros((4, 2)), 0)


def test_entropy_production_definitions():
    sig = np.array([0.5, 2.0])
    ep = entropy_production(sig, joint_sq=np.array([4.0, 1.0]), fact_sq=np.array([3.0, 0.5]), gap=np.array([1.0, 0.5]))
    np.testing.assert_allclose(ep["excess_dsigma"], [0.5, 1.0])
    np.testing.assert_allclose(ep["excess_dlnsigma"], [0.25, 2.0])
    np.testing.assert_allclose(ep["frac_excess_over_joint"], [0.25, 0.5])
    np.testing.assert_allclose(ep["frac_excess_over_fact"], [1 / 3, 1.0])
    np.testing.assert_allclose(ep["frac_fact_minus_joint"], [-1 / 3, -1.0])


# ---------------------------------------------------------------- speciation and coupling
def test_covariance_speciation_opposite_corners():
    c = covariance_speciation(gj.GaussianMixture.opposite_corners(4, 0.3))
    assert c["Lambda"] == pytest.approx(4 + 0.09, rel=1e-5)
    assert c["sigma_S"] == pytest.approx(np.sqrt(3.09), rel=1e-5)


def test_clone_probability_limits():
    gm = gj.GaussianMixture.opposite_corners(2, 0.3)
    phi = clone_probability(gm, np.array([0.05, 30.0]), 256, key=jax.random.key(2), n_steps=25)
    assert phi["phi_mode"][0] > 0.97           # already committed: both copies end together
    assert 0.35 < phi["phi_mode"][1] < 0.65    # far above speciation: independent ends (½)


def test_corner_tables_coupling_limits():
    t0 = corner_tables(gj.GaussianMixture.coupled_hypercube(4, 0.0))
    assert t0["excess_mass"] == pytest.approx(0.0, abs=1e-9)   # g = 0: data is a product, no ghosts
    t = corner_tables(gj.GaussianMixture.coupled_hypercube(4, 3.0))
    assert t["excess_mass"] == pytest.approx(1 - 2 / 16, abs=1e-3)
    assert t["lambda_common"] > t0["lambda_common"] > t["lambda_diff"]

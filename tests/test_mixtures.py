"""GaussianMixture: exact scores against autodiff and an independent NumPy float64 route."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj


def random_mixture(key, k=5, d=4, chunk=1024):
    k1, k2, k3 = jax.random.split(key, 3)
    means = 2.0 * jax.random.normal(k1, (k, d))
    w = jax.random.uniform(k2, (k,), minval=0.1, maxval=1.0)
    stds = jax.random.uniform(k3, (k, d), minval=0.1, maxval=0.8)  # diagonal, unequal
    return gj.GaussianMixture(means, np.asarray(w / w.sum()), stds, chunk=chunk)


def numpy_log_prob(gm, x, sigma):
    """Independent float64 route: log Σ_k w_k Π_d N(x_d; μ_kd, s_kd² + σ²)."""
    mu, w, s = (np.asarray(a, np.float64) for a in (gm.means, gm.weights, gm.stds))
    x = np.asarray(x, np.float64)
    var = s**2 + sigma**2
    lc = np.log(w) - 0.5 * np.sum((x - mu) ** 2 / var + np.log(2 * np.pi * var), axis=1)
    m = lc.max()
    return m + np.log(np.exp(lc - m).sum())


def numpy_marginal_log_prob(gm, x, sigma):
    mu, w, s = (np.asarray(a, np.float64) for a in (gm.means, gm.weights, gm.stds))
    var = s**2 + sigma**2
    lc = np.log(w)[:, None] - 0.5 * ((np.asarray(x, np.float64) - mu) ** 2 / var + np.log(2 * np.pi * var))
    m = lc.max(axis=0)
    return m + np.log(np.exp(lc - m).sum(axis=0))


SIGMAS = [0.0, 1e-3, 0.1, 1.0, 10.0, 1e3]


def batched(fn):
    """jit(vmap(fn)) over examples with σ traced: one compilation serves every σ."""
    return jax.jit(jax.vmap(fn, (0, None)))


def test_log_prob_matches_numpy():
    gm = random_mixture(jax.random.key(0))
    xs = 2.0 * jax.random.normal(jax.random.key(1), (16, gm.dim))
    lp, mlp = batched(gm.log_prob), batched(gm.marginal_log_prob)
    for sigma in SIGMAS:
        want = np.array([numpy_log_prob(gm, x, sigma) for x in np.asarray(xs)])
        np.testing.assert_allclose(lp(xs, sigma), want, rtol=2e-5, atol=2e-4, err_msg=f"σ={sigma}")
        want_m = np.stack([numpy_marginal_log_prob(gm, x, sigma) for x in np.asarray(xs)])
        np.testing.assert_allclose(mlp(xs, sigma), want_m, rtol=2e-5, atol=2e-4, err_msg=f"σ={sigma}")


def test_scores_match_autodiff():
    gm = random_mixture(jax.random.key(2))
    xs = 2.0 * jax.random.normal(jax.random.key(3), (16, gm.dim))
    joint, ad_joint = batched(gm.score), batched(jax.grad(gm.log_prob))
    fact = batched(gm.factorized_score)
    ad_fact = batched(jax.grad(lambda x, s: jnp.sum(gm.marginal_log_prob(x, s))))
    for sigma in SIGMAS:
        scale = 1.0 / (0.01 + sigma**2)  # score magnitudes grow like 1/var
        np.testing.assert_allclose(joint(xs, sigma), ad_joint(xs, sigma), rtol=1e-4, atol=1e-5 * scale)
        np.testing.assert_allclose(fact(xs, sigma), ad_fact(xs, sigma), rtol=1e-4, atol=1e-5 * scale)


def test_factorized_score_is_sum_of_1d_marginal_scores():
    """s_i depends on x_i alone and equals the score of the i-th 1-D marginal mixture."""
    gm = random_mixture(jax.random.key(4), k=3, d=3)
    x = jnp.array([0.3, -1.2, 2.0])
    fact = eqx.filter_jit(gm.factorized_score)(x, 0.5)
    for i in range(3):
        one_d = gj.GaussianMixture(gm.means[:, i:i + 1], np.asarray(gm.weights), gm.stds[:, i:i + 1])
        np.testing.assert_allclose(fact[i], eqx.filter_jit(one_d.score)(x[i:i + 1], 0.5)[0], rtol=1e-5)
    jac = jax.jit(jax.jacfwd(gm.factorized_score))(x, 0.5)
    np.testing.assert_allclose(jac - jnp.diag(jnp.diag(jac)), 0.0, atol=1e-7)


def test_chunked_stream_equals_single_chunk():
    key = jax.random.key(5)
    full = random_mixture(key, k=37, d=6, chunk=1024)
    chunked = random_mixture(key, k=37, d=6, chunk=5)  # 8 chunks, the last one padded
    xs = jax.random.normal(jax.random.key(6), (32, 6))
    for fn in ("factorized_score", "log_prob", "denoise"):
        a = batched(getattr(full, fn))(xs, 0.3)
        b = batched(getattr(chunked, fn))(xs, 0.3)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=fn)


def test_denoise_is_tweedie():
    gm = random_mixture(jax.random.key(7))
    xs = jax.random.normal(jax.random.key(8), (16, gm.dim))
    score, denoise = batched(gm.score), batched(gm.denoise)
    for sigma in (0.05, 0.5, 3.0):
        tweedie = xs + sigma**2 * score(xs, sigma)
        np.testing.assert_allclose(denoise(xs, sigma), tweedie, rtol=1e-4, atol=1e-4)


def test_denoise_posterior_mean_by_monte_carlo():
    """E[x0 | x_σ] estimated by self-normalised importance weights from p_0 samples."""
    gm = gj.GaussianMixture.opposite_corners(dim=2, std=0.4, weight=0.7)
    x0 = gm.sample(jax.random.key(9), 400_000)
    x, sigma = jnp.array([0.2, -0.1]), 0.8
    logw = -0.5 * jnp.sum((x[None] - x0) ** 2, axis=1) / sigma**2
    w = jax.nn.softmax(logw)
    mc = w @ x0
    ess = 1.0 / jnp.sum(w**2)
    assert ess > 1e4
    np.testing.assert_allclose(gm.denoise(x, sigma), mc, atol=0.02)


@pytest.mark.parametrize("d", [1, 64, 1024])
def test_finite_far_from_modes_float32(d):
    """No NaN/inf from σ = 0 to 1e3·σ_data (σ_data = 0.3), at and far from the modes."""
    gm = gj.GaussianMixture.opposite_corners(dim=d, std=0.3, weight=0.95)
    xs = jnp.stack([jnp.full((d,), 1e3), jnp.zeros((d,)), jnp.linspace(-50.0, 80.0, d), jnp.ones((d,))])
    for fn in (gm.score, gm.factorized_score, gm.denoise, gm.log_prob, gm.marginal_log_prob):
        f = batched(fn)
        for sigma in (0.0, 1e-3, 1.0, 300.0):
            out = f(xs, sigma)
            assert out.dtype == jnp.float32
            assert bool(jnp.all(jnp.isfinite(out))), (fn.__name__, d, sigma)


def test_many_modes_large_k_stays_finite_and_matches_autodiff():
    gm = gj.GaussianMixture.random_classes(16, 3000, key=jax.random.key(10), std=0.2, chunk=512)
    xs = jax.random.normal(jax.random.key(11), (4, 16))
    score, ad = batched(gm.score), batched(jax.grad(gm.log_prob))
    for sigma in (0.0, 0.3, 30.0):
        s = score(xs, sigma)
        assert bool(jnp.all(jnp.isfinite(s)))
        np.testing.assert_allclose(s, ad(xs, sigma), rtol=2e-4, atol=1e-3)


def test_float64_on_request():
    with jax.enable_x64(True):
        gm = random_mixture(jax.random.key(12))
        gm64 = gj.GaussianMixture(np.asarray(gm.means), np.asarray(gm.weights, np.float64), np.asarray(gm.stds),
                                  dtype=jnp.float64)
        x = jnp.asarray(np.linspace(-1, 1, gm.dim), jnp.float64)
        score = eqx.filter_jit(gm64.score)(x, 0.3)
        assert score.dtype == jnp.float64
        np.testing.assert_allclose(score, jax.jit(jax.grad(lambda x, s: gm64.log_prob(x, s)))(x, 0.3), rtol=1e-11)
        np.testing.assert_allclose(eqx.filter_jit(gm64.log_prob)(x, 0.3), numpy_log_prob(gm64, x, 0.3), rtol=1e-12)


def test_sample_gaussian_moments_and_labels():
    gm = gj.GaussianMixture(np.array([[1.0, -2.0, 0.5]]), None, np.array([[0.5, 1.5, 0.2]]))
    n = 200_000
    x = gm.sample(jax.random.key(13), n)
    se = np.array([0.5, 1.5, 0.2]) / math.sqrt(n)
    assert np.all(np.abs(np.asarray(x.mean(0)) - np.asarray(gm.means[0])) < 5 * se)
    np.testing.assert_allclose(x.std(0), gm.stds[0], rtol=5 * math.sqrt(0.5 / n))
    mix = random_mixture(jax.random.key(14))
    _, labels = mix.sample(jax.random.key(15), n, return_labels=True)
    freq = np.bincount(np.asarray(labels), minlength=mix.n_components) / n
    np.testing.assert_allclose(freq, mix.weights, atol=5 * math.sqrt(0.25 / n))


def test_covariance_matches_samples():
    gm = random_mixture(jax.random.key(16), k=3, d=3)
    x = np.asarray(gm.sample(jax.random.key(17), 400_000), np.float64)
    np.testing.assert_allclose(gm.covariance(), np.cov(x.T), atol=0.05)
    np.testing.assert_allclose(gm.mean(), x.mean(0), atol=0.02)


def test_constructors():
    oc = gj.GaussianMixture.opposite_corners(dim=3, std=0.3, weight=0.95)
    np.testing.assert_array_equal(oc.means, [[1, 1, 1], [-1, -1, -1]])
    np.testing.assert_allclose(oc.weights, [0.95, 0.05])
    np.testing.assert_allclose(oc.mode_std(), 0.3, rtol=1e-6)
    hc = gj.GaussianMixture.hypercube(10, k=7, key=jax.random.key(0))
    assert hc.means.shape == (7, 10) and len({tuple(r) for r in np.asarray(hc.means)}) == 7
    big = gj.GaussianMixture.hypercube(40, k=5, key=jax.random.key(1))
    assert big.means.shape == (5, 40) and set(np.unique(big.means)) == {-1.0, 1.0}
    g0 = gj.GaussianMixture.coupled_hypercube(4, coupling=0.0)
    np.testing.assert_allclose(g0.weights, 1 / 16, rtol=1e-6)
    g_big = gj.GaussianMixture.coupled_hypercube(4, coupling=3.0)
    top = np.sort(np.asarray(g_big.weights))[-2:]
    assert top.sum() > 0.99
    g25 = gj.GaussianMixture.grid(5, 2.0, 0.05, scale=math.sqrt(0.05**2 + 2**2 * 2))
    assert g25.means.shape == (25, 2)
    np.testing.assert_allclose(np.abs(g25.means).max(), 4 / 2.8288, rtol=1e-3)
    ln = gj.GaussianMixture.line([1.0, 2.0, 3.0], std=0.05)
    assert ln.means.shape == (3, 1) and ln.dim == 1
    rc = gj.GaussianMixture.random_classes(8, 50, key=jax.random.key(2))
    assert rc.means.shape == (50, 8)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(means=np.zeros((2, 3)), weights=[0.5, 0.6]), "weights"),
        (dict(means=np.zeros((2, 3)), weights=[1.5, -0.5]), "weights"),
        (dict(means=np.zeros((2, 3)), weights=[0.2, 0.3, 0.5]), "weights"),
        (dict(means=np.zeros((2, 3)), stds=-0.1), "stds"),
        (dict(means=np.zeros((2, 3)), stds=np.ones((3, 3))), "stds"),
        (dict(means=np.zeros((0, 3))), "means"),
        (dict(means=np.zeros(3)), "means"),
    ],
)
def test_bad_input_names_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gj.GaussianMixture(**kwargs)


def test_bad_x_shape_names_x():
    gm = gj.GaussianMixture.opposite_corners(dim=3)
    with pytest.raises(ValueError, match="x"):
        gm.score(jnp.zeros(4), 0.1)
    with pytest.raises(ValueError, match="weight"):
        gj.GaussianMixture.opposite_corners(dim=3, weight=1.2)
    with pytest.raises(ValueError, match="corners"):
        gj.GaussianMixture.hypercube(3, corners=[[1, 1, 0]])


def test_draw_labels_frequencies_zero_weights_and_extremes():
    """Inverse-CDF labels: frequencies match the weights within 5 binomial se (K = 25, with zero
    weights that must never be drawn), and uniforms at the ends of [0, 1) stay in range."""
    from ghostjax.mixtures import draw_labels

    w = np.array(jax.random.dirichlet(jax.random.key(3), jnp.ones(25)))
    w[[0, 7, 24]] = 0.0
    w = w / w.sum()
    n = 200_000
    labels = np.asarray(draw_labels(jax.random.key(4), jnp.asarray(w, jnp.float32), n))
    freq = np.bincount(labels, minlength=25) / n
    assert freq[[0, 7, 24]].sum() == 0 and labels.min() >= 0 and labels.max() < 25
    assert np.all(np.abs(freq - w) <= 5 * np.sqrt(w * (1 - w) / n) + 1e-12), np.abs(freq - w).max()
    one = np.asarray(draw_labels(jax.random.key(5), jnp.ones(1), 1000))
    assert np.all(one == 0)


def test_bound_mixture_recognises_only_the_exact_score_method():
    from ghostjax.mixtures import bound_mixture

    gm = gj.GaussianMixture.random_classes(4, 3, key=jax.random.key(0))
    other = gj.GaussianMixture.random_classes(4, 3, key=jax.random.key(1))
    assert bound_mixture(gm.score) is gm
    assert bound_mixture(other.score) is other
    assert bound_mixture(gm.log_prob) is None
    assert bound_mixture(lambda x, s: gm.score(x, s)) is None
    assert bound_mixture(gm) is None

"""FullCovMixture: autodiff, the diagonal mixture, Tweedie, an independent NumPy float64 route, Monte
Carlo moments, extreme σ, and the EDM2 tree against numbers printed by Karras et al.'s own code."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax.fullcov import FullCovMixture, edm2_tree_components


def _random_mixture(k=5, d=3, seed=0, chunk=2, dtype=None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d)) * 0.4
    covs = a @ np.swapaxes(a, 1, 2) + 0.05 * np.eye(d)[None]
    w = rng.uniform(0.5, 1.5, k)
    return FullCovMixture(rng.normal(size=(k, d)), w / w.sum(), covs, chunk=chunk, dtype=dtype)


def _np_log_prob_and_score(fm, x, sigma):
    """Independent float64 route for one x [D]: batched solve / slogdet per component, log-sum-exp by hand."""
    mu, w, cov = (np.asarray(a, np.float64) for a in (fm.means, fm.weights, fm.covs))
    d = mu.shape[1]
    c = cov + sigma**2 * np.eye(d)[None]
    diff = np.asarray(x, np.float64)[None, :] - mu
    sol = np.linalg.solve(c, diff[:, :, None])[:, :, 0]
    logs = np.log(w) - 0.5 * (np.linalg.slogdet(c)[1] + d * np.log(2 * np.pi) + np.sum(diff * sol, axis=1))
    top = logs.max()
    r = np.exp(logs - top)
    return top + np.log(r.sum()), -(r[:, None] * sol).sum(0) / r.sum()


SIGMAS = (0.0, 0.05, 0.7, 6.0)


def test_score_log_prob_denoise_against_autodiff_numpy_and_tweedie():
    fm = _random_mixture(chunk=2)  # K = 5 in chunks of 2: the streamed scan with padding
    xs = np.random.default_rng(1).normal(size=(4, fm.dim)) * 1.5

    @eqx.filter_jit
    def evaluate(fm, x, s):
        return tuple(jax.vmap(f, (0, None))(x, s) for f in (fm.log_prob, fm.score, jax.grad(fm.log_prob), fm.denoise,
                                                            fm.responsibilities))

    for s in SIGMAS:
        lp, sc, gr, dn, r = (np.asarray(a, np.float64) for a in evaluate(fm, jnp.asarray(xs, jnp.float32),
                                                                         jnp.asarray(s, jnp.float32)))
        for i, x in enumerate(xs):
            lp_ref, sc_ref = _np_log_prob_and_score(fm, x, s)
            np.testing.assert_allclose(lp[i], lp_ref, rtol=2e-5, atol=2e-5)
            np.testing.assert_allclose(sc[i], sc_ref, rtol=2e-4, atol=2e-4 * (1 + np.abs(sc_ref).max()))
            np.testing.assert_allclose(gr[i], sc[i], rtol=2e-4, atol=2e-4 * (1 + np.abs(sc[i]).max()))
            np.testing.assert_allclose(dn[i], x + s * s * sc_ref, rtol=1e-4, atol=1e-4)
        assert r.shape == (len(xs), fm.n_components) and np.all(np.abs(r.sum(1) - 1) < 1e-5)


def test_agrees_with_diagonal_mixture():
    gm = gj.GaussianMixture(np.array([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5], [-1.0, -0.5, 0.0]]),
                            np.array([0.2, 0.3, 0.5]), np.array([[0.3, 0.5, 0.2], [0.4, 0.4, 0.4], [0.1, 0.6, 0.3]]))
    fm = FullCovMixture.from_diagonal(gm)
    x = jax.random.normal(jax.random.key(3), (6, 3))
    names = ("log_prob", "score", "denoise", "log_responsibilities")

    @eqx.filter_jit
    def evaluate(m, s):
        return [jax.vmap(getattr(m, name), (0, None))(x, s) for name in names]

    for s in SIGMAS:
        s = jnp.asarray(s, jnp.float32)
        for a, b in zip(evaluate(fm, s), evaluate(gm, s)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4 * (1 + float(jnp.abs(b).max())))


def test_sample_moments_monte_carlo():
    fm = _random_mixture(k=3, d=2, seed=4)
    n = 100_000
    x = np.asarray(fm.sample(jax.random.key(5), n), np.float64)
    m, c = np.asarray(fm.mean(), np.float64), np.asarray(fm.covariance(), np.float64)
    # Tolerance: 5 standard errors, se(mean_i) = √(C_ii / n), se(C_ij) ≤ √((C_ii C_jj + C_ij²)/n) · 2 (kurtosis margin)
    se_m = np.sqrt(np.diag(c) / n)
    assert np.all(np.abs(x.mean(0) - m) < 5 * se_m)
    se_c = 2 * np.sqrt((np.outer(np.diag(c), np.diag(c)) + c**2) / n)
    assert np.all(np.abs(np.cov(x.T) - c) < 5 * se_c)
    xs = np.asarray(fm.sample_noised(jax.random.key(6), n, 0.8), np.float64)
    assert np.all(np.abs(np.cov(xs.T) - c - 0.64 * np.eye(2)) < 5 * 2 * np.sqrt((np.outer(np.diag(c) + 0.64, np.diag(c) + 0.64)) / n))


def test_float64_on_request():
    with jax.enable_x64(True):
        f32 = _random_mixture()
        fm = FullCovMixture(np.asarray(f32.means, np.float64), np.asarray(f32.weights, np.float64),
                            np.asarray(f32.covs, np.float64), dtype=jnp.float64)  # one pass (K = 5 ≤ chunk)
        x = np.array([0.3, -0.8, 1.1])
        lp, sc = fm.log_prob(jnp.asarray(x), 0.3), fm.score(jnp.asarray(x), 0.3)
        assert lp.dtype == jnp.float64 and sc.dtype == jnp.float64
        lp_ref, sc_ref = _np_log_prob_and_score(fm, x, 0.3)
        np.testing.assert_allclose(float(lp), lp_ref, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(sc), sc_ref, rtol=1e-10, atol=1e-12)


# Printed by NVlabs/edm2 toy_example.py (commit 4bf8162), gt(...) on CPU in float32:
# gt('A').mu[500], .Sigma[500], gt('A').mu[-1], gt('AB').mu[-1], gt('A').logp(x, 0.1), gt('A').score(x, 0.1),
# gt('AB').logp(x, 0.5) at x = (0.3, 0.4), (0.5, 1.2), (-0.4, -0.2); gt('A').logp(x) at the first two.
THEIRS = {
    "A_mu500": [0.9676682949066162, 0.9266054034233093],
    "A_Sigma500": [[4.9392026994610205e-05, 1.7316018556812196e-06], [1.7316018556812196e-06, 1.9058335965382867e-05]],
    "A_mu_last": [0.48176389932632446, -0.5965597629547119],
    "AB_mu_last": [-0.49325478076934814, 0.5585266947746277],
    "A_phi0": 0.0321495346724987,
    "A_logp0": [-10.55232048034668, -0.1020563617348671],
    "A_logp01": [0.5905830264091492, -1.355370044708252, -12.39473819732666],
    "A_score01": [[-4.662179470062256, -4.808747291564941], [-2.730607032775879, -2.16404390335083],
                  [40.84598922729492, 25.346548080444336]],
    "AB_logp05": [-1.3145591020584106, -2.5558013916015625, -1.293700098991394],
}


def test_edm2_tree_against_their_code_and_extreme_sigma():
    comps = edm2_tree_components()
    assert comps["mu"].shape == (2032, 2) and np.sum(comps["cls"] == 0) == 1016
    a = FullCovMixture.edm2_tree("A")
    ab = FullCovMixture.edm2_tree("AB")
    np.testing.assert_allclose(np.asarray(a.means[500]), THEIRS["A_mu500"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(a.covs[500]), THEIRS["A_Sigma500"], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(a.means[-1]), THEIRS["A_mu_last"], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ab.means[-1]), THEIRS["AB_mu_last"], rtol=1e-6)
    np.testing.assert_allclose(float(a.weights[0]), THEIRS["A_phi0"], rtol=1e-6)
    # Their points, points far from the tree and 64 points over the tree (a batch of ≥ 64 under a plain jit is
    # where XLA:CPU once miscompiled the per-component products, see fullcov._UNROLL_D): against NumPy
    # float64, then finite at extreme σ (float32, 0 … 1e3 σ_data), one compilation per mixture size for every
    # σ; at σ ≫ σ_data the denoiser tends to the mixture mean.
    over = np.random.default_rng(7).uniform(-0.9, 1.5, (64, 2))
    pts = jnp.asarray(np.concatenate([[[0.3, 0.4], [0.5, 1.2], [-0.4, -0.2], [3.0, -2.0], [40.0, 40.0], [-500.0, 200.0]],
                                      over]), jnp.float32)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=2)  # one per K (1016, 2032)
    def all_three(fm, s):
        return (jax.vmap(fm.log_prob, (0, None))(pts, s), jax.vmap(fm.score, (0, None))(pts, s),
                jax.vmap(fm.denoise, (0, None))(pts, s))

    f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    np.testing.assert_allclose(np.asarray(all_three(a, f32(0.0))[0][:2]), THEIRS["A_logp0"], rtol=1e-4, atol=1e-4)
    lp, sc, _ = all_three(a, f32(0.1))
    np.testing.assert_allclose(np.asarray(lp[:3]), THEIRS["A_logp01"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(sc[:3]), THEIRS["A_score01"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(all_three(ab, f32(0.5))[0][:3]), THEIRS["AB_logp05"], rtol=1e-4)
    for s in (0.0, 0.1):
        lp, sc, _ = all_three(a, f32(s))
        ref = [_np_log_prob_and_score(a, p, s) for p in np.asarray(pts, np.float64)[6:]]
        np.testing.assert_allclose(np.asarray(lp[6:]), [r[0] for r in ref], rtol=1e-4, atol=1e-3)
        scr = np.array([r[1] for r in ref])
        np.testing.assert_allclose(np.asarray(sc[6:]), scr, rtol=1e-3, atol=1e-3 * np.abs(scr).max())
    sd = float(ab.data_std())
    for s in (0.0, 1e-4, 1e-2, sd, 10 * sd, 1e3 * sd):
        for out in all_three(ab, f32(s)):
            assert np.all(np.isfinite(np.asarray(out))), s
    d_big = np.asarray(all_three(ab, jnp.asarray(1e3 * sd, jnp.float32))[2])
    np.testing.assert_allclose(d_big, np.broadcast_to(np.asarray(ab.mean()), d_big.shape), atol=2e-3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="covs"):
        FullCovMixture(np.zeros((2, 2)), None, np.array([[[1.0, 0.0], [0.0, -1.0]]] * 2))
    with pytest.raises(ValueError, match="covs"):
        FullCovMixture(np.zeros((2, 2)), None, np.array([[[1.0, 0.5], [0.0, 1.0]]] * 2))
    with pytest.raises(ValueError, match="classes"):
        FullCovMixture.edm2_tree("C")

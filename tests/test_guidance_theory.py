"""studies/guidance/theory.py: Biroli et al.'s speciation and collapse for the class mixture, checked
against independent routes (Monte Carlo of the exact class posterior, their entropy criterion, the
empirical top eigenvalue, the d → ∞ limit of the finite-d formula)."""

import math

import jax
import numpy as np
import pytest
from scipy import optimize, special

from ghostjax.guidance import class_mixture
from ghostjax.metrics.speciation import covariance_speciation
from ghostjax.studies.guidance import theory as th
from ghostjax.studies.guidance.meanfield import collapse_v


def _mc_numpy(sigma, M, m, s, d, n, seed, means=None):
    """Per-sample posterior entropy, P(true class) and log participation −log Σ_k P(k|x)² [n] each, by a
    direct log-softmax over the M
    classes (means [M, d] drawn here unless given), x_σ = μ_c + √(s² + σ²) z."""
    rng = np.random.default_rng(seed)
    v = s * s + sigma * sigma
    mu = m * rng.standard_normal((M, d)) if means is None else np.asarray(means, np.float64)
    c = rng.integers(0, M, n)
    x = mu[c] + math.sqrt(v) * rng.standard_normal((n, d))
    lg = (x @ mu.T - 0.5 * np.sum(mu * mu, 1)) / v
    lp = lg - special.logsumexp(lg, axis=1, keepdims=True)
    p = np.exp(lp)
    return -np.sum(p * lp, axis=1), p[np.arange(n), c], -special.logsumexp(2 * lp, axis=1)


def _agree(pred, samples, slack):
    """|pred − mean| within 4 standard errors of the Monte-Carlo mean plus `slack`."""
    se = samples.std() / math.sqrt(samples.size)
    return abs(pred - samples.mean()) <= 4 * se + slack, (pred, samples.mean(), se)


def test_finite_theory_matches_project_mixture_posterior():
    """Separated classes (m/s = 4), d = 32, M = e^{0.25 d} = 2981, across σ_C = 1.216: the finite-(d, M)
    prediction against the exact posterior (log-softmax) of a ghostjax class_mixture draw, 1024 points
    per σ; tolerance 4 s.e. + 0.03 nats (entropy) / + 0.01 (P(c | x)), the draw-to-draw spread here."""
    d, M, m, s = 32, 2981, 1.0, 0.25
    sigmas = [1.0, 1.2, 1.5, 3.0]
    means = class_mixture(d, key=jax.random.key(3), n_classes=M, mean_std=m, std=s).means
    q = th.posterior_quantities(sigmas, d, m, s, n_classes=M)
    assert th.collapse(math.log(M) / d, m, s)["sigma_C"] == pytest.approx(1.216, abs=1e-3)
    for i, sig in enumerate(sigmas):
        h, p, _ = _mc_numpy(sig, M, m, s, d, 1024, seed=10 + i, means=means)
        ok, info = _agree(q["entropy"][i], h, 0.03)
        assert ok, (sig, "entropy", info)
        ok, info = _agree(q["p_true"][i], p, 0.01)
        assert ok, (sig, "p_true", info)


def test_finite_and_rem_against_monte_carlo():
    """d = 48, M = 1339 (β = 0.15), m = 1, s = 0.5 (σ_C = 1.615): the finite prediction within
    4 s.e. + 0.03 nats; the d → ∞ REM law within 0.1 nats far above σ_C, but off by > 0.3 nats at
    1.24 σ_C (its O(√d) finite-d correction), where the finite prediction still agrees; the REM log
    participation within 0.05 of −log Σ_k P(k|x)² at σ = 10 (measured 6.725 vs 6.728)."""
    d, M, m, s = 48, 1339, 1.0, 0.5
    sigmas = np.array([1.0, 1.6, 2.0, 3.0])
    q = th.posterior_quantities(sigmas, d, m, s, n_classes=M)
    rem = th.posterior_entropy_theory(sigmas, None, m, s, d, n_classes=M, method="rem")
    assert th.collapse(math.log(M) / d, m, s)["sigma_C"] == pytest.approx(1.615, abs=1e-3)
    for i, sig in enumerate(sigmas):
        h, p, _ = _mc_numpy(sig, M, m, s, d, 1024, seed=i)
        for pred, smp, slack in ((q["entropy"][i], h, 0.03), (q["p_true"][i], p, 0.01)):
            ok, info = _agree(pred, smp, slack)
            assert ok, (sig, info)
        if sig == 3.0:
            assert abs(rem[i] - h.mean()) < 0.1
        if sig == 2.0:
            assert abs(rem[i] - h.mean()) > 0.3 and abs(q["entropy"][i] - h.mean()) < 0.1
    _, _, lpr = _mc_numpy(10.0, M, m, s, d, 512, seed=9)  # participation: d → ∞ law far above σ_C
    assert d * th.rem_participation_rate(10.0, math.log(M) / d, m, s) == pytest.approx(lpr.mean(), abs=0.05)


def test_class_accuracy_against_monte_carlo():
    """P(argmax = true class) at σ = 0 and σ = 1, finite formula vs the argmax of sampled posteriors,
    8 mixture draws × 512 points (binomial s.e. ≈ 0.007; tolerance 0.025). The first setting is the
    issue's d = 96, β = 0.03 (M = 18), m = 0.25, s = 1, where one recorded draw gave 0.71."""
    for d, M, m, s, sigmas in ((96, 18, 0.25, 1.0, [0.0, 1.0]), (24, 400, 1.0, 0.5, [0.0, 1.0])):
        q = th.posterior_quantities(sigmas, d, m, s, n_classes=M)
        for i, sig in enumerate(sigmas):
            rng = np.random.default_rng(i)
            hits = []
            for _ in range(8):
                mu = m * rng.standard_normal((M, d))
                c = rng.integers(0, M, 512)
                x = mu[c] + math.sqrt(s * s + sig * sig) * rng.standard_normal((512, d))
                hits.append(np.argmin(((x[:, None, :] - mu[None]) ** 2).sum(-1), axis=1) == c)
            assert q["accuracy"][i] == pytest.approx(np.mean(hits), abs=0.025), (d, M, sig)
    m95 = th.mean_std_for_accuracy(0.95, 24, 0.5, n_classes=400, tol=1e-2)
    assert th.posterior_quantities(0.0, 24, m95, 0.5, n_classes=400)["accuracy"] == pytest.approx(0.95, abs=0.005)


def test_finite_converges_to_rem_law():
    """The finite-(d, M) formula (derived without large deviations) tends to the REM entropy rate and
    to the collapse step at σ_C as d grows (β = 0.15, m = 1, s = 0.5, σ_C = 1.615)."""
    beta, m, s = 0.15, 1.0, 0.5
    sig = np.array([1.5, 1.8, 2.5])
    rate = th.rem_entropy_rate(sig, beta, m, s)
    small = th.posterior_quantities(sig, 50, m, s, beta=beta)
    big = th.posterior_quantities(np.concatenate([sig, [1.2, 2.2]]), 400, m, s, beta=beta)
    err50, err400 = np.abs(small["entropy"] / 50 - rate), np.abs(big["entropy"][:3] / 400 - rate)
    assert np.all(err400 < err50) and np.all(err400 < 0.006), (err50, err400)
    assert big["p_true"][3] > 0.99 and big["p_true"][4] < 0.01


def test_small_s_limit_is_biroli_formula():
    """s → 0: the class-mixture collapse is Biroli et al.'s Gaussian-data t_C = ½ log(1 + m²/(n^{2/d} − 1)),
    and both equal the root of their criterion s(t) = s_sep(t) solved numerically."""
    for d, M, m in ((32, 1000, 1.0), (100, 50_000, 2.0), (8, 3, 0.7)):
        t_closed = th.biroli_gaussian_collapse_time(M, d, m * m)
        t_ours = th.collapse(math.log(M) / d, m, 1e-6)["t_C"]
        t_root = optimize.brentq(lambda t: th.biroli_entropy_gap(t, M, d, m * m), 1e-9, 50.0)
        assert t_ours == pytest.approx(t_closed, rel=1e-9)
        assert t_root == pytest.approx(t_closed, rel=1e-8)
        assert th.biroli_entropy_gap(0.5 * t_closed, M, d, m * m) > 0  # collapsed before t_C
    assert th.ve_sigma(th.ou_time(1.7)) == pytest.approx(1.7)


def test_identifiability_threshold_and_project_mean_field():
    """β_c = ½ log(1 + m²/s²): the finite formula at σ = 0, d = 200 identifies the class below β_c and not
    above; the project's mean field (β_id = m²/2(m² + s²), v_c = m²(1 − 2β)/2β) is its small-signal limit:
    equal to first order, below it otherwise."""
    m, s = 1.0, 1.0
    bc = th.identifiability_beta(m, s)
    lo = th.posterior_quantities([0.0], 200, m, s, beta=0.7 * bc)["p_true"][0]  # 0.992
    hi = th.posterior_quantities([0.0], 200, m, s, beta=1.3 * bc)["p_true"][0]  # 0.018
    assert lo > 0.98 and hi < 0.03
    for ms, tol in ((0.05, 0.002), (0.25, 0.03), (2.0, None)):
        b_id = ms**2 / (2 * (ms**2 + 1))
        assert b_id <= th.identifiability_beta(ms, 1.0)
        if tol is not None:
            assert b_id / th.identifiability_beta(ms, 1.0) == pytest.approx(1.0, abs=tol)
    assert collapse_v(1e-3, 0.5) / th.collapse(1e-3, 0.5, 1.0)["v_C"] == pytest.approx(1.0, abs=2e-3)
    assert not th.collapse(1.2 * bc, m, s)["identifiable"] and th.collapse(0.0, m, s)["sigma_C"] == math.inf


def test_speciation_against_empirical_top_eigenvalue():
    """'draw' is the mixture covariance's top eigenvalue (metrics.speciation.covariance_speciation);
    'typical' (Marchenko–Pastur edge + Tracy–Widom mean) within 3 % of the mean of 8 draws (measured:
    ≤ 1.5 % over 40), for M ≫ d and M ≪ d, where the bare edge is 2–7 % high; the
    population value s² + m² is the M ≫ d limit."""
    rng = np.random.default_rng(0)
    gm = class_mixture(256, key=jax.random.key(0), n_classes=8, mean_std=0.8, std=0.5)
    sp = th.speciation(256, 8, 0.8, 0.5, means=np.asarray(gm.means))
    ref = covariance_speciation(gm)
    assert sp["draw"]["Lambda"] == pytest.approx(ref["Lambda"], rel=1e-4)
    assert sp["draw"]["sigma_S"] == pytest.approx(ref["sigma_S"], rel=1e-3)
    for d, M in ((32, 2000), (256, 8)):
        sp = th.speciation(d, M, 0.8, 0.5)
        lams = [th.speciation(d, M, 0.8, 0.5, means=0.8 * rng.standard_normal((M, d)))["draw"]["Lambda"]
                for _ in range(8)]
        assert np.mean(lams) == pytest.approx(sp["typical"]["Lambda"], rel=0.03), (d, M, lams)
    assert th.speciation(32, 10**6, 0.8, 0.5)["typical"]["Lambda"] == pytest.approx(0.25 + 0.64, rel=0.02)


def test_theory_curves_and_bad_input():
    sig = np.geomspace(0.3, 6.0, 9)
    cur = th.theory_curves(sig, dim=32, mean_std=1.0, std=0.25, beta=0.25)
    assert cur["n_classes"] == 2981 and cur["entropy"].shape == sig.shape == cur["p_true"].shape
    assert np.all(np.diff(cur["p_true"]) <= 1e-9) and np.all(cur["participation_rem"] <= cur["entropy_rem"] + 1e-12)
    assert cur["sigma_half"] == pytest.approx(cur["sigma_C"], rel=0.15)  # finite-d shift of the crossing
    assert math.isnan(cur["sigma_S_draw"]) and cur["sigma_S"] == pytest.approx(
        th.speciation(32, 2981, 1.0, 0.25)["typical"]["sigma_S"], rel=1e-12)
    assert cur["sigma_S_population"] == pytest.approx(math.sqrt(0.0625), rel=1e-12)
    with pytest.raises(ValueError, match="n_classes"):
        th.theory_curves(sig, dim=32, mean_std=1.0, std=0.25)
    with pytest.raises(ValueError, match="std"):
        th.collapse(0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="method"):
        th.posterior_entropy_theory(sig, 0.1, 1.0, 1.0, 32, method="x")

"""Guided scores, schedules and guidance metrics (ghostjax.guidance, ghostjax.metrics.guidance).

The sampler with CFG is checked against an exact recursion: when the class and the unconditional
density are single Gaussians the guided score is affine in x, so the mean and variance of the
particles after each step of the discrete scheme follow m' = A m + B, V' = A² V (+ Δ for
Euler–Maruyama), iterated here in NumPy float64 independently of the package.
"""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import analyze
from ghostjax import guidance as G
from ghostjax.config import ConfigError
from ghostjax.studies.guidance.meanfield import affine_step, mean_field
from ghostjax.metrics import guidance as MG

ROOT = Path(__file__).resolve().parents[1]
N_SE = 4.5  # tolerance in standard errors for every Monte Carlo comparison (D = 4 coordinates × 2 moments)


def _two_gaussians():
    """Class N(μ_c, s_c²) and unconditional N(μ_u, s_u²) per coordinate (D = 4), as K = 1 mixtures."""
    mu_c = np.array([1.0, -0.5, 2.0, 0.0])
    mu_u = np.array([0.0, 0.5, 0.5, -1.0])
    s_c, s_u = np.array([0.5, 1.0, 0.7, 0.3]), np.array([1.2, 1.5, 1.0, 0.8])
    cond = gj.GaussianMixture(mu_c[None], None, s_c[None])
    uncond = gj.GaussianMixture(mu_u[None], None, s_u[None])
    return (mu_c, s_c, mu_u, s_u), G.ClassScore(cond, 0), uncond.score


def _recursion(params, sigmas, w_of_sigma, solver):
    """Exact mean and variance per coordinate after the discrete scheme (float64, from N(0, σ_0²))."""
    mu_c, s_c, mu_u, s_u = params
    m, V = np.zeros(4), np.full(4, sigmas[0] ** 2)

    def ab(sig, w):  # guided score (1 + w) s_c − w s_u = a − b x
        vc, vu = s_c**2 + sig**2, s_u**2 + sig**2
        return (1 + w) * mu_c / vc - w * mu_u / vu, (1 + w) / vc - w / vu

    for s, sn in zip(sigmas[:-1], sigmas[1:]):
        a, b = ab(s, w_of_sigma(s))
        if solver == "em":
            d = s * s - sn * sn
            m, V = m + d * (a - b * m), (1 - d * b) ** 2 * V + d
        else:  # Heun on dx/dσ = −σ g(x, σ); plain Euler on the last step to σ = 0
            A1, B1 = 1 + (sn - s) * s * b, -(sn - s) * s * a  # Euler predictor x_e = A1 x + B1 (as affine maps)
            if sn > 0:
                a2, b2 = ab(sn, w_of_sigma(sn))
                # x' = x + (sn − s)/2 (−s (a − b x) − sn (a2 − b2 x_e))
                A = 1 + 0.5 * (sn - s) * (s * b + sn * b2 * A1)
                B = 0.5 * (sn - s) * (-s * a - sn * a2 + sn * b2 * B1)
            else:
                A, B = A1, B1
            m, V = A * m + B, A * A * V
    return m, V


@pytest.mark.parametrize("case", ["em_constant", "em_window", "heun_linear"])
def test_guided_sampler_matches_exact_discrete_recursion(case):
    params, cond, uncond = _two_gaussians()
    n = 8192
    sigmas = np.asarray(gj.geometric_grid(10.0, 0.01, 40), np.float64)
    schedule = {"em_constant": G.Constant(1.5), "em_window": G.NegativeWindow(2.0, -0.5, 0.45),
                "heun_linear": G.LinearInTime(-0.5, 1.0)}[case]
    solver = gj.OdeHeun() if case == "heun_linear" else gj.EulerMaruyama()
    x0 = gj.prior(jax.random.key(0), n, 4, 10.0)
    out = gj.sample(G.CFG(cond, uncond, schedule), x0, jnp.asarray(sigmas, jnp.float32), key=jax.random.key(1),
                    solver=solver)
    x = np.asarray(out.x, np.float64)
    w_np = {"em_constant": lambda s: 1.5, "em_window": lambda s: 2.0 if 0.5 * np.log1p(s * s) > 0.45 else -0.5,
            "heun_linear": lambda s: -0.5 + 0.5 * np.log1p(s * s)}[case]
    m, V = _recursion(params, sigmas, w_np, "heun" if case == "heun_linear" else "em")
    if case == "heun_linear":  # deterministic: the particles are an affine image of x0, exactly
        m_hat = (m / 1.0)
        x0n = np.asarray(x0, np.float64)
        A = np.sqrt(V) / 10.0
        np.testing.assert_allclose(x, A * x0n + m_hat, rtol=2e-3, atol=2e-3)
        return
    se_m, se_v = np.sqrt(V / n), V * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(x.mean(0) - m) < N_SE * se_m), (x.mean(0), m, se_m)
    assert np.all(np.abs(x.var(0, ddof=1) - V) < N_SE * se_v), (x.var(0, ddof=1), V, se_v)
    # The guidance is visible: the guided moments differ from the class's by many standard errors.
    assert np.max(np.abs(m - params[0]) / se_m) > 20


def test_meanfield_affine_step_matches_independent_recursion():
    params, _, _ = _two_gaussians()
    mu_c, s_c, mu_u, s_u = (p[0] for p in params)
    sigmas = np.asarray(gj.geometric_grid(10.0, 0.01, 30), np.float64)
    for solver, name in ((gj.EulerMaruyama(), "em"), (gj.OdeHeun(), "heun")):
        m, V = 0.0, sigmas[0] ** 2

        def ab(s, w=0.7):
            return (1 + w) * mu_c / (s_c**2 + s * s) - w * mu_u / (s_u**2 + s * s), (1 + w) / (s_c**2 + s * s) - w / (s_u**2 + s * s)

        for s, sn in zip(sigmas[:-1], sigmas[1:]):
            A, B, q = affine_step(solver, ab(s), ab(sn), float(s), float(sn))
            m, V = A * m + B, A * A * V + q
        m_ref, V_ref = _recursion(params, sigmas, lambda s: 0.7, name)
        assert m == pytest.approx(m_ref[0], rel=1e-12) and V == pytest.approx(V_ref[0], rel=1e-12)


def test_mean_field_without_classes_to_resolve_is_unguided():
    grid = np.asarray(gj.edm_grid(40.0, 0.002, 64), np.float64)
    r0 = mean_field(grid, G.Constant(0.0), beta=0.02, mean_std=0.25, std=1.0)
    r = mean_field(grid, G.Constant(3.0), beta=0.0, mean_std=0.25, std=1.0)  # β = 0: collapsed from the start
    assert r["overshoot"] == pytest.approx(r0["overshoot"], abs=1e-9) and r["var_ratio"] == pytest.approx(r0["var_ratio"])
    rg = mean_field(grid, G.Constant(3.0), beta=0.02, mean_std=0.25, std=1.0)
    assert rg["overshoot"] > 0.05 and rg["sigma_collapse"] > r0["sigma_collapse"]


def test_schedules_values_and_sigma_time_round_trip():
    t = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 3.5])
    s = np.asarray(G.sigma_of_t(jnp.asarray(t)))
    np.testing.assert_allclose(s**2, np.expm1(2 * t), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(G.t_of_sigma(jnp.asarray(s))), t, rtol=1e-5, atol=1e-6)
    sig = jnp.asarray(s[1:], jnp.float32)  # t > 0
    lin = G.LinearInTime(-1.0, 2.0)
    np.testing.assert_allclose(np.asarray(jax.vmap(lin)(sig)), -1.0 + 2.0 * t[1:], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(jax.vmap(G.Constant(1.5))(sig)), 1.5)
    win = G.NegativeWindow(3.0, -1.0, 0.75)
    np.testing.assert_allclose(np.asarray(jax.vmap(win)(sig)), np.where(t[1:] > 0.75, 3.0, -1.0))
    pw = G.Piecewise([0.3, 1.5], [-1.0, 0.0, 2.0])
    np.testing.assert_allclose(np.asarray(jax.vmap(pw)(sig)), [-1.0, 0.0, 0.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="values"):
        G.Piecewise([0.3, 1.5], [1.0, 2.0])
    with pytest.raises(ValueError, match="alpha"):
        G.PowerLawGuidance(lambda x, s: x, lambda x, s: x, 1.0, -2.0)


def test_guided_scores_reduce_to_their_parts_and_do_not_recompile():
    gm = gj.GaussianMixture.random_classes(5, 4, key=jax.random.key(0), mean_std=2.0, std=0.5)
    x = jax.random.normal(jax.random.key(1), (16, 5))
    sig = jnp.asarray(0.7, jnp.float32)
    cond = jax.vmap(lambda xi: gm.conditional_score(xi, sig, jnp.asarray(2)))(x)
    unc = jax.vmap(lambda xi: gm.score(xi, sig))(x)
    # autoguidance with factor 1 is the good score for any w; CFG at w = 0 is the class score
    for w in (0.0, 1.0, 3.0):
        ag = jax.vmap(lambda xi: G.autoguidance(gm, 2, 1.0, w)(xi, sig))(x)
        np.testing.assert_allclose(np.asarray(ag), np.asarray(cond), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda xi: G.cfg(gm, 2, 0.0)(xi, sig))(x)), np.asarray(cond), rtol=1e-6)
    c2 = jax.vmap(lambda xi: G.cfg(gm, 2, 2.0)(xi, sig))(x)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(3 * cond - 2 * unc), rtol=1e-4, atol=1e-4)
    # power law with α = 0 is CFG with w = ω
    pl = jax.vmap(lambda xi: G.power_law(gm, 2, 2.0, 0.0)(xi, sig))(x)
    np.testing.assert_allclose(np.asarray(pl), np.asarray(c2), rtol=1e-4, atol=1e-4)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def apply(score, x):
        return jax.vmap(score, in_axes=(0, None))(x, sig)

    for w, label in ((0.5, 0), (2.0, 3)):
        apply(G.cfg(gm, label, G.NegativeWindow(w, -w, 0.5)), x)


def test_participation_ratio_on_known_spectra():
    assert MG.participation_ratio([1.0, 1.0, 1.0, 1.0]) == pytest.approx(4.0)
    assert MG.participation_ratio([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert MG.participation_ratio([3.0, 1.0]) == pytest.approx(16.0 / 10.0)
    rot, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    cov = rot @ np.diag([4.0, 1.0, 1.0]) @ rot.T
    assert MG.participation_ratio(cov) == pytest.approx(36.0 / 18.0)
    rng = np.random.default_rng(1)
    lam = np.concatenate([np.full(5, 4.0), np.ones(45)])
    true = MG.participation_ratio(lam)  # 33.8
    xs = [rng.normal(size=(500, 50)) * np.sqrt(lam) for _ in range(20)]
    debiased = np.mean([MG.sample_participation_ratio(x) for x in xs])
    plain = np.mean([MG.sample_participation_ratio(x, debias=False) for x in xs])  # biased low by ≈ 1 + PR/N
    assert debiased == pytest.approx(true, rel=0.02)
    assert plain < 0.96 * true and plain == pytest.approx(MG.expected_sample_pr(lam, 500), rel=0.02)


def test_distortion_metrics_on_constructed_samples():
    gm = gj.GaussianMixture.random_classes(8, 3, key=jax.random.key(2), mean_std=3.0, std=1.0)
    mu, u, norm, _ = MG.class_frame(gm, 1)
    rng = np.random.default_rng(3)
    n = 20000
    z = rng.normal(size=(n, 8))
    # overshoot 0.3 along u, variance 0.25 along u and 2.0 orthogonally
    x = mu + 0.3 * norm * u + (z - np.outer(z @ u, u)) * np.sqrt(2.0) + np.outer(z @ u, u) * 0.5
    md, vd = MG.mean_distortion(x, gm, 1), MG.variance_distortion(x, gm, 1)
    assert md["overshoot"] == pytest.approx(0.3, abs=0.01) and md["perp_shift"] < 0.03
    assert vd["par"] == pytest.approx(0.25, rel=0.05) and vd["perp"] == pytest.approx(2.0, rel=0.03)
    assert vd["avg"] == pytest.approx((0.25 + 7 * 2.0) / 8, rel=0.03)


def test_class_accuracy_and_posterior_on_exact_class_samples():
    gm = gj.GaussianMixture.random_classes(16, 6, key=jax.random.key(4), mean_std=4.0, std=0.5)
    x = gm.means[3][None] + gm.stds[3][None] * jax.random.normal(jax.random.key(5), (500, 16))
    assert MG.class_accuracy(x, gm, 3) == 1.0
    assert MG.class_accuracy(x, gm, 2) == 0.0
    post = MG.ClassPosterior(gm, 3)
    sig = jnp.asarray(1.5, jnp.float32)
    ref = jnp.exp(jax.vmap(lambda xi: gm.log_responsibilities(xi, sig)[3])(x[:20]))
    got = jax.vmap(lambda xi: post(xi, sig, xi))(x[:20])
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-4, atol=1e-6)
    s = np.geomspace(10, 0.01, 50)
    assert MG.speciation_sigma(s, 1 / (1 + (s / 2.0) ** 4)) == pytest.approx(2.0, rel=0.02)


def test_guided_run_speciation_is_earlier_with_guidance():
    from ghostjax.studies.guidance.common import Sampler, guided_run

    gm = G.class_mixture(16, key=jax.random.key(6), n_classes=4, mean_std=1.0, std=1.0)
    smp = Sampler(n=256, steps=48)
    r0 = guided_run(G.cfg(gm, 0, 0.0), gm, 0, smp, key=jax.random.key(7), observe=True)
    r2 = guided_run(G.cfg(gm, 0, 4.0), gm, 0, smp, key=jax.random.key(7), observe=True)
    assert r2["sigma_speciation"] > r0["sigma_speciation"]
    assert r2["overshoot"] > r0["overshoot"] + 0.1 and r2["accuracy"] >= r0["accuracy"]


@pytest.mark.parametrize("study,override,key", [
    ("guidance_distortion", "sampler.steps=1", "sampler.steps"),
    ("guidance_distortion", "conv_w=3.0", "conv_w"),
    ("guidance_distortion", 'laws=[{kind = "exponential", beta = 0.2, dims = [64]}]', "laws"),
    ("guidance_distortion", "classes.std=-1", "classes.std"),
    ("guidance_schedules", "window_w_late=[0.5]", "window_w_late"),
    ("guidance_schedules", "beta=0.3", "beta"),
    ("guidance_schedules", "constant_ws=[2.0,1.0]", "constant_ws"),
    ("guidance_schedules", "bogus=1", "bogus"),
])
def test_bad_config_values_name_the_key(study, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        analyze.resolve(str(ROOT / "configs" / f"{study}.toml"), [override])

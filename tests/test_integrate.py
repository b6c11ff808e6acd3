"""Samplers: exact terminal laws, convergence orders, VE/VP agreement, ghost fractions, no retrace."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax.metrics.census import census, corner_counts
from ghostjax.solvers import SOLVERS

MU = np.array([0.5, -1.0])
STD = np.array([0.5, 0.3])
SIGMA_MAX = 20.0


def gaussian():
    return gj.GaussianMixture(MU[None, :], None, STD[None, :])


def exact_init(key, gm, n, sigma):
    return gm.sample_noised(key, n, sigma)


def em_variance_recursion(sigmas, s2, v0):
    """Variance of the EM chain for Gaussian data, propagated exactly (float64, no sampling)."""
    v = v0
    for i in range(len(sigmas) - 1):
        ds2 = sigmas[i] ** 2 - sigmas[i + 1] ** 2
        v = v * (1 - ds2 / (s2 + sigmas[i] ** 2)) ** 2 + ds2
    return v


def test_euler_maruyama_matches_scheme_and_has_weak_order_one():
    gm, n = gaussian(), 2**16
    errs, rec_errs = [], []
    for steps in (32, 64, 128):
        sig = gj.edm_grid(SIGMA_MAX, 0.002, steps)
        x0 = exact_init(jax.random.key(steps), gm, n, SIGMA_MAX)
        out = gj.sample(gm.score, x0, sig, key=jax.random.key(100 + steps)).x
        var = np.asarray(jnp.var(out, axis=0), np.float64)
        rec = em_variance_recursion(np.asarray(sig, np.float64), STD**2, STD**2 + SIGMA_MAX**2)
        se = rec * np.sqrt(2.0 / n)
        assert np.all(np.abs(var - rec) < 5 * se), (steps, var, rec)  # implementation = scheme
        assert np.all(np.abs(np.asarray(out.mean(0)) - MU) < 5 * np.sqrt(rec / n))
        errs.append(np.mean(var - STD**2))
        rec_errs.append(np.mean(rec - STD**2))
    slope_mc = -np.polyfit(np.log([32, 64, 128]), np.log(errs), 1)[0]
    slope_exact = -np.polyfit(np.log([32, 64, 128]), np.log(rec_errs), 1)[0]
    assert 0.8 < slope_mc < 1.3, slope_mc
    assert 0.9 < slope_exact < 1.2, slope_exact


@pytest.mark.parametrize("solver, order", [(gj.OdeEuler(), 1.0), (gj.OdeHeun(), 2.0)])
def test_ode_strong_order_against_exact_flow(solver, order):
    """Gaussian data: the probability-flow map is x(σ) = μ + √((s²+σ²)/(s²+σ_max²)) (x_T − μ)."""
    gm = gaussian()
    xT = jnp.asarray(np.random.default_rng(0).normal(size=(64, 2)) * SIGMA_MAX)
    exact = MU + np.sqrt(STD**2 / (STD**2 + SIGMA_MAX**2)) * (np.asarray(xT) - MU)
    steps = np.array([16, 32, 64])
    errs = []
    for n in steps:
        grid = gj.geometric_grid(SIGMA_MAX, 0.01, int(n))
        out = gj.sample(gm.score, xT, grid, key=jax.random.key(0), solver=solver).x
        errs.append(np.max(np.abs(np.asarray(out) - exact)))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.35, (errs, slope)


def test_ddpm_vp_and_ve_sampler_agree_on_terminal_law():
    gm, n = gaussian(), 2**13  # std's standard error 0.8 %: the 3 % tolerance is the discretisation's
    sig = gj.ddpm_grid(1000)  # linear β 1e-4…0.02; σ_T ≈ 157
    x0 = exact_init(jax.random.key(1), gm, n, float(sig[0]))
    for solver in (gj.DDPM(), gj.EulerMaruyama()):
        out = gj.sample(gm.score, x0, sig, key=jax.random.key(2), solver=solver).x
        np.testing.assert_allclose(np.asarray(out.std(0)), STD, rtol=0.03, err_msg=str(solver))
        assert np.all(np.abs(np.asarray(out.mean(0)) - MU) < 5 * STD / np.sqrt(n))
    out = gj.sample(gm.score, x0, sig, key=jax.random.key(3), solver=gj.DDPM(variance="posterior")).x
    np.testing.assert_allclose(np.asarray(out.std(0)), STD, rtol=0.03)


def test_ve_and_vp_samplers_agree_on_mixture_weights():
    gm, n = gj.GaussianMixture.opposite_corners(dim=3, std=0.3, weight=0.7), 8192
    sig = gj.edm_grid(SIGMA_MAX, 0.002, 200)
    x0 = gj.prior(jax.random.key(4), n, 3, SIGMA_MAX)
    fr = {}
    for method in ("euler_maruyama", "ddpm", "ode_heun"):
        out = gj.sample(gm.score, x0, sig, key=jax.random.key(5), solver=gj.solver_from_name(method))
        c = {**census(out.x, gm), "per_corner": corner_counts(out.x, gm)}
        fr[method] = c["per_corner"].get(7, 0) / n  # code 7 = (+,+,+)
        assert c["ghost_fraction"] < 0.005, (method, c)
    tol = 4 * np.sqrt(0.21 / n) + 0.01
    for m, f in fr.items():
        assert abs(f - 0.7) < tol, (m, f)


@pytest.mark.parametrize("dim, w", [(3, 0.5), (6, 0.7)])
def test_factorized_score_samples_product_of_marginals(dim, w):
    """Ghost fraction of the exact factorized score = 1 − w^D − (1 − w)^D."""
    gm, n = gj.GaussianMixture.opposite_corners(dim=dim, std=0.3, weight=w), 8192
    x0 = gj.prior(jax.random.key(6), n, dim, SIGMA_MAX)
    out = gj.sample(gm.factorized_score, x0, gj.edm_grid(SIGMA_MAX, 0.002, 200), key=jax.random.key(7)).x
    ghost = 1.0 - float(jnp.mean(jnp.all(out > 0, axis=1)) + jnp.mean(jnp.all(out < 0, axis=1)))
    want = 1 - w**dim - (1 - w) ** dim
    assert abs(ghost - want) < 4 * np.sqrt(want * (1 - want) / n) + 0.005, (ghost, want)
    joint = gj.sample(gm.score, x0, gj.edm_grid(SIGMA_MAX, 0.002, 200), key=jax.random.key(7)).x
    assert census(joint, gm)["ghost_fraction"] < 0.005


class CountingScore(eqx.Module):
    gm: gj.GaussianMixture

    def __call__(self, x, sigma):
        CountingScore.traces += 1
        return self.gm.score(x, sigma)


CountingScore.traces = 0


def test_no_retrace_for_new_seed_sigmas_or_mixture_values():
    gm = gj.GaussianMixture.opposite_corners(dim=4, std=0.3)
    x0 = gj.prior(jax.random.key(0), 128, 4, 10.0)
    obs = {"m": gj.Mean(lambda x, s, sc: x)}
    gj.sample(CountingScore(gm), x0, gj.edm_grid(10.0, 0.01, 20), key=jax.random.key(1), observers=obs)
    first = CountingScore.traces
    assert first >= 1
    gm2 = gj.GaussianMixture.opposite_corners(dim=4, std=0.5, weight=0.2)
    gj.sample(CountingScore(gm2), x0 + 1.0, gj.geometric_grid(7.0, 0.02, 20), key=jax.random.key(2), observers=obs)
    assert CountingScore.traces == first


def test_observers_reduce_on_the_fly():
    gm, n, steps = gj.GaussianMixture.opposite_corners(dim=2, std=0.3), 512, 12
    x0 = gj.prior(jax.random.key(0), n, 2, 5.0)
    sig = gj.geometric_grid(5.0, 0.05, steps)
    obs = {
        "mean": gj.Mean(lambda x, s, sc: x),
        "mom": gj.Moments(lambda x, s, sc: jnp.sum(sc**2)),
        "q": gj.Quantiles(lambda x, s, sc: x[0], (0.1, 0.5, 0.9)),
        "h": gj.Histogram(lambda x, s, sc: x[0], -3.0, 3.0, 12),
        "win": gj.Window(3, "x"),
        "x0": gj.Window(2, "x0"),
    }
    r = gj.sample(gm.score, x0, sig, key=jax.random.key(1), solver=gj.OdeHeun(), observers=obs)
    assert r.observations["mean"].shape == (steps, 2)
    np.testing.assert_allclose(r.observations["mean"][0], x0.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.sigmas, sig[:-1])
    assert r.observations["mom"]["var"].shape == (steps,)
    q = np.asarray(r.observations["q"])
    assert q.shape == (steps, 3) and np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
    assert np.all(np.asarray(r.observations["h"]).sum(1) == n)
    win = r.observations["win"]
    assert win.shape == (3, n, 2)
    # The deterministic ODE on the grid cut before the last step ends where the window's last entry is.
    short = gj.sample(gm.score, x0, sig[:-1], key=jax.random.key(1), solver=gj.OdeHeun()).x
    np.testing.assert_allclose(win[-1], short, rtol=1e-5, atol=1e-5)
    shorter = gj.sample(gm.score, x0, sig[:-3], key=jax.random.key(1), solver=gj.OdeHeun()).x
    np.testing.assert_allclose(win[0], shorter, rtol=1e-5, atol=1e-5)
    # The x0 window holds Tweedie predictions at the last two noise levels.
    tw = short + sig[-2] ** 2 * jax.vmap(gm.score, (0, None))(short, sig[-2])
    np.testing.assert_allclose(r.observations["x0"][-1], tw, rtol=1e-4, atol=1e-4)


def test_final_denoise_applies_tweedie_at_last_sigma():
    gm = gj.GaussianMixture.opposite_corners(dim=2, std=0.3)
    x0 = gj.prior(jax.random.key(0), 256, 2, 5.0)
    sig = gj.geometric_grid(5.0, 0.2, 10, include_zero=False)
    plain = gj.sample(gm.score, x0, sig, key=jax.random.key(1), solver=gj.OdeEuler()).x
    den = gj.sample(gm.score, x0, sig, key=jax.random.key(1), solver=gj.OdeEuler(), final_denoise=True).x
    np.testing.assert_allclose(den, jax.vmap(gm.denoise, (0, None))(plain, 0.2), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(sigmas=jnp.array([0.1, 1.0, 0.0])), "sigmas"),
        (dict(sigmas=jnp.array([1.0, -0.5])), "sigmas"),
        (dict(solver="rk4"), "solver"),
        (dict(x_init=jnp.zeros(3)), "x_init"),
        (dict(observers={"a": lambda x: x}), "observers"),
    ],
)
def test_bad_sampler_input(kwargs, name):
    gm = gj.GaussianMixture.opposite_corners(dim=3)
    args = dict(x_init=jnp.zeros((4, 3)), sigmas=gj.edm_grid(1.0, 0.1, 3), solver=gj.EulerMaruyama())
    args.update(kwargs)
    # Without the test-time jaxtyping hook the sampler's own check raises ValueError; under the hook the
    # annotation check may fire first, a TypeError that names the parameter just the same.
    with pytest.raises((ValueError, TypeError), match=name):
        gj.sample(gm.score, args["x_init"], args["sigmas"], key=jax.random.key(0), solver=args["solver"],
                  observers=args.get("observers"))


def test_sample_composes_with_jit_and_vmap():
    """gj.sample can be called inside a user's jit and vmapped over seeds."""
    gm = gj.GaussianMixture.opposite_corners(dim=2, std=0.3)
    x0 = gj.prior(jax.random.key(0), 64, 2, 5.0)
    sig = gj.geometric_grid(5.0, 0.05, 10)

    @jax.jit
    def run(keys):
        return jax.vmap(lambda k: gj.sample(gm.score, x0, sig, key=k).x)(keys)

    keys = jax.random.split(jax.random.key(1), 3)
    batched = run(keys)
    single = gj.sample(gm.score, x0, sig, key=keys[1]).x
    np.testing.assert_allclose(batched[1], single, rtol=1e-5, atol=1e-5)


def test_observer_holding_a_module_does_not_retrace_for_new_mixture_values():
    from ghostjax.metrics.gaps import gap_terms

    gm = gj.GaussianMixture.opposite_corners(dim=3, std=0.3)
    x0 = gj.prior(jax.random.key(0), 64, 3, 5.0)
    sig = gj.geometric_grid(5.0, 0.05, 8)
    CountingScore.traces = 0
    a = gj.sample(CountingScore(gm), x0, sig, key=jax.random.key(1), observers={"g": gj.Mean(gap_terms(gm))})
    first = CountingScore.traces
    gm2 = gj.GaussianMixture.opposite_corners(dim=3, std=0.5, weight=0.3)
    b = gj.sample(CountingScore(gm2), x0, sig, key=jax.random.key(1), observers={"g": gj.Mean(gap_terms(gm2))})
    assert CountingScore.traces == first
    assert not np.allclose(a.observations["g"], b.observations["g"])  # the new values were used


@pytest.mark.parametrize("name", list(SOLVERS))
def test_solver_affine_form_is_its_step_on_an_affine_score(name):
    """solver.affine (float64 closed form, used by the mean-field recursions) against the solver's own
    step run on the affine score g(x, σ) = a(σ) − b(σ) x: A = step(1) − step(0), B = step(0) at z = 0,
    √q = step(0, z = 1) − B."""
    solver = gj.solver_from_name(name)
    assert solver == SOLVERS[name]() and solver.name == name
    ab = {2.0: (0.3, 0.7), 1.2: (-0.2, 0.9), 0.0: (0.0, 0.0)}  # (a, b) at each σ
    for sig, sn in ((2.0, 1.2), (1.2, 0.0)):
        def score(x, s):
            a, b = (jnp.where(s == 1.2, ab[1.2][i], jnp.where(s == 2.0, ab[2.0][i], ab[0.0][i])) for i in (0, 1))
            return a - b * x

        def step(x, z):
            x = jnp.full((1, 1), x, jnp.float32)
            return float(solver.step(score, x, score(x, sig), jnp.float32(sig), jnp.float32(sn), jnp.full((1, 1), z, jnp.float32))[0, 0])

        A, B, q = solver.affine(ab[sig], ab[sn], sig, sn)
        b0 = step(0.0, 0.0)
        assert b0 == pytest.approx(B, rel=1e-5, abs=1e-6)
        assert step(1.0, 0.0) - b0 == pytest.approx(A, rel=1e-5, abs=1e-6)
        assert step(0.0, 1.0) - b0 == pytest.approx(np.sqrt(q), rel=1e-5, abs=1e-6)
        assert (q > 0) == solver.stochastic

"""σ grids and VE ↔ VP conversions against direct float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import processes as P


def test_edm_grid_formula_and_endpoints():
    s = np.asarray(gj.edm_grid(80.0, 0.002, 18))
    assert s.shape == (19,) and s[-1] == 0.0
    i = np.arange(18) / 17
    want = (80.0 ** (1 / 7) + i * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    np.testing.assert_allclose(s[:-1], want, rtol=1e-5)
    assert np.all(np.diff(s) < 0)


def test_geometric_grid():
    s = np.asarray(gj.geometric_grid(10.0, 0.01, 30))
    assert s.shape == (31,) and s[-1] == 0
    np.testing.assert_allclose(s[1:-1] / s[:-2], (0.01 / 10.0) ** (1 / 29), rtol=1e-5)
    s2 = np.asarray(gj.geometric_grid(10.0, 0.01, 30, include_zero=False))
    np.testing.assert_allclose([s2[0], s2[-1]], [10.0, 0.01], rtol=1e-6)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_grid_matches_alpha_bar(schedule):
    betas = P.linear_betas(1000, 1e-4, 0.02) if schedule == "linear" else P.cosine_betas(1000)
    abar = np.cumprod(1.0 - betas)
    want = np.sqrt((1.0 - abar) / abar)[::-1]
    s = np.asarray(gj.ddpm_grid(1000, schedule=schedule))
    assert s.shape == (1001,) and s[-1] == 0
    np.testing.assert_allclose(s[:-1], want, rtol=1e-5)


def test_aithal_sigmas_from_references():
    """../shared/REFERENCES.md (Aithal et al.): linear β 0.001…0.2, T = 1000 gives VE σ 0.032 at t=0 (index 1), 0.138 at t=9."""
    s = np.asarray(P.sigmas_from_betas(P.linear_betas(1000, 0.001, 0.2)))[::-1][1:]  # t = 1..T → index t-1
    np.testing.assert_allclose([s[0], s[9], s[49], s[99]], [0.032, 0.138, 0.586, 1.41], rtol=0.02)


def test_vp_ve_round_trip_and_vp_score():
    sig = jnp.array([0.5, 3.0, 100.0])
    np.testing.assert_allclose(gj.ve_sigma(gj.vp_alpha(sig)), sig, rtol=1e-5)
    # At small σ, α = 1/√(1+σ²) rounds in float32 and cannot carry σ to better than ~ε/σ²:
    # the engine therefore keeps σ (never α) as its noise coordinate.
    np.testing.assert_allclose(gj.ve_sigma(gj.vp_alpha(jnp.array(0.01))), 0.01, rtol=2e-3)
    gm = gj.GaussianMixture.opposite_corners(dim=3, std=0.4, weight=0.3)
    y = jnp.array([0.2, -0.4, 0.1])
    for s in (0.3, 2.0):
        a = gj.vp_alpha(s)
        # VP density of y = α x_VE: p(y) = p_VE(y/α) α^{-D}; its gradient in y is the VP score.
        ad = jax.grad(lambda yy: gm.log_prob(yy / a, s))(y)
        np.testing.assert_allclose(gj.vp_score(gm.score, y, s), ad, rtol=1e-5)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: gj.edm_grid(1.0, 2.0, 10), "sigma_min"),
        (lambda: gj.geometric_grid(-1.0, 0.1, 10), "sigma_max"),
        (lambda: gj.edm_grid(1.0, 0.1, 0), "n"),
        (lambda: gj.ddpm_grid(10, schedule="quadratic"), "schedule"),
        (lambda: P.linear_betas(10, 0.1, 1.5), "beta"),
    ],
)
def test_bad_grid_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("kind", ["geometric", "edm"])
def test_traced_sigma_grid_matches_processes(kind):
    """Sweeps build grids from traced σ_max, σ_min, ρ (vmapped over cells): same values as the concrete grid."""
    ref = gj.geometric_grid(30.0, 0.01, 40) if kind == "geometric" else gj.edm_grid(30.0, 0.01, 40)
    grid = P.GRIDS[kind]()
    traced = jax.jit(lambda hi, lo, rho: (grid.model_copy(update={"rho": rho}) if kind == "edm" else grid)
                     .sigmas(40, hi, lo))
    got = traced(jnp.float32(30.0), jnp.float32(0.01), jnp.float32(7.0))
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=2e-5)


def test_grid_classes_are_the_grid_functions_and_trace():
    """Each GRIDS class gives its function's grid; σ_max, σ_min (and ρ through model_copy) may be traced."""
    assert list(P.GRIDS) == ["geometric", "edm", "ddpm"] and all(P.GRIDS[k]().kind == k for k in P.GRIDS)
    np.testing.assert_array_equal(P.GeometricGrid().sigmas(30, 10.0, 0.01), gj.geometric_grid(10.0, 0.01, 30))
    np.testing.assert_array_equal(P.EDMGrid(rho=3.0).sigmas(30, 10.0, 0.01), gj.edm_grid(10.0, 0.01, 30, rho=3.0))
    ddpm = P.DDPMGrid(beta_start=1e-3, beta_end=0.2, schedule="cosine")
    np.testing.assert_array_equal(ddpm.sigmas(50, 1.0, 0.5), gj.ddpm_grid(50, 1e-3, 0.2, "cosine"))
    assert not ddpm.spans_range and P.EDMGrid.spans_range
    hi, lo, rho = jnp.asarray([30.0, 5.0]), jnp.asarray([0.01, 0.1]), jnp.asarray([7.0, 3.0])
    got = jax.vmap(lambda h, m, r: P.EDMGrid().model_copy(update={"rho": r}).sigmas(20, h, m))(hi, lo, rho)
    for i in range(2):
        ref = gj.edm_grid(float(hi[i]), float(lo[i]), 20, rho=float(rho[i]))
        np.testing.assert_allclose(np.asarray(got[i]), np.asarray(ref), rtol=2e-5)
    from ghostjax.config import ConfigError, Section, build

    class Cfg(Section):
        grid: P.Grid = P.GeometricGrid()

    with pytest.raises(ConfigError, match="grid: expected one of geometric, edm, ddpm"):
        build(Cfg, {"grid": "spiral"})

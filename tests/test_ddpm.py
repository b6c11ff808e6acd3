"""The DDPM window sampler (ghostjax.ddpm): the grid, its respacing with a dense tail, and the law of
the respaced ancestral sampler against the data's closed form."""

import jax
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import ddpm
from ghostjax.losses import Loss

HO = Loss(sigma_dist="ddpm", weighting="sigma2", ddpm_T=1000, ddpm_beta_start=1e-4, ddpm_beta_end=0.02)


def test_respaced_grid_keeps_ends_and_the_dense_tail():
    full = np.asarray(ddpm.ddpm_sigmas(HO, 1e4))
    assert full.size == 1000 and np.all(np.diff(full) < 0)
    r = np.asarray(ddpm.ddpm_sigmas(HO, 1e4, steps=100))
    assert r.size == 100 and r[0] == full[0] and r[-1] == full[-1] and np.all(np.diff(r) < 0)
    t = np.searchsorted(-full, -r)  # index of each kept level in the full grid (descending t)
    assert np.ptp(np.diff(t)) <= 1  # evenly spaced in t, to rounding
    tail = np.asarray(ddpm.ddpm_sigmas(HO, 1e4, steps=100, tail=20))
    assert tail.size == 100 and tail[0] == full[0] and np.all(np.diff(tail) < 0)
    np.testing.assert_array_equal(tail[-20:], full[-20:])  # t = 20 … 1 unchanged
    assert tail[-22] > full[-22]                             # above t = 21: respaced
    np.testing.assert_array_equal(np.asarray(ddpm.ddpm_sigmas(HO, 1e4, steps=100, tail=0)), r)
    with pytest.raises(ValueError, match="tail"):
        ddpm.ddpm_sigmas(HO, 1e4, steps=10, tail=10)


def test_sampler_draws_the_data_law_and_respacing_converges_to_it():
    """Exact score of N(0.5, 0.3²): the full 1000-level ancestral sampler draws its mean and variance
    within 5 standard errors (n = 20,000; the final x̂0 shrinks the variance by s²/(s² + σ_1²), 1e-4
    relative). Respaced grids keep the mean but over-disperse, less with more levels: σ_t² = β_t
    (their "large" variance choice) between levels far apart adds more noise than the posterior
    variance (measured: +20 % at 40 levels, +6 % at 100, +0.3 % at 1000); the dense tail keeps the
    last 10 levels exact and changes little."""
    gm = gj.GaussianMixture.line([0.5], 0.3)
    n, s2, key = 20000, 0.09, jax.random.PRNGKey(0)

    def moments(**kw):
        x, traj = ddpm.draw(gm.score, 1, n, key=key, loss=HO, window=5, **kw)
        x = np.asarray(x, np.float64)[:, 0]
        assert traj.shape == (5, n, 1) and np.all(np.isfinite(x))
        return x.mean(), x.var() / s2 - 1.0

    m, excess = moments()
    assert abs(m - 0.5) < 5 * np.sqrt(s2 / n) and abs(excess) < 5 * np.sqrt(2.0 / n)
    e40, e100 = moments(steps=40)[1], moments(steps=100)[1]
    assert e40 > e100 > 5 * np.sqrt(2.0 / n) and e100 > excess
    m_tail, e_tail = moments(steps=40, tail=10)
    assert abs(m_tail - 0.5) < 5 * np.sqrt(s2 / n) and 0 < e_tail < 1.5 * e40

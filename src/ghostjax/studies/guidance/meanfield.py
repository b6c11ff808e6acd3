"""Shared by the guidance studies (not a study itself): the guided linear-Gaussian recursion of the
discrete samplers, and this repository's simplified d → ∞ mean field for CFG on M = e^{βd} classes.

Linear recursion. When every score entering the guided score is that of a single isotropic
Gaussian, the guided score is affine per coordinate, g(x, σ) = a(σ) − b(σ) x, and one step of the
discrete scheme maps x to A x + B (+ √Δ z for Euler–Maruyama), so the mean and variance of the
particles follow m' = A m + B, V' = A² V (+ Δ): `affine_step` gives (A, B, noise variance).

Mean field (a simplification, not Ventura et al.'s DMFT). Classes N(μ_k, s² I), μ_k ~ N(0, m² I),
M = e^{βd}; guidance towards class c. Write a particle as x = α μ_c + y with y ⟂ μ_c per
coordinate of variance V. As d → ∞ with β fixed, before the particle "collapses" onto c the
unconditional posterior is spread over exponentially many other classes and the unconditional score
is the population Gaussian score −x/(m² + s² + σ²); after collapse it equals s(x | c) and CFG
is switched off. Collapse: the log weight of class c, −((α−1)² m² + V)/(2v) per coordinate
(v = s² + σ²), exceeds the log of the summed weight of the others, which for a random-energy model
with overlaps x·μ_k/d ~ N(0, m² r/d), r = α² m² + V, is (per coordinate, up to the common −(r + m²)/2v)
  β + m² r/(2v²)      if m² r / v² < 2β   (uncondensed)
  √(2β m² r) / v      otherwise           (condensed on a few wrong classes),
i.e. collapse when α m²/v exceeds that. Unguided (α = 1, V = v), this gives the collapse noise
level v_c = m²(1 − 2β)/(2β) (classes identifiable at σ = 0 only if v_c > s²). The norms ‖μ_k‖² are
taken fixed (m² d) and the condensed phase's pull towards the few dominating wrong classes is
ignored: the prediction is for the overshoot α − 1 and the orthogonal variance ratio V/s², and is
compared with, not assumed by, the sampled studies. α is deterministic here, so it says nothing
about the variance along μ_c (a single direction, shaped by when each particle collapses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...guidance import Schedule
from ...solvers import AbstractSolver, EulerMaruyama


def _check_solver(solver) -> AbstractSolver:
    if not isinstance(solver, AbstractSolver):
        raise ValueError(f"solver: expected a solver object (e.g. EulerMaruyama()), got {solver!r}")
    return solver


def affine_step(solver: AbstractSolver, ab: tuple[float, float], ab_next: tuple[float, float], sig: float,
                sig_next: float) -> tuple[float, float, float]:
    """(A, B, q): one step σ → σ_next of `solver` for the affine score g(x, σ) = a − b x, with
    (a, b) = `ab` at σ and `ab_next` at σ_next (Heun's corrector), maps x to A x + B + √q z
    (q = 0 for the ODE): the solver's own closed form, `solver.affine`. Float64."""
    return _check_solver(solver).affine(ab, ab_next, sig, sig_next)


def collapse_v(beta: float, mean_std: float) -> float:
    """Unguided collapse level v_c = s² + σ_c² = m²(1 − 2β)/(2β) of the mean field (inf at β = 0)."""
    return np.inf if beta <= 0 else mean_std**2 * (1 - 2 * beta) / (2 * beta)


def _others(beta: float, m2: float, r: float, v: float) -> float:
    b = m2 * r / (v * v)
    return beta + 0.5 * b if b < 2 * beta else np.sqrt(2 * beta * b)


def schedule_on_grid(schedule: Schedule, sigmas) -> np.ndarray:
    """w(σ_i) at every grid point, float64 [n]."""
    return np.asarray(jax.vmap(schedule)(jnp.asarray(np.asarray(sigmas), jnp.float32)), np.float64)


def mean_field(sigmas, schedule: Schedule, *, beta: float, mean_std: float, std: float,
               solver: AbstractSolver | None = None) -> dict:
    """Mean-field CFG towards one class along the discrete grid `sigmas` (descending, ending at 0),
    stepped by `solver` (its `affine` closed form; default Euler–Maruyama).

    Returns {'overshoot': α_0 − 1, 'var_ratio': V_0/s², 'sigma_collapse': σ at which the guided
    particle collapses onto the class (None: never), 'alpha': α along the grid, 'V': V along it}."""
    sig = np.asarray(sigmas, np.float64)
    solver = EulerMaruyama() if solver is None else _check_solver(solver)
    ws = schedule_on_grid(schedule, sig)
    m2, s2 = mean_std**2, std**2
    alpha, V = 0.0, float(sig[0] ** 2)  # prior N(0, σ_max² I)
    collapsed, s_col = beta <= 0, None
    al, vs = [alpha], [V]

    def ab(x, w):
        v = s2 + x * x
        return (1 + w) / v, (1 + w) / v - w / (m2 + v)

    for i in range(sig.size - 1):
        s, sn = float(sig[i]), float(sig[i + 1])
        v = s2 + s * s
        if not collapsed:
            r = alpha * alpha * m2 + V
            if alpha * m2 / v > _others(beta, m2, r, v):
                collapsed, s_col = True, s
        w, wn = (0.0, 0.0) if collapsed else (ws[i], ws[i + 1])
        A, B, q = solver.affine(ab(s, w), ab(sn, wn), s, sn)
        alpha, V = A * alpha + B, A * A * V + q
        al.append(alpha)
        vs.append(V)
    return {"overshoot": alpha - 1.0, "var_ratio": V / s2, "sigma_collapse": s_col,
            "alpha": np.asarray(al), "V": np.asarray(vs)}

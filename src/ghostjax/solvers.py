"""Reverse-time solvers as equinox Modules (the diffrax pattern): one step from σ_i to σ_{i+1}.

A solver is an `AbstractSolver` with a class-level `stochastic` flag (the sampler draws one
normal z [N, D] per step only for stochastic solvers) and a method
`step(score, x, s, sig, sig_next, z) -> x_next` for particles x [N, D], where s = score(x, σ_i)
[N, D] has already been computed by the sampler and `score` is the batched score
(x [N, D], σ) -> [N, D] for solvers that need further evaluations (Heun). Δ = σ_i² − σ_{i+1}².

  EulerMaruyama  reverse VE SDE:  x ← x + Δ s + √Δ z
  OdeEuler       probability-flow ODE dx/dσ = −σ s, Euler step in σ
  OdeHeun        the same ODE, Heun (2nd order; plain Euler on the last step to σ = 0)
  DDPM           ancestral sampling in VP coordinates y = x/√(1+σ²): ᾱ_i = 1/(1+σ_i²),
                 α = ᾱ_i/ᾱ_{i+1}, β = 1 − α, ε̂ = −√(1−ᾱ_i) s_VP and
                 y ← (y − β/√(1−ᾱ_i) ε̂)/√α + √v z, v = β ('beta') or the posterior β̃ ('posterior')

New solvers subclass AbstractSolver; `SOLVERS` maps the names used in config files to classes
(the only place names are looked up).
"""

from __future__ import annotations

import abc
from typing import Callable, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

Particles = Float[Array, "N D"]


class AbstractSolver(eqx.Module):
    """One reverse step σ_i → σ_{i+1} < σ_i for particles [N, D]."""

    stochastic: ClassVar[bool]

    @abc.abstractmethod
    def step(self, score: Callable, x: Particles, s: Particles, sig, sig_next, z: Particles | None) -> Particles:
        """x at σ_{i+1}, [N, D]; `s` = score(x, sig) [N, D]; `z` a standard normal [N, D] or None."""


class EulerMaruyama(AbstractSolver):
    """Euler–Maruyama for the reverse VE SDE (weak order 1)."""

    stochastic: ClassVar[bool] = True

    def step(self, score, x, s, sig, sig_next, z):
        ds2 = sig * sig - sig_next * sig_next
        return x + ds2 * s + jnp.sqrt(ds2) * z


class OdeEuler(AbstractSolver):
    """Euler in σ for the probability-flow ODE dx/dσ = −σ s (order 1)."""

    stochastic: ClassVar[bool] = False

    def step(self, score, x, s, sig, sig_next, z):
        return x + (sig - sig_next) * sig * s


class OdeHeun(AbstractSolver):
    """Heun for the probability-flow ODE (order 2); the last step to σ = 0 is plain Euler,
    since the score is not evaluated at σ = 0."""

    stochastic: ClassVar[bool] = False

    def step(self, score, x, s, sig, sig_next, z):
        d1 = -sig * s
        x_e = x + (sig_next - sig) * d1
        safe_next = jnp.where(sig_next > 0, sig_next, sig)
        d2 = -safe_next * score(x_e, safe_next)
        return jnp.where(sig_next > 0, x + (sig_next - sig) * 0.5 * (d1 + d2), x_e)


class DDPM(AbstractSolver):
    """DDPM ancestral sampling (Ho et al. 2020) on the VE grid, done in VP coordinates.

    variance: 'beta' (σ_t² = β_t, as Aithal et al.) or 'posterior' (β̃_t)."""

    variance: str = eqx.field(static=True, default="beta")
    stochastic: ClassVar[bool] = True

    def __check_init__(self):
        if self.variance not in ("beta", "posterior"):
            raise ValueError(f"variance: expected 'beta' or 'posterior', got {self.variance!r}")

    def step(self, score, x, s, sig, sig_next, z):
        abar_i = 1.0 / (1.0 + sig * sig)
        abar_n = 1.0 / (1.0 + sig_next * sig_next)
        alpha = abar_i / abar_n
        beta = -jnp.expm1(jnp.log(abar_i) - jnp.log(abar_n))  # 1 − α without cancellation
        y = x * jnp.sqrt(abar_i)
        eps_hat = -jnp.sqrt(1.0 - abar_i) * s / jnp.sqrt(abar_i)
        mean = (y - beta / jnp.sqrt(1.0 - abar_i) * eps_hat) / jnp.sqrt(alpha)
        var = beta if self.variance == "beta" else (1.0 - abar_n) / (1.0 - abar_i) * beta
        return (mean + jnp.sqrt(var) * z) / jnp.sqrt(abar_n)


SOLVERS: dict[str, type[AbstractSolver]] = {
    "euler_maruyama": EulerMaruyama,
    "ode_euler": OdeEuler,
    "ode_heun": OdeHeun,
    "ddpm": DDPM,
}


def solver_from_name(name: str, **options) -> AbstractSolver:
    """The solver a config names ('euler_maruyama', 'ode_euler', 'ode_heun', 'ddpm'), built with
    `options` (e.g. variance='posterior' for 'ddpm'); ValueError naming the choices otherwise."""
    if name not in SOLVERS:
        raise ValueError(f"solver: expected one of {', '.join(SOLVERS)}, got {name!r}")
    return SOLVERS[name](**options)

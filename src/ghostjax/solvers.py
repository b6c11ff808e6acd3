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

Each solver also gives its step for an affine score g(x, σ) = a(σ) − b(σ) x in closed form,
`affine(ab, ab_next, sig, sig_next) -> (A, B, q)`: x ← A x + B + √q z (float64 numbers; the
mean-field recursions of studies/guidance/meanfield.py ask the solver for it, never its name).

New solvers subclass AbstractSolver and set `name`, the name config files write (once);
`SOLVERS` maps names to classes, and `Solver` is the config field type: a name, or a table
{name = "ddpm", variance = "posterior"} whose other keys are the solver's fields.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Annotated, Callable, ClassVar

import equinox as eqx
import jax.numpy as jnp
import pydantic
from jaxtyping import Array, Float

Particles = Float[Array, "N D"]
Affine = tuple[float, float]  # (a, b) of the score g(x) = a − b x at one σ


class AbstractSolver(eqx.Module):
    """One reverse step σ_i → σ_{i+1} < σ_i for particles [N, D]."""

    name: ClassVar[str]
    stochastic: ClassVar[bool]

    @abc.abstractmethod
    def step(self, score: Callable, x: Particles, s: Particles, sig, sig_next, z: Particles | None) -> Particles:
        """x at σ_{i+1}, [N, D]; `s` = score(x, sig) [N, D]; `z` a standard normal [N, D] or None."""

    def affine(self, ab: Affine, ab_next: Affine, sig: float, sig_next: float) -> tuple[float, float, float]:
        """(A, B, q): this step for the affine score g(x, σ) = a − b x, with (a, b) = `ab` at σ and
        `ab_next` at σ_next, maps x to A x + B + √q z (q = 0 for a deterministic solver). Float64."""
        raise NotImplementedError(f"{type(self).__name__}: no closed form for an affine score")


class EulerMaruyama(AbstractSolver):
    """Euler–Maruyama for the reverse VE SDE (weak order 1)."""

    name: ClassVar[str] = "euler_maruyama"
    stochastic: ClassVar[bool] = True

    def step(self, score, x, s, sig, sig_next, z):
        ds2 = sig * sig - sig_next * sig_next
        return x + ds2 * s + jnp.sqrt(ds2) * z

    def affine(self, ab, ab_next, sig, sig_next):
        a, b = ab
        d = sig * sig - sig_next * sig_next
        return 1.0 - d * b, d * a, d


class OdeEuler(AbstractSolver):
    """Euler in σ for the probability-flow ODE dx/dσ = −σ s (order 1)."""

    name: ClassVar[str] = "ode_euler"
    stochastic: ClassVar[bool] = False

    def step(self, score, x, s, sig, sig_next, z):
        return x + (sig - sig_next) * sig * s

    def affine(self, ab, ab_next, sig, sig_next):
        a, b = ab
        h = (sig - sig_next) * sig
        return 1.0 - h * b, h * a, 0.0


class OdeHeun(AbstractSolver):
    """Heun for the probability-flow ODE (order 2); the last step to σ = 0 is plain Euler,
    since the score is not evaluated at σ = 0."""

    name: ClassVar[str] = "ode_heun"
    stochastic: ClassVar[bool] = False

    def step(self, score, x, s, sig, sig_next, z):
        d1 = -sig * s
        x_e = x + (sig_next - sig) * d1
        safe_next = jnp.where(sig_next > 0, sig_next, sig)
        d2 = -safe_next * score(x_e, safe_next)
        return jnp.where(sig_next > 0, x + (sig_next - sig) * 0.5 * (d1 + d2), x_e)

    def affine(self, ab, ab_next, sig, sig_next):
        a, b = ab
        h = sig_next - sig
        a1, b1 = -sig * a, sig * b  # d1 = −σ g(x) = a1 + b1 x
        ae, be = 1.0 + h * b1, h * a1  # Euler predictor x_e = ae x + be
        if sig_next <= 0:
            return ae, be, 0.0
        a2, b2 = ab_next
        c2, k2 = sig_next * b2 * ae, -sig_next * a2 + sig_next * b2 * be  # d2 = k2 + c2 x
        return 1.0 + 0.5 * h * (b1 + c2), 0.5 * h * (a1 + k2), 0.0


class DDPM(AbstractSolver):
    """DDPM ancestral sampling (Ho et al. 2020) on the VE grid, done in VP coordinates.

    variance: 'beta' (σ_t² = β_t, as Aithal et al.) or 'posterior' (β̃_t)."""

    variance: str = eqx.field(static=True, default="beta")
    name: ClassVar[str] = "ddpm"
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


    def affine(self, ab, ab_next, sig, sig_next):
        # y = x √ᾱ_i, mean = (y + β s/√ᾱ_i)/√α and x' = (mean + √v z)/√ᾱ_n with √α √ᾱ_n = √ᾱ_i
        a, b = ab
        abar_i, abar_n = 1.0 / (1.0 + sig * sig), 1.0 / (1.0 + sig_next * sig_next)
        beta = -math.expm1(math.log(abar_i) - math.log(abar_n))
        var = beta if self.variance == "beta" else (1.0 - abar_n) / (1.0 - abar_i) * beta
        return 1.0 - beta * b / abar_i, beta * a / abar_i, var / abar_n


SOLVERS: dict[str, type[AbstractSolver]] = {c.name: c for c in (EulerMaruyama, OdeEuler, OdeHeun, DDPM)}


def solver_from_name(name: str | dict | AbstractSolver, **options) -> AbstractSolver:
    """The solver a config names: a name of SOLVERS ('euler_maruyama', 'ode_euler', 'ode_heun',
    'ddpm') built with `options` (e.g. variance='posterior' for 'ddpm'), a table {name = ..., **options},
    or a solver as is; ValueError naming the choices otherwise."""
    try:
        return _from_config({"name": name, **options} if isinstance(name, str) else name)
    except ValueError as e:
        raise ValueError(f"solver: {e}") from None


def _from_config(v) -> AbstractSolver:
    if isinstance(v, AbstractSolver):
        return v
    if not isinstance(v, (str, dict)):
        raise ValueError(f"expected a solver name ({', '.join(SOLVERS)}) or a table with `name`, got {v!r}")
    options = {"name": v} if isinstance(v, str) else dict(v)
    name = options.pop("name", None)
    if name not in SOLVERS:
        raise ValueError(f"expected one of {', '.join(SOLVERS)}, got {name!r}")
    cls = SOLVERS[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    for k in options:
        if k not in fields:
            raise ValueError(f"{k}: not an option of {name} (its options: {', '.join(fields) or 'none'})")
    return cls(**options)


def _to_config(solver: AbstractSolver) -> str | dict:
    """The solver's name, or {name, options that differ from the class defaults}."""
    default = type(solver)()
    changed = {f.name: getattr(solver, f.name) for f in dataclasses.fields(solver)
               if getattr(solver, f.name) != getattr(default, f.name)}
    return {"name": solver.name, **changed} if changed else solver.name


Solver = Annotated[AbstractSolver, pydantic.PlainValidator(_from_config), pydantic.PlainSerializer(_to_config)]
"""Config field type of a solver: a name of SOLVERS or a table {name = ..., **options}; the value is
the solver object (studies pass it to `sample`), written back by `config.to_dict` as the config wrote it."""

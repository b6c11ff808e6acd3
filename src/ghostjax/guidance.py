"""Guided scores and guidance schedules w(σ): classifier-free guidance (CFG), power-law
(non-linear) guidance and autoguidance, as equinox Modules usable as the sampler's score.

Every guided score is a per-example callable score(x [D], σ) -> [D] built from other per-example
scores (exact mixture scores here, networks elsewhere). Weights and schedule parameters are array
fields, so gj.sample traces them: changing w, the schedule's numbers or the class label does not
recompile.

Clock. The papers (Pavasovic et al. 2025, Ventura et al. 2026) write schedules in the time t of the
Ornstein–Uhlenbeck / variance-preserving process x_t = e^{−t} x_0 + √(1 − e^{−2t}) ε. Its state is
the VE state scaled, x_VE = e^{t} x_OU, and both label the same noise level by

    σ² = e^{2t} − 1,   t = ½ log(1 + σ²),

so a schedule written in t means the same thing on the VE σ grid of this engine (`t_of_sigma`,
`sigma_of_t`). Guidance is written on scores; since D(x, σ) = x + σ² s(x, σ) is affine in s, the
same combination holds for denoisers.

  CFG               s(x|c) + w(σ) (s(x|c) − s(x))              (w = 0: the conditional score)
  PowerLawGuidance  s(x|c) + ω (‖Δ‖/√D)^α Δ,  Δ = s(x|c) − s(x)   (effective weight ω (‖Δ‖/√D)^α)
  Autoguidance      s_weak + w (s_good − s_weak)               (w = 1: the good score)

Families (config values). A guidance family builds the guided score towards one class of a mixture
from one scanned strength w and fixed parameters: ConstantCFG (w), WindowCFG (w_early = w), LinearCFG
(ω = w), PowerLawFamily (ω = w), AutoguidanceFamily (w). Each is a Section tagged by `kind` (the name
a config writes, once; FAMILIES maps names to classes) and `Guidance` is the config field type.
"""

from __future__ import annotations

import abc
import math
from typing import Callable, Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray
from pydantic import Field

from . import guided_score as _gs
from ._util import check_sigma, concrete
from .config import Section, tag_of, tagged
from .mixtures import GaussianMixture

Score = Callable  # per-example score(x [D], sigma) -> [D]


def t_of_sigma(sigma):
    """OU/VP time of VE noise level σ: t = ½ log(1 + σ²)."""
    return 0.5 * jnp.log1p(jnp.square(jnp.asarray(sigma)))


def sigma_of_t(t):
    """VE noise level of OU/VP time t ≥ 0: σ = √(e^{2t} − 1)."""
    return jnp.sqrt(jnp.expm1(2.0 * jnp.asarray(t)))


def _arr(v) -> Array:
    """A float array field (float32 unless x64 is on)."""
    return jnp.asarray(v, dtype=jnp.result_type(float))


# ---------------------------------------------------------------------------------- schedules
class Schedule(eqx.Module):
    """A guidance weight as a function of the noise level: `schedule(sigma) -> w` (scalar).

    Subclasses define `at_time(t)` in the OU/VP time t = ½ log(1 + σ²)."""

    @abc.abstractmethod
    def at_time(self, t) -> Array:
        """w at OU time t (scalar)."""

    def __call__(self, sigma) -> Array:
        sigma = jnp.asarray(sigma)
        if not jnp.issubdtype(sigma.dtype, jnp.floating):
            sigma = sigma.astype(jnp.result_type(float))
        return self.at_time(t_of_sigma(sigma)).astype(sigma.dtype)


class Constant(Schedule):
    """w(t) = w."""

    w: Float[Array, ""]

    def __init__(self, w):
        self.w = _arr(w)

    def at_time(self, t):
        return jnp.broadcast_to(self.w.astype(t.dtype), jnp.shape(t))


class LinearInTime(Schedule):
    """w(t) = w0 + ω t (Ventura et al.'s linear schedule; w0 < 0 makes the late part negative)."""

    w0: Float[Array, ""]
    omega: Float[Array, ""]

    def __init__(self, w0, omega):
        self.w0, self.omega = _arr(w0), _arr(omega)

    def at_time(self, t):
        return self.w0.astype(t.dtype) + self.omega.astype(t.dtype) * t


class NegativeWindow(Schedule):
    """w = w_early for t > t_switch (high noise, early in the reverse process), w_late for
    t ≤ t_switch (w_early > 0 and w_late < 0 is the negative-guidance window)."""

    w_early: Float[Array, ""]
    w_late: Float[Array, ""]
    t_switch: Float[Array, ""]

    def __init__(self, w_early, w_late, t_switch):
        self.w_early, self.w_late, self.t_switch = _arr(w_early), _arr(w_late), _arr(t_switch)

    def at_time(self, t):
        return jnp.where(t > self.t_switch.astype(t.dtype), self.w_early.astype(t.dtype), self.w_late.astype(t.dtype))


class Piecewise(Schedule):
    """Piecewise-constant in t: values[i] on t_edges[i−1] < t ≤ t_edges[i] (t_edges ascending,
    len(values) = len(t_edges) + 1; values[0] below the first edge, values[−1] above the last)."""

    t_edges: Float[Array, " n"]
    values: Float[Array, " n1"]

    def __init__(self, t_edges, values):
        e, v = np.asarray(t_edges, np.float64).reshape(-1), np.asarray(values, np.float64).reshape(-1)
        if v.size != e.size + 1:
            raise ValueError(f"values: expected {e.size + 1} values for {e.size} edges, got {v.size}")
        if np.any(np.diff(e) <= 0):
            raise ValueError("t_edges: must be strictly ascending")
        self.t_edges, self.values = _arr(e), _arr(v)

    def at_time(self, t):
        idx = jnp.sum((t > self.t_edges.astype(t.dtype)).astype(jnp.int32))
        return self.values[idx].astype(t.dtype)


def as_schedule(w) -> Schedule:
    """A Schedule as is; a number as Constant(w)."""
    return w if isinstance(w, Schedule) else Constant(w)


# ---------------------------------------------------------------------------------- guided scores
class CFG(eqx.Module):
    """Classifier-free guidance s(x|c) + w(σ)(s(x|c) − s(x)) (equivalently (1 + w) s(x|c) − w s(x)).

    cond, uncond: per-example scores (x [D], σ) -> [D]; schedule: a Schedule (or a number)."""

    cond: Score
    uncond: Score
    schedule: Schedule
    fused: bool = eqx.field(static=True, default=False)

    def __init__(self, cond: Score, uncond: Score, schedule=0.0):
        self.cond, self.uncond, self.schedule = cond, uncond, as_schedule(schedule)
        self.fused = _gs.shares_mixture(cond, uncond)

    product_components = property(_gs.product_components)

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        sc, su = _gs.pair(self, x, sigma)
        return sc + self.schedule(sigma) * (sc - su)


class PowerLawGuidance(eqx.Module):
    """Power-law (non-linear) guidance (Pavasovic et al. 2025): s(x|c) + w_eff Δ with
    Δ = s(x|c) − s(x) and effective weight w_eff = ω (‖Δ‖/√D)^α (‖Δ‖/√D is the per-coordinate rms
    of Δ, so ω keeps its meaning across D). α = 0 is CFG with w = ω; α > 0 guides hardest where the
    two scores disagree most; α ≥ −1 keeps w_eff Δ → 0 where they agree (‖Δ‖ floored at `eps`)."""

    cond: Score
    uncond: Score
    omega: Float[Array, ""]
    alpha: Float[Array, ""]
    eps: float = eqx.field(static=True, default=1e-12)
    fused: bool = eqx.field(static=True, default=False)

    def __init__(self, cond: Score, uncond: Score, omega, alpha, eps: float = 1e-12):
        a = concrete(alpha)
        if a is not None and np.any(a < -1):
            raise ValueError(f"alpha: must be ≥ −1 (guidance must vanish where the scores agree), got {alpha}")
        self.cond, self.uncond, self.omega, self.alpha, self.eps = cond, uncond, _arr(omega), _arr(alpha), eps
        self.fused = _gs.shares_mixture(cond, uncond)

    product_components = property(_gs.product_components)

    def weight(self, delta: Float[Array, " D"]) -> Float[Array, ""]:
        """w_eff = ω (‖Δ‖/√D)^α for Δ [D]."""
        rms = jnp.sqrt(jnp.mean(delta * delta))
        rms = jnp.maximum(rms, jnp.asarray(self.eps, rms.dtype))
        return self.omega.astype(rms.dtype) * rms ** self.alpha.astype(rms.dtype)

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        sc, su = _gs.pair(self, x, sigma)
        delta = sc - su
        return sc + self.weight(delta) * delta


class Autoguidance(eqx.Module):
    """Autoguidance (Karras et al. 2024): D_w = D_weak + w (D_good − D_weak), written on scores
    s_w = s_weak + w(σ) (s_good − s_weak); w = 1 gives the good score, w > 1 guides away from the
    weak model. w: a Schedule or a number."""

    good: Score
    weak: Score
    w: Schedule

    def __init__(self, good: Score, weak: Score, w=1.0):
        self.good, self.weak, self.w = good, weak, as_schedule(w)

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        sw = self.weak(x, sigma)
        return sw + self.w(sigma) * (self.good(x, sigma) - sw)


# ---------------------------------------------------------------------------------- class mixtures
class ClassScore(eqx.Module):
    """The class-conditional score s(x | c) of a mixture: with `classes` None (one Gaussian
    component per class) the score of component `label` alone; with `classes` [K] (int, the class of
    each component) the score of the mixture restricted to the components of class `label`. `label`
    is an int array (traced: a new class does not recompile).

    `pair(x, σ)` gives (s(x | c), gm.score(x, σ)); for a large mixture of isotropic components
    (guided_score.fused_applies, decided once here from concrete stds; `one_pass=True` asserts
    isotropy for traced stds) in one pass over the components, which is what CFG and
    PowerLawGuidance call when their uncond is this mixture's `score`."""

    gm: GaussianMixture
    label: Int[Array, ""]
    classes: Int[Array, " K"] | None
    one_pass: bool = eqx.field(static=True, default=False)

    def __init__(self, gm: GaussianMixture, label, classes=None, one_pass: bool | None = None):
        self.gm, self.label = gm, jnp.asarray(label, jnp.int32)
        if classes is not None:
            classes = jnp.asarray(classes, jnp.int32)
            if classes.shape != (gm.n_components,):
                raise ValueError(f"classes: expected shape [{gm.n_components}], got {tuple(classes.shape)}")
        self.classes = classes
        fits = _gs.use_matmul(gm.n_components, gm.dim)
        self.one_pass = fits and (_gs.isotropic_variances(gm.stds) if one_pass is None else bool(one_pass))

    def __call__(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        if self.classes is None:
            return self.gm.conditional_score(x, sigma, self.label)
        check_sigma(sigma)
        x, sigma = jnp.asarray(x, self.gm.means.dtype), jnp.asarray(sigma, self.gm.means.dtype)
        return _gs.restricted_score(self.gm, x, sigma, self.label, self.classes)

    def pair(self, x: Float[Array, " D"], sigma) -> tuple[Float[Array, " D"], Float[Array, " D"]]:
        """(s(x | c) [D], s(x) [D]): one pass over the components where `one_pass`, else separately."""
        if not self.one_pass:
            return self(x, sigma), self.gm.score(x, sigma)
        check_sigma(sigma)
        gm = self.gm
        x, sigma = jnp.asarray(x, gm.means.dtype), jnp.asarray(sigma, gm.means.dtype)
        if x.shape != (gm.dim,):
            raise ValueError(f"x: expected shape [{gm.dim}] (one example; vmap for batches), got {x.shape}")
        return _gs.guided_pair(x, sigma, jnp.log(gm.weights), gm.means, gm.stds[:, 0] ** 2, self.label, self.classes)


def n_classes_for(dim: int, beta: float) -> int:
    """M = round(e^{β d}) (at least 1): the exponential class count of Ventura et al."""
    if beta < 0:
        raise ValueError(f"beta: must be non-negative, got {beta}")
    return max(1, int(round(math.exp(beta * dim))))


def class_mixture(dim: int, *, key: PRNGKeyArray, n_classes: int | None = None, beta: float | None = None,
                  mean_std: Float[ArrayLike, ""] = 1.0, std: Float[ArrayLike, ""] = 1.0, max_classes: int | None = None,
                  **kw) -> GaussianMixture:
    """M equally weighted Gaussian classes in `dim` dimensions, means ~ N(0, mean_std² I), within-class
    std `std` (GaussianMixture.random_classes), with M = n_classes, or M = round(e^{β dim}) when
    `beta` is given. `max_classes` bounds M (ValueError above it)."""
    if (n_classes is None) == (beta is None):
        raise ValueError("n_classes: give exactly one of n_classes and beta")
    m = n_classes if n_classes is not None else n_classes_for(dim, beta)
    if max_classes is not None and m > max_classes:
        raise ValueError(f"n_classes: M = {m} at dim {dim} exceeds max_classes = {max_classes}")
    return GaussianMixture.random_classes(dim, m, key=key, mean_std=mean_std, std=std, **kw)


def broaden(gm: GaussianMixture, factor) -> GaussianMixture:
    """The same mixture with every class std multiplied by `factor` (the weak model of autoguidance)."""
    return GaussianMixture(gm.means, gm.weights, gm.stds * jnp.asarray(factor, gm.stds.dtype), chunk=gm.chunk)


def cfg(gm: GaussianMixture, label, schedule=0.0, classes=None) -> CFG:
    """CFG towards class `label` of a mixture: cond = that class's score (ClassScore: component `label`
    when `classes` is None), uncond = gm.score (the exact score of the whole mixture, never [N, M, D]
    at once); both from one pass over the components where ClassScore.pair allows."""
    return CFG(ClassScore(gm, label, classes), gm.score, schedule)


def power_law(gm: GaussianMixture, label, omega, alpha) -> PowerLawGuidance:
    """Power-law guidance towards class `label` with the exact class and mixture scores."""
    return PowerLawGuidance(ClassScore(gm, label), gm.score, omega, alpha)


def autoguidance(gm: GaussianMixture, label, factor, w) -> Autoguidance:
    """Autoguidance of the exact class score with the exact class score of the broadened mixture
    (class stds × factor) as the weak model."""
    return Autoguidance(ClassScore(gm, label), ClassScore(broaden(gm, factor), label), w)


# ---------------------------------------------------------------------------------- families
class AbstractFamily(Section):
    """A guidance family as a config value: the guided score towards class `label` of a
    one-component-per-class mixture, `score(gm, label, w)`, for the scanned strength w (a number or
    traced; so may the fixed parameters be, through `model_construct`). `schedule(w)`: the CFG
    schedule w(σ) of the CFG families, None for the others."""

    def schedule(self, w) -> Schedule | None:
        return None

    def score(self, gm: GaussianMixture, label, w):
        return cfg(gm, label, self.schedule(w))

    def params(self) -> dict:
        """The fixed parameters, by name."""
        return {k: v for k, v in self if k != "kind"}

    def label(self) -> str:
        """A one-line description (the row label of the studies' tables)."""
        return self.kind


class ConstantCFG(AbstractFamily):
    """CFG with a constant weight w."""

    kind: Literal["constant"] = "constant"

    def schedule(self, w):
        return Constant(w)

    def label(self):
        return "constant w"


class WindowCFG(AbstractFamily):
    """CFG with a negative-guidance window: w above OU time t_switch, w_late (< 0) below."""

    kind: Literal["window"] = "window"
    w_late: float = Field(-1.0, lt=0)
    t_switch: float = Field(1.0, gt=0)

    def schedule(self, w):
        return NegativeWindow(w, self.w_late, self.t_switch)

    def label(self):
        return f"window w_late={self.w_late:g}, t_switch={self.t_switch:g} (σ={float(sigma_of_t(self.t_switch)):.2f})"


class LinearCFG(AbstractFamily):
    """CFG with w(t) = w0 + ω t, ω the strength."""

    kind: Literal["linear"] = "linear"
    w0: float = -1.0

    def schedule(self, w):
        return LinearInTime(self.w0, w)

    def label(self):
        return f"linear w0={self.w0:g} + ω t"


class PowerLawFamily(AbstractFamily):
    """Power-law guidance with exponent α, ω the strength."""

    kind: Literal["power_law"] = "power_law"
    alpha: float = Field(0.5, ge=-1)

    def score(self, gm, label, w):
        return power_law(gm, label, w, self.alpha)

    def label(self):
        return f"power law α={self.alpha:g}"


class AutoguidanceFamily(AbstractFamily):
    """Autoguidance with the class stds × factor as the weak model, w the strength."""

    kind: Literal["autoguidance"] = "autoguidance"
    factor: float = Field(2.0, gt=0)

    def score(self, gm, label, w):
        return autoguidance(gm, label, self.factor, w)

    def label(self):
        return f"autoguidance ×{self.factor:g}"


FAMILIES: dict[str, type[AbstractFamily]] = {
    tag_of(c): c for c in (ConstantCFG, WindowCFG, LinearCFG, PowerLawFamily, AutoguidanceFamily)}
Guidance = tagged(*FAMILIES.values())
"""Config field type of a guidance family: one of FAMILIES' classes, as a table or its bare name."""

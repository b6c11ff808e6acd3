"""Shared by the guidance studies (not a study itself): the [sampler] and [classes] config tables,
one guided sampling run with its distortion metrics, the guidance sweep's cell (`guided_cell`), and
small figure helpers."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from pydantic import BeforeValidator, Field, model_validator
from scipy import stats

from ...config import RunFailed, Section, tagged
from ...guidance import class_mixture, n_classes_for
from ...integrate import prior, sample
from ...metrics.guidance import ClassPosterior, distortion_summary, speciation_sigma
from ...mixtures import GaussianMixture
from ...observers import Mean
from ...processes import edm_grid
from ...solvers import EulerMaruyama, Solver
from .._common import require
from .theory import mean_std_for_accuracy


class Sampler(Section):
    """Reverse sampler of every guided run: `steps` steps of `solver` (solvers.Solver: a name or a
    table) on the EDM grid (ρ = 7) from sigma_max to sigma_min, then 0; `n` particles per run,
    started from N(0, σ_max² I)."""

    n: int = Field(1024, ge=16)
    steps: int = Field(256, ge=2)
    sigma_max: float = Field(40.0, gt=0)
    sigma_min: float = Field(0.002, gt=0)
    solver: Solver = EulerMaruyama()

    @model_validator(mode="after")
    def _rules(self):
        require(self.sigma_min < self.sigma_max, "sigma_min: must be below sigma_max")
        return self

    def grid(self) -> np.ndarray:
        """The σ grid [steps + 1] as a host float64 array (computed eagerly, also when called under a
        jit trace: guided_cell is)."""
        with jax.ensure_compile_time_eval():
            return np.asarray(edm_grid(self.sigma_max, self.sigma_min, self.steps), np.float64)


class Classes(Section):
    """The class mixture: M Gaussian classes N(μ_k, std² I), μ_k ~ N(0, mean_std² I), equal weights;
    M ≤ max_classes (runs that would need more are refused when the config is read).

    The mean scale is `mean_std`, or, when `accuracy_0` is set, the one at which the exact class
    accuracy at w = 0 (posterior argmax at σ = 0, averaged over mixture draws) equals accuracy_0 at
    d, M = `accuracy_at` (theory.mean_std_for_accuracy; `resolved()` gives the copy with it filled in)."""

    mean_std: float = Field(0.25, gt=0)
    std: float = Field(1.0, gt=0)
    max_classes: int = Field(5000, ge=2)
    accuracy_0: float | None = Field(None, gt=0, lt=1)
    accuracy_at: tuple[int, int] | None = None           # (d, M) where the accuracy target holds

    @model_validator(mode="after")
    def _target(self):
        require((self.accuracy_0 is None) == (self.accuracy_at is None),
                "classes.accuracy_at: give it with classes.accuracy_0, as [d, M] (and only then)")
        if self.accuracy_at is not None:
            require(self.accuracy_at[0] >= 1 and self.accuracy_at[1] >= 2, "classes.accuracy_at: need d ≥ 1, M ≥ 2")
        return self

    def resolved(self) -> Classes:
        """This table with mean_std from the accuracy target (a copy; itself when none is set)."""
        if self.accuracy_0 is None:
            return self
        d, m = self.accuracy_at
        return self.model_copy(update={"mean_std": _scale_for(self.accuracy_0, d, m, self.std)})

    def count(self, dim: int, beta: float | None = None, fixed: int | None = None) -> int:
        """M = fixed, or max(2, round(e^{β dim}))."""
        return fixed if fixed is not None else max(2, n_classes_for(dim, beta))

    def mixture(self, dim: int, *, key, n_classes: int) -> GaussianMixture:
        return class_mixture(dim, key=key, n_classes=n_classes, mean_std=self.mean_std, std=self.std)


# a tuple of dimensions; also from the plain list a tagged table hands over (validated in Python mode)
Dims = Annotated[tuple[int, ...], BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v)]


@functools.lru_cache(maxsize=64)
def _scale_for(target: float, dim: int, n_classes: int, std: float) -> float:
    return float(mean_std_for_accuracy(target, dim, std, n_classes=n_classes))


class FixedM(Section):
    """M = `classes` at every d."""

    kind: Literal["fixed"] = "fixed"
    classes: int = Field(5, ge=2)
    dims: Dims = (16, 32, 64, 128, 256)

    def count(self, dim: int) -> int:
        return self.classes

    def label(self) -> str:
        return f"M = {self.classes}"


class ProportionalM(Section):
    """M = max(2, round(per_dim · d)): sub-exponential, β = log M / d → 0."""

    kind: Literal["proportional"] = "proportional"
    per_dim: float = Field(1.0, gt=0)
    dims: Dims = (16, 32, 64, 128, 256)

    def count(self, dim: int) -> int:
        return max(2, int(round(self.per_dim * dim)))

    def label(self) -> str:
        return f"M = {self.per_dim:g} d"


class ExponentialM(Section):
    """M = max(2, round(e^{β d})) (Ventura et al.'s exponential class count)."""

    kind: Literal["exponential"] = "exponential"
    beta: float = Field(0.03, gt=0, lt=1)
    dims: Dims = (32, 64, 128, 256)

    def count(self, dim: int) -> int:
        return max(2, n_classes_for(dim, self.beta))

    def label(self) -> str:
        return f"M = e^({self.beta:g} d)"


Law = tagged(FixedM, ProportionalM, ExponentialM)


def draw_key(key, setting: int, draw: int, stream: int = 0):
    """The key of mixture draw `draw` of setting `setting`: fold_in(fold_in(fold_in(key, setting),
    stream), draw); stream 0 draws the mixture, stream 1 + j the sampler noise of its j-th run."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, setting), stream), draw)


def across_draws(values, level: float = 0.95) -> dict:
    """Mean over mixture draws with a Student-t interval: {'mean', 'ci' (half-width t_{(1+level)/2, n−1}
    · sd/√n, sd with ddof = 1; None for one value), 'n', 'draws' (the values)}. None / NaN values are left
    out of mean and interval but kept in 'draws' (as None); 'mean' is None when none is finite."""
    vals = [None if v is None or not np.isfinite(v) else float(v) for v in values]
    ok = np.array([v for v in vals if v is not None], np.float64)
    n = int(ok.size)
    mean = float(ok.mean()) if n else None
    ci = float(stats.t.ppf(0.5 + level / 2, n - 1) * ok.std(ddof=1) / np.sqrt(n)) if n >= 2 else None
    return {"mean": mean, "ci": ci, "n": n, "draws": vals}


def guided_samples(score, gm: GaussianMixture, smp: Sampler, *, key, observers: dict | None = None):
    """The reverse sampler of [sampler] with `score`: smp.n particles from N(0, σ_max² I) (key split
    into prior and sampler noise), down smp.grid(); returns integrate.sample's result."""
    k0, k1 = jax.random.split(key)
    grid = jnp.asarray(smp.grid(), gm.means.dtype)
    x0 = prior(k0, smp.n, gm.dim, smp.sigma_max, dtype=gm.means.dtype)
    return sample(score, x0, grid, key=k1, solver=smp.solver, observers=observers or {})


def guided_cell(build, gm: GaussianMixture, targets: int, smp: Sampler, *, key, observe: bool = False) -> dict:
    """One guidance sweep cell, traceable (sweeps/guidance.py vmaps it over cells): smp.n particles
    guided towards each class c = 0 … targets−1 (vmapped over the traced label: one program), the run
    towards c from `guided_samples` with key fold_in(key, 1 + c). build(c): the guided score towards
    c; gm and the numbers `build` closes over may be traced. Returns {'x': [targets, smp.n, D],
    'posterior': [targets, S] the mean P(c | x_σ) at each of the S sampler steps when `observe`, else [targets]
    zeros}."""

    def towards(c):
        obs = {"posterior": Mean(ClassPosterior(gm, c))} if observe else {}
        out = guided_samples(build(c), gm, smp, key=jax.random.fold_in(key, 1 + c), observers=obs)
        return out.x, out.observations.get("posterior", jnp.zeros(()))

    x, post = jax.vmap(towards)(jnp.arange(targets, dtype=jnp.int32))
    return {"x": x, "posterior": post}


def guided_run(score, gm: GaussianMixture, label: int, smp: Sampler, *, key, observe: bool = False) -> dict:
    """Sample `smp.n` particles with `score`, return distortion_summary(x, gm, label) plus, when
    `observe`, 'sigma_speciation' (metrics.guidance.speciation_sigma) and the mean class-posterior
    curve ('posterior', with its 'sigmas')."""
    obs = {"posterior": Mean(ClassPosterior(gm, label))} if observe else {}
    out = guided_samples(score, gm, smp, key=key, observers=obs)
    res = distortion_summary(out.x, gm, label)
    if observe:
        post = np.asarray(out.observations["posterior"], np.float64)
        res["sigma_speciation"] = speciation_sigma(out.sigmas, post, prior=float(gm.weights[label]))
        res["posterior"], res["sigmas"] = post, np.asarray(out.sigmas, np.float64)
    if not np.all(np.isfinite(np.asarray(out.x))):
        bad = float(np.mean(~np.isfinite(np.asarray(out.x)).all(axis=-1)))
        raise RunFailed(f"guided sampling: {100 * bad:.0f} % of the samples are non-finite (guidance too strong "
                        "for the σ grid: lower the guidance weight or add steps)")
    return res


def guided_runs(build, gm: GaussianMixture, targets: int, smp: Sampler, *, key, observe: bool = False) -> dict:
    """`guided_run` towards classes 0 … targets−1 with smp.n // targets particles each (the label is
    traced: one compilation); every metric averaged over the targets, with '<metric>_spread' =
    (max − min)/2 across them; `build(label)` returns the guided score towards `label`."""
    each = smp.model_copy(update={"n": max(16, smp.n // targets)})
    runs = [guided_run(build(c), gm, c, each, key=jax.random.fold_in(key, c), observe=observe) for c in range(targets)]
    out = {}
    for k in runs[0]:
        vals = [r[k] for r in runs]
        if k == "sigmas":
            out[k] = vals[0]
        elif k == "sigma_speciation":
            out[k] = None if any(v is None for v in vals) else float(np.mean(vals))
        elif k == "posterior":
            out[k] = np.mean(vals, axis=0)
        else:
            out[k] = float(np.mean(vals))
            out[k + "_spread"] = float(np.max(vals) - np.min(vals)) / 2
    return out


def interpolate_at(target: float, xs, ys) -> float | None:
    """The value of ys where xs (monotone in the grid order, up to noise) reaches `target`, by linear
    interpolation between the first bracketing pair; None when no pair brackets it."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    for i in range(len(xs) - 1):
        a, b = xs[i], xs[i + 1]
        if (a - target) * (b - target) <= 0 and a != b:
            t = (target - a) / (b - a)
            return float(ys[i] + t * (ys[i + 1] - ys[i]))
    return None


def frontier_axis(ax, target: float, xlabel: str, ylabel: str, *, unit_line: bool) -> None:
    """Finish one panel of an accuracy–distortion frontier: the target accuracy dotted, the unguided
    variance ratio 1 as a grey line (`unit_line`), labels and grid."""
    ax.axvline(target, color="k", ls=":", lw=1)
    if unit_line:
        ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def heatmap(ax, xs, ys, z, *, xlabel: str, ylabel: str, title: str, fmt: str = "{:.2f}", cmap: str = "viridis"):
    """Annotated heat map of z [len(ys), len(xs)] on axes `ax` (categorical axes)."""
    z = np.asarray(z, np.float64)
    im = ax.imshow(z, origin="lower", aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], fontsize=7)
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys], fontsize=7)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if np.isfinite(z[i, j]):
                ax.text(j, i, fmt.format(z[i, j]), ha="center", va="center", fontsize=6, color="w")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    plt.colorbar(im, ax=ax, shrink=0.8)
    return im


def finite(v) -> float | None:
    """A float, or None for None / NaN / inf (for JSON)."""
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None

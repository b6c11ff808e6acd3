"""The guidance cell (issue 12; studies/guidance/): guided sampling of one class of an exact
class mixture, and how far the samples are from the true class.

Per cell: M Gaussian classes N(μ_k, std² I) in `dim` dimensions, μ_k ~ N(0, mean_std² I) drawn from
the cell's seed (ghostjax.guidance.class_mixture), M = n_classes, or round(e^{β dim}) when
n_classes = 0; a guided score towards class c for c = 0 … targets−1 (`schedule`: a family of
ghostjax.guidance.FAMILIES, its parameters the cell's numbers of the same names; strength `w`):
  constant      CFG s(x|c) + w (s(x|c) − s(x))
  linear        CFG with w(t) = w0 + w·t (OU time t = ½ log(1 + σ²))
  window        CFG with w_early = w for t > t_switch, w_late below (negative-guidance window)
  power_law     s(x|c) + w (‖Δ‖/√d)^alpha Δ, Δ = s(x|c) − s(x)
  autoguidance  s_weak + w (s(x|c) − s_weak), the weak model's class stds × factor
sampled with the [sampler] table of the guidance studies (studies.guidance.common.Sampler:
sampler.n particles per target class from N(0, σ_max² I) down the EDM grid). Metrics
(metrics.guidance.distortion_summary, averaged over the targets; *_spread = (max − min)/2 over them):
overshoot, shift_in_std, perp_shift (mean distortion along / orthogonal to the class-mean direction),
var_par, var_perp, var_avg (guided over true within-class variance), pr, pr_true, pr_ratio
(participation ratio), accuracy (exact posterior at σ = 0 picks c); with `observe`,
sigma_speciation (metrics.guidance.speciation_sigma) and the posterior curve.

Cells with equal (dim, M, schedule, targets, sampler, observe) run as one compiled program vmapped
over their numbers (seed, w, w0, w_late, t_switch, alpha, factor, classes.mean_std, classes.std):
a new w or seed never recompiles. Keys from the seed alone: PRNGKey(seed), fold_in 0: the class
means, fold_in 1 + c: the run towards class c (studies.guidance.common.guided_cell: split into prior
and sampler noise as its guided_run does, so a cell's samples are the studies' for the same key).
"""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np
from pydantic import Field, model_validator

from ..config import Section
from ..studies.guidance.common import Classes, Sampler, guided_cell
from ..guidance import FAMILIES, class_mixture
from ..metrics.guidance import distortion_summary, speciation_sigma
from ..mixtures import GaussianMixture
from .kinds import BatchedKind

NUMERIC = ("seed", "w", "w0", "w_late", "t_switch", "alpha", "factor", "mean_std", "std")
METRICS = ("overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr", "pr_true", "pr_ratio",
           "accuracy")
SPREAD = ("overshoot", "var_par", "accuracy")


class GuidanceCell(Section):
    dim: int = Field(32, ge=2)
    n_classes: int = Field(0, ge=0)        # M; 0: M = max(2, round(e^{β dim}))
    beta: float = Field(0.025, ge=0, lt=0.5)
    schedule: Literal[tuple(FAMILIES)] = "constant"  # type: ignore[valid-type]
    w: float = Field(2.0, ge=-1)           # the strength: CFG w, window w_early, linear ω, power-law ω, autoguidance w
    w0: float = -1.0                       # linear: w(t) = w0 + w t
    w_late: float = Field(-1.0, lt=0)      # window: w for t ≤ t_switch
    t_switch: float = Field(1.0, gt=0)     # window: OU time of the switch (σ = √(e^{2t} − 1))
    alpha: float = Field(0.5, ge=-1)       # power law exponent
    factor: float = Field(2.0, gt=0)       # autoguidance: weak model's class stds × factor
    targets: int = Field(1, ge=1)          # guide towards classes 0 … targets−1, sampler.n particles each
    seed: int = Field(0, ge=0, lt=2**31)
    observe: bool = False                  # mean P(c | x_σ) along the trajectory -> sigma_speciation
    sampler: Sampler = Sampler(n=512, steps=128)
    classes: Classes = Classes()

    @model_validator(mode="after")
    def _rules(self):
        m = self.count()
        if m > self.classes.max_classes:
            raise ValueError(f"n_classes: M = {m} at dim {self.dim} exceeds classes.max_classes ({self.classes.max_classes})")
        if self.n_classes == 1:
            raise ValueError("n_classes: need at least 2 classes (0: from beta)")
        if self.targets > m:
            raise ValueError(f"targets: at most M = {m}")
        return self

    def count(self) -> int:
        """M: n_classes, or max(2, round(e^{β dim}))."""
        return self.classes.count(self.dim, self.beta, self.n_classes or None)


def cell_fn(static: tuple):
    """The per-cell computation for static settings (dim, M, schedule, targets, sampler, observe):
    the class mixture from the cell's seed (fold_in 0; means × mean_std, stds × std, traced), then
    the guidance studies' cell (studies.guidance.common.guided_cell) towards classes 0 … targets−1,
    guided by the family `schedule` of ghostjax.guidance.FAMILIES with its parameters taken from
    the cell's numbers of the same names (traced)."""
    dim, m, name, targets, smp, observe = static
    family = FAMILIES[name]
    fixed = [k for k in family.model_fields if k != "kind"]

    def cell(p: dict) -> dict:
        key = jax.random.PRNGKey(p["seed"])
        unit = class_mixture(dim, key=jax.random.fold_in(key, 0), n_classes=m)  # means ~ N(0, I), stds 1
        gm = GaussianMixture(unit.means * p["mean_std"], unit.weights, unit.stds * p["std"])  # traced scales
        guide = family.model_construct(**{k: p[k] for k in fixed})
        out = guided_cell(lambda c: guide.score(gm, c, p["w"]), gm, targets, smp, key=key, observe=observe)
        return {**out, "means": gm.means, "weights": gm.weights, "stds": gm.stds}

    return cell


def summarize(out: dict, i: int, static: tuple) -> tuple[dict, dict]:
    """Metrics row and curves of cell i of a batch output (host arrays)."""
    dim, m, _, targets, smp, observe = static
    gm = GaussianMixture(out["means"][i], out["weights"][i], out["stds"][i])
    x = out["x"][i]
    row = {"n_classes_used": m, "beta_eff": float(np.log(m) / dim), "non_finite": int(np.sum(~np.isfinite(x)))}
    if row["non_finite"]:  # guidance too strong for the grid: no metrics
        return {**row, **dict.fromkeys(METRICS + tuple(k + "_spread" for k in SPREAD) + ("sigma_speciation",))}, {}
    runs = [distortion_summary(x[c], gm, c) for c in range(targets)]
    for k in METRICS:
        row[k] = float(np.mean([r[k] for r in runs]))
    for k in SPREAD:
        vals = [r[k] for r in runs]
        row[k + "_spread"] = float(np.max(vals) - np.min(vals)) / 2
    curves = {}
    if observe:
        s = np.asarray(smp.grid()[:-1], np.float64)
        post = np.asarray(out["posterior"][i], np.float64)  # [targets, steps]
        spec = [speciation_sigma(s, post[c], prior=float(gm.weights[c])) for c in range(targets)]
        row["sigma_speciation"] = None if any(v is None for v in spec) else float(np.mean(spec))
        curves = {"sigma": s.tolist(), "posterior": post.mean(0).tolist()}
    else:
        row["sigma_speciation"] = None
    return row, curves


class GuidanceKind(BatchedKind):
    name = "guidance"
    schema = GuidanceCell
    numeric = NUMERIC
    metrics = ("n_classes_used", "beta_eff", "non_finite") + METRICS + tuple(k + "_spread" for k in SPREAD) + (
        "sigma_speciation",)
    figure_metrics = ("overshoot", "var_par", "var_perp", "pr_ratio", "accuracy")

    def static_key(self, s: GuidanceCell) -> tuple:
        """Shapes and structure: cells with equal keys share one compiled program."""
        return (s.dim, s.count(), s.schedule, s.targets, s.sampler, s.observe)

    def cost(self, s: GuidanceCell) -> int:
        return s.targets * s.sampler.n * s.dim

    def value(self, s: GuidanceCell, k: str):
        return getattr(s.classes, k) if k in ("mean_std", "std") else getattr(s, k)

    def cell_fn(self, static: tuple, mesh):
        return cell_fn(static)

    def summarize(self, out: dict, i: int, static: tuple) -> tuple[dict, dict]:
        return summarize(out, i, static)

    def compile_label(self, static: tuple) -> str:
        return f"dim={static[0]},M={static[1]},{static[2]}"


KIND = GuidanceKind()

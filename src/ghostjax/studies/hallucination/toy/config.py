"""The hallucination study's config: one pydantic section per TOML table.

`study = "hallucination"` and `task` pick what runs:
  basic         train on each data set (× block variant), sample, census split, detector, ROC
  recursive     G generations, each trained from scratch on the previous one's samples, per rule
  gap           hallucination vs mode gap (in stds) and number of modes, 1-D, equal budget
  architecture  network variants (width, depth, steps, Fourier input, exact-score regression)
  ghosts        the detector on the ghost samples of factorized scores (opposite corners)
`model.recipe` picks whose code the networks and their training follow: "ours" (the default: the
recorded runs) or "aithal" (the authors' public code: nets.RECIPES says what each changes).
Tables: `[[data]]` (one or more data sets), `[model]`, `[loss]` (losses.Loss), `[optim]`
(training.Optim), `[train]` (training.Train and sigma_range), `[eval]` (sampler, detector, census),
`[recursive]`, `[sweep]`. A table is read over the study's defaults (the Config fields' defaults):
Aithal et al.'s settings except the budgets (steps, batch, sample counts), which are the CPU ones;
configs/*_gpu.toml hold the paper's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import Field

from ....config import RunName, Section
from ....losses import Loss
from ....metrics.census import DEFAULT_TAIL
from ....metrics.hallucination import WINDOW_STATS
from ....nets.aithal import AITHAL_DDPM
from ....training import Optim, Train
from ..selection import RULE_NAMES

TASKS = ("basic", "recursive", "gap", "architecture", "ghosts")
DATA_KINDS = ("line", "gaussian25", "gaussian25_rotated", "corners")
NET_KINDS = ("aithal", "fourier_aithal", "factorized", "joint")
RECIPE_NAMES = ("ours", "aithal")  # nets.RECIPES
RULES = RULE_NAMES  # the shared selection rules (../selection.py)
Positive = Annotated[float, Field(gt=0)]


class Data(Section):
    """One data set: a mixture and a fixed training sample of it (equal counts per mode)."""

    kind: Literal[DATA_KINDS] = "line"  # type: ignore[valid-type]
    positions: tuple[float, ...] = (1.0, 2.0, 3.0)  # line: the 1-D mode positions
    gap: float | None = Field(None, gt=0)           # line: if set, modes `gap` stds apart centred on mean(positions)
    n_modes: int | None = Field(None, ge=2)         # line with gap: the number of modes (default len(positions))
    std: float = Field(0.05, gt=0)                  # mode std before normalisation
    dim: int = Field(3, ge=1, le=16)                # corners: dimension (modes at ±(1,…,1))
    n_train: int = Field(20000, ge=1)               # size of the fixed training set
    seed: int = Field(1234, ge=0)                   # draws the training set

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Data:
        if self.kind == "line" and len(self.positions) < 2:
            raise ValueError("positions: a line needs at least 2 modes")
        if self.kind == "line" and len(set(self.positions)) != len(self.positions):
            raise ValueError(f"positions: must be distinct, got {list(self.positions)}")
        if self.n_modes is not None and self.gap is None:
            raise ValueError("n_modes: only with gap (the spacing of the modes, in stds)")
        if self.gap is not None and self.kind != "line":
            raise ValueError(f"gap: only for kind = 'line', got {self.kind!r}")
        return self

    def line_positions(self) -> tuple[float, ...]:
        """The 1-D mode positions: `positions`, or with `gap`, K = n_modes (default len(positions))
        modes spaced gap·std apart and centred on mean(positions)."""
        if self.gap is None:
            return self.positions
        k = self.n_modes or len(self.positions)
        centre = sum(self.positions) / len(self.positions)
        return tuple(centre + (n - (k - 1) / 2) * self.gap * self.std for n in range(k))


class Model(Section):
    """The networks. `recipe`: "ours" (equinox's initialisation, biases in the block linears, the
    ¼ ln σ embedding, batches drawn with replacement) or "aithal" (their code: Xavier-uniform weights
    and zero biases, no block biases, their step-index embedding and t_proj, the fixed training set
    walked in consecutive blocks; with t_proj = true, train.sigma_range = "all" and their DDPM grid,
    which Config checks)."""

    recipe: Literal[RECIPE_NAMES] = "ours"  # type: ignore[valid-type]
    kind: Literal[NET_KINDS] = "aithal"  # type: ignore[valid-type]
    width: int = Field(128, ge=1)
    depth: int = Field(3, ge=1)
    embed_dim: int = Field(128, ge=2, multiple_of=2)
    blocks: tuple[Literal["shared", "independent"], ...] = ("shared",)  # AithalMLP variants to train
    fourier_features: int = Field(32, ge=1)   # fourier_aithal: random features sin/cos(2π B x)
    fourier_scale: float = Field(1.0, gt=0)   # std of B (cycles per unit of the network input)
    t_proj: bool = False                      # aithal: Linear + LeakyReLU on the embedding first (their code)

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Model:
        if not self.blocks or len(set(self.blocks)) != len(self.blocks):
            raise ValueError(f"blocks: name each variant once, at least one, got {list(self.blocks)}")
        return self


class HallucinationTrain(Train):
    """training.Train (checkpoint_every: the period of every network's checkpoints in the run
    directory's cells/<network>/checkpoints, or a sweep cell's), and the
    σ levels trained on: "all", or "sampler": only the σ_t ≤ eval.sigma_cap the sampler visits."""

    sigma_range: Literal["all", "sampler"] = "all"


class Eval(Section):
    n_samples: int = Field(20000, ge=1)       # samples drawn from each trained score
    sigma_cap: float = Field(1e4, gt=1)       # skip the DDPM steps with σ_t above this (ᾱ_t < 1/σ_cap²)
    window: int = Field(10, ge=2)             # detector: the last `window` predicted x0
    window_max: int = Field(100, ge=2)        # window study: the last `window_max` predicted x0 kept
    stat: Literal[tuple(WINDOW_STATS)] = "var"  # type: ignore[valid-type]
    retention: float = Field(0.96, gt=0, le=1)
    extra_fraction: float = Field(0.025, ge=0, le=1)  # selection rule: draw n(1 + m), keep the n lowest
    tail: float = Field(DEFAULT_TAIL, gt=0, lt=1)     # census: an exact sample is real with prob. 1 − tail
    exact: bool = True                        # also sample the exact score through the same sampler
    seed: int = Field(4321, ge=0)
    convergence_samples: int = Field(2000, ge=0)  # per snapshot at 0.8T, 0.9T, T (metrics.convergence); 0: off

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Eval:
        if self.window > self.window_max:
            raise ValueError(f"window: must be <= window_max ({self.window_max}), got {self.window}")
        return self


class Recursive(Section):
    generations: int = Field(5, ge=1)
    rules: tuple[Literal[RULES], ...] = RULES  # type: ignore[valid-type]
    n_keep: int = Field(0, ge=0)              # samples per generation; 0: the data set's n_train

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Recursive:
        if not self.rules or len(set(self.rules)) != len(self.rules):
            raise ValueError(f"rules: name each rule once, at least one, got {list(self.rules)}")
        return self


class Variant(Section):
    """One network of the architecture task: unset values come from [model] / [train] / [loss]."""

    name: RunName
    kind: Literal[NET_KINDS] | None = None  # type: ignore[valid-type]
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=1)
    blocks: Literal["shared", "independent"] | None = None
    t_proj: bool | None = None
    steps: int | None = Field(None, ge=1)
    target: Literal["dsm", "exact"] | None = None      # exact: regression on the mixture's exact score
    source: Literal["fixed", "mixture"] = "fixed"      # fixed training set, or fresh mixture draws

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Variant:
        if self.target == "exact" and self.source != "mixture":
            raise ValueError("source: regression on the exact score (target = 'exact') needs source = 'mixture'")
        return self


class Sweep(Section):
    gaps: tuple[Positive, ...] = (6.0, 10.0, 20.0)   # gap task: distance between adjacent modes, in stds
    n_modes: tuple[Annotated[int, Field(ge=2)], ...] = (2, 3, 5)
    variants: tuple[Variant, ...] = ()                 # architecture task
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = ()  # training seeds (empty: train.seed): basic, architecture, recursive

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Sweep:
        if len(set(self.seeds)) != len(self.seeds):  # a repeated seed would reuse the first one's networks
            raise ValueError(f"seeds: name each training seed once, got {list(self.seeds)}")
        return self


class Config(Section):
    study: Literal["hallucination"] = "hallucination"
    name: RunName = "hallucination"
    task: Literal[TASKS] = "basic"  # type: ignore[valid-type]
    data: tuple[Data, ...] = (Data(),)
    model: Model = Model()
    loss: Loss = Loss.ddpm(0.001, 0.2)
    optim: Optim = Optim(name="adam", lr=1e-3, warmup=0, final_lr_frac=1.0, clip=0.0, ema_decay=0.0)
    train: HallucinationTrain = HallucinationTrain(steps=4000, batch=1024, steps_per_call=250)  # the paper: batch 10,000
    eval: Eval = Eval()
    recursive: Recursive = Recursive()
    sweep: Sweep = Sweep()

    def training_seeds(self) -> tuple[int, ...]:
        """The training seeds of the run: sweep.seeds, or (train.seed,) when it is empty. The basic
        task trains one network per seed, the recursive task one chain of generations per seed."""
        return self.sweep.seeds or (self.train.seed,)

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Config:
        if not self.data:
            raise ValueError("data: give at least one [[data]] table")
        if self.loss.sigma_dist != "ddpm":
            raise ValueError(f"loss.sigma_dist: the DDPM sampler needs 'ddpm', got {self.loss.sigma_dist!r}")
        if self.task == "ghosts" and any(d.kind != "corners" for d in self.data):
            raise ValueError("data.kind: the ghosts task needs 'corners' data")
        if self.task != "ghosts" and any(d.kind == "corners" for d in self.data):
            raise ValueError(f"data.kind: 'corners' is for the ghosts task, not {self.task!r}")
        if self.task == "gap" and any(d.kind != "line" for d in self.data):
            raise ValueError("data.kind: the gap task builds 1-D lines; use kind = 'line'")
        if self.task == "architecture" and not self.sweep.variants:
            raise ValueError("sweep.variants: the architecture task needs at least one [[sweep.variants]]")
        names = [v.name for v in self.sweep.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"sweep.variants: repeated name in {names}")
        if self.model.recipe == "aithal":
            self._aithal_rules()
        return self

    def _aithal_rules(self) -> None:
        """model.recipe = "aithal" is their network and training: what it does not set itself must
        be set as theirs (ValueError naming the key otherwise)."""
        kinds = {self.model.kind} | {v.kind for v in self.sweep.variants if v.kind is not None}
        if kinds != {"aithal"}:
            raise ValueError(f"model.recipe: 'aithal' builds kind 'aithal' networks only, got {sorted(kinds)}")
        if not self.model.t_proj or any(v.t_proj is False for v in self.sweep.variants):
            raise ValueError("model.t_proj: the 'aithal' recipe is their network, which has t_proj; set t_proj = true")
        if self.train.sigma_range != "all":
            raise ValueError("train.sigma_range: the 'aithal' recipe trains on all DDPM levels as their code does; "
                             "set sigma_range = \"all\"")
        rows = [d.n_train for d in self.data] + ([self.recursive.n_keep] if self.recursive.n_keep else [])
        if self.train.batch > min(rows):
            raise ValueError(f"train.batch: the 'aithal' recipe walks each training set in blocks of `batch` rows; "
                             f"must be <= its smallest size {min(rows)}, got {self.train.batch}")
        grid = (self.loss.ddpm_T, self.loss.ddpm_beta_start, self.loss.ddpm_beta_end)
        if grid != AITHAL_DDPM:
            raise ValueError(f"loss: the 'aithal' recipe embeds their DDPM step index, on their grid "
                             f"(ddpm_T, ddpm_beta_start, ddpm_beta_end) = {AITHAL_DDPM}, got {grid}")

"""The shapes study's config: one pydantic section per TOML table.

`study = "shapes"` and `task` pick what runs:
  basic      train one network on Simple Shapes, sample it, classify the samples, run the detector
  recursive  G generations, each trained from scratch on n images drawn from the previous one and
             kept by a selection rule (recursive.py)
Tables: `[data]` (Simple Shapes size, count, seed), `[model]` (the score network:
a UNet by default; any kind of nets.NETS, taking the hyperparameters it accepts), `[loss]`
(losses.Loss, DDPM ε-prediction), `[optim]` (training.Optim), `[train]` (training.Train), `[eval]`
(sampler and detector), `[classify]` (the hallucination classifier), `[recursive]` (the recursive
task). A table is read over the
study's defaults (the Config fields' defaults below). Defaults are the CPU budget (32×32);
configs/shapes_gpu.toml holds the paper-scale 64×64 settings.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import Field

from ....config import RunName, Section
from ....losses import Loss
from ....metrics.hallucination import WINDOW_STATS
from ....nets import NETS
from ....training import Optim, Train
from ..selection import RULE_NAMES


class Data(Section):
    size: Literal[32, 64] = 32                # 64: Aithal et al.'s images; 32: the half-scale variant
    n_train: int = Field(5000, ge=1)          # their data set: 5,000 images
    seed: int = Field(0, ge=0)


class Model(Section):
    """The score network: `kind` names a class of nets.NETS; every other field is passed to it when
    its constructor takes an argument of that name (image_size is the data's size)."""

    kind: str = "unet"
    base_channels: int = Field(32, ge=1)
    channel_mult: tuple[int, ...] = (1, 2)
    blocks_per_level: int = Field(1, ge=1)
    groups: int = Field(8, ge=1)
    embed_dim: int = Field(128, ge=2, multiple_of=2)
    width: int = Field(256, ge=1)             # MLP kinds
    depth: int = Field(3, ge=1)               # MLP kinds
    precond: Literal["eps"] = "eps"           # DDPM ε-prediction

    @pydantic.field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in NETS:
            raise ValueError(f"expected one of {', '.join(NETS)}, got {v!r}")
        return v

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Model:
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ValueError(f"channel_mult: positive multipliers, at least one, got {list(self.channel_mult)}")
        return self


class Eval(Section):
    n_samples: int = Field(512, ge=1)         # images drawn from the trained network
    batch: int = Field(256, ge=1)             # images per sampler call (one compilation)
    steps: int = Field(100, ge=0)             # respaced DDPM levels (0: every level of [loss])
    tail: int = Field(0, ge=0)                # of those, the last `tail` are the original t = tail … 1
    sigma_cap: float = Field(1e4, gt=1)       # skip levels with σ_t above this
    window: int = Field(10, ge=2)             # detector: the last `window` predicted x̂0
    window_max: int = Field(0, ge=0)          # window study: keep the last window_max x̂0 (0: no study)
    stat: Literal[tuple(WINDOW_STATS)] = "var"  # type: ignore[valid-type]
    retention: float = Field(0.96, gt=0, le=1)
    extra_fraction: float = Field(0.025, ge=0, le=1)
    confidence: float = Field(0.95, gt=0, lt=1)  # of the binomial interval of the hallucination rate
    grid: int = Field(64, ge=1)               # samples shown in the grid figure
    seed: int = Field(4321, ge=0)


class Classify(Section):
    threshold: float = 0.0                    # binarise at this value of the [−1, 1] scale
    min_iou: float = Field(0.8, gt=0, le=1)   # a blob is a shape when its IoU with it is at least this


class Recursive(Section):
    """The recursive task: `generations` networks per rule (generation 0, on the Simple Shapes set, is
    shared by the rules); each generation draws n_keep + round(n_keep · eval.extra_fraction) images
    and keeps n_keep of them by the rule (studies/hallucination/selection.py) to train the next."""

    generations: int = Field(5, ge=2)
    rules: tuple[Literal[RULE_NAMES], ...] = ("random", "variance")  # type: ignore[valid-type]
    n_keep: int = Field(0, ge=0)              # images kept per generation; 0: data.n_train

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Recursive:
        if not self.rules or len(set(self.rules)) != len(self.rules):
            raise ValueError(f"rules: name each rule once, at least one, got {list(self.rules)}")
        return self


class Config(Section):
    study: Literal["shapes"] = "shapes"
    name: RunName = "shapes"
    task: Literal["basic", "recursive"] = "basic"
    data: Data = Data()
    model: Model = Model()
    loss: Loss = Loss.ddpm(1e-4, 0.02)
    optim: Optim = Optim(name="adam", lr=1e-3, warmup=100, final_lr_frac=0.1, clip=1.0, ema_decay=0.995)
    train: Train = Train(steps=3000, batch=32, steps_per_call=50)
    eval: Eval = Eval()
    classify: Classify = Classify()
    recursive: Recursive = Recursive()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Config:
        if self.loss.sigma_dist != "ddpm":
            raise ValueError(f"loss.sigma_dist: the DDPM sampler needs 'ddpm', got {self.loss.sigma_dist!r}")
        if self.eval.steps == 1:
            raise ValueError("eval.steps: 0 (every level) or at least 2")
        if self.eval.steps and self.eval.window > self.eval.steps:
            raise ValueError(f"eval.window: must be <= eval.steps ({self.eval.steps}), got {self.eval.window}")
        if self.eval.steps and self.eval.tail >= self.eval.steps:
            raise ValueError(f"eval.tail: must be < eval.steps ({self.eval.steps}), got {self.eval.tail}")
        if self.eval.window_max and self.eval.window_max < self.eval.window:
            raise ValueError(f"eval.window_max: 0 (no window study) or >= eval.window ({self.eval.window}), "
                             f"got {self.eval.window_max}")
        if self.eval.steps and self.eval.window_max > self.eval.steps:
            raise ValueError(f"eval.window_max: must be <= eval.steps ({self.eval.steps}), got {self.eval.window_max}")
        return self

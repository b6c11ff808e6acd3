"""The learned-score study's config: one pydantic section per TOML table.

`[data]` the opposite-corner mixture, `[model]` the networks (names from nets.NETS, EMBEDDINGS,
PRECONDS), `[loss]` losses.Loss, `[optim]` training.Optim, `[train]` training.Train, `[sweep]` lists
that multiply the cells, `[eval]` the sampler (solvers.Solver objects, a processes.Grid) and the
census. Every rule is checked here, once; network names become classes where the study builds its
objects (run.py, evaluate.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import Field

from ....config import Section
from ....losses import Loss
from ....metrics.census import DEFAULT_TAIL
from ....nets import EMBEDDINGS, FACTORIZED_MODES, NETS, PRECONDS
from ....processes import EDMGrid, Grid
from ....solvers import EulerMaruyama, OdeEuler, Solver
from ....training import Optim, Train

Dim = Annotated[int, Field(ge=1, le=30)]


class Data(Section):
    dim: Dim = 8
    std: float = Field(0.3, gt=0)                # width of one mode (the seeds' σ_data)
    weight: float = Field(0.5, gt=0, lt=1)


class Model(Section):
    kinds: tuple[Literal[tuple(NETS)], ...] = ("joint", "factorized")  # type: ignore[valid-type]
    width: int = Field(64, ge=1)
    depth: int = Field(2, ge=1)
    embed_dim: int = Field(16, ge=2, multiple_of=2)
    embed: Literal[tuple(EMBEDDINGS)] = "sinusoidal"  # type: ignore[valid-type]
    precond: Literal[tuple(PRECONDS)] = "edm"  # type: ignore[valid-type]
    factorized_mode: Literal[FACTORIZED_MODES] = "shared"  # type: ignore[valid-type]
    coord_dim: int = Field(8, ge=1)
    pool_dim: int = Field(16, ge=1)
    per_position_width: int = Field(32, ge=1)    # width of factorized/pooled per-position MLPs

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Model:
        if not self.kinds:
            raise ValueError("kinds: must name at least one network")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds: repeated network kind in {list(self.kinds)}")
        return self


class Sweep(Section):
    """Empty lists mean the single value from data.dim, loss.band_factor, train.seed."""

    dims: tuple[Dim, ...] = ()
    band_factors: tuple[Annotated[float, Field(gt=0)], ...] = ()
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = ()


class Eval(Section):
    n_samples: int = Field(4000, ge=1)
    n_steps: int = Field(100, ge=1)
    method: Solver = EulerMaruyama()              # the sampler of the census
    grid: Grid = EDMGrid()
    sigma_max: float = Field(80.0, gt=0)
    sigma_min: float = Field(2e-3, gt=0)
    gap_method: Solver = OdeEuler()               # the sampler of the trajectory gap
    tail: float = Field(DEFAULT_TAIL, gt=0, lt=1)  # census: an exact sample is real with prob. 1 − tail
    n_score: int = Field(1024, ge=1)
    score_sigmas: int = Field(16, ge=2)
    seed: int = Field(12345, ge=0)

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Eval:
        if self.sigma_min >= self.sigma_max:
            raise ValueError(f"sigma_min: must be < sigma_max ({self.sigma_max}), got {self.sigma_min}")
        return self


def check_band(loss: Loss, data: Data) -> None:
    """The loss band resolved for the data's mode width must be non-empty (ValueError 'loss.…')."""
    try:
        loss.band(data.std)
    except ValueError as e:
        raise ValueError(f"loss.{e}") from None


class Config(Section):
    study: Literal["learned"] = "learned"        # the registry's name (a config without it is this study)
    name: str = "quickstart"
    data: Data = Data()
    model: Model = Model()
    loss: Loss = Loss()
    optim: Optim = Optim()
    train: Train = Train()
    sweep: Sweep = Sweep()
    eval: Eval = Eval()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Config:
        if not self.name or any(c in self.name for c in "/\\") or self.name.startswith("."):
            raise ValueError(f"name: must be a plain folder name, got {self.name!r}")
        check_band(self.loss, self.data)
        return self

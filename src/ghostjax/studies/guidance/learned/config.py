"""Config of the learned-guidance study (`study = "guidance_learned"`).

Top level: the class mixture (dim, n_classes, [classes]; the mean scale from classes.accuracy_0 at
classes.accuracy_at = [dim, n_classes] by default), the label dropout p_uncond, the guidance
scans (constant_ws; window_w_early scanned for each window_w_late at window_t_switch), the target
accuracy where schedules are compared, the guided sampler ([sampler]), and the network ([model]),
loss ([loss], losses.Loss), optimiser ([optim], training.Optim) and training budget ([train],
training.Train with one network per seed in `seeds`).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ....config import RunName, Section
from ....losses import Loss
from ....training import Optim, Train
from ..._common import require
from ..common import Classes, Sampler


class Model(Section):
    """ConditionalMLP (nets.conditional): width, depth, noise/class embedding size, the std of the
    initial class embeddings."""

    width: int = Field(128, ge=1)
    depth: int = Field(3, ge=1)
    embed_dim: int = Field(32, ge=2, multiple_of=2)
    class_init: float = Field(1.0, gt=0)


class GuidanceTrain(Train):
    """training.Train with one network per seed in `seeds` (seeds give the spread of the rows; `seed`
    is not used), the sample count of the score-error table and the tolerance of the convergence
    check (run.is_flat: the loss drift over the last fifth of training, relative to the loss)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    score_error_n: int = Field(2048, ge=16)   # exact noised samples for the score-error table
    flat_tol: float = Field(0.002, gt=0)


class Config(Section):
    study: str = "guidance_learned"
    name: RunName = "guidance_learned"
    seed: int = 0                                     # the mixture (sampler noise: per training seed)
    sampler_seed: int = Field(0, ge=0)                # > 0: other sampler random numbers, same mixture and nets
    dim: int = Field(64, ge=2)
    n_classes: int = Field(64, ge=2)
    targets: int = Field(2, ge=1)                     # classes 0 … targets−1, sampler.n // targets particles each
    p_uncond: float = Field(0.15, gt=0, lt=1)         # label dropout probability
    target_accuracy: float = Field(0.95, gt=0, lt=1)
    constant_ws: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    window_w_early: tuple[float, ...] = (2.0, 4.0, 8.0, 12.0)
    window_w_late: tuple[float, ...] = (-0.5, -1.0)
    window_t_switch: float = Field(0.5, gt=0)         # OU time t = ½ ln(1 + σ²); 0.5 ↔ σ = 1.31
    score_error_sigmas: tuple[float, ...] = (0.05, 0.1, 0.3, 1.0, 3.0, 10.0)   # [] skips the score-error table
    classes: Classes = Classes(accuracy_0=0.95, accuracy_at=(64, 64))
    sampler: Sampler = Sampler()
    model: Model = Model()
    loss: Loss = Loss()
    optim: Optim = Optim(lr=3e-3, warmup=200)
    train: GuidanceTrain = GuidanceTrain(steps=6000, batch=512, steps_per_call=1000)

    @model_validator(mode="after")
    def _rules(self):
        require(self.study == "guidance_learned", f"study: expected 'guidance_learned', got {self.study!r}")
        require(self.n_classes <= self.classes.max_classes, "n_classes: exceeds classes.max_classes")
        require(self.targets <= self.n_classes, f"targets: at most n_classes = {self.n_classes}")
        for name in ("constant_ws", "window_w_early"):
            v = getattr(self, name)
            require(len(v) >= 2 and all(b > a for a, b in zip(v, v[1:])), f"{name}: need at least 2 ascending values")
        require(len(self.window_w_late) >= 1 and all(w < 0 for w in self.window_w_late),
                "window_w_late: the late window must be negative")
        require(len(self.train.seeds) >= 1 and len(set(self.train.seeds)) == len(self.train.seeds),
                "train.seeds: need at least one seed (two for an interval), all distinct")
        require(self.train.seed == 0, "train.seed: not used here; one network per seed in train.seeds")
        require(self.loss.target == "dsm", "loss.target: the conditional objective needs 'dsm'")
        require(all(s > 0 for s in self.score_error_sigmas), "score_error_sigmas: must be positive")
        return self

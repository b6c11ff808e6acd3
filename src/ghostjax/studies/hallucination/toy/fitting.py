"""Training one network of the study: training.fit on a fixed training set (or the mixture itself),
with the study's loss (DDPM σ_t, unweighted ε-MSE, or regression on the exact score; optionally only
the σ_t the sampler visits) and optimiser (Adam 1e-3, constant, no clipping, no EMA by default).
Batches: drawn with replacement from the training set, or (model.recipe = "aithal") its consecutive
blocks walked in order as Aithal et al.'s DataStreamer does (`WalkedBatches`).

With a runio.Workspace (`train(..., workspace=ws, name=...)`) each network keeps training.fit's
checkpoints in ws.checkpoints(name), continues from them on --resume (bitwise the parameters of an
uninterrupted run) and stops at ws.stop_after by raising `Stopped` (the study's run returns
Results(stopped_at=step))."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from ....data import EmpiricalData
from ....losses import Loss
from ....nets import AbstractScoreNet
from ....processes import linear_betas
from ....runio import Workspace
from ...base import Stopped
from ....training import AbstractStepData, ema_model, fit, step_seconds
from .config import Config
from .evaluate import ddpm_sigmas
from .nets import RECIPES


class _Block(eqx.Module):
    """One batch [B, D], returned whole by sample (the batch size must be B)."""

    x: Float[Array, "B D"]

    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "B D"]:
        del key
        if n != self.x.shape[0]:
            raise ValueError(f"batch: a walked block has {self.x.shape[0]} rows, asked for {n}")
        return self.x


class WalkedBatches(AbstractStepData):
    """Aithal et al.'s DataStreamer over a fixed set x [N, D]: num_batches = N // B consecutive
    blocks x[jB : (j+1)B], step s trains on block s mod num_batches (N = 20,000 at B = 10,000: the
    two fixed halves, in turn; the last N mod B rows are never seen, as in their code)."""

    data: EmpiricalData
    batch: int = eqx.field(static=True)

    def __init__(self, data: EmpiricalData, batch: int):
        if not 1 <= batch <= data.n:
            raise ValueError(f"batch: walking a training set of {data.n} rows needs 1 <= batch <= {data.n}, got {batch}")
        self.data, self.batch = data, int(batch)

    @property
    def num_batches(self) -> int:
        return self.data.n // self.batch

    def at_step(self, step: jax.Array) -> _Block:
        start = (step % self.num_batches) * self.batch
        return _Block(jax.lax.dynamic_slice_in_dim(self.data.x, start, self.batch, axis=0))

    def mode_std(self) -> jax.Array:
        return self.data.mode_std()

    def data_std(self) -> jax.Array:
        return self.data.data_std()


def train(cfg: Config, net: AbstractScoreNet, data, *, seed: int, steps: int | None = None,
          target: str | None = None, progress: bool = True, desc: str = "train",
          ckpt_dir: str | Path | None = None, resume: bool = False, meta: dict | None = None,
          snapshot_at: tuple[int, ...] = (), on_snapshot: Callable[[int, AbstractScoreNet], None] | None = None,
          workspace: Workspace | None = None, name: str = "") -> tuple[AbstractScoreNet, dict]:
    """Train `net` on `data` (an EmpiricalData, walked in blocks under model.recipe = "aithal", or a
    GaussianMixture for fresh draws / exact-score regression). Returns (the trained model, its EMA
    when optim.ema_decay > 0, and a small log).
    ckpt_dir / resume: training.fit's checkpoints (every train.checkpoint_every steps and at the end)
    and continuing from them (sweep cells use both). workspace / name: the same through a run's
    Workspace (its checkpoints(name), resume_training(name) and meta override ckpt_dir, resume and meta), and its stop_after: `Stopped` is
    raised once training stops there.
    snapshot_at / on_snapshot: on_snapshot(step, model) at each of these steps (the model as returned:
    the EMA when optim.ema_decay > 0), through fit's on_chunk at the end of a chunk (the steps must
    be chunk ends: multiples of train.steps_per_call or `steps`, as convergence.snapshot_steps gives);
    it reads the state and changes nothing, so the trained parameters are those of a run without it.
    Its time is logged as snapshot_s, apart from train_s (this call's seconds); steps_s: the seconds of
    the training steps alone over every session that trained the network (training.step_seconds of
    the history the checkpoints carry across resumes)."""
    steps = steps or cfg.train.steps
    loss = training_loss(cfg)
    loss = loss if target is None else loss.model_copy(update={"target": target})
    if RECIPES[cfg.model.recipe].walk_batches and isinstance(data, EmpiricalData):
        data = WalkedBatches(data, cfg.train.batch)
    at, spent = frozenset(snapshot_at), [0.0]

    def on_chunk(state):
        if on_snapshot is not None and int(state.step) in at:
            t = time.perf_counter()
            on_snapshot(int(state.step), ema_model(state) if cfg.optim.ema_decay > 0 else state.model)
            spent[0] += time.perf_counter() - t

    stop_after = None
    if workspace is not None:
        ckpt_dir, resume = workspace.checkpoints(name), workspace.resume_training(name)
        meta, stop_after = {**workspace.meta, "cell": name}, workspace.stop_after
    t0 = time.perf_counter()
    state, hist = fit(net, data, loss, cfg.optim, seed=seed, steps=steps, batch=cfg.train.batch,
                      steps_per_call=min(cfg.train.steps_per_call, steps), progress=progress, desc=desc,
                      ckpt_dir=ckpt_dir, resume=resume, checkpoint_every=cfg.train.checkpoint_every, meta=meta,
                      stop_after=stop_after, on_chunk=on_chunk if at else None)
    if int(state.step) < steps:
        raise Stopped(int(state.step), name or desc)
    model = ema_model(state) if cfg.optim.ema_decay > 0 else state.model
    log = {"steps": steps, "batch": cfg.train.batch, "target": loss.target,
           "train_s": round(time.perf_counter() - t0 - spent[0], 2), **({"snapshot_s": round(spent[0], 2)} if at else {}),
           "steps_s": round(step_seconds(hist), 2),
           "final_loss": hist[-1]["loss"], "loss_curve": [[h["step"], h["loss"]] for h in hist]}
    return model, log


def training_loss(cfg: Config) -> Loss:
    """[loss], with train.sigma_range = "sampler" restricted to the DDPM levels the sampler visits:
    t = 1 … t_max with σ_t ≤ eval.sigma_cap. The first t_max β of a linear schedule are themselves a
    linear schedule, so this is Loss(ddpm_T = t_max, ddpm_beta_end = β_{t_max}): the same σ_t, each
    drawn 1000/t_max times as often (the paper draws t uniformly in 1 … 1000, and for t > t_max,
    ᾱ_t < 1/σ_cap², the target is ε̂ = x)."""
    loss = cfg.loss
    if cfg.train.sigma_range == "all":
        return loss
    t_max = int(ddpm_sigmas(loss, cfg.eval.sigma_cap).shape[0])
    betas = linear_betas(loss.ddpm_T, loss.ddpm_beta_start, loss.ddpm_beta_end)
    return loss.model_copy(update={"ddpm_T": t_max, "ddpm_beta_end": float(betas[t_max - 1])})


def net_key(seed: int, salt: int = 7) -> jax.Array:
    """The initialisation key of a network trained with `seed`."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), salt)

"""Training loop: Adam/AdamW with clipping as one fused optax transformation (`fused_adam`), EMA,
several steps per jitted call (lax.scan), checkpoints.

Batches are drawn from fold_in(key, step), so the data seen at a step does not depend on how the
steps are grouped into calls; data that is an `AbstractStepData` gives each step's batch source
itself (`at_step(step)`: e.g. a fixed walk through consecutive blocks of a data set). Chunks end at
absolute multiples of `steps_per_call` (and at the last step), so an interrupted run resumed from
its checkpoint goes through the same compiled chunks as an uninterrupted one and ends with
bitwise-identical parameters on CPU.
Settings that only change values (seed, data means, the band factor) never recompile: the
optimiser is cached per `Optim` and the `Loss` settings are a hashable static argument.
"""

from __future__ import annotations

import abc
import functools
import time
from pathlib import Path
from typing import Callable, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from pydantic import Field

from . import checkpoints
from ._xla import BackendJit
from .config import RunFailed, Section
from .losses import Loss, loss_and_grad


class TrainingDiverged(RunFailed):
    """The loss became NaN or infinite; the last good checkpoint was kept (a config.RunFailed:
    entry points print its one line and exit 1)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during `fit`: the last completed step was checkpointed (when there is a checkpoint
    folder). A KeyboardInterrupt, so code that handles Ctrl-C still does; its one-line message is
    'interrupted at step N; resume with --resume' ('interrupted at step N' without a checkpoint),
    which config.cli_guard prints before exiting 130.

    step: the last completed step; checkpoint: the checkpoint folder holding it, or None."""

    def __init__(self, step: int, checkpoint: str | Path | None = None):
        self.step, self.checkpoint = int(step), checkpoint
        hint = "; resume with --resume" if checkpoint is not None else ""
        super().__init__(f"interrupted at step {self.step}{hint}")


class FusedAdamState(NamedTuple):
    """State of `fused_adam`: the update count and Adam's two moments as flat vectors [P] over all
    parameters (in jax.flatten_util.ravel_pytree order)."""

    count: jax.Array
    mu: jax.Array
    nu: jax.Array


def fused_adam(schedule: Callable, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, clip: float = 0.0) -> optax.GradientTransformation:
    """optax.chain(clip_by_global_norm(clip), adam(schedule, b1, b2, eps)) (adamw's decoupled weight
    decay when weight_decay > 0; no clipping when clip is 0) on one flat vector of all parameters.

    Same maths as the optax chain (tested equal to it); the moments live in one [P] vector, so the
    clip's norm, both moments, the bias corrections and the learning rate are one reduction and one
    elementwise pass instead of ~8 small per-leaf passes (AithalMLP has 35 leaves: ~300 small XLA
    kernels per step, which cost more than their arithmetic on XLA:CPU; benchmarks/README.md, bench_train).
    """

    def init(params):
        flat, _ = ravel_pytree(params)
        return FusedAdamState(jnp.zeros([], jnp.int32), jnp.zeros_like(flat), jnp.zeros_like(flat))

    def update(grads, state, params=None):
        g, unravel = ravel_pytree(grads)
        if clip > 0:  # optax.clip_by_global_norm
            norm = jnp.sqrt(jnp.sum(g * g))
            g = jax.lax.select(norm < clip, g, (g / norm) * clip)
        mu = (1 - b1) * g + b1 * state.mu
        nu = (1 - b2) * (g * g) + b2 * state.nu
        count_inc = optax.safe_increment(state.count)
        t = count_inc.astype(mu.dtype)  # optax's decay ** count, with the int32 count promoted as it does
        mu_hat = mu / (1 - jnp.power(jnp.asarray(b1, mu.dtype), t))
        nu_hat = nu / (1 - jnp.power(jnp.asarray(b2, nu.dtype), t))
        u = mu_hat / (jnp.sqrt(nu_hat) + eps)
        if weight_decay > 0:
            if params is None:
                raise ValueError("fused_adam: weight decay needs the parameters")
            u = u + weight_decay * ravel_pytree(params)[0]
        u = -jnp.asarray(schedule(state.count), u.dtype) * u
        return unravel(u), FusedAdamState(count_inc, mu, nu)

    return optax.GradientTransformation(init, update)


OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": lambda sched, o: fused_adam(sched, b1=o.b1, b2=o.b2, clip=o.clip),
    "adamw": lambda sched, o: fused_adam(sched, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay, clip=o.clip),
}
# The same optimisers as optax chains (the reference fused_adam is tested against).
OPTAX_OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": lambda sched, o: optax.adam(sched, b1=o.b1, b2=o.b2),
    "adamw": lambda sched, o: optax.adamw(sched, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay),
}


class Optim(Section):
    """Optimiser settings (the `[optim]` table): adam/adamw with linear warmup then cosine decay to
    lr·final_lr_frac over total_steps, global-norm clipping, an EMA of the parameters.
    Hashable: `make_optimizer` builds one optax chain per distinct Optim."""

    name: Literal[tuple(OPTIMIZERS)] = "adam"  # type: ignore[valid-type]
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(100, ge=0)
    total_steps: int = Field(0, ge=0)       # schedule length; 0: the run's number of steps
    final_lr_frac: float = Field(0.05, ge=0, le=1)
    clip: float = Field(1.0, ge=0)          # global-norm clip; 0 disables
    weight_decay: float = Field(1e-4, ge=0)  # adamw only
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    ema_decay: float = Field(0.999, ge=0, lt=1)

    def resolve(self, steps: int) -> Optim:
        """A copy whose schedule spans `steps` when total_steps is 0."""
        return self if self.total_steps else self.model_copy(update={"total_steps": int(steps)})


class Train(Section):
    """The training loop of a study that trains (the `[train]` table): `steps` optimiser steps of
    `batch` samples, `steps_per_call` of them per compiled call, a checkpoint every
    `checkpoint_every` steps, `seed` for the initialisation and the batches. Studies set their own
    defaults as the field's default (`train: Train = Train(steps=3000, batch=32)`; a [train] table
    is read over it, config.build) and subclass it for keys of their own."""

    steps: int = Field(2000, ge=1)
    batch: int = Field(256, ge=1)
    steps_per_call: int = Field(500, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0)


def schedule(spec: Optim) -> optax.Schedule:
    """The learning rate of `spec` by step: linear warmup, then cosine decay to lr·final_lr_frac."""
    if spec.total_steps < 1:
        raise ValueError("total_steps: must be >= 1 (Optim.resolve(steps) fills 0)")
    warm = max(min(spec.warmup, spec.total_steps - 1), 0)
    return optax.warmup_cosine_decay_schedule(
        0.0 if warm > 0 else spec.lr, spec.lr, warm, max(spec.total_steps, warm + 1),
        end_value=spec.lr * spec.final_lr_frac)


@functools.lru_cache(maxsize=64)
def make_optimizer(spec: Optim) -> optax.GradientTransformation:
    """The optimiser for `spec`, clipping included: `fused_adam` (cached: equal specs give the same
    object, so no recompilation)."""
    return OPTIMIZERS[spec.name](schedule(spec), spec)


def optax_optimizer(spec: Optim) -> optax.GradientTransformation:
    """`make_optimizer(spec)` as the plain optax chain (per-leaf state): the reference for tests."""
    opt = OPTAX_OPTIMIZERS[spec.name](schedule(spec), spec)
    return optax.chain(optax.clip_by_global_norm(spec.clip), opt) if spec.clip > 0 else opt


class TrainState(eqx.Module):
    """Everything a run needs to continue: model, optimiser state, EMA of the parameters, the step,
    and the base RNG key data (uint32 [2])."""

    model: eqx.Module
    opt_state: optax.OptState
    ema: eqx.Module
    step: jax.Array
    key: jax.Array


def init_state(model, opt: optax.GradientTransformation, seed: int) -> TrainState:
    return _init_state(model, opt, jnp.asarray(seed, jnp.uint32))


@eqx.filter_jit
def _init_state(model, opt, seed):
    params = eqx.filter(model, eqx.is_inexact_array)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = opt.init(params)
    return TrainState(model, opt_state, params, jnp.zeros((), jnp.int32), jax.random.PRNGKey(seed))


class AbstractStepData(eqx.Module):
    """Training data whose batch depends on the step: `fit` draws step s's batch from `at_step(s)`
    (s a traced int32 scalar) instead of from the object itself. It also answers what `fit` asks
    of data on the host (mode_std() and data_std(), for Loss.resolve)."""

    @abc.abstractmethod
    def at_step(self, step: jax.Array):
        """The data (with .sample(key, n)) that step `step`'s batch is drawn from."""

    @abc.abstractmethod
    def mode_std(self) -> jax.Array:
        """As the data's own mode_std()."""

    @abc.abstractmethod
    def data_std(self) -> jax.Array:
        """As the data's own data_std()."""


def _train_chunk(state: TrainState, gm, spec: Loss, opt, batch: int, n_steps: int, ema_decay: float,
                 band_factor, objective=None):
    """Run n_steps optimisation steps in one lax.scan. Returns (state, per-step logs).
    `band_factor` (a traced scalar) replaces spec.band_factor, so sweeps over A do not recompile.
    `objective` (static; default losses.dsm_loss): the loss function, see losses.loss_and_grad."""
    dyn, static = eqx.partition(state, eqx.is_array)

    def body(dyn, _):
        st = eqx.combine(dyn, static)
        key = jax.random.fold_in(st.key, st.step)
        data = gm.at_step(st.step) if isinstance(gm, AbstractStepData) else gm
        (loss, aux), grads = loss_and_grad(st.model, data, key=key, spec=spec, batch=batch, band_factor=band_factor,
                                           objective=objective)
        params = eqx.filter(st.model, eqx.is_inexact_array)
        with jax.numpy_dtype_promotion("standard"):  # optax computes decay ** int count
            updates, opt_state = opt.update(grads, st.opt_state, params)
        model = eqx.apply_updates(st.model, updates)
        new_params = eqx.filter(model, eqx.is_inexact_array)
        t = (st.step + 1).astype(jnp.float32)
        d = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))  # EMA warmup: early weights fade fast
        ema = jax.tree.map(lambda e, p: (d * e + (1.0 - d) * p).astype(p.dtype), st.ema, new_params)
        st = TrainState(model, opt_state, ema, st.step + 1, st.key)
        return eqx.partition(st, eqx.is_array)[0], {"loss": loss, **aux}

    dyn, logs = jax.lax.scan(body, dyn, None, length=n_steps)
    return eqx.combine(dyn, static), logs


# XLA:CPU's default YNNPACK library fusions ran the training step's dots and reductions slower than
# XLA's own fusions with Eigen dots (benchmarks/README.md, "Design decisions"). An option of this
# one compilation; see _xla.py.
TRAIN_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
train_chunk = BackendJit(_train_chunk, TRAIN_CPU_OPTIONS)


def ema_model(state: TrainState):
    """The model with its parameters replaced by their EMA."""
    return eqx.combine(state.ema, eqx.filter(state.model, eqx.is_inexact_array, inverse=True))


def step_seconds(history: list[dict]) -> float:
    """The seconds spent in training steps over a run's whole `history` (fit's rows, carried across
    resumes in the checkpoints): Σ (step_i − step_{i−1}) / steps_per_s_i over every session that
    trained the run. Each rate times one train_chunk call to its synchronised result, so a session's
    first chunk includes its compilation; checkpoint writes and on_chunk callbacks are not counted."""
    total, prev = 0.0, 0
    for row in history:
        total += (row["step"] - prev) / row["steps_per_s"]
        prev = row["step"]
    return total


def _summarise(logs, spec: Loss, step: int, rate: float) -> dict:
    bs, bc = np.asarray(logs["bucket_sum"]).sum(0), np.asarray(logs["bucket_count"]).sum(0)
    row = {"step": step, "loss": float(np.mean(np.asarray(logs["loss"]))), "steps_per_s": rate}
    for name, s, c in zip(spec.bucket_names(), bs, bc):
        row[f"eps_mse {name}"] = float(s / c) if c > 0 else float("nan")
    bsum, bcnt = float(np.sum(logs["band_sum"])), float(np.sum(logs["band_count"]))
    row["eps_mse band"] = bsum / bcnt if bcnt > 0 else float("nan")
    return row


def fit(model, gm, spec: Loss, optim: Optim, *, seed: int, steps: int, batch: int,
        steps_per_call: int = 100, ckpt_dir: str | Path | None = None,
        checkpoint_every: int = 1000, resume: bool = False, stop_after: int | None = None,
        meta: dict | None = None, progress: bool = True, desc: str = "train",
        on_chunk: Callable[[TrainState], None] | None = None,
        objective: Callable | None = None) -> tuple[TrainState, list[dict]]:
    """Train `model` on mixture `gm` for `steps` steps. Returns (state, history rows).

    spec, optim: the loss and optimiser settings; their data- and run-dependent values (σ_d, the
    band, the schedule length) are resolved here from `gm` and `steps` (and recorded so in the
    checkpoint metadata). The EMA decay is optim.ema_decay.

    ckpt_dir: where checkpoints go (None: no checkpoints). resume: continue from the checkpoint
    there. stop_after: stop (with a checkpoint) once this absolute step is reached, as an
    interruption would. A non-finite loss raises TrainingDiverged and writes nothing new. Ctrl-C
    checkpoints the last completed chunk and raises Interrupted(step, ckpt_dir). A resume from a
    missing or corrupt checkpoint raises checkpoints.CheckpointError (a ConfigError) before anything
    is written.
    on_chunk: called with the state after every chunk (tests use it to inject faults).
    objective: the loss function (default losses.dsm_loss; see losses.loss_and_grad), e.g. a
    class-conditional DSM loss that draws labels from `gm`. A module-level function (it is a static
    argument of the compiled chunk: a new lambda per call would recompile).
    """
    if steps < 1 or batch < 1 or steps_per_call < 1:
        raise ValueError("steps, batch and steps_per_call must be positive")
    spec, optim = spec.resolve(gm), optim.resolve(steps)
    opt = make_optimizer(optim)
    state = init_state(model, opt, seed)
    history: list[dict] = []
    meta = dict(meta or {})
    if resume:
        if ckpt_dir is None:
            raise ValueError("resume: needs a checkpoint directory")
        state, saved = checkpoints.load(ckpt_dir, state)
        history = list(saved.get("history", []))
    step = int(state.step)
    last_good = step if resume else None
    end = min(steps, stop_after) if stop_after is not None else steps

    def save(st, hist):
        nonlocal last_good
        if ckpt_dir is None:
            return
        checkpoints.save(ckpt_dir, st, {
            **meta, "step": int(st.step), "history": hist, "seed": int(seed),
            "rng": {"kind": "jax.random.PRNGKey", "key_data": np.asarray(st.key).tolist(),
                    "batches": "fold_in(key, step)"},
            "contents": "TrainState(model, opt_state, ema, step, key) via eqx.tree_serialise_leaves",
            "loss": spec.model_dump(mode="json"), "optim": optim.model_dump(mode="json"),
        })
        last_good = int(st.step)

    from tqdm.auto import tqdm

    static_spec = spec.compiled()
    amp = jnp.asarray(spec.band_factor, jnp.float32)
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step", disable=not progress, leave=False)
    try:
        while step < end:
            n = min(steps_per_call - step % steps_per_call, end - step)
            t0 = time.perf_counter()
            new_state, logs = train_chunk(state, gm, static_spec, opt, batch, n, optim.ema_decay, amp, objective)
            losses = np.asarray(logs["loss"])
            rate = n / (time.perf_counter() - t0)
            if not np.all(np.isfinite(losses)):
                bad = step + int(np.argmax(~np.isfinite(losses))) + 1
                where = (f"last good checkpoint (step {last_good}) kept in {ckpt_dir}" if last_good is not None
                         else "no checkpoint was written")
                raise TrainingDiverged(f"loss became {losses[~np.isfinite(losses)][0]} at step {bad}; "
                                       f"training stopped, {where}")
            state, step = new_state, step + n
            history.append(_summarise(logs, spec, step, rate))
            bar.update(n)
            bar.set_postfix(loss=f"{history[-1]['loss']:.4g}", steps_per_s=f"{rate:.0f}")
            if step == end or (step - n) // checkpoint_every != step // checkpoint_every:
                save(state, history)
            if on_chunk is not None:
                state = on_chunk(state) or state
    except KeyboardInterrupt:  # keep the last completed chunk, so --resume loses nothing
        if last_good != step:
            save(state, history)
        raise Interrupted(step, None if last_good is None else ckpt_dir) from None
    finally:
        bar.close()
    return state, history

"""Timing pieces shared by the benchmark scripts (run as `python benchmarks/<script>.py`, so this
directory is on sys.path)."""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import jax
import numpy as np

SETTLE_S = 0.3


def settle() -> None:
    """A pause before each measurement: the worker threads of the framework measured just before
    (PyTorch's OpenMP team, XLA's Eigen pool) spin-wait for a while after their last task and took
    CPU from the next measurement (bench_train: JointMLP's step read 1.13-1.47x its floor right after
    PyTorch's GEMMs, 0.95-1.11x with OMP_WAIT_POLICY=PASSIVE, which slows PyTorch instead)."""
    time.sleep(SETTLE_S)


def torch_rate(step: Callable, steps: int, warmup: int = 1) -> float:
    """Steps per second of `steps` calls of a PyTorch training step (after `warmup` calls); the last
    loss must be finite."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    rate = steps / (time.perf_counter() - t0)
    assert math.isfinite(loss.item())
    return rate


def median_time(fn: Callable, reps: int) -> float:
    """Median wall time of `reps` calls of fn (after one warm-up call)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def chunk_rate(chunk: Callable, state, steps: int, *args) -> Callable[[], float]:
    """A callable that runs one jitted call `chunk(state, *args) -> (state, logs)` of `steps` training
    steps (training.train_chunk's signature after the state), carries the state on and returns
    steps/s (the logged losses must be finite). Compiled and warmed up here."""
    box = {"state": state}

    def run() -> float:
        t0 = time.perf_counter()
        box["state"], logs = chunk(box["state"], *args)
        jax.block_until_ready((box["state"], logs))
        assert np.all(np.isfinite(np.asarray(logs["loss"])))
        return steps / (time.perf_counter() - t0)

    run()
    return run


def write_results(path, out: dict, md: str) -> None:
    """Write a benchmark's JSON `out` to `path` and its Markdown `md` beside it (.md), each atomically."""
    from pathlib import Path

    from ghostjax.runio import atomic_write_json, atomic_write_text

    path = Path(path)
    atomic_write_json(path, out)
    atomic_write_text(path.with_suffix(".md"), md)
    print(f"wrote {path} and {path.with_suffix('.md')}")


def report(out: dict, md: str, path) -> None:
    """Print a benchmark's Markdown report, and write it with its JSON `out` (write_results) unless
    `path` is None (a smoke run)."""
    print(md)
    if path is not None:
        write_results(path, out, md)

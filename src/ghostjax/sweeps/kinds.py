"""Cell kinds: what one sweep cell computes. A kind is a `SweepKind`, exposed by its module as `KIND`:

  name            the `kind` of the sweep TOML
  study           the study whose claims and tables read the kind's recorded sweep runs
                  (docs/runs/<sweep>/results.json, report.load_runs); None: the report skips them
  schema          the pydantic Section a cell's settings are built and validated with
  metrics         the metric columns it adds to each row (figures plot `figure_metrics`)
  hidden          setting columns left out of the table
  static_key(s)   hashable: cells with equal keys share array shapes, hence one compiled program
  batched         True if cells with equal static keys run together (vmapped and sharded)
  cost(s)         array elements of one cell's state (caps batches at run.max_batch_elements)
  check(s, ctx)   ConfigError for settings the device layout cannot run (called before writing)
  run(cells, batch, ctx) -> [(metrics dict, curves dict of equal-length lists)] for a batch of
                  cells (padded by the kind to `batch`)

Two bases write `run` once: `BatchedKind` (a vmapped cell function over the cells' numbers,
compiled ahead of time per static key and batch size, sharded over the device mesh, short batches
padded with copies of their last cell) and `TrainingKind` (one cell at a time, each training its
own network with checkpoints in <out>/cells/<id>/, resumed when a checkpoint is there).

The kinds are the ones the studies name in studies/registry.py (`Study.sweep`); they are imported lazily, so a kind whose dependencies are missing fails only when used, with
one line naming what is missing.
"""

from __future__ import annotations

import abc
import importlib
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import integrate
from ..config import ConfigError, Section
from ..runio import Workspace
from ..studies.registry import sweep_kinds
from . import mesh as meshes

KINDS = sweep_kinds()  # {kind: module}, from the study registry (each study names its kind once)


def get_kind(name: str) -> SweepKind:
    """The cell kind `name` (ConfigError naming the choices, or the missing dependency)."""
    if name not in KINDS:
        raise ConfigError(f"kind: expected one of {', '.join(sorted(KINDS))}, got {name!r}")
    try:
        return importlib.import_module(KINDS[name]).KIND
    except ImportError as e:
        raise ConfigError(f"kind {name!r}: cannot be used, {e} (a module it needs is missing)") from None


class SweepKind(abc.ABC):
    """What one sweep cell computes (see the module docstring)."""

    name: ClassVar[str]
    study: ClassVar[str | None] = None
    schema: ClassVar[type[Section]]
    metrics: ClassVar[tuple[str, ...]]
    figure_metrics: ClassVar[tuple[str, ...]] = ()
    hidden: ClassVar[tuple[str, ...]] = ()
    batched: ClassVar[bool] = False

    @abc.abstractmethod
    def static_key(self, s) -> tuple:
        """Cells with equal keys share one compiled program."""

    def cost(self, s) -> int:
        """Array elements of one cell's state (for run.max_batch_elements)."""
        return 1

    def check(self, s, ctx) -> None:
        """ConfigError for settings the device layout cannot run; nothing by default."""
        return None

    @abc.abstractmethod
    def run(self, cells: list, batch: int, ctx) -> list[tuple[dict, dict]]:
        """(metrics, curves) of each of `cells` (one shape group, at most `batch` of them)."""


class BatchedKind(SweepKind):
    """Cells vmapped over their numbers (`numeric`), one ahead-of-time compiled program per (static
    key, batch size, mesh), the cells' axis sharded over the mesh's "cells" axis, outputs replicated.
    Subclasses give the numbers (`numeric`, `value`), the traced cell (`cell_fn`) and the host
    summary of its outputs (`summarize`)."""

    batched = True
    numeric: ClassVar[tuple[str, ...]]
    integers: ClassVar[tuple[str, ...]] = ("seed",)  # int32 inputs; the other numbers are floats

    def __init__(self):
        self._compiled: dict = {}

    @abc.abstractmethod
    def cell_fn(self, static: tuple, mesh):
        """The per-cell computation {number: traced scalar} -> {name: array} for the static settings
        (vmapped over cells with spmd_axis_name 'cells'; `mesh` for sharding constraints)."""

    @abc.abstractmethod
    def summarize(self, out: dict, i: int, static: tuple) -> tuple[dict, dict]:
        """Metrics row and curves of cell i of a batch output (host arrays)."""

    def compile_label(self, static: tuple) -> str:
        """How timings.json names the program of `static` (', batch=B' is appended)."""
        return ",".join(map(str, static))

    def value(self, s, k: str):
        """The number `k` of cell settings `s`."""
        return getattr(s, k)

    def _dtype(self, k: str):
        return jnp.int32 if k in self.integers else jnp.result_type(float)

    def program(self, static: tuple, batch: int, ctx):
        """The compiled batch program (AOT: lower + compile, timed into ctx; the persistent cache
        serves reruns). Meshes compare by devices and axes, so a rerun in-process reuses it."""
        key = (static, batch, ctx.mesh)
        if key not in self._compiled:
            mesh = ctx.mesh
            fn = jax.vmap(self.cell_fn(static, mesh), spmd_axis_name="cells")
            shapes = {k: jax.ShapeDtypeStruct((batch,), self._dtype(k), sharding=meshes.cell_sharding(mesh))
                      for k in self.numeric}
            t0 = time.perf_counter()
            jitted = jax.jit(fn, out_shardings=meshes.replicated(mesh), compiler_options=integrate.compiler_options())
            self._compiled[key] = jitted.lower(shapes).compile()
            ctx.record_compile(f"{self.compile_label(static)},batch={batch}", time.perf_counter() - t0)
        return self._compiled[key]

    def run(self, cells: list, batch: int, ctx) -> list[tuple[dict, dict]]:
        """Run `cells` (one static group, at most `batch`) as one batch padded with its last cell."""
        static = self.static_key(cells[0].settings)
        program = self.program(static, batch, ctx)
        padded = cells + [cells[-1]] * (batch - len(cells))
        host = {k: np.asarray([self.value(c.settings, k) for c in padded], self._dtype(k)) for k in self.numeric}
        args = {k: meshes.global_array(v, meshes.cell_sharding(ctx.mesh)) for k, v in host.items()}
        out = jax.tree.map(np.asarray, program(args))
        return [self.summarize(out, i, static) for i in range(len(cells))]


class TrainingKind(SweepKind):
    """One cell at a time on the process's default device, each training its own network through a
    study's cell function (`run_cell`), with checkpoints in <out>/cells/<id>/checkpoints (a
    runio.Workspace over the run directory; a temporary one on processes that do not write), so an
    interrupted cell resumes from its last checkpoint. In a multi-process run every process trains
    the same cell (process 0 alone writes)."""

    @abc.abstractmethod
    def run_cell(self, cell, workspace, progress: bool) -> tuple[dict, dict]:
        """(metrics, curves) of `cell`, training with its checkpoints in workspace.checkpoints(cell.id)."""

    def run(self, cells: list, batch: int, ctx) -> list[tuple[dict, dict]]:
        out = []
        for cell in cells:
            with tempfile.TemporaryDirectory() as tmp:
                ws = Workspace(ctx.out if ctx.writer else Path(tmp), resume=True, meta={"sweep_cell": cell.label})
                out.append(self.run_cell(cell, ws, ctx.progress and ctx.writer))
        return out

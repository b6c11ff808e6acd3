"""The sweep driver: group cells by shape, cut groups into padded batches, run each batch as one
compiled program over the device mesh, and rewrite the results table after every batch.

Batches are fixed per shape group (from the group's full size, not what is left of it), so a
resumed run goes through the same compiled programs, which the persistent cache serves.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import jax

from . import mesh as meshes
from .kinds import get_kind
from .spec import Cell, SweepConfig
from .table import Table


@dataclasses.dataclass
class Context:
    """What a cell kind sees: the mesh, the run directory, whether this process writes, timings."""

    mesh: object
    out: Path
    writer: bool
    progress: bool = True
    timings: dict = dataclasses.field(default_factory=lambda: {"compile": {}, "batches": []})

    def record_compile(self, what: str, seconds: float) -> None:
        self.timings["compile"][what] = round(seconds, 4)


def plan(cfg: SweepConfig, cells: list[Cell]) -> tuple[int, list[tuple[int, list[Cell]]]]:
    """(cells-axis size, [(batch size, [cells of one shape group])] of all groups), in grid order."""
    kind = get_kind(cfg.kind)
    groups: dict = {}
    for c in cells:
        key = kind.static_key(c.settings) if kind.batched else ("cell", c.index)
        groups.setdefault(key, []).append(c)
    n_dev = jax.device_count()
    largest = max(len(g) for g in groups.values()) if kind.batched else 1
    c_axis = meshes.cells_axis(n_dev, min(cfg.run.batch_cells, largest), cfg.run.mesh_cells) if kind.batched else 1
    out = []
    for g in groups.values():
        cap = cfg.run.batch_cells
        if kind.batched and cfg.run.max_batch_elements:
            cap = min(cap, max(1, cfg.run.max_batch_elements // kind.cost(g[0].settings)))
        b = meshes.batch_size(len(g), cap, c_axis) if kind.batched else 1
        out.append((b, g))
    return c_axis, out


def make_context(cfg: SweepConfig, cells: list[Cell], out: Path, progress: bool) -> tuple[Context, list]:
    """The context and the plan; checks every cell against the device layout (ConfigError)."""
    kind = get_kind(cfg.kind)
    c_axis, groups = plan(cfg, cells)
    ctx = Context(meshes.make_mesh(c_axis), Path(out), jax.process_index() == 0, progress)
    for c in cells:
        kind.check(c.settings, ctx)
    return ctx, groups


def run_sweep(cfg: SweepConfig, cells: list[Cell], ctx: Context, groups: list, *,
              stop_after_batches: int | None = None) -> Table:
    """Run every unfinished cell; returns the table (written after each batch by process 0).

    stop_after_batches: SIGKILL this process after that many batches (tests of resume)."""
    from tqdm.auto import tqdm

    kind = get_kind(cfg.kind)
    table = Table(ctx.out, cfg.name, cfg.kind, cells, kind.hidden)
    todo = []
    for b, g in groups:
        left = [c for c in g if not table.done(c)]
        todo += [(b, left[i:i + b]) for i in range(0, len(left), b)]
    bar = tqdm(todo, desc=f"sweep {cfg.name}", unit="batch", disable=not (ctx.progress and ctx.writer))
    for n, (b, batch) in enumerate(bar, 1):
        t0 = time.perf_counter()
        results = kind.run(batch, b, ctx)
        ctx.timings["batches"].append({"cells": len(batch), "batch": b, "label": batch[0].label,
                                       "seconds": round(time.perf_counter() - t0, 4)})
        for c, (metrics, curves) in zip(batch, results):
            table.add(c, metrics, curves)
        if ctx.writer:
            table.write()
        bar.set_postfix(done=len(table.rows))
        if stop_after_batches is not None and n >= stop_after_batches:
            os.kill(os.getpid(), signal.SIGKILL)
    bar.close()
    return table

"""Sweep configs: the schema of a sweep TOML and its expansion into cells.

A sweep names a cell `kind` (see `kinds.py`), `base` settings shared by every cell, a `[grid]`
of lists whose Cartesian product gives the cells, and optionally `[[cells]]`, a list of settings
tables: every list entry is combined with every grid point (no list: the grid alone). Keys may be
dotted (`"model.width" = [32, 64]` or a nested `[grid.model]` table) to reach nested settings.
Every cell is validated against its kind's schema before anything runs.

Each cell gets its grid index, a label ("dim=4,seed=1"), its full validated settings and an id: a
hash of the kind and settings, so a rerun recognises finished cells whatever their order.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json

from pydantic import Field, model_validator

from ..config import ConfigError, RunName, Section, build, to_dict


class Run(Section):
    """How the sweep runs (not part of any cell's settings, so changing it never reruns a cell)."""

    batch_cells: int = Field(8, ge=1)          # cells per compiled call
    mesh_cells: int = Field(0, ge=0)           # cell-axis size; 0: auto
    max_batch_elements: int = Field(0, ge=0)   # cap on Σ cells·n·dim; 0: off
    cache_dir: str = ""          # persistent compilation cache; "" -> <out>/xla_cache, "none" -> off
    figures: bool = True


class SweepConfig(Section):
    name: RunName
    kind: str
    base: dict = {}
    grid: dict = {}
    cells: tuple[dict, ...] = ()
    run: Run = Run()

    @model_validator(mode="after")
    def _rules(self):
        from .kinds import KINDS

        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(sorted(KINDS))}, got {self.kind!r}")
        for key, values in flatten(self.grid).items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"grid.{key}: expected a non-empty list of values, got {values!r}")
        return self


@dataclasses.dataclass(frozen=True)
class Cell:
    index: int          # position in the expanded grid (the global cell index)
    label: str          # the varied settings, "dim=4,seed=1"
    id: str             # hash of kind + full settings
    varied: dict        # {dotted key: value} of the grid / list keys
    settings: object    # the kind's validated settings dataclass


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested tables -> {dotted key: leaf}; lists and scalars are leaves."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def set_dotted(data: dict, key: str, value) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {p} is not a table")
    node[parts[-1]] = value


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v).replace(" ", "")


def expand(cfg: SweepConfig) -> list[Cell]:
    """All cells of the sweep, in grid order (list entries outermost, then the grid keys in the
    order written, the last key varying fastest). Cells with identical settings are kept once."""
    from .kinds import get_kind

    kind = get_kind(cfg.kind)
    grid = flatten(cfg.grid)
    keys = list(grid)
    entries = [flatten(e) for e in cfg.cells] or [{}]
    cells: list[Cell] = []
    seen: set[str] = set()
    for entry in entries:
        for combo in itertools.product(*(grid[k] for k in keys)):
            varied = {**entry, **dict(zip(keys, combo))}
            data = copy.deepcopy(cfg.base)
            for k, v in varied.items():
                set_dotted(data, k, v)
            label = ",".join(f"{k}={_fmt(v)}" for k, v in varied.items()) or "base"
            try:
                settings = build(kind.schema, data)
            except ConfigError as e:
                raise ConfigError(f"cell {label}: {e}") from None
            ident = cell_id(cfg.kind, settings)
            if ident in seen:
                continue
            seen.add(ident)
            cells.append(Cell(len(cells), label, ident, varied, settings))
    if not cells:
        raise ConfigError("grid: the sweep has no cells")
    return cells


def cell_id(kind: str, settings) -> str:
    text = json.dumps({"kind": kind, "settings": to_dict(settings)}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def flat_settings(settings) -> dict:
    """A cell's settings as {dotted key: value} (tuples become 'a|b' strings for the table)."""
    out = {}
    for k, v in flatten(to_dict(settings)).items():
        out[k] = "|".join(map(str, v)) if isinstance(v, list) else v
    return out

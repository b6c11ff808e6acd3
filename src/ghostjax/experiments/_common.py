"""Helpers shared by the study modules: config checks and σ grids in units of σ_data."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ConfigError, check

POS = check(lambda v: v > 0, "> 0")
POS_INT = check(lambda v: v >= 1, ">= 1")
UNIT = check(lambda v: 0 < v < 1, "in (0, 1)")


def field(default, meta=None):
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default=tuple(default), metadata=meta or {})
    return dataclasses.field(default=default, metadata=meta or {})


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def sigma_axis(lo: float, hi: float, n: int) -> np.ndarray:
    """Geometric σ axis [n] from lo to hi (ascending)."""
    return np.geomspace(lo, hi, n)


def rows(**cols) -> list[dict]:
    """Columns of equal length -> list of row dicts for CSV output."""
    names = list(cols)
    arrs = [np.asarray(cols[k]).reshape(-1) for k in names]
    n = arrs[0].size
    for k, a in zip(names, arrs):
        if a.size != n:
            raise ValueError(f"rows: column {k} has {a.size} values, expected {n}")
    return [{k: a[i].item() for k, a in zip(names, arrs)} for i in range(n)]

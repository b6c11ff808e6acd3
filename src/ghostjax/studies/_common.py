"""Helpers shared by the study modules: config rules and CSV rows."""

from __future__ import annotations

import numpy as np

from ..config import ConfigError


def require(cond: bool, msg: str) -> None:
    """Raise ConfigError(msg) unless `cond` (inside a config's model validator)."""
    if not cond:
        raise ConfigError(msg)


def rows(**cols) -> list[dict]:
    """Columns of equal length -> list of row dicts for CSV output."""
    names = list(cols)
    arrs = [np.asarray(cols[k]).reshape(-1) for k in names]
    n = arrs[0].size
    for k, a in zip(names, arrs):
        if a.size != n:
            raise ValueError(f"rows: column {k} has {a.size} values, expected {n}")
    return [{k: a[i].item() for k, a in zip(names, arrs)} for i in range(n)]

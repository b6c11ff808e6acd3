"""Cell kinds: what one sweep cell computes. A kind is a module exposing `KIND`, an object with

  name            the `kind` of the sweep TOML
  schema          the dataclass a cell's settings are built and validated with
  metrics         the metric columns it adds to each row (figures plot `figure_metrics`)
  static_key(s)   hashable: cells with equal keys share array shapes, hence one compiled program
  batched         True if cells with equal static keys run together (vmapped and sharded)
  check(s, ctx)   ConfigError for settings the device layout cannot run (called before writing)
  run(cells, batch, ctx) -> [(metrics dict, curves dict of equal-length lists)] for a batch of
                  cells (padded by the kind to `batch`)
  hidden          (optional) setting columns left out of the table

Kinds are imported lazily, so a kind whose dependencies are missing fails only when used, with
one line naming what is missing.
"""

from __future__ import annotations

import importlib

from ..config import ConfigError

KINDS = {"exact": "ghostjax.sweeps.exact", "learned": "ghostjax.sweeps.learned",
         "hallucination": "ghostjax.sweeps.hallucination", "guidance": "ghostjax.sweeps.guidance"}


def get_kind(name: str):
    """The cell kind `name` (ConfigError naming the choices, or the missing dependency)."""
    if name not in KINDS:
        raise ConfigError(f"kind: expected one of {', '.join(sorted(KINDS))}, got {name!r}")
    try:
        return importlib.import_module(KINDS[name]).KIND
    except ImportError as e:
        raise ConfigError(f"kind {name!r}: cannot be used, {e} (a module it needs is missing)") from None

"""Checkpoints: an equinox leaf blob plus a JSON pointer, both written atomically.

Layout inside a checkpoint folder:
  ckpt_<step>.eqx   eqx.tree_serialise_leaves of the whole TrainState (model, optimiser state,
                    EMA, step, RNG key data)
  latest.json       {'step', 'blob', 'config', 'rng', 'contents', 'history', ...}
The blob is written first and the JSON pointer second, so a crash at any moment leaves `latest.json`
naming a complete blob; older blobs are removed after the pointer moves.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import equinox as eqx
import numpy as np

from .runio import atomic_write_bytes, atomic_write_json

POINTER = "latest.json"


def save(folder: str | Path, state, meta: dict) -> Path:
    """Write `state` (a pytree) and `meta` (JSON-able; 'step' is required) into `folder`."""
    folder = Path(folder)
    step = int(meta["step"])
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, state)
    blob = f"ckpt_{step:09d}.eqx"
    atomic_write_bytes(folder / blob, buf.getvalue())
    atomic_write_json(folder / POINTER, {**meta, "blob": blob})
    for old in folder.glob("ckpt_*.eqx"):
        if old.name != blob:
            old.unlink(missing_ok=True)
    return folder / blob


def read_meta(folder: str | Path) -> dict | None:
    """The metadata of the latest checkpoint in `folder`, or None when there is none."""
    p = Path(folder) / POINTER
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def load(folder: str | Path, like):
    """(state, meta) from the latest checkpoint in `folder`; `like` gives the pytree structure."""
    meta = read_meta(folder)
    if meta is None:
        raise FileNotFoundError(f"{folder}: no checkpoint ({POINTER}) to resume from")
    with open(Path(folder) / meta["blob"], "rb") as f:
        state = eqx.tree_deserialise_leaves(f, like)
    if int(np.asarray(state.step)) != int(meta["step"]):
        raise ValueError(f"{folder}: checkpoint blob step {int(state.step)} != metadata step {meta['step']}")
    return state, meta

"""Checkpoints: an equinox leaf blob plus a JSON pointer, both written atomically.

Layout inside a checkpoint folder:
  ckpt_<step>.eqx   eqx.tree_serialise_leaves of the whole TrainState (model, optimiser state,
                    EMA, step, RNG key data)
  latest.json       {'step', 'blob', 'config', 'rng', 'contents', 'history', ...}
The blob is written first and the JSON pointer second, so a crash at any moment leaves `latest.json`
naming a complete blob; older blobs are removed after the pointer moves.

Reading back (`read_meta`, `load`) refuses a missing, truncated or corrupt pointer or blob with a
`CheckpointError` (a config.ConfigError: entry points print its one line, naming the file, and
exit 2); nothing is written while reading, so a failed --resume leaves the folder as it was.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import equinox as eqx
import numpy as np

from .config import ConfigError
from .runio import atomic_write_bytes, atomic_write_json

POINTER = "latest.json"


class CheckpointError(ConfigError):
    """A checkpoint that cannot be resumed from: '--resume: <file> is corrupt (...)' and the like."""


def _why(e: BaseException) -> str:
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


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
    """The metadata of the latest checkpoint in `folder`, or None when there is none.
    CheckpointError when latest.json exists but is not a checkpoint pointer (truncated, not JSON,
    no 'step' or 'blob')."""
    p = Path(folder) / POINTER
    if not p.is_file():
        return None
    try:
        meta = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"--resume: {p} is corrupt ({_why(e)})") from None
    if not (isinstance(meta, dict) and isinstance(meta.get("step"), int) and isinstance(meta.get("blob"), str)
            and Path(meta["blob"]).name == meta["blob"]):
        raise CheckpointError(f"--resume: {p} is corrupt (expected an object with an integer 'step' and a "
                              "'blob' file name)")
    return meta


def load(folder: str | Path, like):
    """(state, meta) from the latest checkpoint in `folder`; `like` gives the pytree structure.

    CheckpointError (one line naming the file) when there is no checkpoint, when the pointer or the
    blob is missing, truncated or corrupt, or when the blob does not hold a state shaped like `like`.
    """
    meta = read_meta(folder)
    if meta is None:
        raise CheckpointError(f"--resume: {Path(folder) / POINTER} does not exist (no checkpoint to resume from)")
    blob = Path(folder) / meta["blob"]
    if not blob.is_file():
        raise CheckpointError(f"--resume: {blob} is missing (named by {Path(folder) / POINTER})")
    try:
        with open(blob, "rb") as f:
            state = eqx.tree_deserialise_leaves(f, like)
            trailing = f.read(1)
    except Exception as e:  # truncated (EOFError, ValueError), another model's shapes, unreadable
        raise CheckpointError(f"--resume: {blob} is corrupt or from another model ({_why(e)})") from None
    if trailing:
        raise CheckpointError(f"--resume: {blob} is corrupt or from another model (bytes left over after the state)")
    if int(np.asarray(state.step)) != meta["step"]:
        raise CheckpointError(f"--resume: {blob} is corrupt (its step {int(np.asarray(state.step))} != "
                              f"{meta['step']} in {POINTER})")
    return state, meta

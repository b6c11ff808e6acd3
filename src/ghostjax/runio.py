"""Run directories: claimed before anything runs, written atomically (temporary file in the same
folder, then os.replace).

Every entry point (analyze, train, sweep) goes through `RunDir.claim(path, config, same_run=...)`:
an --out that is a file, a non-empty folder that holds no ghostjax run, or a folder holding a run
that `same_run` says is another one, is refused with one ConfigError line before anything is
written. `create()` then makes the folder with its config.toml; the writers put every result inside.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .config import ConfigError, to_toml


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "shape"):
        a = np.asarray(v)
        return a.item() if a.ndim == 0 else a.tolist()
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def atomic_write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    """Write a list of dict rows as CSV (columns: the given order, else first-seen order)."""
    rows = [dict(_jsonable(r)) for r in rows]
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns))
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return atomic_write_text(path, buf.getvalue())


def atomic_savefig(fig, path: str | Path, **kw) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **kw)
    return atomic_write_bytes(path, buf.getvalue())


def first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    """The first dotted key where nested dicts a and b differ (None when equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if d:
                return d
        return None
    return None if a == b else prefix.rstrip(".") or "(top level)"


def same_config(saved: dict, config: dict) -> str | None:
    """`same_run` for runs that resume: the saved config must equal this one."""
    diff = first_difference(saved, config)
    return None if diff is None else f"a run with a different config (first difference: {diff})"


def same_keys(*keys: str) -> Callable[[dict, dict], str | None]:
    """`same_run` for runs that may be redone with new settings: only `keys` must agree."""
    def check(saved: dict, config: dict) -> str | None:
        for k in keys:
            if saved.get(k) != config.get(k):
                return f"another run ({k} {saved.get(k)!r})"
        return None
    return check


class RunDir:
    """A claimed run directory; see the module docstring."""

    def __init__(self, path: str | Path, config: dict):
        self.path, self.config = Path(path), config

    @classmethod
    def claim(cls, path: str | Path, config: dict, *, same_run: Callable[[dict, dict], str | None] = same_config,
              resume: bool = False, noun: str = "ghostjax run") -> "RunDir":
        """Check that `path` may hold this run (ConfigError naming --out otherwise); writes nothing.

        config: the run's config as a plain dict (config.to_dict); with `resume` a run must exist;
        `noun` names what the folder should hold in the messages ('sweep', 'study run', ...)."""
        import tomllib

        p = Path(path)
        if p.exists() and not p.is_dir():
            raise ConfigError(f"--out {p}: exists and is not a directory")
        saved = p / "config.toml"
        if saved.is_file():
            try:
                old = tomllib.loads(saved.read_text())
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"--out {p}: its config.toml is malformed ({e})") from None
            why = same_run(old, tomllib.loads(to_toml(config)))
            if why is not None:
                raise ConfigError(f"--out {p}: holds {why}; choose another --out")
        elif p.exists() and any(p.iterdir()):
            raise ConfigError(f"--out {p}: exists, is not empty and holds no {noun} (no config.toml)")
        elif resume:
            raise ConfigError(f"--resume: no run to resume in {p}")
        check_writable(p)
        return cls(p, config)

    def create(self) -> "RunDir":
        """Make the folder and write config.toml (the resolved config) into it. Remembers whether the
        folder was new, for abandon()."""
        if not hasattr(self, "_new"):
            self._new = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.toml", to_toml(self.config))
        return self

    def abandon(self) -> None:
        """After a failed run: remove the folder if this run created it and nothing worth keeping is
        in it (no checkpoint, no finished cell), so that the corrected rerun is not refused. A folder
        that held a run before is left as it was."""
        import shutil

        if not getattr(self, "_new", False) or not self.path.is_dir():
            return
        kept = [f for f in self.path.rglob("*") if f.is_file() and f.name != "config.toml"]
        if not kept:
            shutil.rmtree(self.path, ignore_errors=True)

    def write_bytes(self, name: str, data: bytes) -> Path:
        return atomic_write_bytes(self.path / name, data)

    def write_json(self, name: str, obj: Any) -> Path:
        return atomic_write_json(self.path / name, obj)

    def write_csv(self, name: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
        return atomic_write_csv(self.path / name, rows, columns)

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write_text(self.path / name, text)

    def save_figure(self, name: str, fig, dpi: int = 110) -> Path:
        """figures/<name>.png, then the figure is closed."""
        import matplotlib.pyplot as plt

        out = atomic_savefig(fig, self.path / "figures" / f"{name}.png", dpi=dpi)
        plt.close(fig)
        return out


def check_writable(p: Path, what: str | None = None) -> None:
    """ConfigError naming `what` (default '--out <p>') unless the folder `p` exists and is writable or
    can be made (its nearest existing ancestor is a writable folder); creates nothing."""
    what = what or f"--out {p}"
    q = p
    while not q.exists():
        if q.parent == q:
            break
        q = q.parent
    if not q.is_dir():
        raise ConfigError(f"{what}: cannot be created ({q} is not a directory)")
    if not os.access(q, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: cannot be created or written ({q} is not writable)")


def run_meta(command: str, **extra: Any) -> dict:
    """What every run records beside its results: the command, versions and the device."""
    import platform

    import jax

    return {"command": command, "jax": jax.__version__, "python": platform.python_version(),
            "device": str(jax.devices()[0].platform), **extra}


class Workspace:
    """What a study that trains may keep in its run directory while it runs, so that an interrupted
    run resumes: training checkpoints and finished cells. The entry point hands one to
    `study.run(cfg, resume=...)`; a study never writes anything else (its Results are written by the
    entry point). `resume`: read back what an earlier run of the same config left; `stop_after`:
    stop every training at this step with a checkpoint, as an interruption would (tests); `meta`:
    recorded in every checkpoint.

    Layout: checkpoints/ (a study with one network), cells/<cell>/{checkpoints/, result.json,
    curves.csv} (a study with many)."""

    def __init__(self, path: str | Path, *, resume: bool = False, stop_after: int | None = None,
                 meta: dict | None = None):
        self.path, self.resume, self.stop_after = Path(path), bool(resume), stop_after
        self.meta = dict(meta or {})

    def _cell(self, cell: str) -> Path:
        return self.path / "cells" / cell if cell else self.path

    def checkpoints(self, cell: str = "") -> Path:
        """The folder of training.fit's checkpoints for `cell` ('' : the run's one network)."""
        return self._cell(cell) / "checkpoints"

    def resume_training(self, cell: str = "") -> bool:
        """Whether training of `cell` continues from a checkpoint (resume, and one was written)."""
        return self.resume and (self.checkpoints(cell) / "latest.json").is_file()

    def finished(self, cell: str) -> dict | None:
        """The result of `cell` written by an earlier run (with resume), else None. A result file
        that is not valid JSON is a ConfigError naming it."""
        p = self._cell(cell) / "result.json"
        if not (self.resume and p.is_file()):
            return None
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"--resume: {p} is corrupt ({e}); delete it to recompute that cell") from None

    def finish(self, cell: str, result: dict, curves: list[dict] | None = None) -> None:
        """Record a finished cell (result.json, and its training curves as curves.csv)."""
        if curves is not None:
            atomic_write_csv(self._cell(cell) / "curves.csv", curves)
        atomic_write_json(self._cell(cell) / "result.json", result)

"""The one study interface.

A study is a module (or package) that exposes
  Config          a pydantic `Section` whose `study` field is a `Literal` of the study's name;
  run(cfg, *, progress=no_progress, resume=None) -> Results
                  computes everything and writes nothing: the entry point that called it writes the
                  Results into the run directory. A study that trains keeps its checkpoints and
                  finished cells through `resume`, a `runio.Workspace` (None: train in memory);
  claims(runs) -> list[Claim]   (optional) its rows of docs/REPRODUCTION.md, computed from the
                  metrics.json of its recorded runs ({run name: metrics});
and is listed once in `studies.registry.STUDIES`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator


class Stopped(Exception):
    """A study's network stopped training at the workspace's stop_after step (runio.Workspace; its
    checkpoint is kept): a study that trains several networks raises it from the one that stopped and
    its `run` returns Results(stopped_at=step)."""

    def __init__(self, step: int, name: str):
        super().__init__(f"{name}: stopped at step {step} (resume with --resume)")
        self.step, self.name = step, name


def no_progress(it, **kw):
    """The `progress` of a silent run: the iterable itself."""
    return it


@dataclasses.dataclass
class Results:
    """What a study returns; the entry point writes it, each file atomically.

    metrics: JSON-able nested dict (metrics.json, beside the run's meta);
    curves: {name: list of row dicts} -> <name>.csv;
    figures: {name: matplotlib Figure} -> figures/<name>.png;
    files: {relative path: str | bytes} -> other outputs (a Markdown table, an .npz of samples);
    summary: text the entry point prints when the run ends (a table of the headline numbers);
    stopped_at: the training step a run stopped at on purpose (`--stop-after`): nothing but the
      checkpoints is written and the run continues with --resume.
    """

    metrics: dict
    curves: dict = dataclasses.field(default_factory=dict)
    figures: dict = dataclasses.field(default_factory=dict)
    files: dict = dataclasses.field(default_factory=dict)
    summary: str = ""
    stopped_at: int | None = None


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of docs/REPRODUCTION.md: a seed's claim, the definition used, what the recorded run
    measured, the verdict (reproduced / not reproduced / not comparable / not testable here, or
    'depends on the definition') and an optional note."""

    text: str
    seed: str
    definition: str
    measured: str
    verdict: str
    note: str | None = None
    run: str = ""  # the recorded run it reads (docs/runs/<run>), set by the report

    def with_run(self, run: str) -> "Claim":
        return dataclasses.replace(self, run=run)


def command(entry: str, run: str) -> str:
    """The command that records docs/runs/<run> from configs/<run>.toml with `python -m
    ghostjax.<entry>` (entry: train, analyze, or sweep for a sweep run, which the same command
    resumes)."""
    return f"python -m ghostjax.{entry} --config configs/{run}.toml --out docs/runs/{run}"


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every number, string or array in nested dicts and lists (a `meta`
    table aside): the one walk over metrics that the finiteness checks share."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "meta":
                yield from leaves(v, f"{path}{k}.")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{path}{i}.")
    else:
        yield path.rstrip("."), obj


def _is_finite(v: Any) -> bool:
    import math

    import numpy as np

    if hasattr(v, "shape"):
        a = np.asarray(v)
        return a.dtype.kind != "f" or bool(np.isfinite(a).all())
    return not isinstance(v, float) or math.isfinite(v)


def finite_metrics(obj: Any, path: str = "") -> str | None:
    """The dotted key of the first non-finite number in a nested metrics dict (None if all finite)."""
    return next((p for p, v in leaves(obj, path) if not _is_finite(v)), None)

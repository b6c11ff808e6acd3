"""Every study, named once: `STUDIES` maps the `study` key of a config to its `Study` entry.

`analyze` runs the studies that do not train, `train` the ones that do, `report` collects every
study's claims, and `sweep` runs the cells of the studies that name a sweep kind (`sweep`: the
`kind` of a sweep TOML, implemented by sweeps/<kind>.py around the study's cell function;
`sweep_kinds()` lists them).
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

from ..config import ConfigError
from .base import Claim, Results, no_progress


@dataclasses.dataclass(frozen=True)
class Study:
    """One study: its name (the config's `study` key), the module implementing the study interface
    (studies/base.py), its theme, whether it trains networks (`python -m ghostjax.train`) and whether
    an interrupted run resumes from its checkpoints (--resume), and the sweep kind (the `kind` of a
sweep TOML) whose cells run this study's cell function, if any."""

    name: str
    module: str
    theme: str
    trains: bool = False
    resumable: bool = False
    sweep: str | None = None

    @property
    def entry(self) -> str:
        return "train" if self.trains else "analyze"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def Config(self):  # noqa: N802 (the study's Config class)
        return self.load().Config

    def run(self, cfg, *, progress=no_progress, resume=None) -> Results:
        return self.load().run(cfg, progress=progress, resume=resume)

    def claims(self, runs: dict[str, dict]) -> list[Claim]:
        """Its rows of docs/REPRODUCTION.md from its recorded runs ({run name: metrics.json dict}, the
        runs under docs/runs whose config names this study); [] if it claims nothing."""
        fn = getattr(self.load(), "claims", None)
        return [] if fn is None else list(fn(runs))


_P = "ghostjax.studies"
STUDIES: dict[str, Study] = {s.name: s for s in (  # in the order of docs/REPRODUCTION.md
    Study("census", f"{_P}.ghosts.census", "ghosts", sweep="exact"),
    Study("blind_corners", f"{_P}.ghosts.blind_corners", "ghosts"),
    Study("entropy_production", f"{_P}.ghosts.entropy_production", "ghosts"),
    Study("speciation", f"{_P}.ghosts.speciation", "ghosts"),
    Study("two_gaps", f"{_P}.ghosts.two_gaps", "ghosts"),
    Study("coupling", f"{_P}.ghosts.coupling", "ghosts"),
    Study("learned", f"{_P}.ghosts.learned", "ghosts", trains=True, resumable=True, sweep="learned"),
    Study("guidance_distortion", f"{_P}.guidance.distortion", "guidance", resumable=True, sweep="guidance"),
    Study("guidance_schedules", f"{_P}.guidance.schedules", "guidance"),
    Study("edm2_tree", f"{_P}.guidance.edm2_tree", "guidance"),
    Study("guidance_learned", f"{_P}.guidance.learned", "guidance", trains=True),
    Study("hallucination", f"{_P}.hallucination.toy", "hallucination", trains=True, resumable=True,
          sweep="hallucination"),
    Study("shapes", f"{_P}.hallucination.shapes", "hallucination", trains=True, resumable=True),
)}
NAMES = tuple(STUDIES)


def sweep_kinds() -> dict[str, str]:
    """{sweep kind: module implementing it} for every study that names one, in registry order."""
    return {s.sweep: f"ghostjax.sweeps.{s.sweep}" for s in STUDIES.values() if s.sweep is not None}


def get(name, *, entry: str | None = None) -> Study:
    """The Study named `name`; ConfigError naming the `study` key when unknown, or when `entry`
    ('train' / 'analyze') is not the command that runs it."""
    if not isinstance(name, str) or name not in STUDIES:
        choices = [s.name for s in STUDIES.values() if entry in (None, s.entry)]
        raise ConfigError(f"study: expected one of {', '.join(choices)}, got {name!r}")
    study = STUDIES[name]
    if entry is not None and study.entry != entry:
        raise ConfigError(f"study: {name} is run by `python -m ghostjax.{study.entry}`, not {entry}")
    return study

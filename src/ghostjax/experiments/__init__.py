"""Ghost-mode studies: one module per study, each a schema dataclass `Config` and a function
`run(cfg, progress) -> Results`. `STUDIES` maps a study name (the `study` key of its TOML) to its
module; `analyze.py` picks the module from the config and writes the results.
"""

from __future__ import annotations

import dataclasses
import importlib

NAMES = ("census", "blind_corners", "two_gaps", "entropy_production", "speciation", "coupling", "guidance_distortion", "guidance_schedules",
         "edm2_tree")


@dataclasses.dataclass
class Results:
    """What a study returns: metrics (JSON-able nested dict), curves ({name: list of row dicts},
    written as <name>.csv) and figures ({name: matplotlib Figure}, written as figures/<name>.png)."""

    metrics: dict
    curves: dict = dataclasses.field(default_factory=dict)
    figures: dict = dataclasses.field(default_factory=dict)


def study_module(name: str):
    """The module of study `name` (ValueError naming the choices when unknown)."""
    if name not in NAMES:
        raise ValueError(f"study: expected one of {', '.join(NAMES)}, got {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def no_progress(it, **kw):
    return it


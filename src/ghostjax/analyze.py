"""`python -m ghostjax.analyze --config configs/<study>.toml [--out DIR] [key.sub=value ...]`

Runs one study with exact scores (the studies that do not train: census, blind_corners,
entropy_production, speciation, two_gaps, coupling, guidance_distortion, guidance_schedules,
edm2_tree; the config's `study` key picks it) and writes, inside the run directory (default
runs/<study>): config.toml (the resolved config), metrics.json, one CSV per curve, and
figures/*.png. The config and --out are checked before anything runs; bad input prints one line
and exits 2, non-finite results one line and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .config import ConfigError, cli_guard, entry_parser
from .entry import claim, command_line, execute, load
from .studies.registry import STUDIES

NAMES = tuple(s.name for s in STUDIES.values() if not s.trains)


def parse_args(argv=None):
    p = entry_parser("python -m ghostjax.analyze", __doc__, example="n=2048 dims=[2,3]",
                     config_help=f"study TOML (configs/<study>.toml; study is one of {', '.join(NAMES)})",
                     out_help="run directory (default runs/<study>)")
    return p.parse_args(argv)


def resolve(config: str | None, overrides: list[str]):
    """(study module, validated config) from a TOML path and overrides; ConfigError on bad input."""
    if config is None:
        raise ConfigError("--config: required (e.g. --config configs/two_gaps.toml)")
    study, cfg = load(config, overrides, entry="analyze")
    return study.load(), cfg


def run_study(config: str, overrides: list[str], out: str | None = None, progress: bool = True) -> Path:
    """Validate, run and write one study; returns the run directory. A directory holding the same
    study is redone in place; anything else is refused (RunDir)."""
    if config is None:
        raise ConfigError("--config: required (e.g. --config configs/two_gaps.toml)")
    study, cfg = load(config, overrides, entry="analyze")
    run = claim(study, cfg, out, resume=False)
    execute(study, cfg, run, command=command_line("analyze", config, overrides, out), progress=progress)
    return run.path


def main(argv=None) -> int:
    args = parse_args(argv)
    out = run_study(args.config, args.overrides, args.out, progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

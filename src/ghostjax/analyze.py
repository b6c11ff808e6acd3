"""`python -m ghostjax.analyze --config configs/<study>.toml [--out DIR] [--resume] [key.sub=value ...]`

Runs one study with exact scores (the studies that do not train: census, blind_corners,
entropy_production, speciation, two_gaps, coupling, guidance_distortion, guidance_schedules,
edm2_tree; the config's `study` key picks it) and writes, inside the run directory (default
runs/<study>): config.toml (the resolved config), metrics.json, one CSV per curve, and
figures/*.png. The config and --out are checked before anything runs; bad input prints one line
and exits 2, non-finite results one line and exit 1.

--resume (the studies marked resumable in studies/registry.py: guidance_distortion) continues an
interrupted run in --out: the cells it finished (cells/<cell>/result.json, written as each cell
ends) are read back, not recomputed, and the results equal an uninterrupted run's. The config is
read back from --out when --config is not given; a run directory holding a different config is
refused. --stop-after N stops once N cells are finished (those read back included), as an
interruption would (testing).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .config import ConfigError, cli_guard, entry_parser
from .entry import add_resume_args, check_resume, claim, command_line, execute, load, resume_config
from .studies.registry import STUDIES

NAMES = tuple(s.name for s in STUDIES.values() if not s.trains)


def parse_args(argv=None):
    p = entry_parser("python -m ghostjax.analyze", __doc__, example="n=2048 dims=[2,3]",
                     config_help=f"study TOML (configs/<study>.toml; study is one of {', '.join(NAMES)})",
                     out_help="run directory (default runs/<study>)")
    add_resume_args(p, unit="CELLS", stop_help="stop once this many cells are finished, as an interruption would "
                                               "(testing; resumable studies only)")
    return p.parse_args(argv)


def resolve(config: str | None, overrides: list[str]):
    """(study module, validated config) from a TOML path and overrides; ConfigError on bad input."""
    if config is None:
        raise ConfigError("--config: required (e.g. --config configs/two_gaps.toml)")
    study, cfg = load(config, overrides, entry="analyze")
    return study.load(), cfg


def run_study(config: str, overrides: list[str], out: str | None = None, progress: bool = True, *,
              resume: bool = False, stop_after: int | None = None) -> Path | None:
    """Validate, run and write one study; returns the run directory, or None when the run stopped at
    `stop_after` finished cells. A directory holding the same study (the same config, for a resumable
    study) is redone in place, or continued with `resume`; anything else is refused (RunDir)."""
    if config is None:
        raise ConfigError("--config: required (e.g. --config configs/two_gaps.toml)")
    study, cfg = load(config, overrides, entry="analyze")
    check_resume(study, resume=resume, stop_after=stop_after)
    run = claim(study, cfg, out, resume=resume)
    res = execute(study, cfg, run, command=command_line("analyze", config, overrides, out), progress=progress,
                  resume=resume, stop_after=stop_after)
    return None if res.stopped_at is not None else run.path


def main(argv=None) -> int:
    args = parse_args(argv)
    out = run_study(resume_config(args), args.overrides, args.out, progress=not args.no_progress,
                    resume=args.resume, stop_after=args.stop_after)
    if out is not None:
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

"""`python -m ghostjax.train [--config configs/X.toml] [--out DIR] [--resume] [key.sub=value ...]`

Trains the score networks of a study config (the studies that train: learned, hallucination,
shapes, guidance_learned; the TOML's `study` key picks one, default learned) and writes its
results into the run directory (default runs/<name>): config.toml, metrics.json, CSV tables,
figures/*.png, and the checkpoints an interrupted run resumes from. Without --config it runs
configs/quickstart.toml.

--resume (learned, hallucination and shapes) continues an interrupted run (Ctrl-C, or --stop-after) from its
checkpoints (the config is read back from the run directory when --config is not given); the
resumed run ends with the same parameters as an uninterrupted one. A run directory holding a
different config is never overwritten. Bad input prints one line and exits 2 before anything is
written; a NaN/inf loss or non-finite results exit 1 with one line; Ctrl-C exits 130.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .config import ConfigError, cli_guard, entry_parser
from .entry import add_resume_args, check_resume, claim, command_line, execute, load as load_study, resume_config
from .studies.registry import STUDIES

DEFAULT_CONFIG = "configs/quickstart.toml"
TRAINED = tuple(s.name for s in STUDIES.values() if s.trains)


def parse_args(argv=None):
    p = entry_parser("python -m ghostjax.train", __doc__, example='train.steps=500 model.kinds=["joint"]',
                     config_help=f"config TOML (default {DEFAULT_CONFIG}; study one of {', '.join(TRAINED)})",
                     out_help="run directory (default runs/<name>)")
    add_resume_args(p, unit="STEP",
                    stop_help="stop every training at this step with a checkpoint, as an interruption would (testing)")
    return p.parse_args(argv)


def default_config_path() -> Path:
    """configs/quickstart.toml relative to the working directory, else to the repository root."""
    here = Path(DEFAULT_CONFIG)
    if here.is_file():
        return here
    repo = Path(__file__).resolve().parents[2] / DEFAULT_CONFIG
    if repo.is_file():
        return repo
    raise ConfigError(f"--config: not given and {DEFAULT_CONFIG} not found (run from the repository root)")


def load(path: str, overrides: list[str]):
    """(study name, validated config) of a train TOML; ConfigError naming the key on bad input."""
    study, cfg = load_study(path, overrides, entry="train", default_study="learned")
    return study.name, cfg


def prepare(args):
    """Validated (Study, config, config path, claimed RunDir). Creates nothing; ConfigError on bad input."""
    path = resume_config(args) or str(default_config_path())
    study, cfg = load_study(path, args.overrides, entry="train", default_study="learned")
    check_resume(study, resume=args.resume, stop_after=args.stop_after)
    return study, cfg, path, claim(study, cfg, args.out, resume=args.resume)


def main(argv=None) -> int:
    args = parse_args(argv)
    study, cfg, path, run = prepare(args)
    t0 = time.perf_counter()
    res = execute(study, cfg, run, command=command_line("train", path, args.overrides, args.out),
                  progress=not args.no_progress, resume=args.resume, stop_after=args.stop_after)
    if res.stopped_at is None:
        if res.summary:
            print(res.summary)
        print(f"wrote {run.path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

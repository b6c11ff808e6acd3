"""`python -m ghostjax.analyze --config configs/<study>.toml [--out DIR] [key.sub=value ...]`

Runs one ghost-mode study (the config's `study` key picks it: census, blind_corners, two_gaps,
entropy_production, speciation, coupling) with exact mixture scores and writes, inside the run
directory (default runs/<study>): config.toml (the resolved config), metrics.json, one CSV per
curve, and figures/*.png. The config is validated before any directory is created; bad input
prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from .config import ConfigError, apply_overrides, cli_guard, entry_parser, load_config, read_toml, to_dict
from .studies import NAMES, no_progress, study_module
from .runio import RunDir, run_meta, same_keys


def parse_args(argv=None) -> argparse.Namespace:
    p = entry_parser("python -m ghostjax.analyze", __doc__, example="n=2048 dims=[2,3]",
                     config_help=f"study TOML (configs/<study>.toml; study is one of {', '.join(NAMES)})",
                     out_help="run directory (default runs/<study>)")
    return p.parse_args(argv)


def resolve(config: str | None, overrides: list[str]):
    """(study module, validated config) from a TOML path and overrides; ConfigError on bad input."""
    if config is None:
        raise ConfigError("--config: required (e.g. --config configs/two_gaps.toml)")
    raw = read_toml(config)
    study = apply_overrides(raw, overrides).get("study")
    if study is None:
        raise ConfigError(f"study: missing required key in {config} (one of {', '.join(NAMES)})")
    if study not in NAMES:
        raise ConfigError(f"study: expected one of {', '.join(NAMES)}, got {study!r}")
    mod = study_module(study)
    return mod, load_config(mod.Config, config, overrides)


def command_line(config: str, overrides: list[str], out: str | None = None) -> str:
    """The command that repeats this run (recorded in metrics.json)."""
    parts = ["python -m ghostjax.analyze --config", shlex.quote(str(config))]
    if out:
        parts += ["--out", shlex.quote(str(out))]
    return " ".join(parts + [shlex.quote(o) for o in overrides])


def run_study(config: str, overrides: list[str], out: str | None = None, progress: bool = True) -> Path:
    """Validate, run and write one study; returns the run directory.

    A directory holding the same study is redone in place; anything else is refused (RunDir)."""
    mod, cfg = resolve(config, overrides)
    run = RunDir.claim(Path(out) if out else Path("runs") / cfg.study, to_dict(cfg), same_run=same_keys("study"))
    if progress:
        from tqdm.auto import tqdm

        def bar(it, **kw):
            return tqdm(it, leave=False, file=sys.stderr, **kw)
    else:
        bar = no_progress
    t0 = time.perf_counter()
    res = mod.run(cfg, bar)
    meta = run_meta(command_line(config, overrides, out), study=cfg.study,
                    elapsed_s=round(time.perf_counter() - t0, 2), config=to_dict(cfg))
    run.create()
    run.write_json("metrics.json", {"meta": meta, **res.metrics})
    for name, rows in res.curves.items():
        run.write_csv(f"{name}.csv", rows)
    for name, fig in res.figures.items():
        run.save_figure(name, fig)
    return run.path


def main(argv=None) -> int:
    args = parse_args(argv)
    out = run_study(args.config, args.overrides, args.out, progress=not args.no_progress)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

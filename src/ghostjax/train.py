"""`python -m ghostjax.train [--config configs/X.toml] [--out DIR] [--resume] [key.sub=value ...]`

Trains the score networks of a study config and samples them through the same integrator as the
exact scores. The TOML's top-level `study` key picks the study: "learned" (the default when absent:
joint, factorized, pooled, Aithal networks on opposite-corner mixtures; prints ghost fractions,
learned next to exact) or "hallucination" (Aithal et al.'s DDPM toy experiments: hallucination
fractions, the trajectory-variance detector, recursive training). Without --config it runs
configs/quickstart.toml.
The run directory (default runs/<name>) gets config.toml, metrics.json, summary.csv,
cells/<cell>/{checkpoints/, curves.csv, result.json} and figures/*.png.

--resume (learned and shapes studies) continues an interrupted run from its checkpoints (the config is
read back from the run directory when --config is not given); the resumed run ends with the same parameters as an
uninterrupted one. A run directory holding a different config is never overwritten.
Bad input prints one line and exits 2, before anything is written; a NaN/inf loss exits 1 and
keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from pathlib import Path

from .config import ConfigError, apply_overrides, build, cli_guard, entry_parser, read_toml, to_dict
from .runio import RunDir, run_meta, same_config

DEFAULT_CONFIG = "configs/quickstart.toml"
RESUMABLE = ("learned", "shapes")  # studies whose run() takes resume= and stop_after= (checkpointed training)
STUDIES = {"learned": "ghostjax.studies.ghosts.learned", "hallucination": "ghostjax.studies.hallucination.toy",
           "shapes": "ghostjax.studies.hallucination.shapes", "guidance_learned": "ghostjax.studies.guidance.learned"}


def parse_args(argv=None) -> argparse.Namespace:
    p = entry_parser("python -m ghostjax.train", __doc__, example='train.steps=500 model.kinds=["joint"]',
                     config_help=f"config TOML (default {DEFAULT_CONFIG})", out_help="run directory (default runs/<name>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                   help="stop every cell at this step with a checkpoint, as an interruption would (testing)")
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
    """(study name, validated config) of a train TOML: the `study` key (default "learned") picks the
    study module, whose Config validates the rest. ConfigError naming the key on bad input."""
    data = apply_overrides(read_toml(path), overrides)
    study = data.pop("study", "learned") if data.get("study", "learned") == "learned" else data["study"]
    if study not in STUDIES:
        raise ConfigError(f"study: expected one of {', '.join(STUDIES)}, got {study!r}")
    return study, build(importlib.import_module(STUDIES[study]).Config, data)


def prepare(args):
    """Validated (study, config, config path, claimed RunDir). Creates nothing; ConfigError on bad input."""
    path = args.config
    if path is None and args.resume and args.out and (Path(args.out) / "config.toml").is_file():
        path = str(Path(args.out) / "config.toml")
    if path is None:
        path = str(default_config_path())
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after: must be >= 1, got {args.stop_after}")
    study, cfg = load(path, args.overrides)
    if study not in RESUMABLE and (args.resume or args.stop_after is not None):
        raise ConfigError(f"--resume: the {study} study reruns, only {', '.join(RESUMABLE)} resume "
                          "(drop --resume/--stop-after)")
    run = RunDir.claim(Path(args.out) if args.out else Path("runs") / cfg.name, to_dict(cfg),
                       same_run=same_config, resume=args.resume)
    return study, cfg, path, run


def format_table(summary: list[dict]) -> str:
    lines = [f"{'score':<34} {'ghost':>7} {'off':>7} {'gap peak':>9} {'band err':>9}"]
    for r in summary:
        lines.append(f"{r['name']:<34} {r['ghost_fraction']:>7.3f} {r['off_fraction']:>7.3f} "
                     f"{r['gap_peak']:>9.3f} {r['score_rel_err_band']:>9.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    study, cfg, path, run = prepare(args)
    if study != "learned":
        return run_study(study, cfg, path, run, args)
    from .studies.ghosts import learned
    from .training import TrainingDiverged

    out = run.create().path
    command = " ".join(["python -m ghostjax.train --config", shlex.quote(str(path)), *map(shlex.quote, args.overrides)])
    meta = run_meta(command, config=to_dict(cfg))
    t0 = time.perf_counter()
    try:
        summary = learned.run(cfg, out, resume=args.resume, stop_after=args.stop_after,
                              progress=not args.no_progress, meta=meta)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    if summary:
        print(format_table(summary))
        from .metrics.census import product_ghost_mass

        dims = sorted({r["dim"] for r in summary})
        for d in dims:
            gm = learned.mixture(cfg, d)
            print(f"D={d}: best possible ghost fraction of any factorized score "
                  f"(product of marginals) 1 - w^D - (1-w)^D = {float(product_ghost_mass(gm)):.4f}")
    print(f"wrote {out} in {elapsed:.1f} s")
    return 0


def run_study(study: str, cfg, path: str, run: RunDir, args) -> int:
    """Run a study other than the learned one: its module's run(cfg, out_dir, progress=, meta=) writes
    metrics.json, summary.csv and figures in the run directory."""
    mod = importlib.import_module(STUDIES[study])
    out = run.create().path
    parts = ["python -m ghostjax.train --config", shlex.quote(str(path))]
    parts += ["--out", shlex.quote(str(args.out))] if args.out else []
    meta = run_meta(" ".join(parts + [shlex.quote(o) for o in args.overrides]), study=study, config=to_dict(cfg))
    t0 = time.perf_counter()
    from .training import TrainingDiverged

    extra = {"resume": args.resume, "stop_after": args.stop_after} if study in RESUMABLE else {}
    try:
        mod.run(cfg, out, progress=not args.no_progress, meta=meta, **extra)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

"""What `python -m ghostjax.train` and `python -m ghostjax.analyze` share: load a study config
through the registry, claim the run directory, run the study through the one interface
(studies/base.py) and write its Results. Only this module (and the sweep and report entry points)
writes a run's files.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from .config import ConfigError, RunFailed, apply_overrides, build, read_toml, to_dict
from .runio import RunDir, Workspace, run_meta, same_config, same_keys
from .studies import Results, finite_metrics, no_progress
from .studies.base import leaves
from .studies.registry import STUDIES, Study, get


def load(path: str, overrides: list[str], *, entry: str, default_study: str | None = None):
    """(Study, validated config) of a study TOML: the `study` key picks the study (`default_study`
    when absent), whose Config validates the rest. ConfigError naming the key on bad input."""
    data = apply_overrides(read_toml(path), overrides)
    name = data.get("study", default_study)
    if name is None:
        raise ConfigError(f"study: missing required key in {path}")
    study = get(name, entry=entry)
    if "study" not in data:
        data = {**data, "study": name}
    return study, build(study.Config, data)


def progress_bar(show: bool):
    """tqdm on stderr (no bar left behind), or no_progress."""
    if not show:
        return no_progress
    from tqdm.auto import tqdm

    def bar(it, **kw):
        return tqdm(it, leave=False, file=sys.stderr, **kw)
    return bar


def command_line(tool: str, config: str, overrides: list[str], out: str | None) -> str:
    """The command that repeats this run (recorded in metrics.json)."""
    parts = [f"python -m ghostjax.{tool} --config", shlex.quote(str(config))]
    if out:
        parts += ["--out", shlex.quote(str(out))]
    return " ".join(parts + [shlex.quote(o) for o in overrides])


def add_resume_args(parser, *, unit: str, stop_help: str) -> None:
    """--resume and --stop-after, shared by train and analyze (checked by `resume_config` and
    `check_resume`). `unit`: the metavar of --stop-after (STEP for training, CELLS for cells)."""
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--stop-after", type=int, default=None, metavar=unit, help=stop_help)


def resume_config(args) -> str | None:
    """The config path of a run: --config, else (with --resume) the config.toml of --out, else None.
    ConfigError when --stop-after is below 1."""
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after: must be >= 1, got {args.stop_after}")
    if args.config is None and args.resume and args.out and (Path(args.out) / "config.toml").is_file():
        return str(Path(args.out) / "config.toml")
    return args.config


def check_resume(study: Study, *, resume: bool, stop_after: int | None) -> None:
    """ConfigError unless `study` resumes when --resume or --stop-after is given (registry `resumable`)."""
    if study.resumable or not (resume or stop_after is not None):
        return
    names = [s.name for s in STUDIES.values() if s.resumable and s.entry == study.entry]
    only = f"only {', '.join(names)} resume" if names else "none resumes"
    raise ConfigError(f"--resume: the {study.name} study reruns, {only} (drop --resume/--stop-after)")


def claim(study: Study, cfg, out: str | None, *, resume: bool) -> RunDir:
    """The run directory (default runs/<name or study>), checked before anything runs. A run that
    resumes must find the same config there; other studies are redone in place when the folder holds
    the same study."""
    name = getattr(cfg, "name", None) or study.name
    same = same_config if study.resumable else same_keys("study")
    return RunDir.claim(Path(out) if out else Path("runs") / name, to_dict(cfg), same_run=same, resume=resume)


def write(run: RunDir, res: Results, meta: dict) -> None:
    """Write a study's Results into its run directory (each file atomically)."""
    run.write_json("metrics.json", {"meta": meta, **res.metrics})
    for name, rows in res.curves.items():
        run.write_csv(f"{name}.csv", rows)
    for rel, data in res.files.items():
        run.write_bytes(rel, data.encode() if isinstance(data, str) else data)
    for name, fig in res.figures.items():
        run.save_figure(name, fig)


def execute(study: Study, cfg, run: RunDir, *, command: str, progress: bool = True, resume: bool = False,
            stop_after: int | None = None) -> Results:
    """Run `study` on `cfg` and write its Results into `run`. A study that trains or resumes gets a
    Workspace in the run directory (created first, so that an interrupted run can resume; `stop_after`:
    the training step, or for a study that does not train the number of finished cells, at which the
    run stops as an interruption would); a run that fails leaves nothing that blocks the corrected rerun
    (RunDir.abandon). Results whose every number is non-finite, or whose headline numbers are, raise
    RunFailed (exit 1) before anything is written. meta.elapsed_s: this invocation's wall time."""
    meta = run_meta(command, study=study.name, config=to_dict(cfg))
    t0 = time.perf_counter()
    workspace = None
    if study.trains or study.resumable:
        run.create()
        workspace = Workspace(run.path, resume=resume, stop_after=stop_after, meta=meta)
    try:
        res = study.run(cfg, progress=progress_bar(progress), resume=workspace)
        if res.stopped_at is None:
            check_results(res)
    except BaseException as e:
        run.abandon()
        if isinstance(e, KeyboardInterrupt) and not str(e) and study.resumable and not study.trains:
            raise KeyboardInterrupt("interrupted; the finished cells are kept, resume with --resume") from None
        raise
    if res.stopped_at is not None:
        where = f"at step {res.stopped_at}" if study.trains else f"after {res.stopped_at} finished cells"
        print(f"stopped {where}; resume with --resume", file=sys.stderr)
        return res
    meta["elapsed_s"] = round(time.perf_counter() - t0, 2)
    if workspace is None:
        run.create()
    write(run, res, meta)
    return res


def check_results(res: Results) -> None:
    """RunFailed naming the first non-finite headline number (`metrics["headline"]`, if the study
    reports one), a census that counted non-finite samples, or saying that every number is non-finite."""
    head = res.metrics.get("headline")
    if head is not None:
        bad = finite_metrics(head, "headline.")
        if bad:
            raise RunFailed(f"results: {bad} is not finite (the samples diverged; lower the setting that drives them)")
    bad = _non_finite_samples(res.metrics)
    if bad:
        raise RunFailed(f"results: {bad[1]} non-finite samples in the census at {bad[0]} (the sampler diverged)")
    if not _any_finite(res.metrics):
        raise RunFailed("results: every metric is non-finite (the samples diverged)")


def _non_finite_samples(metrics: dict) -> tuple[str, int] | None:
    """(dotted path, count) of the first census in the metrics that counted non-finite samples
    (metrics.census's `non_finite`), else None."""
    for path, v in leaves(metrics):
        if path.rsplit(".", 1)[-1] == "non_finite" and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return path.rpartition(".")[0] or "(top level)", int(v)
    return None


def _any_finite(metrics: dict) -> bool:
    """False when the metrics hold float numbers and none of them is finite."""
    import math

    import numpy as np

    floats = []
    for _, v in leaves(metrics):
        if hasattr(v, "shape") and np.asarray(v).dtype.kind == "f":
            floats += np.asarray(v, dtype=float).reshape(-1).tolist()
        elif isinstance(v, float):
            floats.append(v)
    return not floats or any(math.isfinite(x) for x in floats)

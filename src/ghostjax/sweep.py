"""`python -m ghostjax.sweep --config configs/sweep_<name>.toml [--out DIR] [key.sub=value ...]`

Runs every cell of a grid (or list) of settings, e.g. dim × seed × weight, and writes one table with
a row per cell (all its settings and metrics) to DIR (default runs/<name>): results.csv,
results.json, curves.csv, timings.json, config.toml, figures/summary.png. The table is rewritten
atomically after every batch; a rerun skips finished cells (resume), whatever the device count.

Cells that share array shapes run as one compiled program, vmapped over their numeric settings
and sharded over a ("cells", "particles") device mesh; the persistent compilation cache
(run.cache_dir, default DIR/xla_cache) spares a rerun the compilation. Across hosts, every process
runs this same command with --coordinator/--num-processes/--process-id (or the environment JAX
reads: JAX_COORDINATOR_ADDRESS..., SLURM, Open MPI); only process 0 writes.
Bad input prints one line and exits 2 before anything is written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from .config import ConfigError, RunFailed, cli_guard, entry_parser, load_config, to_dict
from .runio import RunDir, same_keys


def parse_args(argv=None) -> argparse.Namespace:
    p = entry_parser("python -m ghostjax.sweep", __doc__, example="grid.dim=[2,4] base.n=1024 run.batch_cells=4",
                     config_help="sweep TOML (configs/sweep_dims.toml, sweep_learned.toml, ...)", config_required=True,
                     out_help="run directory (default runs/<name>)", epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--coordinator", metavar="HOST:PORT", help="jax.distributed coordinator (process 0's address)")
    p.add_argument("--num-processes", type=int, metavar="N", help="number of processes (hosts) in the run")
    p.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 … N−1")
    p.add_argument("--stop-after-batches", type=int, help=argparse.SUPPRESS)  # tests: SIGKILL after K batches
    return p.parse_args(argv)


def _check_flags(args) -> None:
    if args.coordinator is not None:
        host, _, port = args.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--coordinator: expected HOST:PORT, got {args.coordinator!r}")
    if args.num_processes is not None and args.num_processes < 1:
        raise ConfigError(f"--num-processes: must be >= 1, got {args.num_processes}")
    if args.process_id is not None:
        n = args.num_processes
        if args.process_id < 0 or (n is not None and args.process_id >= n):
            raise ConfigError(f"--process-id: must lie in [0, {n}), got {args.process_id}")
    if (args.num_processes or 1) > 1 and args.coordinator is None:
        raise ConfigError("--num-processes: needs --coordinator HOST:PORT")


def prepare(args):
    """(config, cells, run dir), all validated; creates nothing (ConfigError on bad input)."""
    from .sweeps.spec import SweepConfig, expand

    _check_flags(args)
    cfg = load_config(SweepConfig, args.config, args.overrides)
    cells = expand(cfg)
    run = RunDir.claim(Path(args.out) if args.out else Path("runs") / cfg.name, to_dict(cfg),
                       same_run=same_keys("name", "kind"), noun="sweep")
    return cfg, cells, run


def check_rows(rows: list[dict], metrics: tuple[str, ...]) -> None:
    """RunFailed when the sweep's metric columns hold numbers but none of them is finite (every cell
    diverged): a sweep never ends with exit 0 and a table of nulls."""
    import math

    vals = [r.get(m) for r in rows for m in metrics]
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if rows and not any(math.isfinite(v) for v in nums):
        raise RunFailed(f"results: every metric of the {len(rows)} cells is non-finite or missing "
                        "(the samples diverged: check the settings that drive them)")


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg, cells, run = prepare(args)
    out = run.path
    from .sweeps import mesh as meshes

    if meshes.wants_distributed(args.coordinator, args.num_processes):
        meshes.init_distributed(args.coordinator, args.num_processes, args.process_id)
    import jax

    writer = jax.process_index() == 0
    cache = cfg.run.cache_dir or (str(out / "xla_cache") if writer else "none")
    if cache != "none":
        meshes.enable_cache(cache)
    counts = {"hits": 0, "misses": 0}

    def listen(event, **kw):
        for k in counts:
            if event == f"/jax/compilation_cache/cache_{k}":
                counts[k] += 1

    jax.monitoring.register_event_listener(listen)
    from .sweeps import figures
    from .sweeps.kinds import get_kind
    from .sweeps.runner import make_context, run_sweep
    from .runio import atomic_write_json

    ctx, groups = make_context(cfg, cells, out, progress=not args.no_progress)  # ConfigError before writing
    if writer:
        run.create()
    t0 = time.perf_counter()
    table = run_sweep(cfg, cells, ctx, groups, stop_after_batches=args.stop_after_batches)
    wall = time.perf_counter() - t0
    if not writer:
        return 0
    rows = table.ordered()
    check_rows(rows, get_kind(cfg.kind).metrics)
    compile_s = sum(ctx.timings["compile"].values())
    batch_s = sum(b["seconds"] for b in ctx.timings["batches"])
    atomic_write_json(out / "timings.json", {
        "command": " ".join(["python -m ghostjax.sweep", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "devices": jax.device_count(), "processes": jax.process_count(), "platform": jax.devices()[0].platform,
        "mesh": dict(ctx.mesh.shape), "cells": len(cells), "cells_run": sum(b["cells"] for b in ctx.timings["batches"]),
        "wall_s": round(wall, 3), "compile_s": round(compile_s, 3), "run_s": round(batch_s - compile_s, 3),
        "persistent_cache": {"dir": None if cache == "none" else str(Path(cache).resolve()), **counts},
        **ctx.timings})
    varied = list(dict.fromkeys(k for c in cells for k in c.varied))
    if cfg.run.figures and rows:
        figures.summary(rows, varied, get_kind(cfg.kind).figure_metrics, out / "figures" / "summary.png", cfg.name)
    n_run = sum(b["cells"] for b in ctx.timings["batches"])
    print(f"{len(rows)}/{len(cells)} cells done ({n_run} run now) on {jax.device_count()} device(s): "
          f"compile {compile_s:.1f} s, run {batch_s - compile_s:.1f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

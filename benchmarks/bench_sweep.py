"""Benchmark of `python -m ghostjax.sweep`: wall time of a sweep on 1 vs 2 devices (forced host
devices on CPU), split into compilation and run, cold (empty persistent cache) and warm (a rerun
into a fresh run directory with the cache kept), and its throughput in particle-steps per second.

    python benchmarks/bench_sweep.py                               # sweep_dims.toml, 1 and 2 devices
    python benchmarks/bench_sweep.py --devices 1 2 4 -- base.n=1024  # overrides after --
    python benchmarks/bench_sweep.py --config configs/sweep_large_gpu.toml --devices 1 --accelerator
                                                                     # GPU: no forced host devices

Each configuration runs in its own subprocess (the device count is fixed when JAX starts); the
numbers come from the run's timings.json (compile = AOT lower + compile of every shape group,
run = batches minus compile) and the subprocess's wall time (including Python and JAX start-up).
Results: benchmarks/results/bench_sweep.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(config: str, out: Path, cache: Path, devices: int, overrides: list[str], accelerator: bool,
             src: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    if not accelerator:
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, "-m", "ghostjax.sweep", "--config", config, "--out", str(out), "--no-progress",
           f"run.cache_dir={cache}", *overrides]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"sweep failed ({p.returncode}): {p.stderr[-2000:]}")
    t = json.loads((out / "timings.json").read_text())
    rows = json.loads((out / "results.json").read_text())["rows"]
    particle_steps = sum(2 * r["n"] * r["n_steps"] for r in rows if "n" in r)  # joint + factorized chains
    return {"process_wall_s": round(wall, 2), "sweep_wall_s": t["wall_s"], "compile_s": t["compile_s"],
            "run_s": t["run_s"], "programs": len(t["compile"]), "cells": t["cells"], "mesh": t["mesh"],
            "devices": t["devices"], "platform": t["platform"], "cache": t["persistent_cache"],
            "particle_steps_per_s_run": round(particle_steps / t["run_s"], 1) if t["run_s"] > 0 else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "configs" / "sweep_dims.toml"))
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    p.add_argument("--accelerator", action="store_true", help="use the default backend (GPU/TPU), no forced devices")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_sweep.json"))
    p.add_argument("overrides", nargs="*", help="sweep overrides, e.g. base.n=1024")
    args = p.parse_args(argv)
    results = {"config": os.path.relpath(args.config, REPO), "overrides": args.overrides,
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                           "processor": platform.processor() or platform.machine()},
               "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        # A snapshot of the sources, so every run compiles the same programs even while the
        # working tree changes (an edit would otherwise turn the warm run's cache hits into misses).
        src = Path(tmp) / "src"
        shutil.copytree(REPO / "src" / "ghostjax", src / "ghostjax", ignore=shutil.ignore_patterns("__pycache__"))
        config = Path(tmp) / Path(args.config).name
        shutil.copy(args.config, config)
        for d in args.devices:
            cache = Path(tmp) / f"cache{d}"
            cold = run_once(str(config), Path(tmp) / f"cold{d}", cache, d, args.overrides, args.accelerator, src)
            warm = run_once(str(config), Path(tmp) / f"warm{d}", cache, d, args.overrides, args.accelerator, src)
            results["runs"][f"{d}_devices"] = {"cold_cache": cold, "warm_cache": warm}
            print(f"{d} device(s): cold {cold['sweep_wall_s']:.1f} s (compile {cold['compile_s']:.1f}, run "
                  f"{cold['run_s']:.1f}); warm {warm['sweep_wall_s']:.1f} s (compile {warm['compile_s']:.1f}, "
                  f"run {warm['run_s']:.1f}, cache hits {warm['cache']['hits']})", flush=True)
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

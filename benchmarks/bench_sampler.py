#!/usr/bin/env python
"""Particle-steps per second of ghostjax's exact-score Euler–Maruyama sampler.

Side by side in one process, repeats interleaved (other jobs share the cores):

  ghostjax   gj.sample(gm.score, x_init, sigmas, key, solver=gj.EulerMaruyama())
  (b) scan   the smallest hand-written jax.lax.scan loop doing the same maths (log-space softmax
             responsibilities, the same jax.random.normal draw from the same split key per step);
             compiled twice, with plain jax.jit and with the compiler option ghostjax uses on CPU,
             and the FASTER of the two is the reference
  (a) numpy  the same loop in NumPy float32 with np.random.default_rng normals (fewer steps,
             scaled to particle-steps/s)
  (c) floor  jax.random.normal for N·D numbers per step over the same number of steps in a
             lax.scan with the same key splitting, accumulated (not dead code): the floor for any
             SDE sampler on this machine (again the faster of plain jit / CPU option)

Main case D = 8, N = 16384, 500 steps, K = 2 and K = 64. Then the large case K = 10^4, D = 128
(time per step and peak memory, each in a subprocess) and the growth of time with N, K and D
(log-log exponents from numpy.polyfit).

    python benchmarks/bench_sampler.py            # full run (< 10 min on 2 cores)
    python benchmarks/bench_sampler.py --quick    # smoke run (< 1 min; fewer steps, no plain-jit variants)
    python benchmarks/bench_sampler.py --huge     # also N = 10^5 in the large case (slow)
    python benchmarks/bench_sampler.py --large-k  # only the matrix-product path: K = 10^4, D = 128 score step
                                                  # before/after vs a 4096^3 GEMM, K = 2 / 64 (~2 min)

Results: benchmarks/results/bench_sampler.json and .md, bench_sampler_matmul.json and .md for --large-k
(see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOG_2PI = float(np.log(2.0 * np.pi))


# ---------------------------------------------------------------------------------- helpers
def _jax():
    import jax
    import jax.numpy as jnp

    import ghostjax as gj

    return jax, jnp, gj


def _timed(fn):
    """(wall seconds, process CPU seconds) of fn(), blocking on its JAX result."""
    jax, _, _ = _jax()
    c0, t0 = time.process_time(), time.perf_counter()
    jax.block_until_ready(fn())
    t1, c1 = time.perf_counter(), time.process_time()
    return t1 - t0, c1 - c0


def _cpu_options():
    """The per-compilation XLA option ghostjax's sampler uses on CPU (None elsewhere)."""
    from ghostjax import integrate

    return integrate.compiler_options()


def machine_info() -> dict:
    jax, _, gj = _jax()
    import jaxlib

    model = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "ghostjax": gj.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": mem_gib,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "prng_impl": str(jax.config.jax_default_prng_impl),
        "xla_flags_env": os.environ.get("XLA_FLAGS", ""),
        "ghostjax_cpu_compiler_options": _cpu_options(),
        "cpu_vector_extensions": cpu_vector_extensions(),
    }


# ---------------------------------------------------------------------------------- problems
def make_problem(K: int, D: int, N: int, steps: int, seed: int = 0, chunk: int | None = None):
    jax, jnp, gj = _jax()
    kw = {} if chunk is None else {"chunk": chunk}
    gm = gj.GaussianMixture.random_classes(D, K, key=jax.random.key(seed), mean_std=2.0, std=0.5, **kw)
    sigmas = gj.edm_grid(80.0, 0.002, steps)
    x_init = gj.prior(jax.random.key(seed + 1), N, D, 80.0)
    key = jax.random.key(seed + 2)
    return gm, sigmas, x_init, key


def _em_kw() -> dict:
    """Euler–Maruyama for gj.sample, in the solver API or the older method= API."""
    _, _, gj = _jax()
    return {"solver": gj.EulerMaruyama()} if hasattr(gj, "EulerMaruyama") else {"method": "euler_maruyama"}


def ghostjax_em(gm, x_init, sigmas, key, score=None):
    _, _, gj = _jax()
    return gj.sample(gm.score if score is None else score, x_init, sigmas, key=key, **_em_kw()).x


def hand_scan_em(x, sigmas, key, means, log_w, data_var):
    """(b): the smallest hand-written lax.scan Euler–Maruyama loop with the exact mixture score."""
    jax, jnp, _ = _jax()
    keys = jax.random.split(key, sigmas.shape[0] - 1)

    def step(x, inp):
        s, s_next, k = inp
        var = data_var + s * s                                            # [K, D]
        diff = x[:, None, :] - means                                      # [N, K, D]
        w = diff / var
        logits = log_w - 0.5 * jnp.sum(jnp.log(var) + LOG_2PI, -1) - 0.5 * jnp.sum(diff * w, -1)
        r = jnp.exp(logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True))  # log-space softmax
        score = -jnp.sum(r[:, :, None] * w, axis=1)                      # [N, D]
        ds2 = s * s - s_next * s_next
        z = jax.random.normal(k, x.shape, x.dtype)
        return x + ds2 * score + jnp.sqrt(ds2) * z, None

    return jax.lax.scan(step, x, (sigmas[:-1], sigmas[1:], keys))[0]


def rng_floor(x, key, n_steps):
    """(c): N·D normals per step, same key splitting as the sampler, accumulated into x."""
    jax, jnp, _ = _jax()
    keys = jax.random.split(key, n_steps)

    def step(acc, k):
        return acc + jax.random.normal(k, acc.shape, acc.dtype), None

    return jax.lax.scan(step, x, keys)[0]


def numpy_em(x, sigmas, rng, means, log_w, data_var):
    """(a): the same loop in NumPy float32 (vectorised over particles and modes)."""
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        var = data_var + s * s                                            # [K, D]
        diff = x[:, None, :] - means                                      # [N, K, D]
        w = diff / var
        # einsum for both reductions: the fastest of the NumPy forms we tried (~1.8x sum/multiply)
        logits = log_w - 0.5 * np.sum(np.log(var) + np.float32(LOG_2PI), -1) - 0.5 * np.einsum("nkd,nkd->nk", diff, w)
        logits -= logits.max(axis=1, keepdims=True)                       # log-space softmax
        r = np.exp(logits)
        r /= r.sum(axis=1, keepdims=True)
        score = -np.einsum("nk,nkd->nd", r, w)
        ds2 = s * s - s_next * s_next
        x = x + ds2 * score + np.sqrt(ds2) * rng.standard_normal(x.shape, dtype=np.float32)
    return x


# ---------------------------------------------------------------------------------- main case
def bench_main(Ks, D, N, steps, np_steps, b_steps, reps, log, plain=True):
    jax, jnp, gj = _jax()
    opts = _cpu_options()
    out = {}
    for K in Ks:
        gm, sigmas, x_init, key = make_problem(K, D, N, steps)
        means, log_w, dvar = gm.means, jnp.log(gm.weights), gm.stds**2
        bs = min(b_steps.get(K, steps), steps)  # (b) is timed over the first bs steps of the grid
        sig_b = sigmas[: bs + 1]
        hand_plain = jax.jit(hand_scan_em)
        floor_plain = jax.jit(rng_floor, static_argnums=2)
        runs = {"ghostjax": lambda: ghostjax_em(gm, x_init, sigmas, key)}
        if plain or opts is None:
            runs["scan_jit"] = lambda: hand_plain(x_init, sig_b, key, means, log_w, dvar)
            runs["floor_jit"] = lambda: floor_plain(x_init, key, steps)
        if opts is not None:
            hand_opt = jax.jit(hand_scan_em, compiler_options=opts)
            floor_opt = jax.jit(rng_floor, static_argnums=2, compiler_options=opts)
            runs["scan_opt"] = lambda: hand_opt(x_init, sig_b, key, means, log_w, dvar)
            runs["floor_opt"] = lambda: floor_opt(x_init, key, steps)
        np_sig = np.asarray(sigmas[: np_steps + 1], np.float32)
        np_x = np.asarray(x_init, np.float32)
        np_args = (np.asarray(means), np.asarray(log_w), np.asarray(dvar))
        runs["numpy"] = lambda: numpy_em(np_x, np_sig, np.random.default_rng(0), *np_args)

        first = {name: _timed(fn)[0] for name, fn in runs.items()}  # compile + first run
        # numerical cross-check: ghostjax and (b) draw the same normals from the same keys
        xg = np.asarray(ghostjax_em(gm, x_init, sig_b, key))
        xb = np.asarray(runs["scan_opt" if "scan_opt" in runs else "scan_jit"]())  # same maths, same draws
        agree = float(np.max(np.abs(xg - xb)))
        walls = {n: [] for n in runs}
        cpus = {n: [] for n in runs}
        loads = []
        names = list(runs)
        for r in range(reps):
            order = names[r % len(names):] + names[: r % len(names)]  # rotate to spread drift
            for n in order:
                w, c = _timed(runs[n])
                walls[n].append(w)
                cpus[n].append(c)
            loads.append(os.getloadavg()[0])
        res = {}
        for n in names:
            st = np_steps if n == "numpy" else bs if n.startswith("scan_") else steps
            med = float(np.median(walls[n]))
            res[n] = {
                "steps_timed": st,
                "wall_s_median": med,
                "wall_s_min": float(np.min(walls[n])),
                "wall_s_all": [float(w) for w in walls[n]],
                "ms_per_step": 1e3 * med / st,
                "particle_steps_per_s": N * st / med,
                "cpu_per_wall": float(np.sum(cpus[n]) / np.sum(walls[n])),
                "first_call_s": first[n],
                "compile_s_est": max(first[n] - float(np.min(walls[n])), 0.0),
            }
        out[f"K={K}"] = {"K": K, "D": D, "N": N, "steps": steps, "scan_steps": bs, "numpy_steps": np_steps, "runs": res,
                         "max_abs_diff_ghostjax_vs_scan": agree, "agreement_steps": bs, "loadavg_1min_per_rep": loads}
        log(f"  K={K}: " + ", ".join(f"{n} {res[n]['ms_per_step']:.3f} ms/step" for n in names)
            + f" | load {np.mean(loads):.1f} | |x_gj - x_scan|max {agree:.2e}")
    return out


def verdicts(main: dict) -> list[dict]:
    """Ratios against the targets, in particle-steps/s (higher is better)."""
    rows = []

    def thr(case, name):
        return case["runs"][name]["particle_steps_per_s"]

    def cpu_thr(case, name):  # particle-steps per process-CPU-second: less sensitive to other jobs
        r = case["runs"][name]
        return r["particle_steps_per_s"] / r["cpu_per_wall"]

    def best(case, prefix):
        names = [n for n in case["runs"] if n.startswith(prefix)]
        return max(names, key=lambda n: thr(case, n))

    for key, case in main.items():
        K = case["K"]
        g = thr(case, "ghostjax")
        b = best(case, "scan_")
        rows.append({"target": f"K={K}: no slower than (b) hand-written scan", "ref": b,
                     "ratio": g / thr(case, b), "ratio_meaning": "ghostjax / (b) throughput",
                     "ratio_cpu_time": cpu_thr(case, "ghostjax") / cpu_thr(case, b),
                     "threshold": ">= 1.0", "pass": g / thr(case, b) >= 1.0})
        if K == 2:
            c = best(case, "floor_")
            rows.append({"target": "K=2: within 1.25x of (c) RNG floor", "ref": c,
                         "ratio": thr(case, c) / g, "ratio_meaning": "time ghostjax / time (c)",
                         "ratio_cpu_time": cpu_thr(case, c) / cpu_thr(case, "ghostjax"),
                         "threshold": "<= 1.25", "pass": thr(case, c) / g <= 1.25})
        need = {2: 5.0, 64: 15.0}.get(K)
        if need is not None:
            rows.append({"target": f"K={K}: >= {need:g}x (a) NumPy", "ref": "numpy",
                         "ratio": g / thr(case, "numpy"), "ratio_meaning": "ghostjax / (a) throughput",
                         "ratio_cpu_time": cpu_thr(case, "ghostjax") / cpu_thr(case, "numpy"),
                         "threshold": f">= {need:g}", "pass": g / thr(case, "numpy") >= need})
    return rows


# ---------------------------------------------------------------------------------- large case
def child_large(N, K, D, steps, reps, chunk):
    """Run in a subprocess: time per step and peak RSS of one (N, K, D) sampler run."""
    jax, jnp, gj = _jax()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gm, sigmas, x_init, key = make_problem(K, D, N, steps, chunk=chunk)
    jax.block_until_ready((gm.means, x_init))
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if reps < 0:  # compile only: XLA's own buffer accounting for this shape, nothing is run
        from ghostjax import integrate

        opts = _cpu_options()
        if hasattr(gj, "EulerMaruyama"):
            def impl(g, x, s, k):
                return integrate._run_impl(g.score, x, s, key=k, observers={}, solver=gj.EulerMaruyama(),
                                           final_denoise=False)[0]
        else:
            def impl(g, x, s, k):
                return integrate._run_impl(g.score, x, s, k, {}, "euler_maruyama", "beta", False)[0]
        run = jax.jit(impl, **({"compiler_options": opts} if opts else {}))
        t0 = time.perf_counter()
        m = run.lower(gm, x_init, sigmas, key).compile().memory_analysis()
        res = {"N": N, "K": K, "D": D, "steps": steps, "chunk": gm.chunk, "compile_only": True,
               "compile_s": time.perf_counter() - t0,
               "xla_temp_gib": m.temp_size_in_bytes / 2**30, "xla_args_gib": m.argument_size_in_bytes / 2**30,
               "xla_output_gib": m.output_size_in_bytes / 2**30,
               "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
        print("RESULT " + json.dumps(res), flush=True)
        return
    t_first, _ = _timed(lambda: ghostjax_em(gm, x_init, sigmas, key))
    walls = []
    for r in range(reps):  # new σ values, same shapes: no recompilation
        sig = sigmas * (1.0 - 1e-3 * (r + 1))
        walls.append(_timed(lambda: ghostjax_em(gm, x_init, sig, key))[0])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = {"N": N, "K": K, "D": D, "steps": steps, "chunk": gm.chunk, "first_call_s": t_first,
           "wall_s_all": walls, "peak_rss_gib": rss / 2**20, "rss_after_setup_gib": rss_setup / 2**20,
           "rss_at_start_gib": rss0 / 2**20}
    if walls:
        res["s_per_step"] = float(np.median(walls)) / steps
    print("RESULT " + json.dumps(res), flush=True)


def run_child(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-large", *map(str, args)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s", "args": args}
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["subprocess_wall_s"] = time.perf_counter() - t0
            res["rusage_children_maxrss_gib_so_far"] = child_rss
            return res
    return {"error": f"exit {p.returncode} (killed by the OOM killer if -9)", "args": args,
            "stderr_tail": p.stderr[-600:]}


def bench_large(cases, log):
    out = []
    for N, K, D, steps, reps in cases:
        res = run_child([N, K, D, steps, reps, 0], timeout=900)
        out.append(res)
        if "error" in res:
            log(f"  N={N} K={K} D={D}: {res['error']}")
        elif res.get("compile_only"):
            log(f"  N={N} K={K} D={D}: compile only, XLA temp buffers {res['xla_temp_gib']:.2f} GiB, "
                f"arguments {res['xla_args_gib']:.2f} GiB")
        else:
            per = res.get("s_per_step")
            log(f"  N={N} K={K} D={D}: " + (f"{per:.3f} s/step" if per else f"first call {res['first_call_s']:.1f} s")
                + f", peak RSS {res['peak_rss_gib']:.2f} GiB")
    return out


# ---------------------------------------------------------------------------------- scaling
def bench_scaling(grid, steps, reps, log):
    jax, jnp, gj = _jax()
    out = {}
    for axis, points in grid.items():
        rows = []
        for N, K, D in points:
            gm, sigmas, x_init, key = make_problem(K, D, N, steps)
            fn = lambda: ghostjax_em(gm, x_init, sigmas, key)  # noqa: E731
            _timed(fn)
            walls = [_timed(fn)[0] for _ in range(reps)]
            rows.append({"N": N, "K": K, "D": D, "s_per_step": float(np.median(walls)) / steps})
        xs = np.array([r[axis] for r in rows], float)
        ts = np.array([r["s_per_step"] for r in rows], float)
        slope, icpt = np.polyfit(np.log(xs), np.log(ts), 1)
        out[axis] = {"points": rows, "exponent": float(slope), "log_prefactor": float(icpt)}
        pts = ", ".join(f"{r[axis]}: {1e3 * r['s_per_step']:.2f} ms" for r in rows)
        log(f"  time ∝ {axis}^{slope:.2f}  ({pts})")
    return out


# ---------------------------------------------------------------------------------- large K: matrix products
LARGE_K = {"N": 4096, "K": 10_000, "D": 128, "steps": 2}


def cpu_vector_extensions() -> dict:
    """The CPU's SIMD extensions from /proc/cpuinfo: {"best": "AVX-512" | "AVX2" | ..., "flags": [...]}."""
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith(("avx", "fma", "sse4", "amx")))
    best = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags
            else "unknown")
    return {"best": best, "flags": simd}


@contextlib.contextmanager
def mixture_path(path: str):
    """Trace GaussianMixture's joint posterior on one path: "stream" (the chunked elementwise
    path, i.e. the code before the matrix products), "matmul", or "auto" (the library's dispatch)."""
    from ghostjax import _matmul

    names = ("MATMUL_MIN_K", "MATMUL_MIN_D", "MATMUL_MIN_KD")
    saved = {n: getattr(_matmul, n) for n in names}
    if path != "auto":
        for n in names:
            setattr(_matmul, n, 10**12 if path == "stream" else 0)
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(_matmul, n, v)


@functools.cache
def _path_score_class():
    import equinox as eqx

    class PathScore(eqx.Module):
        """gm.score traced on a forced path; `path` is static, so each path compiles on its own,
        and gj.sample traces gm's arrays exactly as it does for the bound method gm.score."""

        gm: eqx.Module
        path: str = eqx.field(static=True)

        def __call__(self, x, sigma):
            with mixture_path(self.path):
                return self.gm.score(x, sigma)

    return PathScore


def path_score(gm, path: str):
    return _path_score_class()(gm, path)


def _interleaved(runs: dict, reps: int, log, label: str) -> tuple[dict, list]:
    """First call (compile) of each, then `reps` rounds in rotating order; wall seconds per run."""
    first = {n: _timed(fn)[0] for n, fn in runs.items()}
    walls, loads, names = {n: [] for n in runs}, [], list(runs)
    for r in range(reps):
        for n in names[r % len(names):] + names[: r % len(names)]:
            walls[n].append(_timed(runs[n])[0])
        loads.append(os.getloadavg()[0])
        log(f"  {label} round {r + 1}/{reps}: load {loads[-1]:.1f}")
    return {n: {"wall_s_all": walls[n], "wall_s_median": float(np.median(walls[n])), "first_call_s": first[n]}
            for n in names}, loads


def bench_large_k(reps: int, log) -> dict:
    """K = 1e4, D = 128, N = 4096: score step before (streamed) vs after (matrix products), in
    gj.sample and in research code's own jax.jit(jax.vmap(gm.score, (0, None))), against a
    4096³ float32 GEMM of the same run; then K = 2 / K = 64 (D = 8) for regressions."""
    jax, jnp, gj = _jax()
    cfg = LARGE_K
    N, K, D, steps = cfg["N"], cfg["K"], cfg["D"], cfg["steps"]
    gm, sigmas, x_init, key = make_problem(K, D, N, steps)
    a = jax.random.normal(jax.random.key(5), (4096, 4096), jnp.float32)
    b = jax.random.normal(jax.random.key(6), (4096, 4096), jnp.float32)
    gemm = jax.jit(lambda u, v: u @ v)
    jit_stream = jax.jit(jax.vmap(path_score(gm, "stream"), (0, None)))
    jit_matmul = jax.jit(jax.vmap(gm.score, (0, None)))  # research code, verbatim: gm closed over
    score_stream = path_score(gm, "stream")
    x = 3.0 * jax.random.normal(jax.random.key(7), (N, D))
    runs = {
        "gemm_4096": lambda: gemm(a, b),
        "sample_stream": lambda: ghostjax_em(gm, x_init, sigmas, key, score=score_stream),
        "sample_matmul": lambda: ghostjax_em(gm, x_init, sigmas, key),
        "jit_stream": lambda: jit_stream(x, 0.5),
        "jit_matmul": lambda: jit_matmul(x, 0.5),
    }
    log(f"large K: N={N} K={K} D={D}, gj.sample over {steps} steps, research jit one score call, {reps} rounds")
    timed, loads = _interleaved(runs, reps, log, "large K")
    gemm_gflops = 2 * 4096**3 / timed["gemm_4096"]["wall_s_median"] / 1e9
    flop = 6 * N * K * D
    out = {"config": dict(cfg), "flop_per_score_step": flop, "flop_count": "6 N K D per score step",
           "gemm_gflops": gemm_gflops, "loadavg_1min_per_round": loads, "runs": timed}
    for name, r in timed.items():
        if name == "gemm_4096":
            r["ms"] = 1e3 * r["wall_s_median"]
            continue
        per_step = r["wall_s_median"] / (steps if name.startswith("sample") else 1)
        r["ms_per_score_step"] = 1e3 * per_step
        r["gflops"] = flop / per_step / 1e9
        r["fraction_of_gemm"] = r["gflops"] / gemm_gflops
    for ctx in ("sample", "jit"):
        out[f"{ctx}_speedup"] = timed[f"{ctx}_stream"]["wall_s_median"] / timed[f"{ctx}_matmul"]["wall_s_median"]
    s_new = np.asarray(jit_matmul(x, 0.5), np.float64)
    s_old = np.asarray(jit_stream(x, 0.5), np.float64)
    out["max_rel_diff_matmul_vs_stream"] = float(np.max(np.linalg.norm(s_new - s_old, axis=1)
                                                        / (1 + np.linalg.norm(s_old, axis=1))))
    for ctx in ("sample", "jit"):
        r = timed[f"{ctx}_matmul"]
        log(f"  {ctx}: {timed[f'{ctx}_stream']['ms_per_score_step']:.0f} -> {r['ms_per_score_step']:.0f} ms/step "
            f"({out[f'{ctx}_speedup']:.2f}x), {r['gflops']:.0f} GFlop/s = {100 * r['fraction_of_gemm']:.0f} % of "
            f"GEMM ({gemm_gflops:.0f} GFlop/s)")
    out["small_k"] = bench_small_k_paths(reps, log)
    return out


def bench_small_k_paths(reps: int, log, N: int = 16384, D: int = 8, steps: int = 100) -> dict:
    """bench_sampler's main cases (D = 8, K = 2 and 64) on the library's dispatch ("auto"), the
    streamed path as before the change ("stream") and forced matrix products ("matmul")."""
    out = {}
    for K in (2, 64):
        gm, sigmas, x_init, key = make_problem(K, D, N, steps)
        scores = {p: path_score(gm, p) for p in ("auto", "stream", "matmul")}
        runs = {p: functools.partial(ghostjax_em, gm, x_init, sigmas, key, score=s) for p, s in scores.items()}
        timed, loads = _interleaved(runs, reps, log, f"K={K}")
        for r in timed.values():
            r["ms_per_step"] = 1e3 * r["wall_s_median"] / steps
        out[f"K={K}"] = {"K": K, "D": D, "N": N, "steps": steps, "runs": timed, "loadavg_1min_per_round": loads,
                         "auto_vs_stream_time": timed["auto"]["wall_s_median"] / timed["stream"]["wall_s_median"]}
        log(f"  K={K}: " + ", ".join(f"{p} {r['ms_per_step']:.3f} ms/step" for p, r in timed.items()))
    return out


def large_k_markdown(res: dict) -> str:
    m, lk = res["machine"], res["large_k"]
    c = lk["config"]
    lines = [f"# bench_sampler --large-k ({res['date_utc']})", "",
             f"Machine: {m['cpu_model']}, {m['cpu_count']} CPU cores, SIMD {m['cpu_vector_extensions']['best']}, "
             f"jax {m['jax']}. Load average (1 min) at start / end: {res['loadavg_start'][0]:.1f} / "
             f"{res['loadavg_end'][0]:.1f}; per round: {', '.join(f'{v:.1f}' for v in lk['loadavg_1min_per_round'])}.",
             "", f"Score step N = {c['N']}, K = {c['K']}, D = {c['D']} (counted as 6·N·K·D = "
             f"{lk['flop_per_score_step'] / 1e9:.1f} GFlop); 4096³ float32 GEMM in the same run: "
             f"{lk['gemm_gflops']:.0f} GFlop/s ({lk['runs']['gemm_4096']['ms']:.0f} ms).", "",
             "| context | path | ms / score step | GFlop/s | % of GEMM | speed-up |", "|---|---|---:|---:|---:|---:|"]
    for ctx, label in (("sample", "gj.sample (sampler's compile options)"),
                       ("jit", "research code: jax.jit(jax.vmap(gm.score, (0, None)))")):
        for path in ("stream", "matmul"):
            r = lk["runs"][f"{ctx}_{path}"]
            sp = f"{lk[f'{ctx}_speedup']:.2f}x" if path == "matmul" else ""
            name = "before: streamed (chunk 8)" if path == "stream" else "after: matrix products"
            lines.append(f"| {label} | {name} | {r['ms_per_score_step']:.0f} | {r['gflops']:.0f} | "
                         f"{100 * r['fraction_of_gemm']:.0f} | {sp} |")
    lines += ["", f"max ‖s_matmul − s_stream‖ / (1 + ‖s_stream‖) over the particles: "
              f"{lk['max_rel_diff_matmul_vs_stream']:.1e}", "",
              "Main cases (D = 8, N = 16384, gj.sample): ms / step on the library's dispatch (auto), the streamed path "
              "(as before) and forced matrix products:", "",
              "| K | auto | stream (before) | matmul (forced) | auto / stream |", "|---:|---:|---:|---:|---:|"]
    for case in lk["small_k"].values():
        r = case["runs"]
        lines.append(f"| {case['K']} | {r['auto']['ms_per_step']:.3f} | {r['stream']['ms_per_step']:.3f} | "
                     f"{r['matmul']['ms_per_step']:.3f} | {case['auto_vs_stream_time']:.2f} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- report
def to_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# bench_sampler ({res['mode']} run, {res['date_utc']})", "",
             f"Machine: {m['cpu_model']}, {m['cpu_count']} CPU cores, {m['backend']} backend, jax {m['jax']}, "
             f"numpy {m['numpy']}. Load average (1 min) at start / end: {res['loadavg_start'][0]:.1f} / "
             f"{res['loadavg_end'][0]:.1f} (other jobs share these cores).", "",
             ]
    if res.get("main"):
        lines += ["| K | implementation | steps timed | ms / step | particle-steps / s | vs ghostjax | CPU/wall | CPU ms / step | compile s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in res.get("main", {}).values():
        g = case["runs"]["ghostjax"]["particle_steps_per_s"]
        for n, r in case["runs"].items():
            lines.append(f"| {case['K']} | {LABELS.get(n, n)} | {r['steps_timed']} | {r['ms_per_step']:.3f} | {r['particle_steps_per_s']:.3g} | "
                         f"{r['particle_steps_per_s'] / g:.2f} | {r['cpu_per_wall']:.2f} | {r['cpu_per_wall'] * r['ms_per_step']:.3f} | "
                         f"{r['compile_s_est']:.2f} |")
    if res.get("verdicts"):
        lines += ["", "| target | ratio (wall) | threshold | verdict | ratio in CPU time (info) |", "|---|---:|---|---|---:|"]
    for v in res.get("verdicts", []):
        lines.append(f"| {v['target']} (ref: {LABELS.get(v['ref'], v['ref'])}) | {v['ratio']:.2f} | {v['threshold']} | "
                     f"{'PASS' if v['pass'] else 'FAIL'} | {v.get('ratio_cpu_time', float('nan')):.2f} |")
    if res.get("large"):
        lines += ["", "Large case (each in a subprocess):", "",
                  "| N | K | D | steps | s / step | first call s | peak RSS GiB |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["large"]:
            if "error" in r:
                lines.append(f"| {r['args'][0]} | {r['args'][1]} | {r['args'][2]} | {r['args'][3]} | {r['error']} | | |")
            elif r.get("compile_only"):
                lines.append(f"| {r['N']} | {r['K']} | {r['D']} | {r['steps']} | compile only: XLA temp "
                             f"{r['xla_temp_gib']:.2f} GiB + args {r['xla_args_gib']:.2f} GiB | | |")
            else:
                sps = f"{r['s_per_step']:.3f}" if "s_per_step" in r else "(first call only)"
                lines.append(f"| {r['N']} | {r['K']} | {r['D']} | {r['steps']} | {sps} | {r['first_call_s']:.1f} | "
                             f"{r['peak_rss_gib']:.2f} |")
    if res.get("scaling"):
        lines += ["", "Scaling (time per step ∝ x^p, numpy.polyfit on log-log):", ""]
        for axis, s in res["scaling"].items():
            pts = ", ".join(f"{p[axis]}: {1e3 * p['s_per_step']:.2f} ms" for p in s["points"])
            fixed = {k: v for k, v in s["points"][0].items() if k not in (axis, "s_per_step")}
            lines.append(f"- {axis}: p = {s['exponent']:.2f} (fixed {fixed}; {pts})")
    return "\n".join(lines) + "\n"


LABELS = {"ghostjax": "ghostjax gj.sample", "scan_jit": "(b) lax.scan, jax.jit",
          "scan_opt": "(b) lax.scan, jit + ghostjax CPU option", "floor_jit": "(c) RNG floor, jax.jit",
          "floor_opt": "(c) RNG floor, jit + CPU option", "numpy": "(a) NumPy float32"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run, < 1 minute")
    ap.add_argument("--huge", action="store_true", help="also run N = 1e5, K = 1e4, D = 128 (minutes)")
    ap.add_argument("--no-main", action="store_true", help="skip the K = 2 / 64 comparison")
    ap.add_argument("--large-k", action="store_true",
                    help="only the matrix-product cases: K = 1e4, D = 128 before/after, GEMM throughput, K = 2 / 64 "
                         "(~2 min) -> results/bench_sampler_matmul.json/.md")
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/bench_sampler[_quick].json)")
    ap.add_argument("--render", type=Path, default=None, metavar="JSON",
                    help="recompute the verdicts of a results JSON and rewrite it and its .md (no timing)")
    ap.add_argument("--child-large", nargs=6, type=int, metavar=("N", "K", "D", "STEPS", "REPS", "CHUNK"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_large:
        N, K, D, steps, reps, chunk = a.child_large
        child_large(N, K, D, steps, reps, chunk or None)
        return
    if a.render:
        res = json.loads(a.render.read_text())
        if res.get("large_k"):
            a.render.with_suffix(".md").write_text(large_k_markdown(res))
            return
        if res.get("main"):
            res["verdicts"] = verdicts(res["main"])
        a.render.write_text(json.dumps(res, indent=1))
        a.render.with_suffix(".md").write_text(to_markdown(res))
        return

    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    if a.large_k:
        res = {"mode": "large_k", "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
               "loadavg_start": list(os.getloadavg()), "machine": machine_info()}
        log(f"machine: {res['machine']['cpu_count']} CPUs, {res['machine']['cpu_vector_extensions']['best']}, "
            f"load {res['loadavg_start']}")
        res["large_k"] = bench_large_k(a.reps or 3, log)
        res["loadavg_end"] = list(os.getloadavg())
        res["total_wall_s"] = time.perf_counter() - t_start
        out = a.out or RESULTS / "bench_sampler_matmul.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(large_k_markdown(res))
        log(f"wrote {out} and {out.with_suffix('.md')} ({res['total_wall_s']:.0f} s)")
        return

    if a.quick:
        cfg = dict(steps=50, np_steps=3, b_steps={64: 10}, reps=a.reps or 2, plain=False,
                   large=[(100, 10_000, 128, 1, 1)],
                   scaling_steps=3, scaling={"N": [(1024, 16, 8), (8192, 16, 8)]})
    else:
        cfg = dict(steps=500, np_steps=20, b_steps={64: 50}, reps=a.reps or 5, plain=True,
                   large=[(1000, 10_000, 128, 3, 2), (10_000, 10_000, 128, 1, 1), (100_000, 10_000, 128, 1, -1)],
                   scaling_steps=10,
                   scaling={"N": [(1024, 64, 8), (4096, 64, 8), (16384, 64, 8), (65536, 64, 8)],
                            "K": [(4096, 16, 8), (4096, 64, 8), (4096, 256, 8), (4096, 1024, 8)],
                            "D": [(4096, 64, 8), (4096, 64, 32), (4096, 64, 128), (4096, 64, 512)]})
    if a.huge:
        cfg["large"].append((100_000, 10_000, 128, 1, 0))  # one call: compile + 1 step (minutes)

    res = {"mode": "quick" if a.quick else "full", "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
           "loadavg_start": list(os.getloadavg()), "machine": machine_info(), "config": {k: v for k, v in cfg.items()}}
    log(f"machine: {res['machine']['cpu_count']} CPUs, jax {res['machine']['jax']}, load {res['loadavg_start']}")
    if not a.no_main:
        log(f"main case: D=8, N=16384, {cfg['steps']} steps, K=2 and 64, {cfg['reps']} interleaved repeats")
        res["main"] = bench_main((2, 64), 8, 16384, cfg["steps"], cfg["np_steps"], cfg["b_steps"], cfg["reps"], log,
                                 plain=cfg["plain"])
        res["verdicts"] = verdicts(res["main"])
        for v in res["verdicts"]:
            log(f"  {'PASS' if v['pass'] else 'FAIL'}  {v['target']}: {v['ratio']:.2f} ({v['threshold']})")
    if not a.no_large:
        log("large case K=1e4, D=128 (subprocesses)")
        res["large"] = bench_large(cfg["large"], log)
    if not a.no_scaling:
        log("scaling of time per step with N, K, D")
        res["scaling"] = bench_scaling(cfg["scaling"], cfg["scaling_steps"], 3, log)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_wall_s"] = time.perf_counter() - t_start
    default = "bench_sampler_quick.json" if a.quick else "bench_sampler.json" if not a.no_main else "bench_sampler_large.json"
    out = a.out or RESULTS / default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(to_markdown(res))
    log(f"wrote {out} and {out.with_suffix('.md')} ({res['total_wall_s']:.0f} s)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""The guided step at large M against GEMM throughput, side by side in one run.

One guided step of classifier-free guidance on a Gaussian mixture of M isotropic classes needs the
class score s(x | c) and the whole mixture's score s(x) for N particles (per-particle target
classes). Timed, in rotating order over several rounds (median; other jobs share the 2 cores):

  (a) separate  the computation before the fusion: ClassScore(gm, c)(x, σ) and gm.score(x, σ) as two
                calls (the mixture score through _matmul.py's diagonal products of width 2D)
  (b) fused     ClassScore(gm, c).pair(x, σ): one pass over the components (guided_score.py,
                products of width D + 1), what CFG / PowerLawGuidance call for cfg(gm, c, w)
  (c) pruned    certified pruning: the logit products alone (guided_score.pruned_pair), kept for all
                particles when every bound ≤ ε, else the fused step as well (lax.cond on the batch)
  (d) GEMM      plain jnp.dot of the same shapes, [N, D] @ [D, M] then [N, M] @ [M, D] (d1); the same
                GEMMs over the fused step's chunks of C components in a scan (d2, the operands stay in
                cache); d2 with the softmax's row max and exp between the two GEMMs (d2e: the floor of
                any online softmax with XLA's exp); a 4096³ GEMM (d3, the machine's square-GEMM rate)

every function jitted with the CPU compiler options gj.sample would use for it
(integrate.compiler_options(score): YNNPACK reductions for the one-pass guided score, also for (c) and
(d); YNNPACK dots only for (a), and for the fused step once more as `fused_dot`, to show the gain), the
mixture passed as an argument (as gj.sample does). A step counts as 4·N·M·D flop (the two GEMMs'
2·N·M·D each); fraction of GEMM = rate / rate of d1 and of d2 of the same run. σ = 0.05 (late, in
the regime where the pruning certifies) and σ = 2 (early; it does not).

    python benchmarks/bench_guided.py           # ~10 min under load -> results/bench_guided.{json,md}
    python benchmarks/bench_guided.py --quick   # smoke run (small M)
    python benchmarks/bench_guided.py --large   # adds M = 10^6 (an accelerator's run: benchmarks/device_check.sh)
    python benchmarks/bench_guided.py --threshold   # the size sweep behind integrate.LIBRARY_REDUCTIONS_MIN_WORK
                                                    # -> results/bench_guided_threshold.{json,md}

--threshold times the two scores on the product path, the fused guided pair and the unguided gm.score
(both vmapped over the particles as gj.sample calls them), under the two CPU option sets gj.sample
chooses between (YNNPACK reductions / YNNPACK dots only), at N = the sampler's particles per call for
that D (integrate._block_size) and M components with N·M from 2^20 to 2^27, interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

CASES = [dict(M=100_000, D=128, N=2048), dict(M=100_000, D=64, N=2048), dict(M=10_000, D=256, N=2048),
         dict(M=10_000, D=128, N=2048, n_classes=100)]
QUICK = [dict(M=4096, D=64, N=512), dict(M=4096, D=64, N=512, n_classes=64)]
LARGE = [dict(M=1_000_000, D=128, N=4096), dict(M=1_000_000, D=64, N=4096)]  # --large: accelerators (benchmarks/device_check.sh)
SIGMAS = (0.05, 2.0)
MEAN_STD, STD = 1.0, 0.3
EPS = 1e-3  # pruning: absolute error allowed on each particle's score (|s| ~ 10-60 here)


def _timed(fn) -> float:
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def _interleaved(runs: dict, reps: int, log) -> dict:
    """First call (compile) of each, then `reps` rounds in rotating order; median wall seconds."""
    first = {n: _timed(f) for n, f in runs.items()}
    walls, names = {n: [] for n in runs}, list(runs)
    for r in range(reps):
        for n in names[r % len(names):] + names[: r % len(names)]:
            walls[n].append(_timed(runs[n]))
        log(f"    round {r + 1}/{reps}: load {os.getloadavg()[0]:.1f}")
    return {n: {"wall_s_median": statistics.median(walls[n]), "wall_s_all": walls[n], "first_call_s": first[n]}
            for n in names}


def bench_case(M: int, D: int, N: int, reps: int, log, n_classes: int | None = None) -> dict:
    """One (M, D, N): one component per class, or M / n_classes components per class (then the
    class score is a masked softmax over the same logits, and (c) is not run)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import ghostjax.guidance as G
    from ghostjax import guided_score as GS
    from ghostjax import integrate
    from ghostjax.mixtures import GaussianMixture

    gm = GaussianMixture.random_classes(D, M, key=jax.random.key(0), mean_std=MEAN_STD, std=STD)
    classes = None if n_classes is None else jnp.arange(M, dtype=jnp.int32) % n_classes
    # What gj.sample compiles each with for N particles: the one-pass guided score with YNNPACK
    # reductions where N·M is large enough (integrate.uses_library_reductions), the separate scores
    # (and, for comparison, the fused one: fused_dot) with YNNPACK dots only.
    red = integrate.compiler_options(G.CFG(G.ClassScore(gm, 0, classes), gm.score, 1.0), (N, D)) or {}
    dot = integrate.compiler_options() or {}

    def jit(f, opts=red):
        return eqx.filter_jit(f, compiler_options=opts) if opts else eqx.filter_jit(f)

    labels = jnp.arange(N, dtype=jnp.int32) * 7919 % M
    targets = labels if n_classes is None else labels % n_classes
    eps = jax.random.normal(jax.random.key(1), (N, D))
    centre = jnp.mean(gm.means, axis=0)
    radius = jnp.max(jnp.linalg.norm(gm.means - centre, axis=1))

    def _separate(gm, x, lab, s):
        return jax.vmap(lambda x, c: (G.ClassScore(gm, c, classes)(x, s), gm.score(x, s)))(x, lab)

    separate = jit(_separate, dot)

    # Built outside the jit, as gm.score and cfg(gm, c, w) are before gj.sample (ClassScore decides
    # the one pass from concrete stds); the per-particle label goes in under vmap.
    cs = G.ClassScore(gm, 0, classes)
    assert cs.one_pass

    def _fused_impl(cs, x, lab, s):
        return jax.vmap(lambda x, c: eqx.tree_at(lambda m: m.label, cs, c).pair(x, s))(x, lab)

    fused = jit(_fused_impl)
    fused_dot = jit(_fused_impl, dot)

    @jit
    def pruned(gm, cs, x, lab, s):
        lw, v0 = jnp.log(gm.weights), gm.stds[:, 0] ** 2
        sc, sh, bd = jax.vmap(lambda x, c: GS.pruned_pair(x, s, lw, gm.means, v0, c, radius))(x, lab)
        ok = jnp.all(bd <= EPS)
        return jax.lax.cond(ok, lambda: (sc, sh), lambda: _fused_impl(cs, x, lab, s)), ok, jnp.max(bd)

    chunk = GS._chunk_size(M, GS.GUIDED_CHUNK)
    a = jax.random.normal(jax.random.key(3), (N, D))
    w = jax.random.normal(jax.random.key(4), (M, D)) / np.sqrt(D)
    wc = jnp.pad(w, ((0, -(-M // chunk) * chunk - M), (0, 0))).reshape(-1, chunk, D)
    gemm_full = jit(lambda a, w: (a @ w.T) @ w)

    @jit
    def gemm_chunked(a, wc):
        def body(acc, wj):
            return acc + (a @ wj.T) @ wj, None
        return jax.lax.scan(body, jnp.zeros_like(a), wc)[0]

    @jit
    def gemm_chunked_exp(a, wc):  # the same GEMMs with the softmax's max and exp between them
        def body(acc, wj):
            lg = a @ wj.T
            return acc + jnp.exp(lg - jnp.max(lg, axis=1, keepdims=True)) @ wj, None
        return jax.lax.scan(body, jnp.zeros_like(a), wc)[0]

    sq = jax.random.normal(jax.random.key(5), (4096, 4096))
    gemm_sq = jit(lambda u, v: u @ v)

    flop = 4 * N * M * D
    out = {"M": M, "D": D, "N": N, "n_classes": n_classes, "chunk": chunk, "flop_per_step": flop, "sigmas": {}}
    for s in SIGMAS:
        x = gm.means[labels] + jnp.sqrt(STD**2 + s**2) * eps
        runs = {"separate": lambda: separate(gm, x, targets, s), "fused": lambda: fused(cs, x, targets, s),
                "fused_dot": lambda: fused_dot(cs, x, targets, s),
                "pruned": lambda: pruned(gm, cs, x, labels, s)[0],
                "gemm_same_shapes": lambda: gemm_full(a, w), "gemm_chunked": lambda: gemm_chunked(a, wc),
                "gemm_chunked_exp": lambda: gemm_chunked_exp(a, wc), "gemm_4096": lambda: gemm_sq(sq, sq)}
        if n_classes is not None:
            del runs["pruned"]
        log(f"  M={M} D={D} N={N} classes={n_classes or M} σ={s}: {reps} rounds")
        timed = _interleaved(runs, reps, log)
        sc_a, su_a = separate(gm, x, targets, s)
        sc_b, su_b = fused(cs, x, targets, s)

        def rel(u, v):
            u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
            return float(np.max(np.linalg.norm(u - v, axis=1) / np.linalg.norm(v, axis=1)))

        rates = {n: (2 * 4096**3 if n == "gemm_4096" else flop) / r["wall_s_median"] / 1e9 for n, r in timed.items()}
        ref = {k: rates[k] for k in ("gemm_same_shapes", "gemm_chunked", "gemm_chunked_exp", "gemm_4096")}
        mine = [n for n in ("separate", "fused", "fused_dot", "pruned") if n in runs]
        res = {"runs": timed, "gflops": rates,
               "fraction_of_gemm_same_shapes": {n: rates[n] / ref["gemm_same_shapes"] for n in mine},
               "fraction_of_gemm_chunked": {n: rates[n] / ref["gemm_chunked"] for n in mine},
               "fraction_of_gemm_4096": {n: rates[n] / ref["gemm_4096"] for n in mine},
               "fraction_of_gemm_chunked_exp": {n: rates[n] / ref["gemm_chunked_exp"] for n in mine},
               "gemm_exp_floor_fraction_of_gemm_chunked": ref["gemm_chunked_exp"] / ref["gemm_chunked"],
               "fused_speedup_vs_separate": timed["separate"]["wall_s_median"] / timed["fused"]["wall_s_median"],
               "reductions_speedup": timed["fused_dot"]["wall_s_median"] / timed["fused"]["wall_s_median"],
               "compiler_options": {"fused": red, "fused_dot": dot, "separate": dot, "pruned": red, "gemm": red},
               "max_rel_diff_fused_vs_separate": {"cond": rel(sc_b, sc_a), "uncond": rel(su_b, su_a)}}
        if "pruned" in runs:
            (psc, psu), ok, bmax = pruned(gm, cs, x, labels, s)
            res.update({"pruned_certified": bool(ok), "pruned_max_bound": float(bmax), "pruning_eps": EPS,
                        "pruned_speedup_vs_fused": timed["fused"]["wall_s_median"] / timed["pruned"]["wall_s_median"],
                        "max_abs_err_pruned_vs_fused_uncond": float(np.max(np.linalg.norm(np.asarray(psu) - np.asarray(su_b), axis=1)))})
        log("    " + ", ".join(f"{n} {1e3 * r['wall_s_median']:.0f} ms ({rates[n]:.0f} GFlop/s)" for n, r in timed.items()))
        log(f"    fused = {100 * res['fraction_of_gemm_same_shapes']['fused']:.0f} % of the same-shape GEMM, "
            f"{100 * res['fraction_of_gemm_chunked']['fused']:.0f} % of the chunked GEMMs; pruning certified: "
            f"{res.get('pruned_certified')}")
        out["sigmas"][str(s)] = res
    return out


THRESHOLD_DS = (64, 128)
THRESHOLD_LOG2_WORK = tuple(range(20, 28))


def threshold_case(M: int, D: int, N: int, reps: int, log) -> dict:
    """Wall time of the fused guided pair and of gm.score for N particles, under both option sets."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import ghostjax.guidance as G
    from ghostjax import integrate
    from ghostjax.mixtures import GaussianMixture

    gm = GaussianMixture.random_classes(D, M, key=jax.random.key(0), mean_std=MEAN_STD, std=STD)
    opts = {"reductions": integrate._CPU_REDUCTION_OPTIONS, "dots_only": integrate._CPU_COMPILER_OPTIONS}
    cs = G.ClassScore(gm, 0, None)
    labels = jnp.arange(N, dtype=jnp.int32) * 7919 % M
    eps = jax.random.normal(jax.random.key(1), (N, D))

    def fused_impl(cs, x, lab, s):
        return jax.vmap(lambda x, c: eqx.tree_at(lambda m: m.label, cs, c).pair(x, s))(x, lab)

    def uncond_impl(gm, x, s):
        return jax.vmap(gm.score, in_axes=(0, None))(x, s)

    out = {"M": M, "D": D, "N": N, "work": N * M, "chosen": integrate.uses_library_reductions(gm.score, (N, D)),
           "sigmas": {}}
    for s in SIGMAS:
        x = gm.means[labels] + jnp.sqrt(STD**2 + s**2) * eps
        runs = {}
        for name, o in opts.items():
            f, u = eqx.filter_jit(fused_impl, compiler_options=o), eqx.filter_jit(uncond_impl, compiler_options=o)
            runs[f"guided_{name}"] = (lambda f=f: f(cs, x, labels, s))
            runs[f"uncond_{name}"] = (lambda u=u: u(gm, x, s))
        timed = _interleaved(runs, reps, lambda m: None)
        med = {n: r["wall_s_median"] for n, r in timed.items()}
        out["sigmas"][str(s)] = {"runs": timed,
                                 "speedup_guided": med["guided_dots_only"] / med["guided_reductions"],
                                 "speedup_uncond": med["uncond_dots_only"] / med["uncond_reductions"]}
        r = out["sigmas"][str(s)]
        log(f"  D={D} N={N} M={M} (N·M=2^{int(np.log2(N * M))}) σ={s}: reductions speed-up guided "
            f"{r['speedup_guided']:.2f}×, uncond {r['speedup_uncond']:.2f}× (load {os.getloadavg()[0]:.1f})")
    return out


def threshold_sweep(reps: int, log) -> list[dict]:
    from ghostjax import integrate

    cases = []
    for D in THRESHOLD_DS:
        N = integrate._block_size(10**9, D)
        for lw in THRESHOLD_LOG2_WORK:
            cases.append(threshold_case(2**lw // N, D, N, reps, log))
    return cases


def threshold_markdown(res: dict) -> str:
    from ghostjax import integrate

    lines = [f"# bench_guided --threshold ({res['date_utc']})", "",
             f"{_machine_line(res)}. Median of {res['reps']} interleaved rounds. Speed-up = time under the dots-only options / time under "
             "YNNPACK reductions (> 1: the reductions win), for the fused guided pair and the unguided gm.score, "
             f"N = the sampler's particles per call at that D. gj.sample takes the reductions at N·M ≥ "
             f"2^{int(np.log2(integrate.LIBRARY_REDUCTIONS_MIN_WORK))} (column 'chosen').", "",
             "| D | N | M | log2 N·M | chosen | " + " | ".join(
                 f"guided σ={s} ms (red / dots) | guided σ={s} speed-up | uncond σ={s} speed-up" for s in SIGMAS) + " |",
             "|---:|---:|---:|---:|---|" + "---:|---:|---:|" * len(SIGMAS)]
    for c in res["cases"]:
        cells = []
        for s in SIGMAS:
            r = c["sigmas"][str(s)]
            ms = {n: 1e3 * v["wall_s_median"] for n, v in r["runs"].items()}
            cells.append(f"{ms['guided_reductions']:.1f} / {ms['guided_dots_only']:.1f} | {r['speedup_guided']:.2f}× | "
                         f"{r['speedup_uncond']:.2f}×")
        lines.append(f"| {c['D']} | {c['N']} | {c['M']} | {np.log2(c['work']):.0f} | {'yes' if c['chosen'] else 'no'} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _machine_line(res: dict) -> str:
    m = res["machine"]
    return (f"Machine: {m['cpu_model']}, {m['cpu_count']} CPU cores, SIMD {m['cpu_vector_extensions']['best']}, "
            f"jax {m['jax']}; load average (1 min) {res['load_start']:.1f} at the start, {res['load_end']:.1f} at the end")


def markdown(res: dict) -> str:
    lines = [f"# bench_guided ({res['date_utc']})", "",
             f"{_machine_line(res)} "
             f"(`uptime` at the end: {res['uptime_end']}). Median of {res['reps']} interleaved rounds. "
             "A step counts 4·N·M·D flop. Fractions: of the same run's plain GEMM of the same shapes "
             "([N, D] @ [D, M], [N, M] @ [M, D]) / of the same GEMMs over chunks of C components / the same with the "
             "softmax's max and exp between them / of a 4096³ GEMM. Compiler options as gj.sample uses them: the fused "
             "(one-pass) step, the pruned step and the GEMMs with YNNPACK fusing dots, element-wise ops and reductions "
             f"({res['cases'][0]['sigmas'][next(iter(res['cases'][0]['sigmas']))]['compiler_options']['fused']}); the "
             "separate scores and the 'dots-only' column with YNNPACK dots only (the sampler's default).", "",
             "| M | D | N | classes | σ | separate ms | fused ms | fused ms, dots-only options | pruned ms (certified) | "
             "GEMM same shapes ms | GEMM chunked ms | GEMM+exp chunked ms | fused GFlop/s | fused % of GEMM (same shapes / "
             "chunked / chunked+exp / 4096³) | separate % (same shapes) | fused speed-up | reductions speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in res["cases"]:
        for s, r in c["sigmas"].items():
            ms = {n: 1e3 * v["wall_s_median"] for n, v in r["runs"].items()}
            fs, fc, fe, f4 = (r[f"fraction_of_gemm_{k}"]["fused"] for k in ("same_shapes", "chunked", "chunked_exp", "4096"))
            pr = (f"{ms['pruned']:.0f} ({'yes' if r['pruned_certified'] else 'no'})" if "pruned" in ms else "—")
            lines.append(f"| {c['M']} | {c['D']} | {c['N']} | {c['n_classes'] or c['M']} | {s} | {ms['separate']:.0f} | "
                         f"{ms['fused']:.0f} | {ms['fused_dot']:.0f} | {pr} | {ms['gemm_same_shapes']:.0f} | "
                         f"{ms['gemm_chunked']:.0f} | {ms['gemm_chunked_exp']:.0f} | {r['gflops']['fused']:.0f} | "
                         f"{100 * fs:.0f} / {100 * fc:.0f} / {100 * fe:.0f} / {100 * f4:.0f} | "
                         f"{100 * r['fraction_of_gemm_same_shapes']['separate']:.0f} | {r['fused_speedup_vs_separate']:.2f}× | "
                         f"{r['reductions_speedup']:.2f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default="bench_guided")
    ap.add_argument("--threshold", action="store_true", help="the size sweep behind LIBRARY_REDUCTIONS_MIN_WORK")
    ap.add_argument("--large", action="store_true", help="add M = 10^6 cases (for an accelerator: minutes per case on a CPU)")
    args = ap.parse_args()
    from _common import write_results
    from bench_sampler import machine_info

    def log(msg):
        print(msg, flush=True)

    cases = QUICK if args.quick else CASES + (LARGE if args.large else [])
    reps = 2 if args.quick else args.reps
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine_info(), "reps": reps,
           "load_start": os.getloadavg()[0], "eps": EPS, "mean_std": MEAN_STD, "std": STD}
    t0 = time.perf_counter()
    if args.threshold:
        res["cases"] = threshold_sweep(reps, log)
        res["load_end"], res["wall_s"] = os.getloadavg()[0], time.perf_counter() - t0
        print(threshold_markdown(res))
        write_results(RESULTS / f"{args.out}_threshold.json", res, threshold_markdown(res))
        return
    res["cases"] = [bench_case(**c, reps=reps, log=log) for c in cases]
    res["load_end"] = os.getloadavg()[0]
    res["uptime_end"] = os.popen("uptime").read().strip()
    res["wall_s"] = time.perf_counter() - t0
    name = args.out + ("_quick" if args.quick else "")
    print(markdown(res))
    write_results(RESULTS / f"{name}.json", res, markdown(res))


if __name__ == "__main__":
    main()

"""Convolutions as matrix products on XLA:CPU: can a GEMM formulation beat XLA's own convolution?

At the UNet's layer shapes (bench_unet.py's case: batch 64, 32×32 and 16×16, C = 32/64/96/128, 3×3
stride 1, 3×3 stride 2, 1×1; float32, NHWC activations, HWIO weights), one measurement is a forward
pass + input gradient + weight gradient (`jax.vjp`), `--steps` times inside a jitted `lax.scan`
(as in training), compiled with `training.train_chunk`'s XLA options. Implementations:

  canonical    the UNet's convolution before issue 13 item 6: `nets.unet.CanonicalConv` (per-example
               `conv_nhwc`: XLA conv forward, XLA conv for the input gradient, per-example patchesᵀ·dy
               GEMMs summed over the batch for the weight gradient), vmapped
  batch        `nets.unet.BatchConv`, vmapped (jax.custom_batching runs it on the whole batch): forward
               and input gradient as in canonical, the weight gradient as one canonical XLA convolution
               over the whole batch (C images of B channels convolved with dy as the kernel; for 1×1
               one GEMM xᵀ·dy); the network's default
  gemm_a       full im2col: patches [B·H'·W', k²C] @ W [k²C, O]
  gemm_b       partial im2col: the k horizontal shifts concatenated along channels [B, H+2p, W', kC],
               then a sum of k GEMMs (K = kC) over the vertical shifts
  gemm_c       a sum of k² shifted GEMMs (K = C)
Each gemm_* is a `jax.custom_vjp` whose backward passes are GEMMs of the same formulation: the weight
gradient as (patches)ᵀ·dy (per shift for b and c), the input gradient as the transposed convolution
written as a direct one (flipped, in/out-swapped kernel over dy dilated by the stride, like conv_nhwc's
backward) in the same formulation. "/ex" rows run the per-example function under `jax.vmap` (as the
network calls its convolutions), "/batch" rows build the patches on the whole batch.
PyTorch: `F.conv2d` + `aten.convolution_backward` (the call autograd makes), NCHW and channels_last,
with its default thread count and with 1 thread (the setting least disturbed by other load). Rounds
alternate all implementations; medians are kept; the load average is recorded per round; `vs canonical`
is the median of the per-round time ratios canonical / this (> 1: faster than canonical).

    python benchmarks/bench_conv.py                # -> results/bench_conv.{json,md}
    python benchmarks/bench_conv.py --quick        # 1 round, 2 shapes (smoke run), not written unless --out
Needs the optional `bench` extra (torch).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import report  # noqa: E402
from bench_unet import CASE, RESULTS, conv_flops, conv_shapes, machine_facts  # noqa: E402

from ghostjax.nets.unet import BatchConv, CanonicalConv  # noqa: E402
from ghostjax.training import train_chunk  # noqa: E402

# (cin, H, cout, k, stride) at batch 64: the UNet's convolutions (bench_unet.conv_shapes), the first
# two being 4 and 7 of its 16 convolutions and 43 % of its flops.
SHAPES = [(32, 32, 32, 3, 1), (64, 16, 64, 3, 1), (32, 32, 32, 3, 2), (96, 32, 32, 3, 1), (64, 32, 64, 3, 1),
          (128, 16, 64, 3, 1), (128, 16, 64, 1, 1), (96, 32, 32, 1, 1)]


# ------------------------------------------------------------------------------------ formulations
def _pad(x, lo: int, hi: int, dilation: int = 1):
    """Zero padding of the spatial axes of x [B, H, W, C], with dilation − 1 zeros between pixels."""
    return jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (lo, hi, dilation - 1), (lo, hi, dilation - 1), (0, 0, 0)])


def _shift(xp, i: int, j: int, s: int, ho: int, wo: int):
    """The (i, j) tap of a stride-s window over padded xp: [B, ho, wo, C]."""
    return xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]


def _out_size(xp, k: int, s: int) -> tuple[int, int]:
    return (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1


def _im2col(xp, k: int, s: int):
    """[B·ho·wo, k·k·C], columns ordered (kh, kw, c) as an HWIO weight's rows."""
    ho, wo = _out_size(xp, k, s)
    taps = [_shift(xp, i, j, s, ho, wo) for i in range(k) for j in range(k)]
    cols = taps[0] if k == 1 else jnp.concatenate(taps, axis=-1)
    return cols.reshape(-1, k * k * xp.shape[-1])


def _hcat(xp, k: int, s: int):
    """The k horizontal taps concatenated along channels: [B, Hp, wo, k·C]."""
    _, wo = _out_size(xp, k, s)
    taps = [xp[:, :, j:j + s * (wo - 1) + 1:s] for j in range(k)]
    return taps[0] if k == 1 else jnp.concatenate(taps, axis=-1)


def valid_a(xp, w, s):
    k, _, c, o = w.shape
    ho, wo = _out_size(xp, k, s)
    return (_im2col(xp, k, s) @ w.reshape(k * k * c, o)).reshape(xp.shape[0], ho, wo, o)


def dw_a(xp, dy, k, s):
    return (_im2col(xp, k, s).T @ dy.reshape(-1, dy.shape[-1])).reshape(k, k, xp.shape[-1], dy.shape[-1])


def valid_b(xp, w, s):
    k, _, c, o = w.shape
    ho, wo = _out_size(xp, k, s)
    xh = _hcat(xp, k, s)
    y = sum(xh[:, i:i + s * (ho - 1) + 1:s].reshape(-1, k * c) @ w[i].reshape(k * c, o) for i in range(k))
    return y.reshape(xp.shape[0], ho, wo, o)


def dw_b(xp, dy, k, s):
    ho, o, c = dy.shape[1], dy.shape[-1], xp.shape[-1]
    xh, d = _hcat(xp, k, s), dy.reshape(-1, o)
    return jnp.stack([(xh[:, i:i + s * (ho - 1) + 1:s].reshape(-1, k * c).T @ d).reshape(k, c, o) for i in range(k)])


def valid_c(xp, w, s):
    k, _, c, o = w.shape
    ho, wo = _out_size(xp, k, s)
    y = sum(_shift(xp, i, j, s, ho, wo).reshape(-1, c) @ w[i, j] for i in range(k) for j in range(k))
    return y.reshape(xp.shape[0], ho, wo, o)


def dw_c(xp, dy, k, s):
    ho, wo, o, c = dy.shape[1], dy.shape[2], dy.shape[-1], xp.shape[-1]
    d = dy.reshape(-1, o)
    return jnp.stack([jnp.stack([_shift(xp, i, j, s, ho, wo).reshape(-1, c).T @ d for j in range(k)])
                      for i in range(k)])


def gemm_conv(valid, dw):
    """A batched NHWC convolution (zero padding (k−1)/2, stride s) with forward, input gradient and
    weight gradient all computed by the GEMM formulation (valid, dw)."""

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
    def conv(x, w, s):
        p = (w.shape[0] - 1) // 2
        return valid(_pad(x, p, p), w, s)

    def fwd(x, w, s):
        return conv(x, w, s), (x, w)

    def bwd(s, res, dy):
        x, w = res
        k, h, ho = w.shape[0], x.shape[1], dy.shape[1]
        p = (k - 1) // 2
        lo = k - 1 - p
        hi = h - (ho - 1) * s - 1 - lo + k - 1
        w_t = jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))
        return valid(_pad(dy, lo, hi, s), w_t, 1), dw(_pad(x, p, p), dy, k, s)

    conv.defvjp(fwd, bwd)
    return conv


GEMM = {"gemm_a": gemm_conv(valid_a, dw_a), "gemm_b": gemm_conv(valid_b, dw_b), "gemm_c": gemm_conv(valid_c, dw_c)}


def batched(name: str):
    """x [B, H, W, C], w HWIO, stride -> [B, H', W', O]; the network's implementations vmapped per example."""
    if name in NET_IMPLS:
        impl = NET_IMPLS[name]
        return lambda x, w, s: jax.vmap(lambda xi: impl(xi, w, s))(x)
    form, mode = name.split("/")
    f = GEMM[form]
    if mode == "batch":
        return f
    return lambda x, w, s: jax.vmap(lambda xi: f(xi[None], w, s)[0])(x)


NET_IMPLS = {"canonical": CanonicalConv(), "batch": BatchConv()}
IMPLS = ["canonical", "batch", "gemm_a/ex", "gemm_a/batch", "gemm_b/ex", "gemm_b/batch", "gemm_c/ex", "gemm_c/batch"]


def check(impls=IMPLS):
    """Each implementation against lax.conv_general_dilated + JAX autodiff (float32, tolerance 1e-4)."""
    for b, h, c, o, k, s in [(2, 8, 3, 5, 3, 1), (2, 8, 3, 5, 3, 2), (2, 8, 3, 5, 1, 1), (2, 6, 4, 2, 3, 2)]:
        kx, kw, kd = jax.random.split(jax.random.PRNGKey(0), 3)
        x, w = jax.random.normal(kx, (b, h, h, c)), jax.random.normal(kw, (k, k, c, o))
        p = (k - 1) // 2
        y, vjp = jax.vjp(lambda x, w: jax.lax.conv_general_dilated(
            x, w, (s, s), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC")), x, w)
        dy = jax.random.normal(kd, y.shape)
        ref = (y, *vjp(dy))
        for name in impls:
            y2, vjp2 = jax.vjp(functools.partial(batched(name), s=s), x, w)
            for a, r in zip((y2, *vjp2(dy)), ref):
                np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4, err_msg=f"{name} {(b, h, c, o, k, s)}")


# ------------------------------------------------------------------------------------ timers
def jax_timer(name: str, shape, batch: int, steps: int):
    """Seconds per (forward + input gradient + weight gradient), `steps` of them in one jitted lax.scan."""
    cin, h, cout, k, s = shape
    f = batched(name)
    kx, kw, kd = jax.random.split(jax.random.PRNGKey(1), 3)
    x, w = jax.random.normal(kx, (batch, h, h, cin)), 0.1 * jax.random.normal(kw, (k, k, cin, cout))
    dy = jax.random.normal(kd, (batch, h // s, h // s, cout))

    def body(carry, _):
        x, w, acc = carry
        y, vjp = jax.vjp(lambda x, w: f(x, w, s), x, w)
        gx, gw = vjp(dy)
        return (x + 1e-6 * gx, w + 1e-6 * gw, acc + jnp.sum(y)), None  # every output used: nothing is dropped

    fn = jax.jit(lambda x, w: jax.lax.scan(body, (x, w, jnp.float32(0)), None, length=steps)[0],
                 compiler_options=train_chunk.options())
    jax.block_until_ready(fn(x, w))

    def run():
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x, w))
        return (time.perf_counter() - t0) / steps

    return run


def torch_timer(shape, batch: int, steps: int, channels_last: bool, threads: int):
    import torch
    import torch.nn.functional as F

    cin, h, cout, k, s = shape
    x, w, dy = torch.randn(batch, cin, h, h), torch.randn(cout, cin, k, k), torch.randn(batch, cout, h // s, h // s)
    if channels_last:
        x, w, dy = (t.contiguous(memory_format=torch.channels_last) for t in (x, w, dy))
    p = (k - 1) // 2

    def once():
        F.conv2d(x, w, stride=s, padding=p)
        torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1,
                                            [True, True, False])

    once()

    def run():
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        for _ in range(steps):
            once()
        elapsed = time.perf_counter() - t0
        torch.set_num_threads(saved)
        return elapsed / steps

    return run


# ------------------------------------------------------------------------------------ report
def run_facts(torch_threads, **machine) -> dict:
    """The 'machine' (CPU facts, load at the end, the XLA options, `machine` extras) and 'versions'
    entries of a convolution benchmark's JSON."""
    import torch

    return {"machine": {**machine_facts(), "torch_threads": torch_threads, **machine,
                        "load_avg_1m_at_end": os.getloadavg()[0], "xla_cpu_options": train_chunk.options()},
            "versions": {"jax": jax.__version__, "torch": torch.__version__, "python": platform.python_version()}}


def shape_name(shape, batch):
    cin, h, cout, k, s = shape
    return f"{batch}×{h}×{h}, {cin}→{cout}, {k}×{k}" + (f" s{s}" if s > 1 else "")


def render_md(out: dict) -> str:
    m, res = out["machine"], out["result"]
    names = res["implementations"]
    lines = ["# bench_conv: convolutions as GEMMs on XLA:CPU vs XLA's convolution vs PyTorch (float32)", "",
             f"Command: `{out['command']}`  ",
             f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, avx2={m['avx2']}, avx512f={m['avx512f']}; "
             f"load average (1 min) per round {res['load_avg_1m_per_round']}  ",
             f"XLA options: {m['xla_cpu_options']}; versions: {out['versions']}", "",
             "ms per forward + input gradient + weight gradient (median over rounds); in brackets the median over "
             "rounds of canonical's time / this one's (> 1: faster than the UNet's previous convolution).", "",
             "| shape (B×H×W, cin→cout, k) | GFlop | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for row in res["shapes"]:
        cells = [f"{row['ms'][n]:.1f} ({row['vs_canonical'][n]:.2f})" for n in names]
        lines.append(f"| {row['name']} | {row['gflop']:.2f} | " + " | ".join(cells) + " |")
    t = res["unet_step_estimate"]
    lines += ["", f"One UNet step's convolutions (bench_unet.conv_shapes, {t['gflop']:.1f} GFlop), each shape "
              "weighted by how often it occurs, using this table's times where the shape was measured "
              f"(covers {100 * t['covered_flop_fraction']:.0f} % of the flops):", "",
              "| implementation | ms (covered shapes) | GFlop/s |", "|---|---:|---:|"]
    for n in names:
        lines.append(f"| {n} | {t['ms'][n]:.0f} | {t['gflop_per_s'][n]:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="convolutions per jitted call (lax.scan length)")
    p.add_argument("--batch", type=int, default=CASE["batch"])
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of " + ",".join(IMPLS))
    p.add_argument("--shapes", default=None, help="indices into SHAPES, e.g. 0,1 (default all)")
    p.add_argument("--quick", action="store_true", help="1 round, shapes 0 and 1")
    p.add_argument("--out", default=None, help="JSON path (default results/bench_conv.json; .md beside it)")
    args = p.parse_args(argv)
    import torch

    impls = args.impls.split(",")
    assert impls[0] == "canonical", "the first implementation must be canonical (the reference of the ratios)"
    idx = [0, 1] if args.quick and args.shapes is None else \
        [int(i) for i in args.shapes.split(",")] if args.shapes else range(len(SHAPES))
    shapes = [SHAPES[i] for i in idx]
    rounds = 1 if args.quick else args.rounds
    check(impls)
    load0 = os.getloadavg()
    threads = sorted({torch.get_num_threads(), 1}, reverse=True)
    timers = {}
    for sh in shapes:
        for n in impls:
            timers[sh, n] = jax_timer(n, sh, args.batch, args.steps)
        for cl, fmt in ((False, "nchw"), (True, "channels_last")):
            for n in threads:
                timers[sh, f"torch {fmt} {n}t"] = torch_timer(sh, args.batch, args.steps, cl, n)
    names = impls + [f"torch {fmt} {n}t" for fmt in ("nchw", "channels_last") for n in threads]
    times = {key: [] for key in timers}
    loads = []
    for r in range(rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for sh in shapes:
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                times[sh, n].append(timers[sh, n]())
        print(f"round {r}: load {loads[-1]}", flush=True)
    rows = []
    for sh in shapes:
        cin, h, cout, k, s = sh
        fl = conv_flops([(args.batch, cin, h, h, cout, k, s, True)])
        rows.append({"shape": list(sh), "name": shape_name(sh, args.batch), "gflop": fl / 1e9,
                     "ms": {n: 1e3 * statistics.median(times[sh, n]) for n in names},
                     "vs_canonical": {n: statistics.median(a / b for a, b in zip(times[sh, "canonical"], times[sh, n]))
                                for n in names},
                     "rounds_ms": {n: [round(1e3 * v, 2) for v in times[sh, n]] for n in names}})
    # the step estimate: every conv of one UNet step whose (cin, H, cout, k, s) was measured
    step = conv_shapes({**CASE, "batch": args.batch})
    measured = {tuple(r["shape"]): r for r in rows}
    total_fl, cov_fl, est = conv_flops(step), 0.0, dict.fromkeys(names, 0.0)
    for b, cin, h, w, cout, k, s, dx in step:
        row = measured.get((cin, h, cout, k, s))
        if row is not None and dx:
            cov_fl += conv_flops([(b, cin, h, w, cout, k, s, dx)])
            for n in names:
                est[n] += row["ms"][n]
    result = {"implementations": names, "shapes": rows, "load_avg_1m_per_round": loads,
              "unet_step_estimate": {"gflop": total_fl / 1e9, "covered_flop_fraction": cov_fl / total_fl,
                                     "ms": est, "gflop_per_s": {n: cov_fl / 1e6 / v if v else 0.0
                                                                for n, v in est.items()}}}
    cmd = "python benchmarks/bench_conv.py" + (" --quick" if args.quick else f" --rounds {rounds} --steps {args.steps}")
    if args.impls != ",".join(IMPLS):
        cmd += f" --impls {args.impls}"
    if args.shapes:
        cmd += f" --shapes {args.shapes}"
    out = {"benchmark": "UNet-shaped convolutions: XLA conv vs GEMM formulations vs PyTorch (CPU, float32)",
           "command": cmd, "batch": args.batch, "steps_per_call": args.steps,
           **run_facts(threads, load_avg_at_start=list(load0)), "result": result}
    report(out, render_md(out), args.out or (None if args.quick else RESULTS / "bench_conv.json"))


if __name__ == "__main__":
    main()

"""The UNet's convolutions phase by phase: forward, input gradient, weight gradient, XLA:CPU vs PyTorch.

At bench_conv.py's layer shapes (batch 64), each phase of the UNet's default convolution
(`nets.unet.BatchConv`: `nets.conv._conv` forward, `_canonical_bwd` input gradient, the weight
gradient of `_conv_nhwc_batch_bwd`: convolutions contracting positions and pieces of `WGRAD_PIECE` examples,
summed; the column `whole batch` contracts the whole batch in one convolution) is jitted alone
with `training.train_chunk`'s XLA options and timed beside PyTorch's `F.conv2d` and
`aten.convolution_backward` (input gradient only / weight gradient only), NCHW and channels_last, at
its default thread count. Two more columns take the weight gradient apart as an explicit im2col GEMM
would compute it: `patches` builds the transposed patches [k²·cin, B·H·W] from the padded input (the
nine shifted windows stacked), `gemm` multiplies given patches by dy [B·H·W, cout] (the layout in
which XLA's dot runs fastest). Rounds alternate everything; medians are kept.

The summary weights each measured shape by how often it occurs in one UNet step (bench_unet's conv
shapes) and gives, per phase, XLA's and PyTorch's milliseconds and the XLA total with its weight
gradient at its own forward rate (the conv time XLA could reach if only the weight gradient improved).

    python benchmarks/bench_conv_phases.py            # ~3 min idle -> results/bench_conv_phases.{json,md}
    python benchmarks/bench_conv_phases.py --quick    # 1 round, 2 shapes, not written unless --out
Needs the optional `bench` extra (torch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from _common import report  # noqa: E402
from bench_conv import SHAPES, run_facts, shape_name  # noqa: E402
from bench_unet import CASE, RESULTS, conv_shapes  # noqa: E402

from ghostjax.nets import conv as C  # noqa: E402
from ghostjax.training import train_chunk  # noqa: E402

PHASES = ("fwd", "dgrad", "wgrad")
XLA_COLS = ("xla fwd", "xla dgrad", "xla wgrad", "xla wgrad whole batch", "xla patches", "xla gemm")
TORCH_COLS = tuple(f"torch {fmt} {ph}" for fmt in ("nchw", "channels_last") for ph in PHASES)


def _timer(fn):
    fn()

    def run():
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def xla_timers(shape, batch: int) -> dict:
    cin, h, cout, k, s = shape
    kx, kw, kd = jax.random.split(jax.random.PRNGKey(1), 3)
    x, w = jax.random.normal(kx, (batch, h, h, cin)), 0.1 * jax.random.normal(kw, (k, k, cin, cout))
    dy = jax.random.normal(kd, (batch, h // s, h // s, cout))
    p = (k - 1) // 2
    ho = h // s

    def patches(x):  # [k²·cin, B·Ho·Wo]: the nine shifted (strided) windows of the padded input
        xt = jnp.pad(jnp.transpose(x, (3, 0, 1, 2)), ((0, 0), (0, 0), (p, p), (p, p)))
        lim = s * (ho - 1) + 1
        return jnp.stack([xt[:, :, i:i + lim:s, j:j + lim:s] for i in range(k) for j in range(k)]).reshape(k * k * cin, -1)

    opts = train_chunk.options()
    jit = (lambda f: jax.jit(f, compiler_options=opts)) if opts else jax.jit
    fwd = jit(lambda x, w: C._conv(x, w, s, (p, p)))
    dgrad = jit(lambda x, w, dy: C._canonical_bwd(s, x, w, dy))
    wgrad = jit(lambda x, w, dy: C._conv_nhwc_batch_bwd(s, (x, w), dy)[1])
    hi = s * (ho - 1) + k - h - p
    whole = jit(lambda x, dy: C._batch_wgrad(jnp.pad(x, ((0, 0), (p, hi), (p, hi), (0, 0))), dy, s))
    build = jit(patches)
    gemm = jit(lambda pt, dy: pt @ dy.reshape(-1, dy.shape[-1]))
    pt = build(x)
    fns = {"xla fwd": lambda: fwd(x, w), "xla dgrad": lambda: dgrad(x, w, dy), "xla wgrad": lambda: wgrad(x, w, dy),
           "xla wgrad whole batch": (lambda: wgrad(x, w, dy)) if k == 1 else (lambda: whole(x, dy)),
           "xla patches": lambda: build(x), "xla gemm": lambda: gemm(pt, dy)}
    return {n: _timer(lambda f=f: jax.block_until_ready(f())) for n, f in fns.items()}


def torch_timers(shape, batch: int) -> dict:
    import torch
    import torch.nn.functional as F

    cin, h, cout, k, s = shape
    p = (k - 1) // 2
    out = {}
    for fmt in ("nchw", "channels_last"):
        x, w, dy = torch.randn(batch, cin, h, h), torch.randn(cout, cin, k, k), torch.randn(batch, cout, h // s, h // s)
        if fmt == "channels_last":
            x, w, dy = (t.contiguous(memory_format=torch.channels_last) for t in (x, w, dy))

        def bwd(mask, x=x, w=w, dy=dy):
            return torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

        out[f"torch {fmt} fwd"] = _timer(lambda x=x, w=w: F.conv2d(x, w, stride=s, padding=p))
        out[f"torch {fmt} dgrad"] = _timer(lambda bwd=bwd: bwd([True, False, False]))
        out[f"torch {fmt} wgrad"] = _timer(lambda bwd=bwd: bwd([False, True, False]))
    return out


def step_summary(rows: list[dict], batch: int) -> dict:
    """Per-phase milliseconds of one UNet step's convolutions at the measured shapes, weighted by how
    often each occurs (the input gradient only where the layer's input needs one)."""
    measured = {tuple(r["shape"]): r for r in rows}
    cols = XLA_COLS[:4] + TORCH_COLS
    ms = dict.fromkeys(cols, 0.0)
    ms["xla wgrad at xla fwd rate"] = 0.0
    covered = 0
    for b, cin, h, w, cout, k, s, dx in conv_shapes({**CASE, "batch": batch}):
        row = measured.get((cin, h, cout, k, s))
        if row is None:
            continue
        covered += 1
        for c in cols:
            if dx or "dgrad" not in c:
                ms[c] += row["ms"][c]
        ms["xla wgrad at xla fwd rate"] += row["ms"]["xla fwd"]
    total = {"xla": sum(ms[f"xla {ph}"] for ph in PHASES),
             "xla, wgrad over the whole batch": ms["xla fwd"] + ms["xla dgrad"] + ms["xla wgrad whole batch"],
             "xla, wgrad at its fwd rate": ms["xla fwd"] + ms["xla dgrad"] + ms["xla wgrad at xla fwd rate"]}
    for fmt in ("nchw", "channels_last"):
        total[f"torch {fmt}"] = sum(ms[f"torch {fmt} {ph}"] for ph in PHASES)
    return {"covered_convs": covered, "ms": ms, "total_ms": total}


def render_md(out: dict) -> str:
    m, res = out["machine"], out["result"]
    cols = XLA_COLS + TORCH_COLS
    lines = ["# bench_conv_phases: the UNet's convolutions phase by phase, XLA:CPU vs PyTorch (float32)", "",
             f"Command: `{out['command']}`  ",
             f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, avx2={m['avx2']}, avx512f={m['avx512f']}, "
             f"AVX-512 extensions {m['avx512_extensions']}; load average (1 min) per round {res['load_avg_1m_per_round']}  ",
             f"XLA options: {m['xla_cpu_options']}; versions: {out['versions']}", "",
             "GFlop/s per phase (median over rounds; each phase 2·B·Ho·Wo·cin·cout·k² flop). xla: the UNet's BatchConv "
             f"(weight gradient over pieces of {res['wgrad_piece']} examples; whole batch: in one convolution); "
             "patches / gemm: the weight gradient's explicit im2col, building the patches alone / the GEMM alone (the "
             "phase's flops over each part's time: an equivalent rate; building the patches does no flops).", "",
             "| shape (B×H×W, cin→cout, k) | GFlop per phase | " + " | ".join(cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for row in res["shapes"]:
        lines.append(f"| {row['name']} | {row['gflop']:.2f} | "
                     + " | ".join(f"{row['gflop'] / row['ms'][c] * 1e3:.0f}" for c in cols) + " |")
    t = res["unet_step"]
    lines += ["", f"One UNet step's convolutions at the measured shapes ({t['covered_convs']} convolutions), ms:", "",
              "| phase | " + " | ".join(("xla",) + tuple(f"torch {f}" for f in ("nchw", "channels_last"))) + " |",
              "|---|---:|---:|---:|"]
    for ph in PHASES:
        lines.append(f"| {ph} | {t['ms'][f'xla {ph}']:.0f} | {t['ms'][f'torch nchw {ph}']:.0f} | "
                     f"{t['ms'][f'torch channels_last {ph}']:.0f} |")
    lines.append(f"| wgrad, whole batch in one convolution | {t['ms']['xla wgrad whole batch']:.0f} | | |")
    lines.append("| total | " + " | ".join(f"{t['total_ms'][k]:.0f}" for k in ("xla", "torch nchw", "torch channels_last"))
                 + " |")
    lines += ["", f"XLA total with the weight gradient over the whole batch: "
              f"{t['total_ms']['xla, wgrad over the whole batch']:.0f} ms; with its weight gradient at its own forward "
              f"rate: {t['total_ms']['xla, wgrad at its fwd rate']:.0f} ms."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=CASE["batch"])
    ap.add_argument("--quick", action="store_true", help="1 round, shapes 0 and 1")
    ap.add_argument("--out", default=None, help="JSON path (default results/bench_conv_phases.json; .md beside it)")
    args = ap.parse_args(argv)
    import torch

    shapes = SHAPES[:2] if args.quick else SHAPES
    rounds = 1 if args.quick else args.rounds
    timers = {sh: {**xla_timers(sh, args.batch), **torch_timers(sh, args.batch)} for sh in shapes}
    cols = XLA_COLS + TORCH_COLS
    times = {(sh, c): [] for sh in shapes for c in cols}
    loads = []
    for r in range(rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for sh in shapes:
            for c in (cols if r % 2 == 0 else cols[::-1]):
                times[sh, c].append(timers[sh][c]())
        print(f"round {r}: load {loads[-1]}", flush=True)
    rows = []
    for sh in shapes:
        cin, h, cout, k, s = sh
        rows.append({"shape": list(sh), "name": shape_name(sh, args.batch),
                     "gflop": 2.0 * args.batch * (h // s) ** 2 * cin * cout * k * k / 1e9,
                     "ms": {c: 1e3 * statistics.median(times[sh, c]) for c in cols},
                     "rounds_ms": {c: [round(1e3 * v, 3) for v in times[sh, c]] for c in cols}})
    cmd = "python benchmarks/bench_conv_phases.py" + (" --quick" if args.quick else f" --rounds {rounds}")
    out = {"benchmark": "UNet convolutions by phase: XLA:CPU (BatchConv) vs PyTorch (CPU, float32)",
           "command": cmd, "batch": args.batch, "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           **run_facts(torch.get_num_threads()), "result": {"wgrad_piece": C.WGRAD_PIECE, "shapes": rows, "load_avg_1m_per_round": loads, "unet_step": step_summary(rows, args.batch)}}
    report(out, render_md(out), args.out or (None if args.quick else RESULTS / "bench_conv_phases.json"))


if __name__ == "__main__":
    main()

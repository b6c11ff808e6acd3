"""Training steps per second of ghostjax's UNet (nets/unet.py) vs the same UNet and optimiser in PyTorch.

Case (CPU, float32): the Simple Shapes CPU size, 32×32 grayscale images, base 32 channels, channel
multipliers (1, 2), 1 ResBlock per level, GroupNorm(8), 128-d sinusoidal noise embedding, ε-prediction;
batch 64 (`--batch`). Both networks have the same layers and shapes (ghostjax initialises its convs as
PyTorch does; values differ, shapes and flops do not). Data: a fixed set of 512 random images (the
values do not change the work). One step = draw a batch, DDPM ε-MSE with t uniform over T = 1000
linear-β levels (ghostjax: Loss(sigma_dist="ddpm", weighting="sigma2"), x_σ = x_0 + σε fed as
x_σ/√(1+σ²), which is DDPM's √ᾱ x_0 + √(1−ᾱ) ε), backward, global-norm clip 1.0, Adam with warmup
+ cosine, EMA update. ghostjax runs `--steps` steps per jitted call (training.train_chunk, lax.scan);
PyTorch runs eager (NCHW, its CPU default, and channels_last). Measurements alternate between the
frameworks (`--rounds` times) and the median is kept. PyTorch is timed with its default thread count
and with 1 thread; `ratio` uses the default, `ratio_vs_best_torch` the fastest PyTorch setting.

The convolution ceiling: every conv of one step (forward, and the input- and weight-gradient convs of
the backward pass, at each layer's exact shapes) timed alone in both frameworks (XLA: the UNet's default
conv_impl). `--also-conv-impl canonical` adds ghostjax rows with another nets.unet conv_impl. A step can be no faster
than its convs, so `ratio_ceiling_at_xla_conv_speed` = (1/XLA conv time)/(torch steps/s) bounds the ratio
ghostjax can reach with XLA's convolutions.

    python benchmarks/bench_unet.py            # -> results/bench_unet.{json,md}
    python benchmarks/bench_unet.py --quick    # smoke run -> results/bench_unet_quick.{json,md}
Needs the optional `bench` extra (torch).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ghostjax.data import EmpiricalData
from ghostjax.losses import DDPMSigmas, Loss
from ghostjax.nets import make_net
from ghostjax.training import Optim, init_state, make_optimizer, train_chunk

sys.path.insert(0, str(Path(__file__).parent))
from _common import chunk_rate, median_time, report, settle, torch_rate  # noqa: E402

CASE = dict(image_size=32, base_channels=32, channel_mult=(1, 2), blocks_per_level=1, groups=8, embed_dim=128,
            batch=64, n_data=512)
RESULTS = Path(__file__).parent / "results"


def machine_facts() -> dict:
    flags: set[str] = set()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "avx512_extensions": sorted(f for f in flags if f.startswith("avx512"))}


def data(case, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = case["image_size"] ** 2
    return (rng.random((case["n_data"], d), dtype=np.float32) < 0.1).astype(np.float32) * 2 - 1


# ------------------------------------------------------------------------------------ JAX
def jax_net(case, key=0, **extra):
    n = case["image_size"]
    return make_net("unet", dim=n * n, key=jax.random.PRNGKey(key), image_size=n,
                    base_channels=case["base_channels"], channel_mult=case["channel_mult"],
                    blocks_per_level=case["blocks_per_level"], groups=case["groups"],
                    embed_dim=case["embed_dim"], precond="eps", **extra)


def jax_setup(case, steps: int, chunk=train_chunk, **extra):
    """A callable that runs `steps` training steps in one jitted call and returns steps/s."""
    gm = EmpiricalData(jnp.asarray(data(case)))
    spec = Loss(sigma_dist="ddpm", weighting="sigma2", sigma_data=1.0, band_lo=1.0, band_hi=2.0)
    opt = make_optimizer(Optim(lr=2e-4, warmup=100, total_steps=100000))
    amp = jnp.float32(1.0)
    return chunk_rate(chunk, init_state(jax_net(case, **extra), opt, 0), steps, gm, spec, opt, case["batch"], steps,
                      0.999, amp)


def wgrad_piece_setup(case, steps: int, piece: int):
    """jax_setup with BatchConv's weight gradient over pieces of `piece` examples (nets.conv.WGRAD_PIECE),
    compiled by its own jit (the shared train_chunk's cache would return the default's compilation)."""
    from ghostjax import training
    from ghostjax._xla import BackendJit
    from ghostjax.nets import conv

    def chunk(*args, **kwargs):
        return training._train_chunk(*args, **kwargs)

    saved, conv.WGRAD_PIECE = conv.WGRAD_PIECE, piece
    try:  # traced (and compiled) inside jax_setup, so the setting holds for this row only
        return jax_setup(case, steps, chunk=BackendJit(chunk, training.TRAIN_CPU_OPTIONS))
    finally:
        conv.WGRAD_PIECE = saved


# ------------------------------------------------------------------------------------ PyTorch
def torch_net(case):
    """The same UNet as ghostjax.nets.UNet in PyTorch (NCHW)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    C, E, G = case["base_channels"], case["embed_dim"], case["groups"]
    T = 4 * C
    mult = case["channel_mult"]

    class ResBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.n1, self.c1 = nn.GroupNorm(G, cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.t = nn.Linear(T, cout)
            self.n2, self.c2 = nn.GroupNorm(G, cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

        def forward(self, x, t):
            h = self.c1(F.silu(self.n1(x))) + self.t(F.silu(t))[:, :, None, None]
            h = self.c2(F.silu(self.n2(h)))
            return (x if self.skip is None else self.skip(x)) + h

    class Up(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.conv = nn.Conv2d(ch, ch, 3, padding=1)

        def forward(self, x):
            return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.freqs = nn.Buffer(torch.exp(torch.linspace(0.0, math.log(100.0), E // 2)))
            self.tmlp = nn.Sequential(nn.Linear(E, T), nn.SiLU(), nn.Linear(T, T))
            self.conv_in = nn.Conv2d(1, C, 3, padding=1)
            skips, ch, down = [C], C, []
            for lvl, m in enumerate(mult):
                for _ in range(case["blocks_per_level"]):
                    down.append(ResBlock(ch, C * m))
                    ch = C * m
                    skips.append(ch)
                if lvl < len(mult) - 1:
                    down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                    skips.append(ch)
            self.down = nn.ModuleList(down)
            self.mid = nn.ModuleList([ResBlock(ch, ch), ResBlock(ch, ch)])
            up = []
            for lvl in reversed(range(len(mult))):
                for _ in range(case["blocks_per_level"] + 1):
                    up.append(ResBlock(ch + skips.pop(), C * mult[lvl]))
                    ch = C * mult[lvl]
                if lvl > 0:
                    up.append(Up(ch))
            self.up = nn.ModuleList(up)
            self.norm_out, self.conv_out = nn.GroupNorm(G, ch), nn.Conv2d(ch, 1, 3, padding=1)

        def forward(self, x, sigma):
            n = case["image_size"]
            a = (0.25 * torch.log(sigma))[:, None] * self.freqs[None]
            t = self.tmlp(torch.cat([torch.cos(a), torch.sin(a)], 1))
            h = self.conv_in(x.reshape(-1, 1, n, n) / torch.sqrt(1 + sigma**2)[:, None, None, None])
            skips = [h]
            for layer in self.down:
                h = layer(h, t) if isinstance(layer, ResBlock) else layer(h)
                skips.append(h)
            for b in self.mid:
                h = b(h, t)
            for layer in self.up:
                h = layer(torch.cat([h, skips.pop()], 1), t) if isinstance(layer, ResBlock) else layer(h)
            return self.conv_out(F.silu(self.norm_out(h))).reshape(x.shape)  # ε̂

    return UNet()


def torch_setup(case, channels_last: bool = False):
    import torch

    net = torch_net(case)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    xs_all = torch.tensor(data(case))
    table = torch.tensor(DDPMSigmas(1000, 1e-4, 0.02).table()[0], dtype=torch.float32)
    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=2e-4)
    warm, total, end = 100, 100000, 0.05
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: t / warm if t < warm else end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm))))
    B = case["batch"]

    def step():
        x0 = xs_all[torch.randint(0, xs_all.shape[0], (B,))]
        sigma = table[torch.randint(0, table.numel(), (B,))]
        eps = torch.randn_like(x0)
        pred = net(x0 + sigma[:, None] * eps, sigma)
        loss = ((pred - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - 0.999)
        return loss.detach()

    return step


# ------------------------------------------------------------------------------------ conv ceiling
def conv_shapes(case) -> list[tuple]:
    """(B, cin, H, W, cout, k, stride, needs_dx) of every conv in one step's network, recorded from
    the PyTorch UNet's forward pass (the network input carries no gradient)."""
    import torch

    net, shapes = torch_net(case), []

    def hook(mod, inp, out):
        x = inp[0]
        shapes.append((x.shape[0], x.shape[1], x.shape[2], x.shape[3], mod.out_channels, mod.kernel_size[0],
                       mod.stride[0], bool(x.requires_grad)))

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    B, n = case["batch"], case["image_size"]
    net(torch.zeros(B, n * n), torch.ones(B))
    return shapes


def conv_flops(shapes) -> float:
    """Multiply-add flops of forward + weight gradient (+ input gradient where needed)."""
    total = 0.0
    for b, cin, h, w, cout, k, s, dx in shapes:
        f = 2.0 * b * (h // s) * (w // s) * cout * cin * k * k
        total += f * (3 if dx else 2)
    return total


def torch_conv_seconds(shapes, reps: int) -> float:
    """One step's convs alone in PyTorch: forward, and aten.convolution_backward (the call autograd
    makes) for the weight gradient and, where needed, the input gradient. NCHW."""
    import torch
    import torch.nn.functional as F

    items = []
    for b, cin, h, w, cout, k, s, dx in shapes:
        x, wt = torch.randn(b, cin, h, w), torch.randn(cout, cin, k, k)
        dy = torch.randn(b, cout, h // s, w // s)
        items.append((x, wt, dy, k, s, dx))

    def once():
        for x, wt, dy, k, s, dx in items:
            F.conv2d(x, wt, stride=s, padding=(k - 1) // 2)
            torch.ops.aten.convolution_backward(dy, x, wt, None, [s, s], [(k - 1) // 2] * 2, [1, 1], False,
                                                [0, 0], 1, [dx, True, False])

    return median_time(once, reps)


def wgrad_piece() -> int:
    """Examples per weight-gradient convolution of BatchConv (nets.conv.WGRAD_PIECE; 0: whole batch)."""
    from ghostjax.nets import conv

    return conv.WGRAD_PIECE


def default_conv_impl() -> str:
    """The name of the UNet's default convolution implementation (nets.unet.ConvImpl)."""
    import inspect

    from ghostjax.nets.unet import UNet, as_conv_impl

    return as_conv_impl(inspect.signature(UNet.__init__).parameters["conv_impl"].default).name


def jax_conv_seconds(shapes, reps: int, impl: str | None = None) -> float:
    """The same convs in one jitted JAX call, as the network runs them: jax.vjp of the vmapped
    per-example convolution of `impl` (a nets.unet.CONV_IMPLS name; default the UNet's), compiled
    with the training step's XLA options."""
    from ghostjax.nets.unet import as_conv_impl

    conv = as_conv_impl(impl or default_conv_impl())
    key = jax.random.PRNGKey(0)
    args, meta = [], []
    for i, (b, cin, h, w, cout, k, s, dx) in enumerate(shapes):
        k1, k2, k3 = jax.random.split(jax.random.fold_in(key, i), 3)
        args.append((jax.random.normal(k1, (b, h, w, cin)), jax.random.normal(k2, (k, k, cin, cout)),
                     jax.random.normal(k3, (b, h // s, w // s, cout))))
        meta.append((s, dx))

    def convs(args):
        out = []
        for (x, wt, dy), (s, dx) in zip(args, meta):
            y, vjp = jax.vjp(lambda x, wt, s=s: jax.vmap(lambda xi: conv(xi, wt, s))(x), x, wt)
            gx, gw = vjp(dy)
            out += [y, gw] + ([gx] if dx else [])
        return out

    fn = jax.jit(convs, compiler_options=train_chunk.options())
    return median_time(lambda: jax.block_until_ready(fn(args)), reps)


# ------------------------------------------------------------------------------------ report
def render_md(out: dict) -> str:
    r, m = out["result"], out["machine"]
    lines = [
        "# bench_unet: UNet training steps/s, ghostjax vs PyTorch (CPU, float32)", "",
        f"Command: `{out['command']}`  ", f"Case: {out['case']}  ",
        f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, avx2={m['avx2']}, avx512f={m['avx512f']}; "
        f"load average (1 min) {m['load_avg_1m_at_start']:.2f} at start, {m['load_avg_1m_at_end']:.2f} at end  ",
        f"Versions: {out['versions']}", "",
        "| what | steps/s | ratio ghostjax / this |", "|---|---:|---:|",
        f"| ghostjax (train_chunk, {r['jax_steps_per_call']} steps per call, conv_impl {r.get('conv_impl')}, "
        f"wgrad_piece {r.get('wgrad_piece')}) | "
        f"{r['ghostjax_steps_per_s']:.2f} | 1 |",
    ]
    for name, v in r.get("ghostjax_steps_per_s_other_conv_impls", {}).items():
        label = name if name.startswith("wgrad_piece") else f"conv_impl {name}"
        lines.append(f"| ghostjax, {label} | {v:.2f} | {r['ghostjax_steps_per_s'] / v:.2f} |")
    for name, v in r["torch_steps_per_s"].items():
        lines.append(f"| PyTorch {name} | {v:.2f} | {r['ghostjax_steps_per_s'] / v:.2f} |")
    lines += ["", f"ratio (vs PyTorch default threads, NCHW): **{r['ratio']:.2f}**; median of per-round ratios "
              f"{r['ratio_median_of_rounds']:.2f}; vs the fastest PyTorch setting: {r['ratio_vs_best_torch']:.2f}", "",
              "Convolutions alone (forward + input gradient + weight gradient at every conv of one step, "
              f"{r['conv_gflop_per_step']:.2f} GFlop):", "",
              "| framework | ms per step | GFlop/s | ratio ceiling |", "|---|---:|---:|---:|",
              f"| PyTorch (default threads) | {r['torch_conv_ms_per_step']:.1f} | {r['torch_conv_gflop_per_s']:.1f} | "
              f"{r['ratio_ceiling_at_torch_conv_speed']:.2f} |",
              f"| PyTorch (1 thread) | {r['torch_conv_ms_per_step_1_thread']:.1f} | "
              f"{1e3 * r['conv_gflop_per_step'] / r['torch_conv_ms_per_step_1_thread']:.1f} | – |",
              f"| XLA (train options) | {r['ghostjax_conv_ms_per_step']:.1f} | {r['ghostjax_conv_gflop_per_s']:.1f} | "
              f"{r['ratio_ceiling_at_xla_conv_speed']:.2f} |", "",
              f"ghostjax step time {1e3 / r['ghostjax_steps_per_s']:.1f} ms, of which its convs alone "
              f"{r['ghostjax_conv_ms_per_step']:.1f} ms; PyTorch step {1e3 / r['torch_default_steps_per_s']:.1f} ms, "
              f"of which its convs alone {r['torch_conv_ms_per_step']:.1f} ms.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 round of 3 steps, batch 16 (smoke run)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="steps per measurement (and per jitted call)")
    p.add_argument("--batch", type=int, default=CASE["batch"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", default=None, help="JSON path (default results/bench_unet[_quick].json; .md beside it)")
    p.add_argument("--also-conv-impl", default="", help="comma-separated nets.unet.CONV_IMPLS names: extra ghostjax "
                   "rows with that conv_impl, timed in the same rounds (the main row uses the UNet's default)")
    p.add_argument("--also-wgrad-piece", default="", help="comma-separated examples per weight-gradient convolution "
                   "(nets.conv.WGRAD_PIECE; 0: the whole batch): extra ghostjax rows, timed in the same rounds")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.batch = 1, 3, 16
    import torch

    case = {**CASE, "batch": args.batch}
    out_path = Path(args.out or RESULTS / ("bench_unet_quick.json" if args.quick else "bench_unet.json"))
    load0 = os.getloadavg()
    torch.manual_seed(0)
    threads = sorted({args.threads, 1}, reverse=True)
    torch_steps = {"nchw": torch_setup(case), "channels_last": torch_setup(case, channels_last=True)}
    jrun = jax_setup(case, args.steps)
    others = [n for n in args.also_conv_impl.split(",") if n]
    orun = {n: jax_setup(case, args.steps, conv_impl=n) for n in others}
    for piece in (int(v) for v in args.also_wgrad_piece.split(",") if v):
        orun[f"wgrad_piece {piece}"] = wgrad_piece_setup(case, args.steps, piece)
    others = list(orun)
    shapes = conv_shapes(case)
    jr, tr, tconv, tconv1, jconv, loads, ors = [], {}, [], [], [], [], {n: [] for n in others}
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        settle()
        jr.append(jrun())
        for n, f in orun.items():
            settle()
            ors[n].append(f())
        for name, step in torch_steps.items():
            for n in threads:
                torch.set_num_threads(n)
                settle()
                tr.setdefault(f"{name}, {n} thread{'s' if n > 1 else ''}", []).append(torch_rate(step, args.steps))
    # the convolution ceilings after every step round: running them between rounds slowed the later
    # ghostjax rounds (1.30 -> 1.14 steps/s, CanonicalConv 0.95 -> 0.63; state left behind, not load)
    for _ in range(args.rounds):
        torch.set_num_threads(1)
        settle()
        tconv1.append(torch_conv_seconds(shapes, reps=3 if args.quick else 10))
        torch.set_num_threads(args.threads)
        settle()
        tconv.append(torch_conv_seconds(shapes, reps=3 if args.quick else 10))
        settle()
        jconv.append(jax_conv_seconds(shapes, reps=3 if args.quick else 10))
    default = f"nchw, {args.threads} thread{'s' if args.threads > 1 else ''}"
    j = statistics.median(jr)
    t_by = {k: statistics.median(v) for k, v in tr.items()}
    t_def, t_best = t_by[default], max(t_by.values())
    tc, jc, fl = statistics.median(tconv), statistics.median(jconv), conv_flops(shapes)
    result = {
        "jax_steps_per_call": args.steps, "conv_impl": default_conv_impl(), "wgrad_piece": wgrad_piece(),
        "ghostjax_steps_per_s_other_conv_impls": {n: round(statistics.median(v), 3) for n, v in ors.items()},
        "ghostjax_rounds_other_conv_impls": {n: [round(x, 3) for x in v] for n, v in ors.items()},
        "ghostjax_steps_per_s": round(j, 3), "torch_steps_per_s": {k: round(v, 3) for k, v in t_by.items()},
        "torch_default_steps_per_s": round(t_def, 3), "ratio": round(j / t_def, 3),
        "ratio_median_of_rounds": round(statistics.median(a / b for a, b in zip(jr, tr[default])), 3),
        "ratio_vs_best_torch": round(j / t_best, 3),
        "conv_gflop_per_step": round(fl / 1e9, 3),
        "torch_conv_ms_per_step": round(1e3 * tc, 2), "torch_conv_gflop_per_s": round(fl / tc / 1e9, 1),
        "torch_conv_ms_per_step_1_thread": round(1e3 * statistics.median(tconv1), 2),
        "ghostjax_conv_ms_per_step": round(1e3 * jc, 2), "ghostjax_conv_gflop_per_s": round(fl / jc / 1e9, 1),
        # a step is no faster than its convs: the best ratio reachable at each framework's conv speed
        "ratio_ceiling_at_torch_conv_speed": round(1.0 / (tc * t_def), 3),
        "ratio_ceiling_at_xla_conv_speed": round(1.0 / (jc * t_def), 3),
        "ghostjax_rounds": [round(v, 3) for v in jr], "torch_rounds": {k: [round(x, 3) for x in v] for k, v in tr.items()},
        "torch_conv_rounds_ms": [round(1e3 * v, 2) for v in tconv],
        "ghostjax_conv_rounds_ms": [round(1e3 * v, 2) for v in jconv],
        "load_avg_1m_per_round": [round(v, 2) for v in loads],
        "conv_shapes": [list(s) for s in shapes],
    }
    cmd = "python benchmarks/bench_unet.py" + (" --quick" if args.quick else
                                               f" --rounds {args.rounds} --steps {args.steps} --batch {args.batch}")
    if args.also_conv_impl:
        cmd += f" --also-conv-impl {args.also_conv_impl}"
    if args.also_wgrad_piece:
        cmd += f" --also-wgrad-piece {args.also_wgrad_piece}"
    out = {
        "benchmark": "UNet training steps per second, ghostjax vs PyTorch (CPU, float32)",
        "command": cmd, "target_ratio": 1.0,
        "case": {**case, "channel_mult": list(case["channel_mult"]), "loss": "DDPM eps-MSE, t uniform over T=1000",
                 "optimiser": "clip 1.0 + Adam (warmup + cosine) + EMA 0.999"},
        "machine": {**machine_facts(), "torch_threads": threads, "load_avg_at_start": list(load0),
                    "load_avg_1m_at_start": load0[0], "load_avg_1m_at_end": os.getloadavg()[0],
                    "xla_cpu_options": train_chunk.options()},
        "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
                     "torch": torch.__version__, "python": platform.python_version()},
        "result": result,
    }
    report(out, render_md(out), out_path)


if __name__ == "__main__":
    main()

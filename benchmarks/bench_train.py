"""Training steps per second: ghostjax (JAX/equinox/optax) vs the same model and optimiser in PyTorch.

Cases (both CPU, float32):
  joint   JointMLP width 256, depth 3 (hidden layers), SiLU, 16-d sinusoidal noise embedding, EDM
          preconditioning; batch 4096; two opposite corners in D = 8.
  aithal  AithalMLP width 128, 3 residual blocks, 128-d sinusoidal embedding, ε-preconditioning;
          batch 4096; Aithal et al.'s 2-D Gaussian25 grid.
One step = draw a batch (mixture sample, log-normal σ, noise), EDM-weighted DSM loss, backward,
global-norm clip 1.0, Adam with warmup + cosine, EMA update. ghostjax runs `steps_per_call` steps
per jitted call (lax.scan); PyTorch runs eager (torch.compile is not used: it needs a C++
toolchain and is not the default CPU path). Measurements alternate between the frameworks
(`rounds` times) and the median steps/s is kept, so background load affects both alike. PyTorch
is timed with its default thread count (all cores) and with 1 thread (faster on a loaded machine);
`ratio` uses the default, `ratio_vs_best_torch` the faster of the two.

    python benchmarks/bench_train.py [--rounds 3] [--steps 20] [--threads N]
Needs the optional `bench` extra (torch); writes benchmarks/results/bench_train.json.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ghostjax as gj
from ghostjax.losses import Loss
from ghostjax.nets import make_net
from ghostjax.runio import atomic_write_json
from ghostjax.training import Optim, init_state, make_optimizer, train_chunk

CASES = {
    "joint": dict(kind="joint", dim=8, width=256, depth=3, embed_dim=16, precond="edm", batch=4096),
    "aithal": dict(kind="aithal", dim=2, width=128, depth=3, embed_dim=128, precond="eps", batch=4096),
}


def mixture(case):
    if case["dim"] == 2 and case["kind"] == "aithal":
        return gj.GaussianMixture.grid(5, 2.0, 0.05, scale=math.sqrt(0.05**2 + 2**2 * 2))
    return gj.GaussianMixture.opposite_corners(case["dim"], 0.3)


# ------------------------------------------------------------------------------------ JAX
def jax_setup(case, steps: int):
    """A callable that runs `steps` training steps in one jitted call and returns steps/s."""
    gm = mixture(case)
    sd = float(gm.data_std())
    net = make_net(case["kind"], case["dim"], key=jax.random.PRNGKey(0), width=case["width"], depth=case["depth"],
                   embed_dim=case["embed_dim"], sigma_data=sd, precond=case["precond"])
    spec = Loss(sigma_data=sd)
    opt = make_optimizer(Optim(lr=1e-3, warmup=100, total_steps=100000))
    amp = jnp.float32(1.0)
    box = {"state": init_state(net, opt, 0)}

    def run():
        t0 = time.perf_counter()
        box["state"], logs = train_chunk(box["state"], gm, spec, opt, case["batch"], steps, 0.999, amp)
        jax.block_until_ready((box["state"], logs))
        assert np.all(np.isfinite(np.asarray(logs["loss"])))
        return steps / (time.perf_counter() - t0)

    run()  # compile and warm up
    return run


# ------------------------------------------------------------------------------------ PyTorch
def torch_setup(case):
    import torch
    import torch.nn as nn

    gm = mixture(case)
    means = torch.tensor(np.asarray(gm.means))
    stds = torch.tensor(np.asarray(gm.stds))
    logw = torch.log(torch.tensor(np.asarray(gm.weights)))
    sd = float(gm.data_std())
    D, E = case["dim"], case["embed_dim"]
    freqs = torch.exp(torch.linspace(0.0, math.log(100.0), E // 2))

    def embed(c):
        a = c[:, None] * freqs[None, :]
        return torch.cat([torch.cos(a), torch.sin(a)], dim=1)

    class Joint(nn.Module):
        def __init__(self):
            super().__init__()
            w = case["width"]
            layers, d_in = [], D + E
            for _ in range(case["depth"]):
                layers += [nn.Linear(d_in, w), nn.SiLU()]
                d_in = w
            layers.append(nn.Linear(d_in, D))
            self.mlp = nn.Sequential(*layers)

        def body(self, x_in, emb):
            return self.mlp(torch.cat([x_in, emb], dim=1))

    class Block(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.n1, self.n2 = nn.LayerNorm(w), nn.LayerNorm(w)
            self.l1, self.l2, self.t = nn.Linear(w, w), nn.Linear(w, w), nn.Linear(E, w)
            self.act = nn.LeakyReLU(0.02)

        def forward(self, h, emb):
            u = self.l1(self.act(self.n1(h))) + self.t(emb)
            return h + self.l2(self.act(self.n2(u)))

    class Aithal(nn.Module):
        def __init__(self):
            super().__init__()
            w = case["width"]
            self.inp = nn.Linear(D, w, bias=False)
            self.blocks = nn.ModuleList([Block(w) for _ in range(case["depth"])])
            self.norm, self.out = nn.LayerNorm(w), nn.Linear(w, D)

        def body(self, x_in, emb):
            h = self.inp(x_in)
            for b in self.blocks:
                h = b(h, emb)
            return self.out(self.norm(h))

    net = Joint() if case["kind"] == "joint" else Aithal()

    def score(x, sigma):
        emb = embed(0.25 * torch.log(sigma))
        if case["precond"] == "eps":
            return -net.body(x / torch.sqrt(1 + sigma[:, None] ** 2), emb) / sigma[:, None]
        r = torch.rsqrt(sigma**2 + sd**2)[:, None]
        f = net.body(r * x, emb)
        return -(r * r) * x + (sd * r / sigma[:, None]) * f

    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=1e-3)
    warm, total, end = 100, 100000, 0.0
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: t / warm if t < warm else end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm))))
    B = case["batch"]

    def step():
        lab = torch.multinomial(torch.exp(logw), B, replacement=True)
        x0 = means[lab] + stds[lab] * torch.randn(B, D)
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(B))
        eps = torch.randn(B, D)
        s = score(x0 + sigma[:, None] * eps, sigma)
        err = ((sigma[:, None] * s + eps) ** 2).mean(1)
        lam = sigma**2 * (sigma**2 + sd**2) / sd**2
        loss = (lam / sigma**2 * err).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - 0.999)
        return loss.detach()

    return step


def gemm_shapes(case):
    """(M, K, N, needs_dX) of every Linear in one training step's network, batch M = case['batch'].

    needs_dX is False where the layer's input carries no gradient (the network input, and the noise
    embedding fed to AithalMLP's per-block projections)."""
    B, D, E, W = case["batch"], case["dim"], case["embed_dim"], case["width"]
    if case["kind"] == "joint":
        dims = [D + E] + [W] * case["depth"] + [D]
        return [(B, a, b, i > 0) for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))]
    shapes = [(B, D, W, False)]
    for _ in range(case["depth"]):
        shapes += [(B, W, W, True), (B, E, W, False), (B, W, W, True)]
    return shapes + [(B, W, D, True)]


def gemm_flops(case) -> float:
    """Flops of the matrix products of one step: forward, weight gradient, input gradient."""
    return sum(2 * m * k * n * (3 if dx else 2) for m, k, n, dx in gemm_shapes(case))


def torch_gemm_seconds(case, reps: int = 20) -> float:
    """Wall time of one step's matrix products alone in PyTorch (forward Y = X Wᵀ, dW = dYᵀ X,
    dX = dY W at the step's exact shapes): the part of a step that no framework avoids, timed with
    the BLAS PyTorch uses. The median over `reps` repeats."""
    import torch

    mats = []
    for m, k, n, dx in gemm_shapes(case):
        x, w, dy = torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)
        mats.append((x, w, dy, dx))

    def once():
        for x, w, dy, dx in mats:
            torch.mm(x, w.t())
            torch.mm(dy.t(), x)
            if dx:
                torch.mm(dy, w)

    once()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def jax_gemm_seconds(case, reps: int = 20) -> float:
    """The same matrix products as torch_gemm_seconds in one jitted JAX call, compiled with the
    options ghostjax's training step uses: the part of ghostjax's step spent in XLA's GEMMs."""
    from ghostjax import training

    key = jax.random.PRNGKey(0)
    mats = []
    for i, (m, k, n, dx) in enumerate(gemm_shapes(case)):
        k1, k2, k3 = jax.random.split(jax.random.fold_in(key, i), 3)
        mats.append((jax.random.normal(k1, (m, k)), jax.random.normal(k2, (n, k)), jax.random.normal(k3, (m, n))))
    flags = tuple(dx for *_, dx in gemm_shapes(case))

    def products(mats):
        out = []
        for (x, w, dy), dx in zip(mats, flags):
            out += [x @ w.T, dy.T @ x] + ([dy @ w] if dx else [])
        return out

    fn = jax.jit(products, compiler_options=training.train_chunk.options())
    jax.block_until_ready(fn(mats))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(mats))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_rate(step, steps: int):
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    rate = steps / (time.perf_counter() - t0)
    assert math.isfinite(loss.item())
    return rate


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="steps per measurement (and per jitted call)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_train.json"))
    args = p.parse_args(argv)
    import torch

    load0 = os.getloadavg()[0]
    torch.manual_seed(0)
    thread_settings = sorted({args.threads, 1}, reverse=True)
    results = []
    for name, case in CASES.items():
        step = torch_setup(case)
        jrun = jax_setup(case, args.steps)
        jr, tr, gemm, jgemm = [], {n: [] for n in thread_settings}, [], []
        for _ in range(args.rounds):
            jr.append(jrun())
            for n in thread_settings:
                torch.set_num_threads(n)
                tr[n].append(torch_rate(step, args.steps))
            torch.set_num_threads(args.threads)
            gemm.append(torch_gemm_seconds(case))
            jgemm.append(jax_gemm_seconds(case))
        j = statistics.median(jr)
        t_by = {n: statistics.median(v) for n, v in tr.items()}
        t_def, t_best = t_by[args.threads], max(t_by.values())
        g = statistics.median(gemm)
        # If ghostjax's whole step took only the time of PyTorch's matrix products, its ratio would
        # be this: the ceiling for any implementation whose GEMMs are no faster than PyTorch's.
        ceiling = 1.0 / (g * t_def)
        jg = statistics.median(jgemm)
        j_ceiling = 1.0 / (jg * t_def)  # the same, at the speed of XLA's GEMMs
        row = {"case": name, **case, "ghostjax_steps_per_s": round(j, 2),
               "torch_steps_per_s": round(t_def, 2), "ratio": round(j / t_def, 3),
               "torch_best_steps_per_s": round(t_best, 2), "ratio_vs_best_torch": round(j / t_best, 3),
               "torch_steps_per_s_by_threads": {str(n): round(v, 2) for n, v in t_by.items()},
               "gemm_gflop_per_step": round(gemm_flops(case) / 1e9, 3),
               "torch_gemm_ms_per_step": round(1e3 * g, 2),
               "torch_gemm_gflop_per_s": round(gemm_flops(case) / g / 1e9, 1),
               "ghostjax_gflop_per_s_in_gemms": round(gemm_flops(case) * j / 1e9, 1),
               "ratio_ceiling_at_torch_gemm_speed": round(ceiling, 3),
               "torch_gemm_rounds_ms": [round(1e3 * v, 2) for v in gemm],
               "ghostjax_gemm_ms_per_step": round(1e3 * jg, 2),
               "ghostjax_gemm_gflop_per_s": round(gemm_flops(case) / jg / 1e9, 1),
               "ratio_ceiling_at_xla_gemm_speed": round(j_ceiling, 3),
               "ghostjax_gemm_rounds_ms": [round(1e3 * v, 2) for v in jgemm],
               "ghostjax_rounds": [round(v, 2) for v in jr],
               # rounds alternate between the frameworks, so the ratio within a round shares its background load
               "ratio_median_of_rounds": round(statistics.median(a / b for a, b in zip(jr, tr[args.threads])), 3),
               "torch_rounds_by_threads": {str(n): [round(x, 2) for x in v] for n, v in tr.items()}}
        print(f"{name:>7}: ghostjax {j:7.2f} steps/s | torch {t_def:7.2f} ({args.threads} threads), best "
              f"{t_best:7.2f} | ratio {j / t_def:.2f} (median of rounds "
              f"{statistics.median(a / b for a, b in zip(jr, tr[args.threads])):.2f}), vs best torch {j / t_best:.2f} | torch GEMMs alone "
              f"{1e3 * g:.1f} ms/step ({gemm_flops(case) / g / 1e9:.0f} GFlop/s): ratio ceiling {ceiling:.2f}; "
              f"XLA GEMMs alone {1e3 * jg:.1f} ms/step ({gemm_flops(case) / jg / 1e9:.0f} GFlop/s): ceiling {j_ceiling:.2f}")
        results.append(row)
    out = {
        "benchmark": "training steps per second, ghostjax vs PyTorch (CPU, float32)",
        "command": "python benchmarks/bench_train.py" + (f" --rounds {args.rounds} --steps {args.steps}"),
        "target_ratio": 1.5,
        "machine": {"cpus": os.cpu_count(), "torch_threads": thread_settings, "platform": platform.platform(),
                    "load_avg_1m_at_start": load0, "load_avg_1m_at_end": os.getloadavg()[0]},
        "versions": {"jax": jax.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "results": results,
    }
    atomic_write_json(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

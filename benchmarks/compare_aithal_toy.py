#!/usr/bin/env python
"""ghostjax's `aithal` recipe against a PyTorch transcription of Aithal et al.'s toy model and
training loop, side by side on the 1-D {1, 2, 3} data: hallucination fractions and step times.

What is theirs (Aithal et al. 2024, "Understanding Hallucinations in Diffusion Models through Mode
Interpolation", github.com/locuslab/diffusion-model-hallucination, gaussian_experiments/,
license in that repository; nothing of it is vendored or imported here):
  ddpm_torch/toy/toy_model.py   Decoder / TemporalLayer: Linear(1→128, no bias); ONE TemporalLayer
                                applied 3 times (`[layer] * n` in their Sequential); in a layer
                                fc1(act(LN(x))) + enc(t_emb) → fc2(act(LN(·))) + x with fc1, fc2
                                bias-free, enc with bias; t_proj = Linear(128→128) + LeakyReLU(0.02)
                                on the embedding; out_fc(LN(h)); act = LeakyReLU(0.02)
  ddpm_torch/modules.py         Linear: xavier_uniform_ weights (gain 1), zero biases
  ddpm_torch/functions.py       get_timestep_embedding(t, 128): [sin(t f), cos(t f)], f_i = 10⁴^(−i/63)
  ddpm_torch/diffusion.py, toy/diffusion.py
                                linear β 0.001 → 0.2, T = 1000 (float64, gathered as float32);
                                train_losses: t ~ randint(1000), x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε,
                                mean (ε − net(x_t, t))²; p_sample: 1000 ancestral steps t = 999 … 0,
                                x̂0 = x_t/√ᾱ_t − √(1/ᾱ_t − 1) ε̂ (no clipping in the toy override),
                                posterior mean, variance "fixed-large" (β_t; noise off at t = 0)
  ddpm_torch/toy/toy_data.py    DataStreamer: num_batches = size // batch consecutive slices, walked
                                in order every epoch (20,000 rows at batch 10,000: the two halves)
  ddpm_torch/toy/toy_utils.py   Trainer.step: Adam (lr 1e-3, β 0.9/0.999), no clipping, no EMA
  train_toy.py, run.sh          1-D: --modes 1 2 3 --size 20000 --batch-size 10000, seed_all(seed)
Transcribed here (written from that description, in PyTorch): `TorchDecoder`, `torch_train`,
`torch_sample`. The data are ours for both sides (data.training_set: 20,000 rows, row i from mode
i mod 3, std 0.05, seed 1234; their generator also takes row i from mode i mod 3, from an unseeded
generator); the seeds are the same numbers (torch.manual_seed(seed) there, train.seed = seed here).
ghostjax side: the study's `aithal` recipe (model.recipe = "aithal": nets.build_net, fitting's
WalkedBatches and loss, training.fit) and its own sampler (ghostjax.ddpm.draw: the same DDPM
ancestral steps, the 581 steps above σ = 10⁴ skipped, which changes the exact score's samples by
nothing measurable: issue 19).

Counted the same way on both sides: out = farther than 3 std (0.15) from every mode (non-finite
counts as out); gap 1–2 = |x − 1.5| < 0.25 (the middle half of the gap). Per budget (a snapshot
of the same run), mean ± sd over the seeds of each side; "agree" when |Δ mean| ≤ 2 se of the
difference, se² = v_j/n_j + v_t/n_t with v = max(sd², p(1 − p)/n_samples) (the seed-to-seed spread,
at least each seed's own binomial noise); the test with sd² alone is reported beside it. Step time: training wall time per
step after the first snapshot (compilation excluded), each side in the same process, one after
the other.

    python benchmarks/compare_aithal_toy.py --seed 0      # one seed: results/compare_aithal_toy.seed0.json
    (other --batch/--steps: results/compare_aithal_toy.b{batch}_s{steps}.seed0.json)
    python benchmarks/compare_aithal_toy.py --timing      # step times only: results/compare_aithal_toy.timing.json
    python benchmarks/compare_aithal_toy.py --report      # merge all: results/compare_aithal_toy.{json,md}
Options: --steps 2000 --snap 500 --batch 10000 --n-samples 20000 --torch-threads N --ours (also the
"ours" recipe, as the recorded runs train it: the 419 sampler levels, batches with replacement).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODES, STD = (1.0, 2.0, 3.0), 0.05
T, BETA0, BETA1 = 1000, 0.001, 0.2


# ------------------------------------------------------------------------------ counting
def counts(x: np.ndarray) -> dict:
    """out: farther than 3 std from every mode; gap_1_2 / gap_2_3: the middle half of each gap."""
    x = np.asarray(x, np.float64).reshape(-1)
    fin = np.isfinite(x)
    xf = np.where(fin, x, 1e30)
    dist = np.min(np.abs(xf[:, None] - np.asarray(MODES)[None]), axis=1)
    return {"n": int(x.size), "out": float(np.mean(dist > 3 * STD)),
            "gap_1_2": float(np.mean(np.abs(xf - 1.5) < 0.25)), "gap_2_3": float(np.mean(np.abs(xf - 2.5) < 0.25)),
            "non_finite": int((~fin).sum())}


# ------------------------------------------------------------------------------ PyTorch transcription
def torch_parts():
    """The transcribed model, training loop and sampler (torch imported here: optional extra)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def linear(i: int, o: int, bias: bool = True) -> nn.Linear:
        lin = nn.Linear(i, o, bias=bias)
        nn.init.xavier_uniform_(lin.weight)
        if bias:
            nn.init.zeros_(lin.bias)
        return lin

    def act(v):
        return F.leaky_relu(v, 0.02)

    def embedding(t, dim: int):
        half = dim // 2
        f = torch.exp(-torch.arange(half, dtype=torch.float32) * (math.log(10000) / (half - 1)))
        a = torch.outer(t.ravel().to(torch.float32), f)
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    class Layer(nn.Module):
        def __init__(self, w: int):
            super().__init__()
            self.norm1, self.fc1 = nn.LayerNorm(w), linear(w, w, bias=False)
            self.norm2, self.fc2 = nn.LayerNorm(w), linear(w, w, bias=False)
            self.enc = linear(w, w)

        def forward(self, x, e):
            out = self.fc1(act(self.norm1(x))) + self.enc(e)
            return self.fc2(act(self.norm2(out))) + x

    class TorchDecoder(nn.Module):
        def __init__(self, d: int = 1, w: int = 128, n_layers: int = 3):
            super().__init__()
            self.in_fc = linear(d, w, bias=False)
            self.layer = Layer(w)  # one layer, applied n_layers times (their `[layer] * n`)
            self.n_layers = n_layers
            self.out_norm, self.out_fc = nn.LayerNorm(w), linear(w, d)
            self.t_proj = linear(w, w)
            self.w = w

        def forward(self, x, t):
            e = act(self.t_proj(embedding(t, self.w)))
            h = self.in_fc(x)
            for _ in range(self.n_layers):
                h = self.layer(h, e)
            return self.out_fc(self.out_norm(h))

    betas = torch.linspace(BETA0, BETA1, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    post_var = betas * (1 - ab_prev) / (1 - ab)
    sched = {k: v.to(torch.float32) for k, v in {
        "sqrt_ab": ab.sqrt(), "sqrt_1mab": (1 - ab).sqrt(), "recip": (1 / ab).sqrt(), "recip_m1": (1 / ab - 1).sqrt(),
        "c1": betas * ab_prev.sqrt() / (1 - ab), "c2": (1 - betas).sqrt() * (1 - ab_prev) / (1 - ab),
        "logvar": torch.log(torch.cat([post_var[[1]], betas[1:]]))}.items()}

    def torch_train(x: np.ndarray, *, seed: int, steps: int, batch: int, snap: int):
        """Their loop: returns (state dicts at `snap` and `steps`, seconds per step after `snap`)."""
        torch.manual_seed(seed)
        model = TorchDecoder()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
        data = torch.from_numpy(np.array(x, np.float32).reshape(-1))
        nb = data.shape[0] // batch
        snaps, t_snap = {}, None
        for step in range(steps):
            x0 = data[(step % nb) * batch:(step % nb + 1) * batch].unsqueeze(1)
            t = torch.randint(T, size=(batch,), dtype=torch.int64)
            noise = torch.randn_like(x0)
            xt = sched["sqrt_ab"][t][:, None] * x0 + sched["sqrt_1mab"][t][:, None] * noise
            loss = (noise - model(xt, t)).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step + 1 == snap:
                snaps[snap] = {k: v.clone() for k, v in model.state_dict().items()}
                t_snap = time.perf_counter()
        assert math.isfinite(loss.item())
        per_step = (time.perf_counter() - t_snap) / (steps - snap)
        snaps[steps] = {k: v.clone() for k, v in model.state_dict().items()}
        return snaps, per_step

    @torch.inference_mode()
    def torch_sample(state: dict, n: int, *, seed: int) -> np.ndarray:
        """Their p_sample: 1000 ancestral steps from N(0, 1), fixed-large variance."""
        model = TorchDecoder()
        model.load_state_dict(state)
        model.eval()
        g = torch.Generator().manual_seed(seed)
        x = torch.empty((n, 1)).normal_(generator=g)
        t = torch.empty((n,), dtype=torch.int64)
        for ti in range(T - 1, -1, -1):
            t.fill_(ti)
            eps = model(x, t)
            x0 = sched["recip"][ti] * x - sched["recip_m1"][ti] * eps
            mean = sched["c1"][ti] * x0 + sched["c2"][ti] * x
            noise = torch.empty_like(x).normal_(generator=g)
            x = mean + (1.0 if ti > 0 else 0.0) * torch.exp(0.5 * sched["logvar"][ti]) * noise
        return x.numpy()

    return TorchDecoder, torch_train, torch_sample


# ------------------------------------------------------------------------------ ghostjax side
def jax_run(x_data, recipe: str, *, seed: int, steps: int, batch: int, snap: int, n: int) -> dict:
    """Train with the study's recipe (as fitting.train does, with a snapshot at `snap`), sample both
    snapshots through ghostjax.ddpm.draw; counts per budget and seconds per step after `snap`."""
    import jax

    from ghostjax import ddpm
    from ghostjax.studies.hallucination.toy.config import Config, HallucinationTrain, Model
    from ghostjax.studies.hallucination.toy.fitting import WalkedBatches, net_key, training_loss
    from ghostjax.studies.hallucination.toy.nets import RECIPES, build_net
    from ghostjax.training import fit

    model_cfg = Model(recipe=recipe, t_proj=recipe == "aithal")
    sigma_range = "all" if recipe == "aithal" else "sampler"  # ours: the recorded runs' levels
    cfg = Config(model=model_cfg, train=HallucinationTrain(steps=steps, batch=batch, steps_per_call=snap,
                                                          seed=seed, sigma_range=sigma_range))
    net = build_net(cfg.model, 1, key=net_key(seed))
    data = WalkedBatches(x_data, batch) if RECIPES[recipe].walk_batches else x_data
    snaps = {}

    def grab(state):
        snaps[int(state.step)] = state.model

    _, hist = fit(net, data, training_loss(cfg), cfg.optim, seed=seed, steps=steps, batch=batch,
                  steps_per_call=snap, progress=False, on_chunk=grab)
    per_step = float(np.mean([1.0 / h["steps_per_s"] for h in hist[1:]]))
    out = {"s_per_step": per_step, "budgets": {}}
    for k, (budget, model) in enumerate(sorted(snaps.items())):
        if budget in (snap, steps) and n > 0:
            t0 = time.perf_counter()
            xs, _ = ddpm.draw(model, 1, n, key=jax.random.fold_in(jax.random.PRNGKey(seed), 1000 + k),
                              loss=cfg.loss, sigma_cap=cfg.eval.sigma_cap, window=2)
            out["budgets"][str(budget)] = {**counts(np.asarray(xs)), "sample_s": round(time.perf_counter() - t0, 1)}
    return out


def run_seed(args) -> dict:
    import jax
    import torch

    from ghostjax.studies.hallucination.toy.config import Data
    from ghostjax.studies.hallucination.toy.data import training_set

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    x = training_set(Data(kind="line", positions=MODES, std=STD, n_train=20000, seed=1234))
    x_np = np.asarray(x.x)
    _, torch_train, torch_sample = torch_parts()
    rec = {"seed": args.seed, "steps": args.steps, "snap": args.snap, "batch": args.batch, "n_samples": args.n_samples,
           "load_avg_1m_at_start": os.getloadavg()[0], "torch_threads": torch.get_num_threads(),
           "versions": {"jax": jax.__version__, "torch": torch.__version__}}
    t0 = time.perf_counter()
    rec["aithal_jax"] = jax_run(x, "aithal", seed=args.seed, steps=args.steps, batch=args.batch, snap=args.snap,
                                n=args.n_samples)
    rec["aithal_jax"]["wall_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    snaps, per_step = torch_train(x_np, seed=args.seed, steps=args.steps, batch=args.batch, snap=args.snap)
    rec["torch"] = {"s_per_step": per_step, "budgets": {}}
    for k, (budget, state) in enumerate(sorted(snaps.items())):
        t1 = time.perf_counter()
        xs = torch_sample(state, args.n_samples, seed=1000 * args.seed + k)
        rec["torch"]["budgets"][str(budget)] = {**counts(xs), "sample_s": round(time.perf_counter() - t1, 1)}
    rec["torch"]["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.ours:
        t0 = time.perf_counter()
        rec["ours_jax"] = jax_run(x, "ours", seed=args.seed, steps=args.steps, batch=args.batch, snap=args.snap,
                                  n=args.n_samples)
        rec["ours_jax"]["wall_s"] = round(time.perf_counter() - t0, 1)
    rec["load_avg_1m_at_end"] = os.getloadavg()[0]
    return rec


def timing(rounds: int = 2, torch_threads: int = 1) -> dict:
    """Side-by-side training step times (no sampling), rounds interleaved: s/step of the second
    chunk (ghostjax; the first compiles) and after the snapshot step (PyTorch), per batch."""
    import torch

    from ghostjax.studies.hallucination.toy.config import Data
    from ghostjax.studies.hallucination.toy.data import training_set

    torch.set_num_threads(torch_threads)
    x = training_set(Data(kind="line", positions=MODES, std=STD, n_train=20000, seed=1234))
    _, torch_train, _ = torch_parts()
    out = {"rounds": rounds, "torch_threads": torch_threads, "load_avg_1m_at_start": os.getloadavg()[0], "batches": {}}
    for batch, steps in ((1000, 200), (10000, 60)):
        rows = {"aithal_jax": [], "ours_jax": [], "torch": []}
        for _ in range(rounds):
            for recipe in ("aithal", "ours"):
                rows[f"{recipe}_jax"].append(jax_run(x, recipe, seed=0, steps=steps, batch=batch, snap=steps // 2,
                                                     n=0)["s_per_step"])
            rows["torch"].append(torch_train(np.asarray(x.x), seed=0, steps=steps, batch=batch, snap=steps // 2)[1])
        out["batches"][str(batch)] = {k: {"values": v, "median": float(np.median(v))} for k, v in rows.items()}
    out["load_avg_1m_at_end"] = os.getloadavg()[0]
    return out


# ------------------------------------------------------------------------------ report
def cpu_info() -> dict:
    sys.path.insert(0, str(HERE))
    from bench_train import cpu_info as info

    return info()


def summarise(recs: list[dict]) -> dict:
    budgets = sorted({b for r in recs for b in r["torch"]["budgets"]}, key=int)
    sides = [s for s in ("aithal_jax", "torch", "ours_jax") if any(s in r for r in recs)]
    table = {}
    for b in budgets:
        row = {}
        for side in sides:
            vals = {m: [r[side]["budgets"][b][m] for r in recs if side in r and b in r[side]["budgets"]]
                    for m in ("out", "gap_1_2")}
            row[side] = {m: {"values": v, "mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                             "n_seeds": len(v)} for m, v in vals.items()}
        n = recs[0]["n_samples"]
        for m in ("out", "gap_1_2"):
            a, t = row["aithal_jax"][m], row["torch"][m]
            se_seeds = math.sqrt(a["sd"] ** 2 / a["n_seeds"] + t["sd"] ** 2 / t["n_seeds"])
            # a seed's value scatters at least by its own sampling noise p(1 − p)/n; 3 seeds can
            # estimate a variance below it by chance, so the variance per seed is floored there
            var = [max(v["sd"] ** 2, v["mean"] * (1 - v["mean"]) / n) for v in (a, t)]
            se = math.sqrt(var[0] / a["n_seeds"] + var[1] / t["n_seeds"])
            diff = a["mean"] - t["mean"]
            row[f"agree_{m}"] = {"diff": diff, "se": se, "se_seeds_only": se_seeds, "agree": bool(abs(diff) <= 2 * se),
                                 "agree_seeds_only": bool(abs(diff) <= 2 * se_seeds)}
        table[b] = row
    steps = {side: [r[side]["s_per_step"] for r in recs if side in r] for side in sides}
    return {"budgets": table, "s_per_step": {k: {"values": v, "median": float(np.median(v))} for k, v in steps.items()}}


def markdown(out: dict) -> str:
    c = out["cpu"]
    r0 = out["settings"][0]["runs"][0]
    lines = [f"# compare_aithal_toy: the `aithal` recipe vs a PyTorch transcription of their toy code ({c['vector_extensions']})",
             "", f"{c['model']} ({c['vector_extensions']}), {os.cpu_count()} CPUs shared with other jobs; jax "
             f"{r0['versions']['jax']}, torch {r0['versions']['torch']}. 1-D {{1, 2, 3}}, std 0.05, 20,000 rows, "
             "Adam 1e-3. Fractions of samples: out = farther than 3 std from every mode; gap 1–2 = |x − 1.5| < 0.25. "
             "Mean ± sd over seeds (values per seed in brackets); agree: |Δ| ≤ 2 se of the difference, se² = "
             "Σ_sides v/n_seeds with v = max(the seeds' variance, the binomial p(1 − p)/n_samples) (3 seeds can "
             "estimate a spread below a seed's own sampling noise by chance); in brackets the same test with the "
             "seeds' variance alone.", ""]
    names = {"aithal_jax": "ghostjax `aithal` recipe", "torch": "PyTorch transcription of theirs",
             "ours_jax": "ghostjax `ours` recipe (reference)"}
    for st in out["settings"]:
        s, runs = st["summary"], st["runs"]
        r0 = runs[0]
        lines += [f"## batch {r0['batch']:,}, snapshots at {r0['snap']:,} and {r0['steps']:,} steps",
                  "", f"Seeds {[r['seed'] for r in runs]}; {r0['n_samples']:,} samples per network and budget; torch "
                  f"{r0['torch_threads']} thread(s); load average (1 min) "
                  + ", ".join(f"{r['load_avg_1m_at_start']:.1f}→{r['load_avg_1m_at_end']:.1f}" for r in runs) + ".", "",
                  "| steps | side | out | gap 1–2 |", "|---|---|---|---|"]
        for b, row in s["budgets"].items():
            for side in ("aithal_jax", "torch", "ours_jax"):
                if side not in row:
                    continue
                cells = [f"{100 * row[side][m]['mean']:.2f} ± {100 * row[side][m]['sd']:.2f} % "
                         f"[{', '.join(f'{100 * v:.2f}' for v in row[side][m]['values'])}]" for m in ("out", "gap_1_2")]
                lines.append(f"| {b} | {names[side]} | {cells[0]} | {cells[1]} |")
            ag = [f"Δ {100 * row[f'agree_{m}']['diff']:+.2f} ± {100 * row[f'agree_{m}']['se']:.2f} %: "
                  f"**{'agree' if row[f'agree_{m}']['agree'] else 'differ'}** (seed sd alone: ± "
                  f"{100 * row[f'agree_{m}']['se_seeds_only']:.2f} %, "
                  f"{'agree' if row[f'agree_{m}']['agree_seeds_only'] else 'differ'})" for m in ("out", "gap_1_2")]
            lines.append(f"| {b} | aithal − torch | {ag[0]} | {ag[1]} |")
        lines += ["", "Step times during these runs (s / step after the first snapshot; the `aithal` recipe's "
                  "StepEmbedding then compared σ with all 999 grid midpoints, ~25 ms per step at batch 10,000, since "
                  "replaced by a binary search: the current code's times are in the last section).", "",
                  "| side | s / step (median over seeds) | per seed |", "|---|---|---|"]
        for side, v in s["s_per_step"].items():
            lines.append(f"| {names[side]} | {v['median']:.4f} | {', '.join(f'{x:.4f}' for x in v['values'])} |")
        ratio = s["s_per_step"]["torch"]["median"] / s["s_per_step"]["aithal_jax"]["median"]
        lines += ["", f"PyTorch / ghostjax `aithal` step time: {ratio:.2f}× (> 1: ghostjax faster).", ""]
    if "timing" in out:
        tm = out["timing"]
        lines += ["## Step times, side by side (`--timing`)", "",
                  f"{tm['rounds']} interleaved rounds per batch, torch {tm['torch_threads']} thread(s), load average "
                  f"{tm['load_avg_1m_at_start']:.1f}→{tm['load_avg_1m_at_end']:.1f}; s/step, median (per round).", "",
                  "| batch | ghostjax `aithal` | ghostjax `ours` | PyTorch transcription | PyTorch / `aithal` |",
                  "|---|---|---|---|---|"]
        for b, row in tm["batches"].items():
            cells = [f"{row[k]['median']:.4f} ({', '.join(f'{v:.4f}' for v in row[k]['values'])})"
                     for k in ("aithal_jax", "ours_jax", "torch")]
            lines.append(f"| {int(b):,} | {' | '.join(cells)} | {row['torch']['median'] / row['aithal_jax']['median']:.2f}× |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--snap", type=int, default=500)
    p.add_argument("--batch", type=int, default=10000)
    p.add_argument("--n-samples", type=int, default=20000)
    p.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--ours", action="store_true", help="also train the 'ours' recipe (reference)")
    p.add_argument("--report", action="store_true", help="merge results/compare_aithal_toy.seed*.json")
    p.add_argument("--timing", action="store_true", help="step times only -> results/compare_aithal_toy.timing.json")
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.timing:
        rec = timing(torch_threads=args.torch_threads or 1)
        (RESULTS / "compare_aithal_toy.timing.json").write_text(json.dumps(rec, indent=1))
        print(json.dumps(rec, indent=1))
        return
    if args.report:
        recs = [json.loads(f.read_text()) for f in sorted(RESULTS.glob("compare_aithal_toy.*seed*.json"))]
        groups: dict[tuple, list] = {}
        for r in recs:
            groups.setdefault((r["batch"], r["steps"], r["snap"], r["n_samples"]), []).append(r)
        out = {"command": "python benchmarks/compare_aithal_toy.py --report", "cpu": cpu_info(),
               "settings": [{"runs": g, "summary": summarise(g)} for _, g in sorted(groups.items())]}
        tfile = RESULTS / "compare_aithal_toy.timing.json"
        if tfile.is_file():
            out["timing"] = json.loads(tfile.read_text())
        (RESULTS / "compare_aithal_toy.json").write_text(json.dumps(out, indent=1))
        (RESULTS / "compare_aithal_toy.md").write_text(markdown(out))
        print(markdown(out))
        return
    if args.seed is None:
        p.error("--seed or --report")
    if args.steps % args.snap or args.snap >= args.steps:
        p.error("--snap must divide --steps and be smaller")
    rec = run_seed(args)
    rec["command"] = "python benchmarks/compare_aithal_toy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    tag = "" if args.batch == 10000 and args.steps == 2000 and args.snap == 500 else f"b{args.batch}_s{args.steps}."
    (RESULTS / f"compare_aithal_toy.{tag}seed{args.seed}.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()

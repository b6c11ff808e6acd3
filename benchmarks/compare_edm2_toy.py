#!/usr/bin/env python
"""ghostjax's EDM2 toy tree against an independent NumPy float64 transcription (and, optionally,
against Karras et al.'s own code), point by point.

What is compared (Karras et al. 2024, "Guiding a Diffusion Model with a Bad Version of Itself",
NVlabs/edm2 toy_example.py, commit 4bf8162, licensed CC BY-NC-SA 4.0):

  reference  written for this benchmark in NumPy float64 from that file's description, no line
             of it copied: the tree of `gt` (an explicit-stack depth-first walk drawing the same
             np.random.RandomState(2) normals in the same order as their recursion), the mixture
             density and score at noise σ (closed-form 2×2 inverse and determinant of Σ_k + σ² I,
             log-sum-exp over components), and the EDM Heun sampler of `do_sample` (32 steps,
             σ_max = 5, σ_min = 0.002, ρ = 7, Euler on the last step to 0) with their guided
             denoiser D = x + σ² (s_g + w (s_n − s_g)).
  ghostjax   FullCovMixture.edm2_tree, guidance.CFG / guidance.Autoguidance, gj.sample with
             gj.OdeHeun on gj.edm_grid(5, 0.002, 32), in float32 (the default) and float64.
  theirs     (only with --edm2 DIR, a checkout of NVlabs/edm2; nothing of it is vendored here)
             their GaussianMixture and do_sample, imported and run in torch float32 on CPU
             (`click` and `requests`, which only their command line and downloader need, are stubbed).

Guided runs, all with exact scores (their published figure uses learned networks; see
src/ghostjax/experiments/edm2_tree.py for which panels these correspond to):
  unguided      s_A                                    (their panel "Ground truth distribution")
  cfg           s_AB + 4 (s_A − s_AB)                  (their --guidance=4 CFG, net = class A, gnet = A+B)
                = ghostjax CFG(s_A, s_AB, w = 3)       (ghostjax's w is theirs minus one)
  autoguidance  s_weak + 3 (s_A − s_weak)              (their --guidance=3), weak = the class-A tree
                with Σ_k → f² Σ_k + δ² I (f = 2, δ = 0 by default; their weak model is a smaller,
                shorter-trained network, which has no exact counterpart)

Reported: max |Δ log p| and max |Δ score| (absolute and relative to max(1, |s|)) on a grid of x
(61 × 61 over their first figure's view) × σ (0 … 500), for the class-A, A+B and weak mixtures;
and for each guided run, started from the same 2048 points drawn from p_A at σ = 5, the max
difference over the 33 trajectory points and the final points' max / 99th percentile / median
difference and the fraction off by more than 1e-3.

    python benchmarks/compare_edm2_toy.py [--edm2 /path/to/edm2] [--n 2048]

Writes benchmarks/results/compare_edm2_toy.json and .md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SIGMAS = (0.0, 0.002, 0.01, 0.03, 0.1, 0.3, 1.0, 5.0, 50.0, 500.0)
STEPS, SIGMA_MAX, SIGMA_MIN, RHO = 32, 5.0, 0.002, 7.0
CFG_GUIDANCE, AUTO_GUIDANCE = 4.0, 3.0


# ---------------------------------------------------------------------------------- reference (NumPy float64)
def ref_tree(seed: int = 2) -> dict:
    """All components of both classes: phi (unnormalised), mu [K, 2], Sigma [K, 2, 2], cls [K].

    Branch b at level ℓ (0 … 6) has length L = 0.292 · 0.8^ℓ (1 + 0.2 g); it puts 8 Gaussians of
    weight L / 2^ℓ at fractions 0.07 … 0.93 along it (positions scaled per axis by `scale`),
    covariance diag(a) (u uᵀ + τ² (I − u uᵀ)) diag(a), a = 0.06 L scale, τ = 0.2 · 0.8^ℓ / L; its
    children turn by ±0.7^ℓ (1 + 0.2 g). Normals g in depth-first order: a branch's length, then
    for each child (+ first) its turn followed by its whole subtree. Walked here with a stack."""
    rng = np.random.RandomState(seed)
    origin, scale = np.array([0.0030, 0.0325]), np.array([1.3136, 1.3844])
    out = {"phi": [], "mu": [], "Sigma": [], "cls": []}
    for label, heading in ((0, np.pi / 4), (1, 5 * np.pi / 4)):
        # entries: (level, start, angle) of a branch whose angle is known, or a pending child
        # ("turn", level, start, parent angle, sign) whose turn is drawn when it is reached.
        stack = [("branch", 0, origin, heading)]
        while stack:
            item = stack.pop()
            if item[0] == "turn":
                _, level, start, parent, sign = item
                item = ("branch", level, start, parent + sign * 0.7 ** (level - 1) * (rng.randn() * 0.2 + 1))
            _, level, start, angle = item
            if level == 7:
                continue
            u = np.array([np.cos(angle), np.sin(angle)])
            length = 0.292 * 0.8**level * (rng.randn() * 0.2 + 1)
            tau = 0.2 * 0.8**level / length
            a = scale * length * 0.06
            cov = (np.outer(u, u) * (1 - tau**2) + tau**2 * np.eye(2)) * np.outer(a, a)
            for t in np.linspace(0.07, 0.93, 8):
                out["phi"].append(length / 2**level)
                out["mu"].append(scale * (start + t * length * u))
                out["Sigma"].append(cov)
                out["cls"].append(label)
            end = start + length * u
            stack.append(("turn", level + 1, end, angle, -1.0))  # popped after the + child's subtree
            stack.append(("turn", level + 1, end, angle, +1.0))
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


class RefMixture:
    """Σ_k w_k N(μ_k, Σ_k + σ² I) in 2-D, float64, closed-form 2×2 algebra."""

    def __init__(self, phi, mu, sigma_mats):
        self.w = np.asarray(phi, np.float64) / np.sum(phi)
        self.mu = np.asarray(mu, np.float64)
        self.S = np.asarray(sigma_mats, np.float64)

    def broaden(self, factor: float, extra_std: float) -> "RefMixture":
        return RefMixture(self.w, self.mu, factor**2 * self.S + extra_std**2 * np.eye(2))

    def _terms(self, x, sigma):
        a = self.S[:, 0, 0] + sigma**2
        b = self.S[:, 0, 1]
        c = self.S[:, 1, 1] + sigma**2
        det = a * c - b * b
        dx = x[:, None, 0] - self.mu[None, :, 0]
        dy = x[:, None, 1] - self.mu[None, :, 1]
        gx = (c * dx - b * dy) / det  # (Σ + σ²I)⁻¹ (x − μ)
        gy = (a * dy - b * dx) / det
        logn = np.log(self.w) - np.log(2 * np.pi) - 0.5 * np.log(det) - 0.5 * (dx * gx + dy * gy)
        top = logn.max(axis=1, keepdims=True)
        r = np.exp(logn - top)
        tot = r.sum(axis=1)
        return (top[:, 0] + np.log(tot)), r / tot[:, None], gx, gy

    def log_prob(self, x, sigma):
        return self._terms(x, sigma)[0]

    def score(self, x, sigma):
        out = np.empty_like(x)
        for i in range(0, len(x), 512):  # bounded memory: 512 × K at a time
            _, r, gx, gy = self._terms(x[i:i + 512], sigma)
            out[i:i + 512, 0] = -(r * gx).sum(1)
            out[i:i + 512, 1] = -(r * gy).sum(1)
        return out

    def sample_noised(self, rng, n, sigma):
        idx = rng.choice(len(self.w), size=n, p=self.w)
        chol = np.linalg.cholesky(self.S[idx] + sigma**2 * np.eye(2))
        return self.mu[idx] + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, 2)))


def ref_sample(net_score, x_init, guidance=1.0, gnet_score=None):
    """EDM Heun ODE with the guided denoiser; returns the trajectory [STEPS + 1, N, 2]."""
    i = np.arange(STEPS, dtype=np.float64)
    t = (SIGMA_MAX ** (1 / RHO) + i / (STEPS - 1) * (SIGMA_MIN ** (1 / RHO) - SIGMA_MAX ** (1 / RHO))) ** RHO
    t = np.append(t, 0.0)

    def denoise(x, s):
        sc = net_score(x, s)
        if gnet_score is not None:
            g = gnet_score(x, s)
            sc = g + guidance * (sc - g)
        return x + sc * s * s

    x = np.asarray(x_init, np.float64)
    traj = [x]
    for k in range(STEPS):
        d = (x - denoise(x, t[k])) / t[k]
        x_next = x + (t[k + 1] - t[k]) * d
        if k < STEPS - 1:
            d2 = (x_next - denoise(x_next, t[k + 1])) / t[k + 1]
            x_next = x + (t[k + 1] - t[k]) * 0.5 * (d + d2)
        x = x_next
        traj.append(x)
    return np.stack(traj)


# ---------------------------------------------------------------------------------- ghostjax
def ghostjax_side(x64: bool, weak_factor: float, weak_extra: float):
    import jax
    import jax.numpy as jnp

    import ghostjax as gj
    from ghostjax.fullcov import FullCovMixture
    from ghostjax.guidance import CFG, Autoguidance
    from ghostjax.observers import Window

    dt = jnp.float64 if x64 else jnp.float32

    def build():
        a = FullCovMixture.edm2_tree("A", dtype=dt)
        return {"A": a, "AB": FullCovMixture.edm2_tree("AB", dtype=dt), "weak": a.broaden(weak_factor, weak_extra)}

    f = jax.jit(lambda m, x, s: (jax.vmap(m.log_prob, (0, None))(x, s), jax.vmap(m.score, (0, None))(x, s)))

    def grid_eval(m, x, sigma):
        lp, sc = f(m, jnp.asarray(x, dt), jnp.asarray(sigma, dt))
        return np.asarray(lp, np.float64), np.asarray(sc, np.float64)

    def run(ms, kind, x_init):
        a = ms["A"]
        score = {"unguided": a.score, "cfg": CFG(a.score, ms["AB"].score, CFG_GUIDANCE - 1.0),
                 "autoguidance": Autoguidance(a.score, ms["weak"].score, AUTO_GUIDANCE)}[kind]
        grid = gj.edm_grid(SIGMA_MAX, SIGMA_MIN, STEPS, rho=RHO, dtype=dt)
        out = gj.sample(score, jnp.asarray(x_init, dt), grid, key=jax.random.key(0), solver=gj.OdeHeun(),
                        observers={"traj": Window(STEPS, "x")})
        traj = np.concatenate([np.asarray(out.observations["traj"], np.float64), np.asarray(out.x, np.float64)[None]])
        return traj

    return build, grid_eval, run


# ---------------------------------------------------------------------------------- their code (optional)
def load_theirs(path: str):
    for name in ("click", "requests"):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            if name == "click":
                mod.group = lambda *a, **k: (lambda f: types.SimpleNamespace(command=lambda *a, **k: (lambda g: g)))
                mod.option = lambda *a, **k: (lambda f: f)
                mod.ClickException = Exception
            sys.modules[name] = mod
    sys.path.insert(0, str(path))
    import torch
    import toy_example as te

    return te, torch


# ---------------------------------------------------------------------------------- comparison
def diff_stats(a, b, floor=1.0) -> dict:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = np.abs(a - b)[ok]
    rel = (np.abs(a - b) / np.maximum(floor, np.abs(b)))[ok]
    return {"max_abs": float(d.max()), "max_rel": float(rel.max()), "n_nonfinite": int((~ok).sum())}


def traj_stats(t, ref) -> dict:
    d_all = np.linalg.norm(t - ref, axis=-1)
    d = d_all[-1]
    return {"max_over_trajectory": float(d_all.max()), "final_max": float(d.max()),
            "final_p99": float(np.quantile(d, 0.99)), "final_median": float(np.median(d)),
            "frac_final_off_1e-3": float(np.mean(d > 1e-3))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edm2", default=None, help="a checkout of NVlabs/edm2 to also run their own code")
    ap.add_argument("--n", type=int, default=2048, help="particles per guided run")
    ap.add_argument("--grid", type=int, default=61, help="grid points per axis for densities and scores")
    ap.add_argument("--weak-factor", type=float, default=2.0)
    ap.add_argument("--weak-extra-std", type=float, default=0.0)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    import jax

    comps = ref_tree()
    ref = {"A": RefMixture(comps["phi"][comps["cls"] == 0], comps["mu"][comps["cls"] == 0], comps["Sigma"][comps["cls"] == 0]),
           "AB": RefMixture(comps["phi"], comps["mu"], comps["Sigma"])}
    ref["weak"] = ref["A"].broaden(args.weak_factor, args.weak_extra_std)
    g = np.linspace(-0.9, 1.5, args.grid)
    xs = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    x_init = ref["A"].sample_noised(np.random.default_rng(1), args.n, SIGMA_MAX)

    from ghostjax.fullcov import edm2_tree_components

    gjc = edm2_tree_components()
    results = {"tree": {"n_components": {"A": int((comps["cls"] == 0).sum()), "AB": len(comps["phi"])},
                        "ghostjax_vs_reference": {k: float(np.abs(np.asarray(gjc[k], np.float64) - comps[k]).max())
                                                  for k in ("phi", "mu", "Sigma", "cls")}},
               "settings": {"sigmas": list(SIGMAS), "grid": [args.grid, args.grid, [-0.9, 1.5]], "n": args.n,
                            "steps": STEPS, "sigma_max": SIGMA_MAX, "sigma_min": SIGMA_MIN, "rho": RHO,
                            "cfg_guidance_theirs": CFG_GUIDANCE, "autoguidance": AUTO_GUIDANCE,
                            "weak": {"factor": args.weak_factor, "extra_std": args.weak_extra_std}},
               "density_score": {}, "trajectories": {}, "load_avg": list(os.getloadavg())}

    ref_lp = {m: {s: ref[m].log_prob(xs, s) for s in SIGMAS} for m in ref}
    ref_sc = {m: {s: ref[m].score(xs, s) for s in SIGMAS} for m in ref}
    ref_traj = {"unguided": ref_sample(ref["A"].score, x_init),
                "cfg": ref_sample(ref["A"].score, x_init, CFG_GUIDANCE, ref["AB"].score),
                "autoguidance": ref_sample(ref["A"].score, x_init, AUTO_GUIDANCE, ref["weak"].score)}

    for label, x64 in (("ghostjax_float32", False), ("ghostjax_float64", True)):
        with jax.enable_x64(x64):
            build, grid_eval, run = ghostjax_side(x64, args.weak_factor, args.weak_extra_std)
            ms = build()
            t0 = time.perf_counter()
            per = {}
            for m in ms:
                lps, scs = {}, {}
                for s in SIGMAS:
                    lp, sc = grid_eval(ms[m], xs, s)
                    lps[s] = diff_stats(lp, ref_lp[m][s])
                    scs[s] = diff_stats(sc, ref_sc[m][s])
                per[m] = {"log_prob": _worst(lps), "score": _worst(scs),
                          "by_sigma": {str(s): {"log_prob": lps[s], "score": scs[s]} for s in SIGMAS}}
            results["density_score"][label] = per
            results["trajectories"][label] = {k: traj_stats(run(ms, k, x_init), ref_traj[k]) for k in ref_traj}
            results["trajectories"][label]["seconds"] = time.perf_counter() - t0

    if args.edm2:
        te, torch = load_theirs(args.edm2)
        cpu = torch.device("cpu")
        th = {"A": te.gt("A", cpu), "AB": te.gt("AB", cpu)}
        th["weak"] = te.GaussianMixture(th["A"].phi.numpy(), th["A"].mu.numpy(),
                                        args.weak_factor**2 * th["A"].Sigma.numpy().astype(np.float64)
                                        + args.weak_extra_std**2 * np.eye(2))
        xt = torch.tensor(xs, dtype=torch.float32)
        per = {}
        for m in th:
            lps = {s: diff_stats(th[m].logp(xt, s).numpy(), ref_lp[m][s]) for s in SIGMAS}
            scs = {s: diff_stats(th[m].score(xt, s).numpy(), ref_sc[m][s]) for s in SIGMAS}
            per[m] = {"log_prob": _worst(lps), "score": _worst(scs),
                      "by_sigma": {str(s): {"log_prob": lps[s], "score": scs[s]} for s in SIGMAS}}
        results["tree"]["theirs_vs_reference"] = {
            "mu": float(np.abs(th["AB"].mu.numpy() - comps["mu"]).max()),
            "Sigma": float(np.abs(th["AB"].Sigma.numpy() - comps["Sigma"]).max()),
            "phi_normalised": float(np.abs(th["AB"].phi.numpy() - comps["phi"] / comps["phi"].sum()).max())}
        results["density_score"]["theirs_float32"] = per
        x0 = torch.tensor(x_init, dtype=torch.float32)
        tt = {"unguided": te.do_sample(th["A"], x0), "cfg": te.do_sample(th["A"], x0, CFG_GUIDANCE, th["AB"]),
              "autoguidance": te.do_sample(th["A"], x0, AUTO_GUIDANCE, th["weak"])}
        results["trajectories"]["theirs_float32"] = {k: traj_stats(v.numpy(), ref_traj[k]) for k, v in tt.items()}
    results["seconds_total"] = time.perf_counter() - t_start

    from ghostjax.runio import atomic_write_json, atomic_write_text

    atomic_write_json(RESULTS / "compare_edm2_toy.json", results)
    atomic_write_text(RESULTS / "compare_edm2_toy.md", _markdown(results))
    print(_markdown(results))
    return 0


def _worst(by_sigma: dict) -> dict:
    return {"max_abs": max(v["max_abs"] for v in by_sigma.values()), "max_rel": max(v["max_rel"] for v in by_sigma.values()),
            "n_nonfinite": sum(v["n_nonfinite"] for v in by_sigma.values())}


def _markdown(r: dict) -> str:
    s = r["settings"]
    lines = ["# EDM2 toy tree: ghostjax against an independent NumPy float64 transcription", "",
             f"Grid {s['grid'][0]}×{s['grid'][1]} over [{s['grid'][2][0]}, {s['grid'][2][1]}]², σ ∈ {s['sigmas']}; "
             f"{s['n']} particles from p_A at σ = {s['sigma_max']}, {s['steps']} Heun steps (ρ = {s['rho']}); CFG guidance "
             f"{s['cfg_guidance_theirs']} (theirs; ghostjax w = {s['cfg_guidance_theirs'] - 1:g}), autoguidance "
             f"{s['autoguidance']} with weak = Σ·{s['weak']['factor']:g}² + {s['weak']['extra_std']:g}² I. "
             f"Load average at start {r['load_avg'][0]:.1f}; total {r['seconds_total']:.0f} s.", "",
             f"Tree components: {r['tree']['n_components']}; ghostjax's construction vs the reference (max |Δ|): "
             + ", ".join(f"{k} {v:.1e}" for k, v in r["tree"]["ghostjax_vs_reference"].items())
             + (("; their code vs the reference: " + ", ".join(f"{k} {v:.1e}" for k, v in r["tree"]["theirs_vs_reference"].items()))
                if "theirs_vs_reference" in r["tree"] else ""), "",
             "## Density and score on the grid (worst over σ; rel = |Δ| / max(1, |reference|); non-finite points skipped and counted)", "",
             "| implementation | mixture | max abs Δ log p | max rel Δ log p | max abs Δ score | max rel Δ score | non-finite |",
             "|---|---|---|---|---|---|---|"]
    for impl, per in r["density_score"].items():
        for m, v in per.items():
            lines.append(f"| {impl} | {m} | {v['log_prob']['max_abs']:.2e} | {v['log_prob']['max_rel']:.2e} | "
                         f"{v['score']['max_abs']:.2e} | {v['score']['max_rel']:.2e} | "
                         f"{v['log_prob']['n_nonfinite'] + v['score']['n_nonfinite']} |")
    lines += ["", "## Sampling trajectories from the same noise (distances to the reference's points)", "",
              "| implementation | run | max over trajectory | final max | final p99 | final median | final off > 1e-3 |",
              "|---|---|---|---|---|---|---|"]
    for impl, per in r["trajectories"].items():
        for k, v in per.items():
            if k == "seconds":
                continue
            lines.append(f"| {impl} | {k} | {v['max_over_trajectory']:.2e} | {v['final_max']:.2e} | {v['final_p99']:.2e} | "
                         f"{v['final_median']:.2e} | {v['frac_final_off_1e-3']:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

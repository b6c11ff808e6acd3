"""The learned-guidance study driver (package docstring). `run(cfg, *, progress, resume) -> Results`:

1. the mixture: M = n_classes classes N(μ_k, s² I), μ_k ~ N(0, m² I) (guidance_common.Classes);
2. per seed in train.seeds, a ConditionalMLP trained by training.fit with
   objective = conditional.conditional_dsm_loss (label dropout p_uncond), EMA weights kept; its
   score errors against the exact s(x|c), s(x) and Δ = s(x|c) − s(x) on exact noised samples;
3. for the exact scores and every learned network, the same guided scans (constant w; negative
   windows w_early for σ above σ(t_switch), w_late < 0 below) through the same sampler with the
   same random numbers, each sample set measured with metrics.guidance.distortion_summary and the
   off-data measures below;
4. every family's metrics interpolated at the strength where its accuracy reaches target_accuracy
   (guidance_common.interpolate_at), learned rows as mean ± half-range over the training seeds.

Off-data measures of samples x [N, D] generated for class c (`off_data`):
  off_fraction   census off-support fraction (metrics.census, tail 1e-3): at no class mean by
                 the per-coordinate and χ² tests (≈ 0.001 or less for exact data samples);
  log_p_gap      (mean log p_0(x) − mean log p_0(y)) / D with y exact samples of class c (the same
                 N): the exact data log density per dimension relative to true class samples
                 (< 0: samples in less likely regions; > 0: concentrated on likelier ones);
  nearest_radius mean over x of min_k ‖x − μ_k‖ / (s √D) (class stds per dimension to the nearest
                 class mean; ≈ 1 for the data).
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ....conditional import LabelledMixture, conditional_dsm_loss
from ....config import tag_of
from ....guidance import AbstractFamily, ConstantCFG, NegativeWindow, WindowCFG, cfg as exact_cfg, sigma_of_t
from ....metrics.census import census
from ....metrics.guidance import distortion_summary
from ....mixtures import GaussianMixture
from ....nets.conditional import ConditionalMLP, guided
from ....training import ema_model, fit
from ...base import Results, no_progress
from ..common import Sampler, finite, guided_samples, interpolate_at
from .config import Config

METRICS = ("accuracy", "overshoot", "shift_in_std", "perp_shift", "var_par", "var_perp", "var_avg", "pr_ratio",
           "off_fraction", "log_p_gap", "nearest_radius")
CONSTANT, WINDOW = tag_of(ConstantCFG), tag_of(WindowCFG)  # the rows' `family`


# ------------------------------------------------------------------------------ measures
def off_data(x, gm: GaussianMixture, label: int, *, key) -> dict:
    """{'off_fraction', 'log_p_gap', 'nearest_radius'} of samples x [N, D] for class `label` (module doc)."""
    x = jnp.asarray(x, gm.means.dtype)
    off, gap, radius = _off_stats(x, gm, jnp.int32(label), key=key)
    return {"off_fraction": float(off), "log_p_gap": float(gap), "nearest_radius": float(radius)}


@eqx.filter_jit
def _off_stats(x: Float[Array, "n D"], gm: GaussianMixture, label: Int[Array, ""], *, key):
    n, d = x.shape
    zero = jnp.zeros((), gm.means.dtype)
    y = gm.means[label][None, :] + gm.stds[label][None, :] * jax.random.normal(key, (n, d), gm.means.dtype)
    lp = jax.vmap(gm.log_prob, (0, None))(jnp.concatenate([x, y]), zero)
    z2 = jax.vmap(lambda v: jnp.min(jnp.sum(((v[None, :] - gm.means) / gm.stds) ** 2, axis=1)))(x)
    return census(x, gm)["off_fraction"], (jnp.mean(lp[:n]) - jnp.mean(lp[n:])) / d, jnp.mean(jnp.sqrt(z2 / d))


def measure(build, gm: GaussianMixture, targets: int, smp: Sampler, *, key) -> dict:
    """Guided samples towards classes 0 … targets−1 (smp.n // targets each; build(c) -> score),
    every metric averaged over the targets, with '<metric>_spread' = (max − min)/2 across them."""
    each = smp.model_copy(update={"n": max(16, smp.n // targets)})
    runs = []
    for c in range(targets):
        kc = jax.random.fold_in(key, c)
        x = guided_samples(build(c), gm, each, key=kc).x
        finite_x = bool(np.all(np.isfinite(np.asarray(x))))
        r = {**distortion_summary(x, gm, c), **off_data(x, gm, c, key=jax.random.fold_in(kc, 7))} if finite_x else \
            {m: float("nan") for m in METRICS}
        runs.append(r)
    out = {}
    for m in METRICS:
        vals = [r[m] for r in runs]
        out[m] = float(np.mean(vals))
        out[m + "_spread"] = float(np.max(vals) - np.min(vals)) / 2
    return out


def score_errors(model, gm: GaussianMixture, sigmas, n: int, *, key) -> list[dict]:
    """Relative rms errors of the learned s(x|c), s(x) and Δ = s(x|c) − s(x) against the exact ones on
    n exact noised labelled samples per σ: ‖learned − exact‖ / ‖exact‖ over the batch."""
    rows = []
    for i, s in enumerate(sigmas):
        e = _errors_at(model, gm, jnp.asarray(s, gm.means.dtype), key=jax.random.fold_in(key, i), n=n)
        rows.append({"sigma": float(s), **{k: float(v) for k, v in e.items()}})
    return rows


@eqx.filter_jit
def _errors_at(model, gm: GaussianMixture, sig: Float[Array, ""], *, key, n: int) -> dict:
    k0, k1 = jax.random.split(key)
    x, lab = gm.sample(k0, n, return_labels=True)
    lab = lab.astype(jnp.int32)
    xs = x + sig * jax.random.normal(k1, x.shape, x.dtype)
    ec = jax.vmap(gm.conditional_score, (0, None, 0))(xs, sig, lab)
    eu = jax.vmap(gm.score, (0, None))(xs, sig)
    lc = jax.vmap(model, (0, None, 0))(xs, sig, lab)
    lu = jax.vmap(model, (0, None, None))(xs, sig, jnp.int32(model.null_class))

    def rel(a, b):
        return jnp.sqrt(jnp.sum((a - b) ** 2) / jnp.sum(b * b))
    return {"rel_err_cond": rel(lc, ec), "rel_err_uncond": rel(lu, eu), "rel_err_delta": rel(lc - lu, ec - eu),
            "delta_rms_exact": jnp.sqrt(jnp.mean((ec - eu) ** 2))}


# ------------------------------------------------------------------------------ the study
def families(cfg: Config) -> list[tuple[AbstractFamily, tuple[float, ...], object]]:
    """(guidance family, strengths, strength -> Schedule): ConstantCFG over constant_ws, and a
    WindowCFG(w_late, window_t_switch) over window_w_early for each of window_w_late."""
    ts = cfg.window_t_switch
    # ConstantCFG's w is written as the window NegativeWindow(w, w, ·): every scan of a score then
    # has one pytree structure and compiles the sampler once
    out = [(ConstantCFG(), cfg.constant_ws, lambda k: NegativeWindow(k, k, ts))]
    for wl in cfg.window_w_late:
        fam = WindowCFG(w_late=wl, t_switch=ts)
        out.append((fam, cfg.window_w_early, fam.schedule))
    return out


def train_net(cfg: Config, data: LabelledMixture, seed: int, progress: bool):
    """(EMA network, training log) of one seed."""
    net = ConditionalMLP(cfg.dim, cfg.n_classes, key=jax.random.fold_in(jax.random.PRNGKey(seed), 1),
                         width=cfg.model.width, depth=cfg.model.depth, embed_dim=cfg.model.embed_dim,
                         sigma_data=float(data.data_std()), class_init=cfg.model.class_init)
    t0 = time.perf_counter()
    state, hist = fit(net, data, cfg.loss, cfg.optim, seed=seed, steps=cfg.train.steps, batch=cfg.train.batch,
                      steps_per_call=cfg.train.steps_per_call, progress=progress, desc=f"cond net s{seed}",
                      objective=conditional_dsm_loss)
    return ema_model(state), {"train_s": round(time.perf_counter() - t0, 2), "final_loss": hist[-1]["loss"],
                              "history": hist}


def at_target(cfg: Config, scan: list[dict]) -> list[dict]:
    """Per (score, variant): the strength where accuracy reaches the target, metrics interpolated there."""
    out = []
    for key in dict.fromkeys((r["score"], r["variant"]) for r in scan):
        rs = [r for r in scan if (r["score"], r["variant"]) == key]
        strengths, acc = [r["strength"] for r in rs], [r["accuracy"] for r in rs]
        s_t = interpolate_at(cfg.target_accuracy, acc, strengths)
        e = {"score": rs[0]["score"], "seed": rs[0]["seed"], "family": rs[0]["family"], "variant": key[1],
             "strength_at_target": s_t, "accuracy_min": float(np.nanmin(acc)), "accuracy_max": float(np.nanmax(acc))}
        for m in METRICS:
            e[m] = None if s_t is None else finite(interpolate_at(s_t, strengths, [r[m] for r in rs]))
        out.append(e)
    return out


def combine_seeds(entries: list[dict]) -> list[dict]:
    """Learned rows of every variant: mean and half-range over seeds of each metric (None if any seed misses)."""
    out = []
    for v in dict.fromkeys(e["variant"] for e in entries):
        es = [e for e in entries if e["variant"] == v]
        row = {"score": "learned", "seed": "mean", "family": es[0]["family"], "variant": v, "n_seeds": len(es)}
        for m in ("strength_at_target",) + METRICS:
            vals = [e[m] for e in es]
            if any(x is None for x in vals):
                row[m], row[m + "_halfrange"] = None, None
            else:
                row[m], row[m + "_halfrange"] = float(np.mean(vals)), float(np.max(vals) - np.min(vals)) / 2
        out.append(row)
    return out


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    """Run the study (the study interface, studies/base.py); writes nothing itself.

    The networks train in memory: the study is short and reruns rather than resumes, so `resume` (a
    runio.Workspace) is accepted and not used. Results: metrics (module docstring; `at_target` the
    matched-accuracy rows, exact and learned side by side); curves {"scan", "score_errors",
    "training", "summary"}; figures {"frontier", "score_errors" (when score_error_sigmas)}; summary:
    the timings, the learned Δ errors per seed and the matched-accuracy table."""
    del resume
    log: list[str] = []
    key = jax.random.PRNGKey(cfg.seed)
    gm = cfg.classes.mixture(cfg.dim, key=jax.random.fold_in(key, 0), n_classes=cfg.n_classes)
    data = LabelledMixture(gm, cfg.p_uncond)
    fams = families(cfg)
    scan_key = key if cfg.sampler_seed == 0 else jax.random.fold_in(key, 10**6 + cfg.sampler_seed)

    def scan_score(score_name, seed, build_guided):
        rows = []
        j = 0
        for family, strengths, sched in fams:
            for k in strengths:
                r = measure(lambda c, k=k, sched=sched: build_guided(c, sched(k)), gm, cfg.targets, cfg.sampler,
                            key=jax.random.fold_in(scan_key, 1000 + j))  # the same random numbers for every score
                rows.append({"score": score_name, "seed": seed, "family": family.kind, "variant": family.label(),
                             **{f"p_{n}": v for n, v in family.params().items()}, "strength": k, **r})
                j += 1
        return rows

    t0 = time.perf_counter()
    scan = scan_score("exact", "", lambda c, s: exact_cfg(gm, c, s))
    log.append(f"exact scans: {time.perf_counter() - t0:.1f} s")
    trained, errors = [], []
    for seed in cfg.train.seeds:
        net, tlog = train_net(cfg, data, seed, progress is not no_progress)
        errs = score_errors(net, gm, cfg.score_error_sigmas, cfg.train.score_error_n, key=jax.random.fold_in(key, 2))
        errors += [{"seed": seed, **e} for e in errs]
        t0 = time.perf_counter()
        scan += scan_score(f"learned_s{seed}", seed, lambda c, s, net=net: guided(net, c, s))
        trained.append({"seed": seed, "train_s": tlog["train_s"], "final_loss": tlog["final_loss"],
                        "sample_s": round(time.perf_counter() - t0, 2)})
        log.append(f"seed {seed}: trained in {tlog['train_s']:.1f} s (final loss {tlog['final_loss']:.4f}), "
            f"scanned in {trained[-1]['sample_s']:.1f} s; rel. error of Δ = s(x|c) − s(x): "
            + ", ".join(f"σ={e['sigma']:g}: {e['rel_err_delta']:.2f}" for e in errs))
    matched = at_target(cfg, scan)
    learned = combine_seeds([e for e in matched if e["score"] != "exact"])
    summary = [e for e in matched if e["score"] == "exact"] + learned + [e for e in matched if e["score"] != "exact"]
    answer = _answer(matched, learned)
    metrics = {
        "dim": cfg.dim, "n_classes": cfg.n_classes, "p_uncond": cfg.p_uncond,
        "target_accuracy": cfg.target_accuracy, "t_switch_sigma": float(sigma_of_t(cfg.window_t_switch)),
        "training": trained, "score_errors": errors, "at_target": summary, "answer": answer,
        "unguided": {r["score"]: {m: r[m] for m in METRICS} for r in scan
                     if r["family"] == CONSTANT and r["strength"] == 0.0},
        "definitions": {
            "at_target": "metrics interpolated linearly in the family's strength at the strength where the scanned "
                         "class accuracy (exact posterior at σ = 0) first reaches target_accuracy",
            "learned": "mean over training seeds; *_halfrange = (max − min)/2 over seeds",
            "*_spread (scan.csv)": "(max − min)/2 over the target classes",
            "off_fraction, log_p_gap, nearest_radius": "see studies/guidance/learned/run.py"},
    }
    return Results(metrics=metrics, curves={"scan": scan, "score_errors": errors, "training": trained,
                                            "summary": summary},
                   figures=_figures(cfg, scan, errors), summary="\n".join(log + [format_table(summary)]))


def _answer(matched: list[dict], learned: list[dict]) -> dict:
    """For exact and learned: does each window restore ρ_∥ towards 1 compared with constant CFG at the
    same accuracy, and how do the mean shift and the off-data measures move?"""
    out = {}
    groups = {"exact": [e for e in matched if e["score"] == "exact"], "learned (seed mean)": learned}
    for gname, es in groups.items():
        const = next((e for e in es if e["family"] == CONSTANT), None)
        for e in es:
            if e["family"] != WINDOW or const is None or e["var_par"] is None or const["var_par"] is None:
                continue
            out[f"{gname}: {e['variant']}"] = {
                "restores_var_par_towards_1": abs(e["var_par"] - 1) < abs(const["var_par"] - 1),
                "var_par": [const["var_par"], e["var_par"]],
                "overshoot": [const["overshoot"], e["overshoot"]],
                "off_fraction": [const["off_fraction"], e["off_fraction"]],
                "log_p_gap": [const["log_p_gap"], e["log_p_gap"]],
                "note": "pairs are [constant CFG, window] at the target accuracy"}
    return out


def format_table(summary: list[dict]) -> str:
    cols = ("strength_at_target", "var_par", "var_perp", "overshoot", "pr_ratio", "off_fraction", "log_p_gap",
            "nearest_radius")
    head = f"{'score':<10} {'seed':<5} {'variant':<44}" + "".join(f"{c[:10]:>11}" for c in cols)
    lines = [head]
    for r in summary:
        vals = "".join(f"{r[c]:>11.3f}" if isinstance(r.get(c), float) else f"{'–':>11}" for c in cols)
        lines.append(f"{r['score']:<10} {str(r['seed']):<5} {r['variant'][:44]:<44}{vals}")
    return "\n".join(lines)


def _figures(cfg: Config, scan: list[dict], errors: list[dict]) -> dict:
    """{"frontier", "score_errors"} as matplotlib.figure.Figure objects (no pyplot state)."""
    from matplotlib.figure import Figure

    figs = {}
    panels = (("var_par", "ρ_∥ (variance along u / true)"), ("overshoot", "overshoot δμ_∥"),
              ("off_fraction", "census off-support fraction"), ("log_p_gap", "Δ log p_0 per dim vs class samples"))
    fig = Figure(figsize=(19, 4.4))
    axes = fig.subplots(1, len(panels))
    variants = list(dict.fromkeys(r["variant"] for r in scan))
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    for ax, (m, yl) in zip(axes, panels):
        for score in dict.fromkeys(r["score"] for r in scan):
            for v in variants:
                rs = [r for r in scan if r["score"] == score and r["variant"] == v]
                ax.plot([r["accuracy"] for r in rs], [r[m] for r in rs], "o-" if score == "exact" else "x--",
                        color=colours[v], ms=3, lw=1.4 if score == "exact" else 0.9, alpha=1 if score == "exact" else 0.7,
                        label=f"{score}: {v}" if ax is axes[0] else None)
        ax.axvline(cfg.target_accuracy, color="k", ls=":", lw=1)
        if m == "var_par":
            ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_xlabel("class accuracy (exact posterior at σ = 0)")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=5.5)
    fig.suptitle(f"Exact (solid) vs learned (dashed) scores, d = {cfg.dim}, M = {cfg.n_classes}, "
                 f"p_uncond = {cfg.p_uncond:g} (dotted: target accuracy)", fontsize=10)
    fig.tight_layout()
    figs["frontier"] = fig

    if not errors:  # score_error_sigmas = []: no score-error table
        return figs
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for seed in dict.fromkeys(e["seed"] for e in errors):
        es = [e for e in errors if e["seed"] == seed]
        s = [e["sigma"] for e in es]
        ax.plot(s, [e["rel_err_delta"] for e in es], "o-", label=f"Δ = s(x|c) − s(x), seed {seed}")
        ax.plot(s, [e["rel_err_cond"] for e in es], "s--", ms=3, label=f"s(x|c), seed {seed}")
    ax.axvline(float(sigma_of_t(cfg.window_t_switch)), color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("relative rms error vs exact")
    ax.set_title("Learned score errors (dotted: the window's switch σ)", fontsize=9)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs["score_errors"] = fig
    return figs

"""The learned-guidance study driver (package docstring). `run(cfg, *, progress, resume) -> Results`:

1. the mixture: M = n_classes classes N(μ_k, s² I), μ_k ~ N(0, m² I) (guidance_common.Classes; m from
   classes.accuracy_0 when set: the exact class accuracy at w = 0 is accuracy_0 at [d, M]);
2. per seed in train.seeds, a ConditionalMLP trained by training.fit with
   objective = conditional.conditional_dsm_loss (label dropout p_uncond), EMA weights kept; its
   score errors against the exact s(x|c), s(x) and Δ = s(x|c) − s(x) on exact noised samples per σ,
   and the flatness of its loss curve over the last fifth (`flatness`);
3. per seed, for the exact scores and that seed's network, the same guided scans (constant w;
   negative windows w_early for σ above σ(t_switch), w_late < 0 below) through the same sampler
   with the same random numbers (the seed's), each sample set measured with
   metrics.guidance.distortion_summary and the off-data measures below;
4. every (score, seed, family)'s metrics interpolated at the strength where its accuracy reaches
   target_accuracy (guidance_common.interpolate_at); exact, learned and the paired difference
   learned − exact as mean ± Student-t 95 % half-width over the seeds (common.across_draws).

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
from ..common import Sampler, across_draws, draw_key, finite, guided_samples, interpolate_at
from .config import Config
from .figures import figures

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


def flatness(history: list[dict], fraction: float = 0.2) -> dict:
    """Is the training loss flat over the last `fraction` of the steps? A least-squares line through
    the chunk losses (history rows {'step', 'loss'}) whose step lies in the last fraction: 'rel_drift'
    = slope · (steps spanned) / mean loss, 'rel_drift_se' its standard error (None with < 3 chunks),
    'chunks' their number."""
    steps = np.array([h["step"] for h in history], np.float64)
    loss = np.array([h["loss"] for h in history], np.float64)
    sel = steps > steps[-1] * (1 - fraction)
    x, y = steps[sel], loss[sel]
    if len(x) < 2:
        return {"rel_drift": None, "rel_drift_se": None, "chunks": int(len(x))}
    span, mean = float(x[-1] - x[0]), float(np.mean(y))
    slope, icpt = np.polyfit(x, y, 1)
    se = None
    if len(x) >= 3:
        resid = y - (slope * x + icpt)
        se = float(np.sqrt(np.sum(resid ** 2) / (len(x) - 2) / np.sum((x - x.mean()) ** 2)) * span / mean)
    return {"rel_drift": float(slope * span / mean), "rel_drift_se": se, "chunks": int(len(x))}


def is_flat(f: dict, tol: float) -> bool:
    """Flat: the drift over the last fifth is below `tol` of the loss, or within 2 standard errors of 0."""
    d, se = f["rel_drift"], f["rel_drift_se"]
    return d is not None and (abs(d) <= tol or (se is not None and abs(d) <= 2 * se))


def at_target(cfg: Config, scan: list[dict]) -> list[dict]:
    """Per (score, seed, variant): the strength where accuracy reaches the target, metrics interpolated there."""
    out = []
    for key in dict.fromkeys((r["score"], r["seed"], r["variant"]) for r in scan):
        rs = [r for r in scan if (r["score"], r["seed"], r["variant"]) == key]
        strengths, acc = [r["strength"] for r in rs], [r["accuracy"] for r in rs]
        s_t = interpolate_at(cfg.target_accuracy, acc, strengths)
        e = {"score": key[0], "seed": key[1], "family": rs[0]["family"], "variant": key[2],
             "strength_at_target": s_t, "accuracy_min": float(np.nanmin(acc)), "accuracy_max": float(np.nanmax(acc))}
        for m in METRICS:
            e[m] = None if s_t is None else finite(interpolate_at(s_t, strengths, [r[m] for r in rs]))
        out.append(e)
    return out


def combine_seeds(entries: list[dict]) -> list[dict]:
    """Per variant: exact, learned and the paired difference learned − exact (same seed, hence the
    same sampler random numbers) over the seeds: each metric's mean with '<m>_ci' the Student-t 95 %
    half-width (common.across_draws), '<m>_seeds' the per-seed values, 'n_<m>' the finite count."""
    out = []
    for v in dict.fromkeys(e["variant"] for e in entries):
        by = {s: {e["seed"]: e for e in entries if e["variant"] == v and e["score"] == s} for s in ("exact", "learned")}
        seeds = [s for s in by["exact"] if s in by["learned"]]
        fam = by["exact"][seeds[0]]["family"]
        for score in ("exact", "learned", "learned − exact"):
            row = {"score": score, "family": fam, "variant": v, "n_seeds": len(seeds)}
            for m in ("strength_at_target",) + METRICS:
                if score == "learned − exact":
                    vals = [None if by["learned"][s][m] is None or by["exact"][s][m] is None
                            else by["learned"][s][m] - by["exact"][s][m] for s in seeds]
                else:
                    vals = [by[score][s][m] for s in seeds]
                a = across_draws(vals)
                row[m], row[m + "_ci"], row[m + "_seeds"], row["n_" + m] = a["mean"], a["ci"], a["draws"], a["n"]
            out.append(row)
    return out


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    """Run the study (the study interface, studies/base.py); writes nothing itself.

    The networks train in memory (the study reruns: `resume`, a runio.Workspace, is accepted and not
    used). Training seed s also fixes the sampler random numbers of its scans (common.draw_key(key,
    0, s, stream = 1 + sampler_seed)), shared by the exact and the learned scores: the seeds are paired
    draws. Results: metrics (module docstring; `at_target` exact, learned and learned − exact per
    variant, mean ± t-interval over seeds; `at_target_seeds` per seed); curves {"scan",
    "score_errors", "training", "summary", "loss"}; figures {"frontier", "score_errors"}."""
    del resume
    log: list[str] = []
    key = jax.random.PRNGKey(cfg.seed)
    classes = cfg.classes.resolved()
    gm = classes.mixture(cfg.dim, key=jax.random.fold_in(key, 0), n_classes=cfg.n_classes)
    data = LabelledMixture(gm, cfg.p_uncond)
    fams = families(cfg)

    def scan_score(score_name, seed, build_guided, skey):
        rows = []
        j = 0
        for family, strengths, sched in fams:
            for k in strengths:
                r = measure(lambda c, k=k, sched=sched: build_guided(c, sched(k)), gm, cfg.targets, cfg.sampler,
                            key=jax.random.fold_in(skey, 1000 + j))  # the same random numbers for both scores
                rows.append({"score": score_name, "seed": seed, "family": family.kind, "variant": family.label(),
                             **{f"p_{n}": v for n, v in family.params().items()}, "strength": k, **r})
                j += 1
        return rows

    scan, trained, errors, loss_rows = [], [], [], []
    for seed in cfg.train.seeds:
        skey = draw_key(key, 0, seed, stream=1 + cfg.sampler_seed)
        t0 = time.perf_counter()
        scan += scan_score("exact", seed, lambda c, s: exact_cfg(gm, c, s), skey)
        exact_s = time.perf_counter() - t0
        net, tlog = train_net(cfg, data, seed, progress is not no_progress)
        errs = score_errors(net, gm, cfg.score_error_sigmas, cfg.train.score_error_n, key=jax.random.fold_in(key, 2))
        errors += [{"seed": seed, **e} for e in errs]
        loss_rows += [{"seed": seed, "step": h["step"], "loss": h["loss"]} for h in tlog["history"]]
        t0 = time.perf_counter()
        scan += scan_score("learned", seed, lambda c, s, net=net: guided(net, c, s), skey)
        flat = flatness(tlog["history"])
        trained.append({"seed": seed, "train_s": tlog["train_s"], "final_loss": tlog["final_loss"],
                        "exact_scan_s": round(exact_s, 2), "sample_s": round(time.perf_counter() - t0, 2),
                        "last_fifth": flat, "flat": is_flat(flat, cfg.train.flat_tol)})
        log.append(f"seed {seed}: exact scans {exact_s:.1f} s; trained in {tlog['train_s']:.1f} s (final loss "
                   f"{tlog['final_loss']:.4f}, drift over the last fifth {flat['rel_drift']}), learned scans "
                   f"{trained[-1]['sample_s']:.1f} s; rel. error of Δ = s(x|c) − s(x): "
                   + ", ".join(f"σ={e['sigma']:g}: {e['rel_err_delta']:.2f}" for e in errs))
    per_seed = at_target(cfg, scan)
    summary = combine_seeds(per_seed)
    w0 = [r for r in scan if r["family"] == CONSTANT and r["strength"] == 0.0]
    metrics = {
        "dim": cfg.dim, "n_classes": cfg.n_classes, "p_uncond": cfg.p_uncond, "mean_std": classes.mean_std,
        "target_accuracy": cfg.target_accuracy, "t_switch_sigma": float(sigma_of_t(cfg.window_t_switch)),
        "training": trained, "all_flat": all(t["flat"] for t in trained),
        "score_errors": errors, "score_errors_mean": _errors_mean(errors),
        "at_target": summary, "at_target_seeds": per_seed, "answer": _answer(summary),
        "unguided": {s: {m: across_draws([r[m] for r in w0 if r["score"] == s]) for m in METRICS}
                     for s in ("exact", "learned")},
        "definitions": {
            "at_target": "metrics interpolated linearly in the family's strength at the strength where the scanned "
                         "class accuracy (exact posterior at σ = 0) first reaches target_accuracy, per seed; then mean "
                         "± Student-t 95 % half-width (*_ci) over the training seeds",
            "seeds": "seed s: network init and batches, and the sampler random numbers of both the exact and the "
                     "learned scans (paired); the mixture is one draw (seed)",
            "learned − exact": "per-seed paired difference, then mean ± t-interval",
            "unguided": "the constant-CFG scan at w = 0 (when scanned) over the seeds",
            "last_fifth": "least-squares line through the chunk losses of the last fifth of training: rel_drift = "
                          "slope·span/mean loss, rel_drift_se its standard error; flat: |rel_drift| ≤ train.flat_tol "
                          "or ≤ 2 se",
            "*_spread (scan.csv)": "(max − min)/2 over the target classes",
            "off_fraction, log_p_gap, nearest_radius": "see studies/guidance/learned/run.py"},
    }
    return Results(metrics=metrics, curves={"scan": scan, "score_errors": errors, "training": trained,
                                            "summary": summary, "loss": loss_rows},
                   figures=figures(cfg, scan, errors), summary="\n".join(log + [format_table(summary)]))


def _errors_mean(errors: list[dict]) -> list[dict]:
    """Per σ: each relative error's mean ± t-interval over the seeds."""
    out = []
    for s in dict.fromkeys(e["sigma"] for e in errors):
        es = [e for e in errors if e["sigma"] == s]
        row = {"sigma": s}
        for k in ("rel_err_cond", "rel_err_uncond", "rel_err_delta"):
            a = across_draws([e[k] for e in es])
            row[k], row[k + "_ci"] = a["mean"], a["ci"]
        out.append(row)
    return out


def _answer(summary: list[dict]) -> dict:
    """For exact and learned: does each window bring ρ_∥ nearer 1 than constant CFG at the same accuracy
    (seed means), and the [constant, window] pairs of ρ_∥, overshoot, off fraction and log p gap."""
    out = {}
    for score in ("exact", "learned"):
        es = [e for e in summary if e["score"] == score]
        const = next((e for e in es if e["family"] == CONSTANT), None)
        for e in es:
            if e["family"] != WINDOW or const is None or e["var_par"] is None or const["var_par"] is None:
                continue
            out[f"{score}: {e['variant']}"] = {
                "restores_var_par_towards_1": abs(e["var_par"] - 1) < abs(const["var_par"] - 1),
                **{m: [const[m], e[m]] for m in ("var_par", "overshoot", "off_fraction", "log_p_gap")},
                "note": "pairs are [constant CFG, window] at the target accuracy, means over seeds"}
    return out


def format_table(summary: list[dict]) -> str:
    cols = ("strength_at_target", "var_par", "var_perp", "overshoot", "pr_ratio", "off_fraction", "log_p_gap",
            "nearest_radius")
    head = f"{'score':<16} {'variant':<44}" + "".join(f"{c[:10]:>11}" for c in cols)
    lines = [head]
    for r in summary:
        vals = "".join(f"{r[c]:>11.3f}" if isinstance(r.get(c), float) else f"{'–':>11}" for c in cols)
        lines.append(f"{r['score']:<16} {r['variant'][:44]:<44}{vals}")
    return "\n".join(lines)

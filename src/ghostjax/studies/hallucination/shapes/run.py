"""The study driver: `run(cfg, out_dir, ...)` trains the score network on Simple Shapes, samples it
through the DDPM sampler with the x̂0 window (ghostjax.ddpm), classifies the samples, and writes
metrics.json, summary.csv, samples.npz, checkpoints/ and figures/*.png in the run directory.

Hallucination rate: hallucinated / n with a Wilson interval (scipy.stats.binomtest). Detector: the
window statistic (variance of x̂0 over the last eval.window levels, pixel mean) as the score,
hallucinated images as positives (metrics.hallucination.detector_report), also per category.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import jax
import numpy as np

from .... import ddpm
from ....data import EmpiricalData
from ....metrics import hallucination as hm
from ....nets import AbstractScoreNet, make_net, net_arguments
from ....plots import window_study_figure
from ....runio import atomic_write_bytes, atomic_write_csv, atomic_write_json
from ....training import ema_model, fit
from . import report
from .classify import CATEGORIES, Classification, classify, composition
from .config import Config
from .data import generate


def build_net(cfg: Config, key: jax.Array) -> AbstractScoreNet:
    """The [model] network for the data's image size: every [model] field its constructor takes."""
    accepted = set(net_arguments(cfg.model.kind))
    hyper = {k: v for k, v in cfg.model.model_dump().items() if k != "kind" and k in accepted}
    if "image_size" in accepted:
        hyper["image_size"] = cfg.data.size
    return make_net(cfg.model.kind, cfg.data.size ** 2, key=key, **hyper)


def sample(cfg: Config, model, progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """eval.n_samples images [n, H·W], their detector scores [n] and, with eval.window_max, the
    window study's scores {(stat, length, offset): [n]} (metrics.hallucination.window_study_scores;
    else {}), drawn eval.batch at a time (one compilation: every call has the same shapes, the last
    batch is cut)."""
    from tqdm.auto import tqdm

    E, dim = cfg.eval, cfg.data.size ** 2
    n_calls = math.ceil(E.n_samples / E.batch)
    key = jax.random.PRNGKey(E.seed)
    xs, scores, study = [], [], []
    for i in tqdm(range(n_calls), desc="sample", unit="batch", disable=not progress, leave=False):
        x, traj = ddpm.draw(model, dim, E.batch, jax.random.fold_in(key, i), cfg.loss, sigma_cap=E.sigma_cap,
                            window=max(E.window, E.window_max), steps=E.steps, tail=E.tail)
        xs.append(np.asarray(x))
        scores.append(np.asarray(hm.window_statistic(traj[-E.window:], E.stat)))
        if E.window_max:
            study.append(hm.window_study_scores(traj, E.window))
    cat = {k: np.concatenate([s[k] for s in study])[:E.n_samples] for k in (study[0] if study else {})}
    return np.concatenate(xs)[:E.n_samples], np.concatenate(scores)[:E.n_samples], cat


def rate(k: int, n: int, confidence: float) -> dict:
    """k of n with its Wilson interval at `confidence`."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return {"k": int(k), "n": int(n), "rate": k / n, "ci_lo": float(ci.low), "ci_hi": float(ci.high),
            "interval": f"Wilson {confidence:g}"}


def detectors(c: Classification, scores: np.ndarray, cfg: Config) -> tuple[dict | None, dict]:
    """The detector report (positives: hallucinated images) and the AUC per category (positives: the
    images of that category, negatives: the clean ones)."""
    E, pos = cfg.eval, c.hallucinated
    finite = np.isfinite(scores)
    s = np.where(finite, scores, np.nanmax(np.where(finite, scores, -np.inf), initial=0.0) + 1.0)
    labels = {"stat": E.stat, "window": E.window}
    main = (hm.detector_report(s, pos, retention=E.retention, extra_fraction=E.extra_fraction, **labels)
            if pos.any() and not pos.all() else None)
    per = {}
    for i, name in enumerate(CATEGORIES):
        keep = c.flags[:, i] | ~pos
        p = c.flags[keep, i]
        per[name] = hm.auc(s[keep], p) if p.any() and not p.all() else None
    return main, per


def run(cfg: Config, out_dir: Path, *, progress: bool = True, meta: dict | None = None, log=print,
        resume: bool = False, stop_after: int | None = None) -> list[dict]:
    """Train, sample, classify, measure; write the run directory's files. Returns the summary rows.
    resume: continue training from out_dir/checkpoints (bitwise the same parameters as an
    uninterrupted run); stop_after: stop training at this step with a checkpoint, as an interruption
    would, and write nothing else (returns [])."""
    out_dir = Path(out_dir)
    t_all = time.perf_counter()
    data = generate(cfg.data.n_train, cfg.data.size, cfg.data.seed)
    g = data.geometry
    x_train = data.model_inputs()
    c_train = classify(x_train, g, threshold=cfg.classify.threshold, min_iou=cfg.classify.min_iou)
    report.save(report.image_grid(x_train[:16], g.size, None, "training images"), out_dir, "training_images")

    net = build_net(cfg, jax.random.fold_in(jax.random.PRNGKey(cfg.train.seed), 7))
    n_params = int(sum(a.size for a in jax.tree.leaves(net) if hasattr(a, "size") and hasattr(a, "dtype")))
    t0 = time.perf_counter()
    state, hist = fit(net, EmpiricalData(x_train), cfg.loss, cfg.optim, seed=cfg.train.seed, steps=cfg.train.steps,
                      batch=cfg.train.batch, steps_per_call=min(cfg.train.steps_per_call, cfg.train.steps),
                      ckpt_dir=out_dir / "checkpoints", checkpoint_every=cfg.train.checkpoint_every,
                      resume=resume and (out_dir / "checkpoints" / "latest.json").is_file(), stop_after=stop_after,
                      progress=progress, desc=f"train {cfg.model.kind}")
    if int(state.step) < cfg.train.steps:  # stopped early (stop_after): only the checkpoint is written
        log(f"stopped at step {int(state.step)} of {cfg.train.steps}; continue with --resume")
        return []
    train_s = time.perf_counter() - t0
    model = ema_model(state) if cfg.optim.ema_decay > 0 else state.model
    rates = [h["steps_per_s"] for h in hist[1:]] or [hist[-1]["steps_per_s"]]
    tlog = {"steps": cfg.train.steps, "batch": cfg.train.batch, "n_params": n_params, "train_s": round(train_s, 2),
            "steps_per_s": float(np.median(rates)), "final_loss": hist[-1]["loss"],
            "loss_curve": [[h["step"], h["loss"]] for h in hist]}
    log(f"trained {cfg.model.kind} ({n_params} parameters): {cfg.train.steps} steps in {train_s:.1f} s "
        f"({tlog['steps_per_s']:.2f} steps/s), final loss {tlog['final_loss']:.4f}")

    t0 = time.perf_counter()
    xs, scores, study_scores = sample(cfg, model, progress)
    sample_s = time.perf_counter() - t0
    c = classify(xs, g, threshold=cfg.classify.threshold, min_iou=cfg.classify.min_iou)
    hal = rate(int(c.hallucinated.sum()), xs.shape[0], cfg.eval.confidence)
    hal["categories"] = {name: int(c.flags[:, i].sum()) for i, name in enumerate(CATEGORIES)}
    det, det_per = detectors(c, scores, cfg)
    comp = {"samples": np.bincount(composition(c) + 1, minlength=9).tolist(),
            "training": np.bincount(composition(c_train) + 1, minlength=9).tolist(),
            "codes": "index 0: hallucinated; index 1 + Σ 2^k over the shapes present (k: triangle 0, square 1, pentagon 2)"}
    log(f"hallucinated {hal['k']}/{hal['n']} = {hal['rate']:.4f} [{hal['ci_lo']:.4f}, {hal['ci_hi']:.4f}] "
        f"({', '.join(f'{k} {v}' for k, v in hal['categories'].items())}); detector AUC "
        f"{det['auc'] if det else float('nan'):.3f}; sampled {xs.shape[0]} in {sample_s:.1f} s")

    report.save(report.image_grid(xs[:cfg.eval.grid], g.size, c.hallucinated[:cfg.eval.grid],
                                  f"samples (hallucinated outlined in red: {hal['k']}/{hal['n']})"), out_dir, "samples")
    if det:
        report.save(report.roc_figure(det["roc"], f"x̂0 {cfg.eval.stat}, last {cfg.eval.window}: AUC {det['auc']:.3f}"),
                    out_dir, "roc")
        report.save(report.score_histogram(scores, c.hallucinated), out_dir, "detector_scores")
    windows = hm.window_study(study_scores, c.hallucinated) if study_scores else []
    if windows:
        atomic_write_csv(out_dir / "window_study.csv", windows)
        report.save(window_study_figure(windows, cfg.eval.window, "hallucinated images: window study"), out_dir,
                    "window_study")
    buf = io.BytesIO()
    np.savez_compressed(buf, x=xs.astype(np.float32), score=scores, hallucinated=c.hallucinated, flags=c.flags)
    atomic_write_bytes(out_dir / "samples.npz", buf.getvalue())

    row = {"name": cfg.name, "size": cfg.data.size, "model": cfg.model.kind, "n_params": n_params,
           "train_steps": cfg.train.steps, "batch": cfg.train.batch, "final_loss": tlog["final_loss"],
           "train_s": tlog["train_s"], "steps_per_s": tlog["steps_per_s"], "sample_steps": int(ddpm.ddpm_sigmas(
               cfg.loss, cfg.eval.sigma_cap, cfg.eval.steps, cfg.eval.tail).shape[0]), "n_samples": hal["n"], "sample_s": round(sample_s, 2),
           "hallucinated": hal["k"], "rate": hal["rate"], "ci_lo": hal["ci_lo"], "ci_hi": hal["ci_hi"],
           **{f"n_{k}": v for k, v in hal["categories"].items()},
           "auc": det["auc"] if det else None, "auc_se": det["auc_se"] if det else None,
           "detection_at_retention": det["at_retention_detection"] if det else None,
           "retention": det["at_retention_retention"] if det else None,
           "train_set_hallucinated": int(c_train.hallucinated.sum())}
    meta = {**(meta or {}), "elapsed_s": round(time.perf_counter() - t_all, 1)}
    atomic_write_json(out_dir / "metrics.json", {
        "meta": meta, "data": {"size": g.size, "n_train": cfg.data.n_train, "seed": cfg.data.seed,
                               "shape_frequency": data.present.mean(0).tolist(),
                               "hallucinated": int(c_train.hallucinated.sum())},
        "train": tlog, "sample": {"n": hal["n"], "sample_s": round(sample_s, 2), "levels": row["sample_steps"]},
        "hallucination": hal, "detector": det, "detector_auc_by_category": det_per, "composition": comp,
        "window_study": windows,
        "summary": [row]})
    atomic_write_csv(out_dir / "summary.csv", [row])
    return [row]

"""The study driver: `run(cfg, *, progress, resume)` runs the config's task (recursive: recursive.py,
on this module's `train`, `sample` and `rate`). basic (`run_basic`) trains the score network on
Simple Shapes, samples it through the DDPM sampler with the x̂0 window (ghostjax.ddpm), classifies
the samples and returns its Results (studies/base.py): metrics.json's content, summary.csv and window_study.csv as
curves, samples.npz as a file, figures. It writes nothing itself; checkpoints go through `resume`
(a runio.Workspace: checkpoints/ of the run directory).

Hallucination rate: hallucinated / n with a Wilson interval (scipy.stats.binomtest). Detector: the
window statistic (variance of x̂0 over the last eval.window levels, pixel mean) as the score,
hallucinated images as positives (metrics.hallucination.detector_report), also per category.
"""

from __future__ import annotations

import io
import math
import time

import jax
import numpy as np

from .... import ddpm
from ....data import EmpiricalData
from ....metrics import hallucination as hm
from ....nets import AbstractScoreNet, make_net, net_arguments
from ....plots import window_study_figure
from ....runio import Workspace
from ....training import ema_model, fit
from ...base import Results, no_progress
from . import report
from .classify import CATEGORIES, Classification, classify, composition
from .config import Config
from .data import generate


def build_net(cfg: Config, *, key: jax.Array) -> AbstractScoreNet:
    """The [model] network for the data's image size: every [model] field its constructor takes."""
    accepted = set(net_arguments(cfg.model.kind))
    hyper = {k: v for k, v in cfg.model.model_dump().items() if k != "kind" and k in accepted}
    if "image_size" in accepted:
        hyper["image_size"] = cfg.data.size
    return make_net(cfg.model.kind, cfg.data.size ** 2, key=key, **hyper)


def sample(cfg: Config, model, progress=no_progress, *, n: int | None = None, key: jax.Array | None = None
           ) -> tuple[np.ndarray, np.ndarray, dict]:
    """n (default eval.n_samples) images [n, H·W], their detector scores [n] and, with eval.window_max,
    the window study's scores {(stat, length, offset): [n]} (metrics.hallucination.window_study_scores;
    else {}), drawn eval.batch at a time (one compilation: every call has the same shapes, the last
    batch is cut), batch i with fold_in(key, i) (key default PRNGKey(eval.seed)). progress: wraps the
    loop over batches (studies.base.no_progress: silent)."""
    E, dim = cfg.eval, cfg.data.size ** 2
    n = E.n_samples if n is None else n
    n_calls = math.ceil(n / E.batch)
    key = jax.random.PRNGKey(E.seed) if key is None else key
    xs, scores, study = [], [], []
    for i in progress(range(n_calls), desc="sample", unit="batch"):
        x, traj = ddpm.draw(model, dim, E.batch, key=jax.random.fold_in(key, i), loss=cfg.loss, sigma_cap=E.sigma_cap,
                            window=max(E.window, E.window_max), steps=E.steps, tail=E.tail)
        xs.append(np.asarray(x))
        scores.append(np.asarray(hm.window_statistic(traj[-E.window:], E.stat)))
        if E.window_max:
            study.append(hm.window_study_scores(traj, E.window))
    cat = {k: np.concatenate([s[k] for s in study])[:n] for k in (study[0] if study else {})}
    return np.concatenate(xs)[:n], np.concatenate(scores)[:n], cat


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


def train(cfg: Config, x_train: np.ndarray, *, progress=no_progress, resume: Workspace | None = None,
          seed: int | None = None, cell: str = "", mode_std: float | None = None
          ) -> tuple[AbstractScoreNet | None, dict, int]:
    """Train the [model] network on x_train [n, H·W]: (the network to sample — its EMA when
    optim.ema_decay > 0, None when training stopped early —, the training log, the step reached).
    seed: of the initialisation (fold_in(PRNGKey(seed), 7)) and the batches (default train.seed).
    mode_std: the data's width that places the loss's logged σ band (data.EmpiricalData; default the
    std of x_train); networks given the same one share one compiled training step.

    resume: None trains in memory; a runio.Workspace keeps training.fit's checkpoints in
    resume.checkpoints(cell) ('' : the run's one network, checkpoints/; else cells/<cell>/checkpoints,
    with the cell's name in their meta), continues from them when resume.resume_training(cell)
    (bitwise the same parameters as an uninterrupted run) and stops at resume.stop_after."""
    T, ws = cfg.train, resume
    seed = T.seed if seed is None else seed
    net = build_net(cfg, key=jax.random.fold_in(jax.random.PRNGKey(seed), 7))
    n_params = int(sum(a.size for a in jax.tree.leaves(net) if hasattr(a, "size") and hasattr(a, "dtype")))
    meta = None if ws is None else ({**ws.meta, "cell": cell} if cell else ws.meta)
    t0 = time.perf_counter()
    state, hist = fit(net, EmpiricalData(x_train, mode_std), cfg.loss, cfg.optim, seed=seed, steps=T.steps, batch=T.batch,
                      steps_per_call=min(T.steps_per_call, T.steps), checkpoint_every=T.checkpoint_every,
                      ckpt_dir=None if ws is None else ws.checkpoints(cell),
                      resume=ws is not None and ws.resume_training(cell),
                      stop_after=None if ws is None else ws.stop_after, meta=meta,
                      progress=progress is not no_progress, desc=f"train {cell or cfg.model.kind}")
    step = int(state.step)
    if step < T.steps:  # stopped early (stop_after): only the checkpoint is kept
        return None, {}, step
    model = ema_model(state) if cfg.optim.ema_decay > 0 else state.model
    rates = [h["steps_per_s"] for h in hist[1:]] or [hist[-1]["steps_per_s"]]
    tlog = {"steps": T.steps, "batch": T.batch, "n_params": n_params,
            "train_s": round(time.perf_counter() - t0, 2), "steps_per_s": float(np.median(rates)),
            "final_loss": hist[-1]["loss"], "loss_curve": [[h["step"], h["loss"]] for h in hist]}
    return model, tlog, step


def run(cfg: Config, *, progress=no_progress, resume: Workspace | None = None) -> Results:
    """Run the config's task (basic: `run_basic`; recursive: recursive.run_recursive) and return its
    Results. Writes nothing: checkpoints go through `resume` (see `train`); a run stopped at
    resume.stop_after returns only `stopped_at`."""
    from .recursive import run_recursive

    tasks = {"basic": run_basic, "recursive": run_recursive}
    return tasks[cfg.task](cfg, progress, resume)


def run_basic(cfg: Config, progress=no_progress, resume: Workspace | None = None) -> Results:
    """Train, sample, classify, measure; return the Results (metrics.json's content; curves summary
    and window_study; samples.npz; figures training_images, samples, roc, detector_scores,
    window_study)."""
    data = generate(cfg.data.n_train, cfg.data.size, cfg.data.seed)
    g = data.geometry
    x_train = data.model_inputs()
    c_train = classify(x_train, g, threshold=cfg.classify.threshold, min_iou=cfg.classify.min_iou)
    model, tlog, step = train(cfg, x_train, progress=progress, resume=resume)
    if model is None:
        return Results({}, stopped_at=step)
    lines = [f"trained {cfg.model.kind} ({tlog['n_params']} parameters): {cfg.train.steps} steps in "
             f"{tlog['train_s']:.1f} s ({tlog['steps_per_s']:.2f} steps/s), final loss {tlog['final_loss']:.4f}"]

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
    lines.append(f"hallucinated {hal['k']}/{hal['n']} = {hal['rate']:.4f} [{hal['ci_lo']:.4f}, {hal['ci_hi']:.4f}] "
                 f"({', '.join(f'{k} {v}' for k, v in hal['categories'].items())}); detector AUC "
                 f"{det['auc'] if det else float('nan'):.3f}; sampled {xs.shape[0]} in {sample_s:.1f} s")

    figures = {"training_images": report.image_grid(x_train[:16], g.size, None, "training images"),
               "samples": report.image_grid(xs[:cfg.eval.grid], g.size, c.hallucinated[:cfg.eval.grid],
                                            f"samples (hallucinated outlined in red: {hal['k']}/{hal['n']})")}
    if det:
        figures["roc"] = report.roc_figure(det["roc"], f"x̂0 {cfg.eval.stat}, last {cfg.eval.window}: AUC {det['auc']:.3f}")
        figures["detector_scores"] = report.score_histogram(scores, c.hallucinated)
    windows = hm.window_study(study_scores, c.hallucinated) if study_scores else []
    if windows:
        figures["window_study"] = window_study_figure(windows, cfg.eval.window, "hallucinated images: window study")
    buf = io.BytesIO()
    np.savez_compressed(buf, x=xs.astype(np.float32), score=scores, hallucinated=c.hallucinated, flags=c.flags)

    row = {"name": cfg.name, "size": cfg.data.size, "model": cfg.model.kind, "n_params": tlog["n_params"],
           "train_steps": cfg.train.steps, "batch": cfg.train.batch, "final_loss": tlog["final_loss"],
           "train_s": tlog["train_s"], "steps_per_s": tlog["steps_per_s"], "sample_steps": int(ddpm.ddpm_sigmas(
               cfg.loss, cfg.eval.sigma_cap, cfg.eval.steps, cfg.eval.tail).shape[0]), "n_samples": hal["n"],
           "sample_s": round(sample_s, 2), "hallucinated": hal["k"], "rate": hal["rate"], "ci_lo": hal["ci_lo"],
           "ci_hi": hal["ci_hi"], **{f"n_{k}": v for k, v in hal["categories"].items()},
           "auc": det["auc"] if det else None, "auc_se": det["auc_se"] if det else None,
           "detection_at_retention": det["at_retention_detection"] if det else None,
           "retention": det["at_retention_retention"] if det else None,
           "train_set_hallucinated": int(c_train.hallucinated.sum())}
    metrics = {"data": {"size": g.size, "n_train": cfg.data.n_train, "seed": cfg.data.seed,
                        "shape_frequency": data.present.mean(0).tolist(),
                        "hallucinated": int(c_train.hallucinated.sum())},
               "train": tlog, "sample": {"n": hal["n"], "sample_s": round(sample_s, 2), "levels": row["sample_steps"]},
               "hallucination": hal, "detector": det, "detector_auc_by_category": det_per, "composition": comp,
               "window_study": windows, "summary": [row]}
    curves = {"summary": [row], **({"window_study": windows} if windows else {})}
    return Results(metrics, curves=curves, figures=figures, files={"samples.npz": buf.getvalue()},
                   summary="\n".join(lines))

"""Recursive training on Simple Shapes (Aithal et al. §6, the image-level setting): generation 0
trains on the generated Simple Shapes set; generation g + 1 trains from scratch on n images of
generation g, kept by a selection rule (studies/hallucination/selection.py: none, random, variance)
from its n + m draws, m = round(n · eval.extra_fraction). Generation 0's network and draws are
shared by the rules.

Every network is run.py's: `train` (initialisation and batches from seed train.seed + g, the same
for every rule at a generation, so the rules differ only in what they keep; generation 0 is the
basic task's network; the loss's logged σ band is placed by the real set's std in every generation,
so the networks share one compiled training step), `sample` (n + m draws with their detector
scores, key fold_in(fold_in(PRNGKey(eval.seed), g), rule index + 1), 0 for generation 0; the random
rule's subset from fold_in(PRNGKey(eval.seed + 1), 100 · rule index + g), as in the toy study), the
classifier and `rate` (Wilson interval). The kept images are stored as an image
file would hold them (clipped to [−1, 1], 8-bit levels) before they train the next generation.
Measured per rule and generation on all n + m draws: the hallucination rate with its interval, the
count per category, the composition (which shapes the clean draws hold), the detector's AUC; and the
rate of the kept n.

Checkpoints: each network keeps training.fit's checkpoints through the Workspace in
cells/<network>/checkpoints (gen_0, <rule>_gen_<g>), an interrupted run continues from them with
--resume (the same parameters, hence the same draws and numbers), and --stop-after N stops at the
first network that reaches step N.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from ....data import EmpiricalData
from ....runio import Workspace
from ...base import Results, Stopped, no_progress
from ..selection import select
from . import report
from .classify import CATEGORIES, classify, composition
from .config import Config
from .data import generate
from .run import detectors, rate, sample, train


def stored(x: np.ndarray) -> np.ndarray:
    """Images x [n, H·W] (scale [−1, 1]) as an 8-bit image file holds them: non-finite values to 0,
    clipped to [−1, 1], rounded to the 256 levels, float32 on the model scale."""
    v = np.rint((np.clip(np.nan_to_num(x, nan=0.0), -1.0, 1.0) + 1.0) * 127.5)
    return (v / 127.5 - 1.0).astype(np.float32)


def _counts(c, idx: np.ndarray | None = None) -> np.ndarray:
    code = composition(c)
    return np.bincount((code if idx is None else code[idx]) + 1, minlength=9)


def run_recursive(cfg: Config, progress=no_progress, resume: Workspace | None = None) -> Results:
    """The recursive task: metrics {task, data, n_keep, n_extra, networks, generations, summary}
    (generations: one row per rule and generation; summary: the same rows without the composition
    lists), figures hallucination_rate and samples_<rule> (the last generation's draws)."""
    E, R, T = cfg.eval, cfg.recursive, cfg.train
    data = generate(cfg.data.n_train, cfg.data.size, cfg.data.seed)
    g = data.geometry
    x_real = data.model_inputs()
    c_real = classify(x_real, g, threshold=cfg.classify.threshold, min_iou=cfg.classify.min_iou)
    n = R.n_keep or cfg.data.n_train
    m = int(round(n * E.extra_fraction))
    width = float(EmpiricalData(x_real).mode_std())  # every generation's loss band: one compilation
    base = jax.random.PRNGKey(E.seed)
    networks, rows, lines, last = {}, [], [], {}

    def generation(x_train: np.ndarray, gen: int, salt: int, cell: str):
        model, tlog, step = train(cfg, x_train, progress=progress, resume=resume, seed=T.seed + gen, cell=cell,
                                  mode_std=width)
        if model is None:
            raise Stopped(step, cell)
        t0 = time.perf_counter()
        xs, scores, _ = sample(cfg, model, progress, n=n + m, key=jax.random.fold_in(jax.random.fold_in(base, gen), salt))
        tlog = {k: v for k, v in tlog.items() if k != "loss_curve"}
        networks[cell] = {**tlog, "sample_s": round(time.perf_counter() - t0, 2)}
        c = classify(xs, g, threshold=cfg.classify.threshold, min_iou=cfg.classify.min_iou)
        det, _ = detectors(c, scores, cfg)
        return xs, scores, c, det, networks[cell]

    try:
        gen0 = generation(x_real, 0, 0, "gen_0")
        for r_i, rule in enumerate(R.rules):
            x_train = x_real
            for gen in range(R.generations):
                xs, scores, c, det, net = gen0 if gen == 0 else generation(x_train, gen, r_i + 1, f"{rule}_gen_{gen}")
                keep = select(rule, scores, n, key=jax.random.fold_in(jax.random.PRNGKey(E.seed + 1), 100 * r_i + gen))
                hal = rate(int(c.hallucinated.sum()), xs.shape[0], E.confidence)
                kept = int(c.hallucinated[keep].sum())
                rows.append({"rule": rule, "generation": gen, "n_drawn": n + m, "n_kept": n, "rate": hal["rate"],
                             "ci_lo": hal["ci_lo"], "ci_hi": hal["ci_hi"], "hallucinated": hal["k"],
                             "kept_rate": kept / n, "kept_hallucinated": kept,
                             **{f"n_{k}": int(c.flags[:, i].sum()) for i, k in enumerate(CATEGORIES)},
                             "auc": det["auc"] if det else None, "train_s": net["train_s"],
                             "final_loss": net["final_loss"], "sample_s": net["sample_s"],
                             "composition": _counts(c).tolist(), "kept_composition": _counts(c, keep).tolist()})
                lines.append(f"{rule} gen {gen}: hallucinated {hal['k']}/{hal['n']} = {hal['rate']:.4f} "
                             f"[{hal['ci_lo']:.4f}, {hal['ci_hi']:.4f}], kept {kept}/{n}; detector AUC "
                             f"{det['auc'] if det else float('nan'):.3f}")
                x_train = stored(xs[keep])
            last[rule] = (xs, c)
    except Stopped as e:
        return Results({}, stopped_at=e.step, summary=str(e))

    flat = [{k: v for k, v in r.items() if k not in ("composition", "kept_composition")} for r in rows]
    G = R.generations - 1
    figures = {"hallucination_rate": report.rate_figure(
        rows, f"Simple Shapes {g.size}×{g.size}: hallucinated draws per generation\n"
              f"({n + m} drawn, {n} kept a generation; Wilson {E.confidence:g} intervals)")}
    for rule, (xs, c) in last.items():
        k = int(c.hallucinated.sum())
        figures[f"samples_{rule}"] = report.image_grid(xs[:E.grid], g.size, c.hallucinated[:E.grid],
                                                       f"{rule}, generation {G} (hallucinated outlined in red: "
                                                       f"{k}/{xs.shape[0]})")
    metrics = {"task": "recursive",
               "data": {"size": g.size, "n_train": cfg.data.n_train, "seed": cfg.data.seed,
                        "hallucinated": int(c_real.hallucinated.sum())},
               "n_keep": n, "n_extra": m, "networks": networks, "generations": rows, "summary": flat,
               "composition_codes": "index 0: hallucinated; index 1 + Σ 2^k over the shapes present "
                                    "(k: triangle 0, square 1, pentagon 2)"}
    return Results(metrics, curves={"summary": flat}, figures=figures, summary="\n".join(lines))

"""The study driver: `run(cfg, out_dir, ...)` runs the config's task and writes metrics.json,
summary.csv, window_study.csv and figures/*.png inside the run directory.

basic: for each [[data]] table, the exact score and every (block variant × seed) network, trained
from scratch on the fixed training set at the same budget, sample through the same sampler; each
sample set gets the support split, mode weights, the detector (AUC, detection at retention, the
selection rule) and, for networks, the window study.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from ....metrics import hallucination as hm
from ....plots import window_study_figure
from ....runio import atomic_write_csv, atomic_write_json
from . import report
from .config import Config
from .data import label, mixture, training_set
from .evaluate import draw, labels, measure
from .fitting import net_key, train
from .nets import build_net


def seeds(cfg: Config) -> tuple[int, ...]:
    return cfg.sweep.seeds or (cfg.train.seed,)


def row(name: str, data: str, score: str, seed, m: dict, extra: dict | None = None) -> dict:
    """One flat summary row of a measured sample set."""
    s, det = m["split"], m["detector"] or {}
    sel = det.get("selection", {})
    return {"name": name, "data": data, "score": score, "seed": seed, "n": s["n"],
            "in_fraction": s["in_fraction"], "out_fraction": s["out_fraction"],
            "out_fraction_se": s["out_fraction_se"], "between_fraction": s["between_fraction"],
            "between_fraction_se": s["between_fraction_se"], "beyond_fraction": s["beyond_fraction"],
            "beyond_fraction_se": s["beyond_fraction_se"], "auc": det.get("auc"), "auc_se": det.get("auc_se"),
            "detection_at_retention": det.get("at_retention_detection"),
            "detection_at_retention_se": det.get("at_retention_detection_se"),
            "retention": det.get("at_retention_retention"), "selection_removed_out": sel.get("removed_out"),
            "selection_kept_in": sel.get("kept_in"), "non_finite": m["non_finite"],
            "deep_fraction": m.get("deep_fraction", 0.0), "auc_deep": (m.get("detector_deep") or {}).get("auc"),
            "detection_deep_at_retention": (m.get("detector_deep") or {}).get("at_retention_detection"),
            **(extra or {})}


def _key(cfg: Config, *salt: int) -> jax.Array:
    k = jax.random.PRNGKey(cfg.eval.seed)
    for s in salt:
        k = jax.random.fold_in(k, s)
    return k


def run_basic(cfg: Config, out_dir: Path, progress: bool, log) -> dict:
    E = cfg.eval
    cells, rows, windows = [], [], []
    for i, d in enumerate(cfg.data):
        gm, name = mixture(d), label(d)
        data = training_set(d, gm)
        panels = [(f"training set ({d.n_train})", np.asarray(data.x), labels(data.x, gm, E))]
        train_split = hm.support_split(np.asarray(data.x), gm, E.tail)
        if E.exact:
            t0 = time.perf_counter()
            x, traj = draw(gm.score, gm.dim, E.n_samples, _key(cfg, i, 0), cfg.loss, E)
            m = measure(x, traj, gm, E, windows=False)
            cells.append({"name": f"{name}_exact", "data": name, "score": "exact", "sample_s": round(time.perf_counter() - t0, 2), **m})
            rows.append(row(f"{name}_exact", name, "exact", "", m))
            panels.append(("exact score", np.asarray(x), labels(x, gm, E)))
            log(f"{name} exact: out {m['split']['out_fraction']:.4f}")
        curves = []
        for b in cfg.model.blocks:
            for s in seeds(cfg):
                cname = f"{name}_{cfg.model.kind}_{b}_s{s}"
                net = build_net(cfg.model, gm.dim, net_key(s), blocks=b)
                model, tlog = train(cfg, net, data, seed=s, progress=progress, desc=cname)
                t0 = time.perf_counter()
                x, traj = draw(model, gm.dim, E.n_samples, _key(cfg, i, 1), cfg.loss, E)
                m = measure(x, traj, gm, E, windows=True)
                cells.append({"name": cname, "data": name, "score": f"{cfg.model.kind}_{b}", "blocks": b, "seed": s,
                              "train": tlog, "sample_s": round(time.perf_counter() - t0, 2), **m})
                rows.append(row(cname, name, f"{cfg.model.kind}_{b}", s, m, {"train_s": tlog["train_s"],
                                                                          "final_loss": tlog["final_loss"]}))
                windows += [{"name": cname, **w} for w in m["window_study"]]
                if m["detector"]:
                    curves.append((f"{b} s{s}: AUC {m['detector']['auc']:.3f}", m["detector"]["roc"]))
                if s == seeds(cfg)[0]:
                    panels.append((f"{b} blocks, seed {s}", np.asarray(x), labels(x, gm, E)))
                log(f"{cname}: out {m['split']['out_fraction']:.4f} (between {m['split']['between_fraction']:.4f}, "
                    f"beyond {m['split']['beyond_fraction']:.4f}), AUC "
                    f"{m['detector']['auc'] if m['detector'] else float('nan'):.3f}")
        report.save(report.samples_figure(panels, np.asarray(gm.means), f"{name}: samples (DDPM, T = {cfg.loss.ddpm_T})"),
             out_dir, f"samples_{name}")
        if curves:
            report.save(report.roc_figure(curves, f"{name}: detector ROC"), out_dir, f"roc_{name}")
        wrows = [w for w in windows if w["name"].startswith(name + "_")]
        if wrows:
            first = wrows[0]["name"]
            report.save(window_study_figure([w for w in wrows if w["name"] == first], E.window, f"{first}: window study"),
                 out_dir, f"window_study_{name}")
        cells.append({"name": f"{name}_training_set", "data": name, "score": "training set", "split": train_split})
        rows.append({"name": f"{name}_training_set", "data": name, "score": "training set", "seed": "",
                     "n": train_split["n"], "in_fraction": train_split["in_fraction"],
                     "out_fraction": train_split["out_fraction"], "out_fraction_se": train_split["out_fraction_se"],
                     "between_fraction": train_split["between_fraction"],
                     "beyond_fraction": train_split["beyond_fraction"]})
    if windows:
        atomic_write_csv(out_dir / "window_study.csv", windows)
    return {"cells": cells, "summary": rows}


def run(cfg: Config, out_dir: Path, *, progress: bool = True, meta: dict | None = None, log=print) -> list[dict]:
    """Run the config's task; write metrics.json (meta, summary rows, cells) and summary.csv in
    out_dir. Returns the summary rows."""
    from . import questions, recursive

    tasks = {"basic": run_basic, "recursive": recursive.run_recursive, "gap": questions.run_gap,
             "architecture": questions.run_architecture, "ghosts": questions.run_ghosts}
    t0 = time.perf_counter()
    res = tasks[cfg.task](cfg, out_dir, progress, log)
    meta = {**(meta or {}), "elapsed_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(out_dir / "metrics.json", {"meta": meta, "task": cfg.task, **res})
    atomic_write_csv(out_dir / "summary.csv", res["summary"])
    return res["summary"]

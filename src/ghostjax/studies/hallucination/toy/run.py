"""The study driver: `run(cfg, *, progress, resume)` runs the config's task and returns its Results
(studies/base.py): metrics.json's content, summary.csv and window_study.csv as curves, figures. It
writes nothing itself (checkpoints go through the Workspace, see below).

basic: for each [[data]] table, the exact score and every (block variant × seed) network, trained
from scratch on the fixed training set at the same budget, sample through the same sampler; each
sample set gets the support split, mode weights, the detector (AUC, detection at retention, the
selection rule) and, for networks, the window study.

Every task trains its networks through fitting.train with the run's Workspace (when the entry point
gives one): each network keeps checkpoints in cells/<network>/checkpoints of the run directory, an
interrupted run continues from them with --resume (bitwise the same parameters, hence the same
samples and numbers), and --stop-after N stops at the first network that reaches step N.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from ....metrics import hallucination as hm
from ....plots import window_study_figure
from ....runio import Workspace
from ...base import Results, Stopped, no_progress
from . import convergence, report
from .config import Config
from .data import label, mixture, training_set
from .evaluate import draw, labels, measure
from .fitting import net_key, train
from .nets import build_net
from .summary import row


def _key(cfg: Config, *salt: int) -> jax.Array:
    k = jax.random.PRNGKey(cfg.eval.seed)
    for s in salt:
        k = jax.random.fold_in(k, s)
    return k


def run_basic(cfg: Config, progress: bool, log, ws: Workspace | None = None) -> Results:
    """The basic task: metrics {cells, summary}, curves {window_study}, figures samples_<data>,
    roc_<data>, window_study_<data>."""
    E = cfg.eval
    cells, rows, windows, figures = [], [], [], {}
    for i, d in enumerate(cfg.data):
        gm, name = mixture(d), label(d)
        data = training_set(d, gm)
        panels = [(f"training set ({d.n_train})", np.asarray(data.x), labels(data.x, gm, E))]
        train_split = hm.support_split(np.asarray(data.x), gm, E.tail)
        if E.exact:
            t0 = time.perf_counter()
            x, traj = draw(gm.score, gm.dim, E.n_samples, key=_key(cfg, i, 0), loss=cfg.loss, E=E)
            m = measure(x, traj, gm, E, windows=False)
            cells.append({"name": f"{name}_exact", "data": name, "score": "exact", "sample_s": round(time.perf_counter() - t0, 2), **m})
            rows.append(row(f"{name}_exact", name, "exact", "", m))
            panels.append(("exact score", np.asarray(x), labels(x, gm, E)))
            log(f"{name} exact: out {m['split']['out_fraction']:.4f}")
        curves = []
        for b in cfg.model.blocks:
            for s in cfg.training_seeds():
                cname = f"{name}_{cfg.model.kind}_{b}_s{s}"
                net = build_net(cfg.model, gm.dim, key=net_key(s), blocks=b)
                snaps = convergence.snapshots_for(cfg, gm, ws, cname)
                model, tlog = train(cfg, net, data, seed=s, progress=progress, desc=cname, snapshot_at=snaps.steps,
                                    on_snapshot=snaps, workspace=ws, name=cname)
                t0 = time.perf_counter()
                x, traj = draw(model, gm.dim, E.n_samples, key=_key(cfg, i, 1), loss=cfg.loss, E=E)
                m = measure(x, traj, gm, E, windows=True)
                conv = convergence.report(x, gm, E.tail, snaps)
                cells.append({"name": cname, "data": name, "score": f"{cfg.model.kind}_{b}", "blocks": b, "seed": s,
                              "train": tlog, "sample_s": round(time.perf_counter() - t0, 2), **m, "convergence": conv})
                rows.append(row(cname, name, f"{cfg.model.kind}_{b}", s, m, {"train_s": tlog["train_s"],
                                                                          "final_loss": tlog["final_loss"],
                                                                          **convergence.columns(conv)}))
                windows += [{"name": cname, **w} for w in m["window_study"]]
                if m["detector"]:
                    curves.append((f"{b} s{s}: AUC {m['detector']['auc']:.3f}", m["detector"]["roc"]))
                if s == cfg.training_seeds()[0]:
                    panels.append((f"{b} blocks, seed {s}", np.asarray(x), labels(x, gm, E)))
                log(f"{cname}: out {m['split']['out_fraction']:.4f} (between {m['split']['between_fraction']:.4f}, "
                    f"beyond {m['split']['beyond_fraction']:.4f}), AUC "
                    f"{m['detector']['auc'] if m['detector'] else float('nan'):.3f}; {convergence.brief(conv)}")
        figures[f"samples_{name}"] = report.samples_figure(panels, np.asarray(gm.means),
                                                          f"{name}: samples (DDPM, T = {cfg.loss.ddpm_T})")
        if curves:
            figures[f"roc_{name}"] = report.roc_figure(curves, f"{name}: detector ROC")
        wrows = [w for w in windows if w["name"].startswith(name + "_")]
        if wrows:
            first = wrows[0]["name"]
            figures[f"window_study_{name}"] = window_study_figure([w for w in wrows if w["name"] == first], E.window,
                                                                 f"{first}: window study")
        cells.append({"name": f"{name}_training_set", "data": name, "score": "training set", "split": train_split})
        rows.append({"name": f"{name}_training_set", "data": name, "score": "training set", "seed": "",
                     "n": train_split["n"], "in_fraction": train_split["in_fraction"],
                     "out_fraction": train_split["out_fraction"], "out_fraction_se": train_split["out_fraction_se"],
                     "between_fraction": train_split["between_fraction"],
                     "beyond_fraction": train_split["beyond_fraction"]})
    return Results({"cells": cells, "summary": rows}, curves={"window_study": windows} if windows else {},
                   figures=figures)


def run(cfg: Config, *, progress=no_progress, resume: Workspace | None = None) -> Results:
    """Run the config's task and return its Results: metrics {task, summary rows, cells, ...}, the
    summary rows as the `summary` curve (summary.csv) beside the task's curves and figures, and the
    per-network lines as the summary text. Writes nothing itself. progress: no_progress (silent) or
    a tqdm-like wrapper (training bars shown); resume: None (networks train in memory) or a
    runio.Workspace holding every network's checkpoints (see the module docstring); a run stopped at
    resume.stop_after returns only `stopped_at`."""
    from . import questions, recursive

    tasks = {"basic": run_basic, "recursive": recursive.run_recursive, "gap": questions.run_gap,
             "architecture": questions.run_architecture, "ghosts": questions.run_ghosts}
    lines: list[str] = []
    try:
        res = tasks[cfg.task](cfg, progress is not no_progress, lines.append, resume)
    except Stopped as e:
        return Results({}, stopped_at=e.step, summary=str(e))
    return Results({"task": cfg.task, **res.metrics}, curves={"summary": res.metrics["summary"], **res.curves},
                   figures=res.figures, summary="\n".join(lines))

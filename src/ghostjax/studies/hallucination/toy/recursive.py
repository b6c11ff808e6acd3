"""Recursive training (Aithal et al. §6): generation 0 trains on the real training set; generation
g + 1 trains from scratch on n samples of generation g, chosen by a rule from n + m draws
(the theme's selection.RULES):

  none      the first n draws (no selection; distributed as `random`, so the two are replicates)
  random    n of the n + m draws at random
  variance  the n draws with the lowest trajectory variance (the detector), as their filter does
m = round(n · eval.extra_fraction) (their code: n + 2500 at n = 100k). Generation 0's network and
draws are shared by the rules. Measured per generation and rule, on all n + m draws of that
generation's network: the out-of-support fraction (between / beyond), the mode weights (mode_mass:
the share of samples nearest each mode, in std units; mode_occupancy: the share that is census-real
at it), the modes still alive (mass ≥ 20 % of 1/K; modes_real: real share ≥ 20 % of 1/K), and the
out-of-support fraction of the selected set that trains the next generation. With several training
seeds (sweep.seeds) every seed runs its own chain, generation 0 included.
"""

from __future__ import annotations

import jax
import numpy as np

from ....data import EmpiricalData
from ....metrics import hallucination as hm
from ....runio import Workspace
from ...base import Results
from ..selection import select
from . import convergence, report
from .config import Config
from .data import label, mixture, training_set
from .evaluate import draw, measure
from .fitting import net_key, train
from .nets import build_net

ALIVE = 0.2  # a mode is alive while it holds at least this share of 1/K of the samples


def run_recursive(cfg: Config, progress: bool, log, ws: Workspace | None = None) -> Results:
    """The recursive task: one chain of generations per training seed (cfg.training_seeds()); metrics
    {data, n_keep, n_extra, seeds, generation0_convergence (toy/convergence.report of the first
    seed's generation 0 against the data: the chain starts from it; None when eval.convergence_samples
    = 0), generation0_convergence_by_seed ({seed: that report}), generations (rows with their `seed`),
    cells, summary}, figures recursive_<data> and mode_weights_<data>.
    With one seed the networks are named "gen 0", "<rule> gen g" (as runs recorded before seeds were
    added, whose numbers this reproduces); with several, "seed S gen 0", "seed S <rule> gen g", and
    the seed is folded into every draw and selection key so the chains share no noise."""
    E, R = cfg.eval, cfg.recursive
    d = cfg.data[0]
    gm, name = mixture(d), label(d)
    real = training_set(d, gm)
    n = R.n_keep or d.n_train
    m = int(round(n * E.extra_fraction))
    k_modes = gm.n_components
    blocks = cfg.model.blocks[0]
    seeds = cfg.training_seeds()
    rows, cells, conv0 = [], [], {}

    def keyed(key: jax.Array, seed: int) -> jax.Array:
        return key if len(seeds) == 1 else jax.random.fold_in(key, 7919 + seed)

    def generation(seed: int, data, g: int, salt: int, desc: str):
        net = build_net(cfg.model, gm.dim, key=net_key(seed, 100 + g), blocks=blocks)
        desc = desc if len(seeds) == 1 else f"seed {seed} {desc}"
        cname = desc.replace(" ", "_")
        snaps = convergence.snapshots_for(cfg, gm, ws, cname) if g == 0 else None  # generation 0 learns the data
        model, tlog = train(cfg, net, data, seed=seed + g if len(seeds) == 1 else 1000 * seed + g, progress=progress,
                            desc=desc, workspace=ws, name=cname,
                            snapshot_at=snaps.steps if snaps else (), on_snapshot=snaps)
        key = keyed(jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(E.seed), g), salt), seed)
        x, traj = draw(model, gm.dim, n + m, key=key, loss=cfg.loss, E=E)
        meas = measure(x, traj, gm, E, windows=False)
        if snaps is not None:
            tlog = {**tlog, "convergence": convergence.report(x, gm, E.tail, snaps)}
        score = np.asarray(hm.window_statistic(traj[-E.window:], E.stat))
        return np.asarray(x), score, meas, tlog

    for seed in seeds:
        gen0 = generation(seed, real, 0, 0, "gen 0")
        conv0[str(seed)] = gen0[3]["convergence"]
        log(f"seed {seed} gen 0: {convergence.brief(conv0[str(seed)])}")
        for r_i, rule in enumerate(R.rules):
            data = real
            for g in range(R.generations):
                x, score, meas, tlog = gen0 if g == 0 else generation(seed, data, g, r_i + 1, f"{rule} gen {g}")
                key = keyed(jax.random.fold_in(jax.random.PRNGKey(E.seed + 1), 100 * r_i + g), seed)
                keep = select(rule, score, n, key=key)
                kept_split = hm.support_split(x[keep], gm, E.tail)
                occ = np.asarray(meas["mode_occupancy"])
                mass = hm.mode_mass(x, gm)
                s = meas["split"]
                rows.append({"seed": seed, "rule": rule, "generation": g, "n_drawn": n + m, "n_kept": n,
                             "out_fraction": s["out_fraction"], "out_fraction_se": s["out_fraction_se"],
                             "between_fraction": s["between_fraction"], "beyond_fraction": s["beyond_fraction"],
                             "kept_out_fraction": kept_split["out_fraction"],
                             "auc": (meas["detector"] or {}).get("auc"),
                             "modes_alive": int(np.sum(mass >= ALIVE / k_modes)),
                             "modes_real": int(np.sum(occ >= ALIVE / k_modes)),
                             "min_mode_weight": float(mass.min()), "max_mode_weight": float(mass.max()),
                             "mode_weight_cv": float(mass.std() / max(mass.mean(), 1e-12)),
                             "mode_mass": mass.tolist(),
                             "train_s": tlog["train_s"], "final_loss": tlog["final_loss"],
                             "mode_occupancy": occ.tolist()})
                cells.append({"seed": seed, "rule": rule, "generation": g, **meas, "train": tlog})
                log(f"seed {seed} {rule} gen {g}: out {s['out_fraction']:.4f} (kept {kept_split['out_fraction']:.4f}), "
                    f"modes alive {rows[-1]['modes_alive']}/{k_modes} (real at {rows[-1]['modes_real']})")
                data = EmpiricalData(x[keep], float(gm.mode_std()))
    flat = [{k: v for k, v in r.items() if k not in ("mode_occupancy", "mode_mass")} for r in rows]
    figures = {f"recursive_{name}": report.recursive_figure(rows, k_modes),
               f"mode_weights_{name}": report.occupancy_figure([r for r in rows if r["seed"] == seeds[0]], k_modes)}
    return Results({"data": name, "n_keep": n, "n_extra": m, "seeds": list(seeds),
                    "generation0_convergence": conv0[str(seeds[0])], "generation0_convergence_by_seed": conv0,
                    "generations": rows, "cells": cells, "summary": flat},
                   figures=figures)

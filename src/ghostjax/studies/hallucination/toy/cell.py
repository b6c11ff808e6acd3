"""The hallucination study as a sweep cell (sweeps/hallucination.py): train one DDPM network on one
data set and measure how many of its samples fall between or beyond the modes, and how well the
trajectory-variance detector finds them.

  Cell       the cell's settings: the study's tables (data, model, loss, optim, train, eval) and the
             network variant: `blocks` (AithalMLP shared | independent, replaces model.blocks),
             `target` (dsm | exact: regression on the mixture's exact score) and `source` (fixed
             training set | fresh mixture draws)
  METRICS    the columns `cell` returns
  cell(s, workspace, name)   train (checkpoints in workspace.checkpoints(name), resumed when one is
             there), sample, measure; (metrics row, curves)

The work is the basic task's: data.mixture / training_set, nets.build_net, fitting.train,
evaluate.draw (the DDPM sampler with the x̂0 window) and evaluate.measure (support split,
detector), summary.row. Keys are the basic task's (net_key(train.seed), eval.seed folded as for its
first data set), so a cell's samples are those of `task = "basic"` with the same one data set, block
and seed. Metrics (sample fractions ± binomial se):
  out/between/beyond_fraction(_se)   census-based support split of the network's samples
  auc(_se), detection_at_retention(_se), selection_removed_out, ...   the detector (eval.window, eval.stat)
  exact_*_fraction                   the same split of the exact score's samples through the same
                                     sampler (eval.exact; the floor)
  between_per_gap                    between_fraction / (K − 1) (the gap task's trend variable)
  convergence                        toy/convergence.report: mode widths / weights of the samples and
                                     the out-of-support fraction at 0.8T, 0.9T, T (None when
                                     eval.convergence_samples = 0); converged, widths_ok, ... its
                                     flat columns (toy/convergence.COLUMNS)
  score_err_t1/t10/t50               1-D: ε-space error σ²(s − s*)² between the outer modes
"""

from __future__ import annotations

import time
from typing import Literal

import jax
import numpy as np
import pydantic

from ....config import Section
from ....losses import Loss
from ....metrics import hallucination as hm
from ....runio import Workspace
from ....training import Optim
from . import config as H
from . import convergence
from .data import label as data_label, mixture, training_set
from .evaluate import draw, measure
from .fitting import net_key, train
from .nets import build_net
from .questions import score_error_between
from .summary import row as summary_row

ROW = ("in_fraction", "out_fraction", "out_fraction_se", "between_fraction", "between_fraction_se",
       "beyond_fraction", "beyond_fraction_se", "auc", "auc_se", "detection_at_retention",
       "detection_at_retention_se", "retention", "selection_removed_out", "selection_kept_in", "non_finite",
       "deep_fraction", "auc_deep", "detection_deep_at_retention")
EXACT = ("exact_out_fraction", "exact_out_fraction_se", "exact_between_fraction", "exact_beyond_fraction")
METRICS = ROW + ("n_modes", "between_per_gap", "sample_s", "train_s", "steps_s", "final_loss", "score_err_t1",
                 "score_err_t10", "score_err_t50") + EXACT + ("convergence",) + convergence.COLUMNS


class Cell(Section):
    """One cell's settings: the study's tables, and the network variant (blocks, target, source)."""

    blocks: Literal["shared", "independent"] = "shared"
    target: Literal["dsm", "exact"] = "dsm"
    source: Literal["fixed", "mixture"] = "fixed"
    data: H.Data = H.Data()
    model: H.Model = H.Model()
    loss: Loss = H.Config().loss
    optim: Optim = H.Config().optim
    train: H.HallucinationTrain = H.Config().train
    eval: H.Eval = H.Eval()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> Cell:
        if self.model.blocks != H.Model().blocks:
            raise ValueError("model.blocks: a cell trains one variant, set `blocks` instead")
        study_config(self)  # the study's own rules (DDPM loss, data kinds)
        H.Variant(name="cell", blocks=self.blocks, target=self.target, source=self.source)  # target/source rule
        return self


def study_config(s: Cell, name: str = "cell") -> H.Config:
    """The study's Config of the cell (task basic, one data set, model.blocks = (blocks,))."""
    return H.Config(name=name, task="basic", data=(s.data,), model=s.model.model_copy(update={"blocks": (s.blocks,)}),
                    loss=s.loss, optim=s.optim, train=s.train, eval=s.eval)


def cell(s: Cell, workspace: Workspace, name: str, *, label: str | None = None,
         progress: bool = False) -> tuple[dict, dict]:
    """Train, sample and measure cell `s`: (metrics row with the METRICS keys, curves {'step',
    'loss'}: the training loss). Checkpoints go to workspace.checkpoints(name); training resumes from
    one when workspace.resume and it is there. label: the progress bar's name (default `name`),
    recorded in every checkpoint as 'cell' beside workspace.meta."""
    cfg, E = study_config(s), s.eval
    desc = label or name
    gm = mixture(s.data)
    data = training_set(s.data, gm) if s.source == "fixed" else gm
    net = build_net(cfg.model, gm.dim, key=net_key(s.train.seed), blocks=s.blocks)
    ckpt, resume = workspace.checkpoints(name), workspace.resume_training(name)
    snaps = convergence.Snapshots(cfg, gm, ckpt_dir=ckpt, resume=resume)
    model, tlog = train(cfg, net, data, seed=s.train.seed, target=s.target, progress=progress, desc=desc,
                        ckpt_dir=ckpt, resume=resume, meta={**workspace.meta, "cell": desc},
                        snapshot_at=snaps.steps, on_snapshot=snaps)
    key = jax.random.fold_in(jax.random.PRNGKey(E.seed), 0)  # the basic task's keys for its first data set
    t0 = time.perf_counter()
    x, traj = draw(model, gm.dim, E.n_samples, key=jax.random.fold_in(key, 1), loss=cfg.loss, E=E)
    m = measure(x, traj, gm, E, windows=False)
    full = summary_row("cell", data_label(s.data), s.model.kind, s.train.seed, m)
    out = {k: full[k] for k in ROW}
    k = gm.n_components
    out.update(n_modes=k, between_per_gap=out["between_fraction"] / (k - 1), sample_s=round(time.perf_counter() - t0, 3),
               train_s=tlog["train_s"], steps_s=tlog["steps_s"], final_loss=tlog["final_loss"])
    conv = convergence.report(x, gm, E.tail, snaps)
    out.update(convergence=conv, **{c: convergence.columns(conv).get(c) for c in convergence.COLUMNS})
    err = score_error_between(model, gm, cfg.loss, E.sigma_cap)
    out.update({f"score_err_{t}": err.get(t) for t in ("t1", "t10", "t50")})
    if E.exact:
        ex, _ = draw(gm.score, gm.dim, E.n_samples, key=jax.random.fold_in(key, 0), loss=cfg.loss, E=E)
        sp = hm.support_split(np.asarray(ex), gm, E.tail)
        out.update(exact_out_fraction=sp["out_fraction"], exact_out_fraction_se=sp["out_fraction_se"],
                   exact_between_fraction=sp["between_fraction"], exact_beyond_fraction=sp["beyond_fraction"])
    else:
        out.update({k: None for k in EXACT})
    curve = np.asarray(tlog["loss_curve"], np.float64).reshape(-1, 2)
    return out, {"step": curve[:, 0].astype(int).tolist(), "loss": curve[:, 1].tolist()}

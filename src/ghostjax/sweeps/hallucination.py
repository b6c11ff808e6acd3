"""The hallucination cell (Aithal et al. 2024; experiments/hallucination/): train one DDPM network on
one data set and measure how many of its samples fall between or beyond the modes, and how well the
trajectory-variance detector finds them.

Settings: the study's tables (data, model, loss, optim, train, eval) plus, per cell, `blocks`
(AithalMLP variant, replaces model.blocks), `target` (dsm | exact: regression on the mixture's exact
score) and `source` (fixed training set | fresh mixture draws). Grid keys are dotted: "data.gap"
(1-D modes gap·std apart), "data.n_modes", "data.kind" (line, gaussian25, gaussian25_rotated),
"model.width", "model.depth", "train.steps", "train.seed", "blocks", ...
The study's own functions do the work: data.mixture / training_set, nets.build_net,
fitting.train (training.fit, checkpointed to <out>/cells/<id>/checkpoints, so an interrupted cell
resumes), evaluate.draw (their DDPM sampler with the x̂0 window) and evaluate.measure (support split,
detector), run.row (the flat summary row). Metrics (sample fractions ± binomial se):
  out/between/beyond_fraction(_se)   census-based support split of the network's samples
  auc(_se), detection_at_retention(_se), selection_removed_out, ...   the detector (eval.window, eval.stat)
  exact_*_fraction                   the same split of the exact score's samples through the same
                                     sampler (eval.exact; the floor)
  between_per_gap                    between_fraction / (K − 1) (the gap task's trend variable)
  score_err_t1/t10/t50               1-D: ε-space error σ²(s − s*)² between the outer modes
Each cell trains on the process's default device (no vmap over cells); cells of equal network shape
reuse the compiled training and sampling programs within the process and the persistent cache
across runs. Keys are the basic task's (net_key(train.seed), eval.seed folded as for its first data
set), so a cell's samples are those of `task = "basic"` with the same one data set, block and seed. In a multi-process run every process trains the same cell (process 0 alone writes).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Literal

import jax
import numpy as np
import pydantic
from pydantic import Field

from ..checkpoints import read_meta
from ..config import Section
from ..studies.hallucination.toy import config as H
from ..studies.hallucination.toy.data import label, mixture, training_set
from ..studies.hallucination.toy.evaluate import draw, measure
from ..studies.hallucination.toy.fitting import net_key, train
from ..studies.hallucination.toy.nets import build_net
from ..studies.hallucination.toy.questions import score_error_between
from ..studies.hallucination.toy.run import row as summary_row
from ..losses import Loss
from ..metrics import hallucination as hm
from ..training import Optim

ROW = ("in_fraction", "out_fraction", "out_fraction_se", "between_fraction", "between_fraction_se",
       "beyond_fraction", "beyond_fraction_se", "auc", "auc_se", "detection_at_retention",
       "detection_at_retention_se", "retention", "selection_removed_out", "selection_kept_in", "non_finite",
       "deep_fraction", "auc_deep", "detection_deep_at_retention")
EXACT = ("exact_out_fraction", "exact_out_fraction_se", "exact_between_fraction", "exact_beyond_fraction")


class HallucinationCell(Section):
    """One cell's settings: the study's tables, and the network variant (blocks, target, source)."""

    blocks: Literal["shared", "independent"] = "shared"
    target: Literal["dsm", "exact"] = "dsm"
    source: Literal["fixed", "mixture"] = "fixed"
    data: H.Data = H.Data()
    model: H.Model = H.Model()
    loss: Loss = Field(default_factory=H.default_loss)
    optim: Optim = Field(default_factory=H.default_optim)
    train: H.Train = H.Train()
    eval: H.Eval = H.Eval()

    @pydantic.model_validator(mode="after")
    def _rules(self) -> HallucinationCell:
        if self.model.blocks != H.Model().blocks:
            raise ValueError("model.blocks: a cell trains one variant, set `blocks` instead")
        study_config(self)  # the study's own rules (DDPM loss, data kinds)
        H.Variant(name="cell", blocks=self.blocks, target=self.target, source=self.source)  # target/source rule
        return self


def study_config(s: HallucinationCell, name: str = "cell") -> H.Config:
    """The study's Config of the cell (task basic, one data set, model.blocks = (blocks,))."""
    return H.Config(name=name, task="basic", data=(s.data,), model=s.model.model_copy(update={"blocks": (s.blocks,)}),
                    loss=s.loss, optim=s.optim, train=s.train, eval=s.eval)


def run_cell(s: HallucinationCell, cell_dir: Path, *, resume: bool, progress: bool, meta: dict) -> tuple[dict, dict]:
    """Train, sample and measure one cell; (metrics row, curves). Checkpoints in cell_dir/checkpoints."""
    cfg, E = study_config(s), s.eval
    gm = mixture(s.data)
    data = training_set(s.data, gm) if s.source == "fixed" else gm
    net = build_net(cfg.model, gm.dim, net_key(s.train.seed), blocks=s.blocks)
    model, tlog = train(cfg, net, data, seed=s.train.seed, target=s.target, progress=progress, desc=meta["cell"],
                        ckpt_dir=cell_dir / "checkpoints", resume=resume, meta=meta)
    key = jax.random.fold_in(jax.random.PRNGKey(E.seed), 0)  # the basic task's keys for its first data set
    t0 = time.perf_counter()
    x, traj = draw(model, gm.dim, E.n_samples, jax.random.fold_in(key, 1), cfg.loss, E)
    m = measure(x, traj, gm, E, windows=False)
    full = summary_row("cell", label(s.data), s.model.kind, s.train.seed, m)
    out = {k: full[k] for k in ROW}
    k = gm.n_components
    out.update(n_modes=k, between_per_gap=out["between_fraction"] / (k - 1), sample_s=round(time.perf_counter() - t0, 3),
               train_s=tlog["train_s"], final_loss=tlog["final_loss"])
    err = score_error_between(model, gm, cfg.loss, E.sigma_cap)
    out.update({f"score_err_{t}": err.get(t) for t in ("t1", "t10", "t50")})
    if E.exact:
        ex, _ = draw(gm.score, gm.dim, E.n_samples, jax.random.fold_in(key, 0), cfg.loss, E)
        sp = hm.support_split(np.asarray(ex), gm, E.tail)
        out.update(exact_out_fraction=sp["out_fraction"], exact_out_fraction_se=sp["out_fraction_se"],
                   exact_between_fraction=sp["between_fraction"], exact_beyond_fraction=sp["beyond_fraction"])
    else:
        out.update({k: None for k in EXACT})
    curve = np.asarray(tlog["loss_curve"], np.float64).reshape(-1, 2)
    return out, {"step": curve[:, 0].astype(int).tolist(), "loss": curve[:, 1].tolist()}


class HallucinationKind:
    name = "hallucination"
    schema = HallucinationCell
    batched = False
    hidden = ("model.blocks",)  # replaced by `blocks`
    metrics = ROW + ("n_modes", "between_per_gap", "sample_s", "train_s", "final_loss", "score_err_t1",
                     "score_err_t10", "score_err_t50") + EXACT
    figure_metrics = ("out_fraction", "between_fraction", "beyond_fraction", "auc", "detection_at_retention",
                      "exact_out_fraction")

    def static_key(self, s: HallucinationCell) -> tuple:
        return ("hallucination", s.data.kind, s.model.kind, s.model.width, s.model.depth, s.blocks)

    def check(self, s: HallucinationCell, ctx) -> None:
        return None

    def run(self, cells: list, batch: int, ctx) -> list:
        out = []
        for cell in cells:
            with tempfile.TemporaryDirectory() as tmp:
                cell_dir = ctx.out / "cells" / cell.id if ctx.writer else Path(tmp)
                resume = read_meta(cell_dir / "checkpoints") is not None
                out.append(run_cell(cell.settings, cell_dir, resume=resume, progress=ctx.progress and ctx.writer,
                                    meta={"sweep_cell": cell.label, "cell": cell.label}))
        return out


KIND = HallucinationKind()

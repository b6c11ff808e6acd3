"""Whether each trained network of the study has converged (metrics.convergence), measured while it
trains: `Snapshots` draws eval.convergence_samples samples of the network at the chunk ends nearest
0.8T, 0.9T and T (fitting.train's on_snapshot, fit's chunked loop) with one fixed key (the same
noise at every snapshot), and records each out-of-support fraction; `report` adds the fitted mode
widths and weights of the network's final samples (against the data's modes as the same sampler
reproduces them from the exact score: narrowed by its last x̂0 step at σ_1) and returns the verdict dict that the metrics
carry as `convergence`.

With a checkpoint folder the snapshots are also written beside the checkpoints
(convergence_snapshots.json) and read back on resume, so a run resumed past 0.8T still reports them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np
from jaxtyping import Array, Float

from ....metrics import convergence as cv
from ....metrics import hallucination as hm
from ....mixtures import GaussianMixture
from ....runio import atomic_write_json
from .config import Config
from .evaluate import ddpm_sigmas, draw

SIDECAR = "convergence_snapshots.json"


class Snapshots:
    """The out-of-support fraction of a network at its snapshot steps. `steps`: where to measure
    (cv.snapshot_steps of the run's steps and chunk); call the object as fitting.train's on_snapshot.
    `rows`: [{'step', 'out_fraction', 'out_fraction_se', 'n'}] in step order."""

    def __init__(self, cfg: Config, gm: GaussianMixture, *, steps: int | None = None, ckpt_dir: str | Path | None = None,
                 resume: bool = False):
        total = steps or cfg.train.steps
        self.cfg, self.gm, self.n = cfg, gm, cfg.eval.convergence_samples
        self.steps = cv.snapshot_steps(total, min(cfg.train.steps_per_call, total)) if self.n > 0 else ()
        self.path = None if ckpt_dir is None else Path(ckpt_dir) / SIDECAR
        self._rows: dict[int, dict] = {}
        if resume and self.path is not None and self.path.is_file():
            self._rows = {int(r["step"]): r for r in json.loads(self.path.read_text())}
        self.key = jax.random.fold_in(jax.random.PRNGKey(cfg.eval.seed), 0xC0)
        self.seconds = 0.0  # spent drawing and measuring the snapshots (this process)

    def __call__(self, step: int, model) -> None:
        t0 = time.perf_counter()
        E, loss = self.cfg.eval, self.cfg.loss
        x, _ = draw(model, self.gm.dim, self.n, key=self.key, loss=loss,
                    E=E.model_copy(update={"window": 2, "window_max": 2}))  # no detector: keep no trajectory
        xs = np.asarray(x)
        xs = np.where(np.all(np.isfinite(xs), axis=1)[:, None], xs, 1e30)
        sp = hm.support_split(xs, self.gm, E.tail)
        self._rows[int(step)] = {"step": int(step), "out_fraction": sp["out_fraction"],
                                 "out_fraction_se": sp["out_fraction_se"], "n": sp["n"]}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, self.rows)
        self.seconds += time.perf_counter() - t0

    @property
    def rows(self) -> list[dict]:
        return [self._rows[s] for s in sorted(self._rows) if s in self.steps]


def snapshots_for(cfg: Config, gm: GaussianMixture, workspace, name: str, *, steps: int | None = None) -> Snapshots:
    """The Snapshots of network `name` of a run with `workspace` (runio.Workspace or None): its sidecar
    beside the network's checkpoints, read back when that network's training resumes."""
    if workspace is None:
        return Snapshots(cfg, gm, steps=steps)
    return Snapshots(cfg, gm, steps=steps, ckpt_dir=workspace.checkpoints(name), resume=workspace.resume_training(name))


def report(x: Float[Array, "n D"], gm: GaussianMixture, tail: float, snaps: Snapshots | None) -> dict | None:
    """The `convergence` entry of a network's metrics: cv.verdict of its final samples x [n, D]
    (mode widths and weights) and the snapshots' flatness; None when snapshots are off
    (eval.convergence_samples = 0)."""
    if snaps is None or not snaps.steps:
        return None
    rows = snaps.rows
    flat = cv.flatness([r["step"] for r in rows], [r["out_fraction"] for r in rows],
                       [r["out_fraction_se"] for r in rows])
    sigma_last = float(ddpm_sigmas(snaps.cfg.loss, snaps.cfg.eval.sigma_cap)[-1])  # the sampler's x̂0 level
    modes = cv.compare_modes(cv.mode_fit(np.asarray(x), gm, tail), gm, tail, sigma_last=sigma_last)
    return {**cv.verdict(modes, flat),
            "snapshot_samples": snaps.n, "snapshot_s": round(snaps.seconds, 2)}


def brief(c: dict | None) -> str:
    """One line for the run's log: 'converged yes/no (widths ok, weights 4.1 se, flat ok)'."""
    if not c:
        return "convergence not measured"
    m = c["modes"]
    word = {True: "yes", False: "no", None: "n/a"}[c["converged"]]
    flat = c["flat"]
    return (f"converged {word} (widths {'ok' if c['widths_ok'] else 'off'} max dev {m['width_dev_max']}, "
            f"weights {'ok' if c['weights_ok'] else 'off'} max {m['weight_z_max']} se, flat "
            f"{ {True: 'ok', False: 'no', None: 'n/a'}[c['flat_ok']] } spread {flat['spread']} ± {flat['spread_se']})")


COLUMNS = ("converged", "widths_ok", "weights_ok", "flat_ok", "width_dev_max", "weight_z_max", "out_spread",
           "out_spread_se")


def columns(c: dict | None) -> dict:
    """The flat summary columns (COLUMNS) of a `report` result; {} when not measured."""
    if not c:
        return {}
    return {"converged": c["converged"], "widths_ok": c["widths_ok"], "weights_ok": c["weights_ok"],
            "flat_ok": c["flat_ok"], "width_dev_max": c["modes"]["width_dev_max"],
            "weight_z_max": c["modes"]["weight_z_max"], "out_spread": c["flat"]["spread"],
            "out_spread_se": c["flat"]["spread_se"]}

"""Score magnitudes at real and blind (ghost) corners as functions of σ: ‖s_joint‖, ‖s_fact‖ and
their ratio, for balanced and asymmetric weights, unequal variances and more modes. Reports the
σ/σ_data at which the ratio at a blind corner equals the seed's 80× and 3000×."""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np

from pydantic import Field, model_validator

from ... import plots
from ...config import Section
from ...metrics.gaps import score_magnitudes
from ...metrics.peaks import crossing
from ...mixtures import GaussianMixture, all_corners, random_corners
from .. import Results, no_progress
from .._common import require, rows
from .claims import blind_corners as claims  # noqa: F401 (the study's rows of docs/REPRODUCTION.md)


class Config(Section):
    study: Literal["blind_corners"] = "blind_corners"
    seed: int = 0
    dim: int = Field(3, ge=1)
    std: float = Field(0.3, gt=0)
    asym_weight: float = Field(0.95, gt=0, lt=1)
    std_ratio: float = Field(2.0, gt=0)
    more_dim: int = Field(4, ge=1)
    more_k: int = Field(4, ge=1)
    high_dim: int = Field(8, ge=1)
    sigma_lo: float = Field(0.05, gt=0)     # in units of σ_data
    sigma_hi: float = Field(30.0, gt=0)
    n_sigma: int = Field(241, ge=1)
    ratios: tuple[float, ...] = (80.0, 3000.0)

    @model_validator(mode="after")
    def _rules(self):
        require(self.sigma_lo < self.sigma_hi, "sigma_lo: must be below sigma_hi")
        require(max(self.dim, self.more_dim, self.high_dim) <= 12, "dim: blind corners are enumerated, D <= 12")
        require(self.more_k < 2**self.more_dim, "more_k: leaves no blind corner")
        return self


def cases(cfg: Config) -> dict:
    d, s, r = cfg.dim, cfg.std, cfg.std_ratio
    two = np.stack([np.ones(d), -np.ones(d)])
    return {
        f"balanced D={d}": GaussianMixture.opposite_corners(d, s, 0.5),
        f"{round(100 * cfg.asym_weight)}/{round(100 - 100 * cfg.asym_weight)} D={d}":
            GaussianMixture.opposite_corners(d, s, cfg.asym_weight),
        f"stds {2 * s / (1 + r):.2g}/{2 * s * r / (1 + r):.2g} D={d}":
            GaussianMixture(two, None, np.array([2 * s / (1 + r), 2 * s * r / (1 + r)])),
        f"k={cfg.more_k} random D={cfg.more_dim}":
            GaussianMixture.hypercube(cfg.more_dim, random_corners(jax.random.key(cfg.seed), cfg.more_dim, cfg.more_k), std=s),
        f"balanced D={cfg.high_dim}": GaussianMixture.opposite_corners(cfg.high_dim, s, 0.5),
    }


def _corners(gm: GaussianMixture):
    """Real corners (the modes) and blind corners (all other corners of the product's support)."""
    mu = np.sign(np.asarray(gm.means, np.float64))
    allc = all_corners(gm.dim)
    seen = np.array([[c in set(mu[:, i]) for i, c in enumerate(row)] for row in allc]).all(1)
    real = {tuple(m) for m in mu.tolist()}
    blind = np.array([c for c, ok in zip(allc, seen) if ok and tuple(c.tolist()) not in real]).reshape(-1, gm.dim)
    return mu, blind


def run(cfg: Config, *, progress=no_progress, resume=None) -> Results:
    metrics, curve_rows = {"cases": {}}, []
    series_ratio, series_mag = {}, {}
    for name, gm in progress(cases(cfg).items(), desc="cases", total=5):
        sd = float(gm.mode_std())
        sig = np.geomspace(cfg.sigma_lo, cfg.sigma_hi, cfg.n_sigma) * sd
        real, blind = _corners(gm)
        if len(blind) == 0:  # the corners share signs so that the product adds nothing
            metrics["cases"][name] = {"sigma_data": sd, "n_real": len(real), "n_blind": 0}
            continue
        nj, nf = score_magnitudes(gm, np.concatenate([real, blind]), sig)
        k = len(real)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(nf > 1e-30, nj / nf, np.nan)  # float32 underflow of s_fact → undefined
        # Blind-corner summary: the corner with the smallest ratio (the most conservative reading).
        worst = k + int(np.nanargmin(np.nanmedian(ratio[k:], axis=1)))
        best = k + int(np.nanargmax(np.nanmedian(ratio[k:], axis=1)))
        cr = {}
        for lv in cfg.ratios:
            xs = [crossing(sig / sd, ratio[j], lv) for j in range(k, len(ratio))]
            xs = [x for x in xs if x is not None]
            cr[f"{lv:g}"] = {"sigma_over_sigma_data_min": min(xs) if xs else None,
                             "sigma_over_sigma_data_max": max(xs) if xs else None}
        i1 = int(np.argmin(np.abs(sig / sd - 1.0)))
        fact_blind_over_real = np.median(nf[k:], axis=0) / np.median(nf[:k], axis=0)
        metrics["cases"][name] = {
            "sigma_data": sd, "n_real": k, "n_blind": len(blind),
            "ratio_crossings": cr,
            "ratio_blind_at_sigma_data": {"min": float(np.nanmin(ratio[k:, i1])), "max": float(np.nanmax(ratio[k:, i1]))},
            "fact_blind_over_real_at_sigma_data": float(fact_blind_over_real[i1]),
            "fact_blind_over_real_range": [float(np.nanmin(fact_blind_over_real)), float(np.nanmax(fact_blind_over_real))],
            "max_ratio_on_grid": float(np.nanmax(ratio[k:])),
            "ratio_at_sigma_hi": float(np.nanmedian(ratio[k:, -1])),
            # share of σ steps (where the ratio exceeds 2) on which the median blind ratio decreases
            "ratio_decreasing_share": float(np.mean(np.diff(np.nanmedian(ratio[k:], 0))[np.nanmedian(ratio[k:], 0)[1:] > 2] < 0)),
            "joint_norm_blind_at_sigma_data": float(np.median(nj[k:, i1])),
            "fact_norm_blind_at_sigma_data": float(np.median(nf[k:, i1])),
        }
        # CSV: every corner for small D; for large D the real corners and the two extreme blind ones.
        keep = range(len(real) + len(blind)) if gm.dim <= 4 else sorted(set(range(k)) | {worst, best})
        for j in keep:
            lab = "real" if j < k else "blind"
            corner = "".join("+" if v > 0 else "-" for v in np.concatenate([real, blind])[j])
            curve_rows.extend(rows(case=[name] * len(sig), kind=[lab] * len(sig), corner=[corner] * len(sig),
                                   sigma=sig, sigma_over_sigma_data=sig / sd, norm_joint=nj[j], norm_fact=nf[j],
                                   ratio=ratio[j]))
        series_ratio[f"{name}: blind (min ratio)"] = (sig / sd, ratio[worst])
        if best != worst:
            series_ratio[f"{name}: blind (max ratio)"] = (sig / sd, ratio[best])
        if name.startswith("balanced") or name.startswith(f"{round(100 * cfg.asym_weight)}/"):
            series_mag[f"{name} ‖s_joint‖ blind"] = (sig / sd, nj[worst])
            series_mag[f"{name} ‖s_fact‖ blind"] = (sig / sd, nf[worst])
            series_mag[f"{name} ‖s_fact‖ real"] = (sig / sd, nf[0])
    figs = {
        "ratio_curves": plots.curves(series_ratio, ylabel="‖s_joint‖ / ‖s_fact‖ at a blind corner", logy=True,
                                     hlines=cfg.ratios, title="Joint/factorized score ratio at blind corners"),
        "magnitudes": plots.curves(series_mag, ylabel="score norm", logy=True,
                                   title="Score magnitudes at real and blind corners"),
    }
    return Results(metrics, {"magnitudes": curve_rows}, figs)

"""The figures of the distortion study (distortion.py): distortion against d per class-count law
(error bars: the interval across mixture draws; dotted: the project's mean field), the (β, w) phase
diagram with the measured w = 0 accuracy beside theory.py's, the mean-field collapse line with β_id
(mean field, the project's own) and β_c (Biroli et al.), the unguided class posterior beside
theory.py's p_true and σ_C, and the finite-d convergence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import heatmap
from .theory import identifiability_beta

STYLE = {"fixed": "o-", "proportional": "^-", "exponential": "s-"}


def _err(r, k):
    return 0.0 if r.get(k + "_ci") is None else r[k + "_ci"]


def _vs_dim(cfg, ladder, mf_inf, floor):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, (name, label) in zip(axes, (("overshoot", "overshoot δμ_∥"), ("var_par", "ρ_∥ (along u)"),
                                        ("var_perp", "ρ_⊥ (orthogonal)"))):
        for law in cfg.laws:
            for w in cfg.ladder_ws:
                if w == 0 and name == "overshoot":
                    continue
                rs = [r for r in ladder if r["ladder"] == law.kind and r["w"] == w]
                ax.errorbar([r["d"] for r in rs], [r[name] for r in rs], yerr=[_err(r, name) for r in rs],
                            fmt=STYLE[law.kind], ms=4, capsize=2, label=f"{law.label()}, w = {w:g}")
                if name != "var_par" and w != 0:
                    k = "mf_overshoot" if name == "overshoot" else "mf_var_ratio"
                    ax.plot([r["d"] for r in rs], [r[k] for r in rs], ":", color=ax.lines[-1].get_color(), lw=1)
        if name != "var_par":
            ref = mf_inf[cfg.conv_w]["overshoot" if name == "overshoot" else "var_ratio"]
            ax.axhline(ref, color="k", ls="--", lw=1,
                       label=f"mean field (project's own) d → ∞, {cfg.law('exponential').label()}, w = {cfg.conv_w:g}")
        if name != "overshoot":
            ax.axhline(floor, color="0.5", ls="-.", lw=1, label="sampler floor (w = 0, exact class)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"CFG distortion vs dimension, mean ± 95 % t-interval over {cfg.draws} mixture draws "
                 "(dotted: the project's mean field at the same M)", fontsize=10)
    fig.tight_layout()
    return fig


def _phase(cfg, classes, phase):
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    rs_, ws = list(cfg.phase_beta_ratios), list(cfg.phase_ws)
    for ax, (name, title) in zip(axes[:3], (("overshoot", "overshoot δμ_∥"), ("var_par", "ρ_∥"),
                                            ("accuracy", "class accuracy"))):
        z = np.array([[next(r[name] for r in phase if r["beta_ratio"] == b and r["w"] == w) for w in ws] for b in rs_])
        heatmap(ax, ws, rs_, z, xlabel="w", ylabel="β / β_c", title=f"{title}, d = {cfg.phase_dim}, M = e^(β d)")
    ax = axes[3]
    r0 = sorted((r for r in phase if r["w"] == 0.0), key=lambda r: r["beta_ratio"])
    if r0:
        ax.errorbar([r["beta_ratio"] for r in r0], [r["accuracy"] for r in r0], yerr=[_err(r, "accuracy") for r in r0],
                    fmt="o-", capsize=2, label="measured (w = 0)")
        ax.plot([r["beta_ratio"] for r in r0], [r["theory_accuracy_0"] for r in r0], "k:",
                label="Biroli et al. theory (finite d, M)")
    ax.axvline(1.0, color="tab:red", ls="--", lw=1, label="β_c (d → ∞)")
    ax.set_xlabel("β / β_c")
    ax.set_ylabel("class accuracy at w = 0")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"unguided accuracy, d = {cfg.phase_dim}", fontsize=9)
    fig.tight_layout()
    return fig


def _phase_mf(cfg, classes, phase, betas, w_c, beta_c):
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    wc = np.array([np.nan if v is None else v for v in w_c], np.float64)
    ax.plot(betas, wc, "k-", label="mean field (project's own): smallest w whose guided particle collapses")
    b_id = classes.mean_std**2 / (2 * (classes.mean_std**2 + classes.std**2))
    ax.axvline(b_id, color="tab:orange", ls="--", label=f"β_id = {b_id:.3f}, mean field (project's own)")
    ax.axvline(beta_c, color="tab:red", ls="-", lw=1.2, label=f"β_c = ½ log(1 + m²/s²) = {beta_c:.3f} (Biroli et al.)")
    acc = {(r["beta"], r["w"]): r["accuracy"] for r in phase}
    sc = ax.scatter([b for b, _ in acc], [w for _, w in acc], c=list(acc.values()), cmap="viridis", vmin=0, vmax=1,
                    s=40, label=f"measured accuracy, d = {cfg.phase_dim}")
    plt.colorbar(sc, ax=ax)
    ax.set_xlabel("β")
    ax.set_ylabel("w")
    ax.legend(fontsize=6)
    ax.set_title("Collapse line (mean field), thresholds and measured accuracy", fontsize=9)
    fig.tight_layout()
    return fig


def _speciation(cfg, post, theory):
    laws = [law for law in cfg.laws if any(k == law.kind for k, _, _ in post)]
    fig, axes = plt.subplots(1, len(laws), figsize=(5.6 * len(laws), 4.2), squeeze=False)
    for ax, law in zip(axes[0], laws):
        for i, d in enumerate(law.dims):
            col = f"C{i % 10}"
            if (law.kind, d, 0.0) in post:
                s, p = post[(law.kind, d, 0.0)]
                ax.plot(s, p, "-", color=col, label=f"d = {d}, M = {law.count(d)}: measured w = 0")
            for w in cfg.ladder_ws:
                if w != 0 and (law.kind, d, w) in post:
                    s, p = post[(law.kind, d, w)]
                    ax.plot(s, p, "--", color=col, lw=0.8)
            th = theory.get((law.kind, d))
            if th is not None:
                ax.plot(th["sigma"][1:], th["p_true"][1:], ":", color=col, lw=1.6)
                if np.isfinite(th["sigma_C"]) and th["sigma_C"] > 0:
                    ax.axvline(th["sigma_C"], color=col, lw=0.8, ls="-.")
        ax.set_xscale("log")
        ax.set_xlabel("σ")
        ax.set_ylabel("mean P(c | x_σ)")
        ax.set_title(f"{law.label()}: solid measured w = 0, dashed w = {cfg.conv_w:g}, dotted Biroli et al. "
                     "p_true, dash-dot σ_C", fontsize=7)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _convergence(cfg, conv):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    c = conv["overshoot"]
    ax.plot(c["dims"], c["rel_dev_from_fit_limit"], "o-", label="overshoot vs its fitted limit")
    if c["rel_dev_from_mean_field"] is not None:
        ax.plot(c["dims"], c["rel_dev_from_mean_field"], "s-", label="overshoot vs mean field (project's own)")
    v = conv["var_par"]
    ax.plot(v["dims"], v["rel_dev_from_fit_limit"], "^-", label="ρ_∥ vs its fitted limit (of the distortion)")
    ax.axhline(cfg.tolerance, color="k", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel("relative deviation")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(f"{cfg.law('exponential').label()}, w = {cfg.conv_w:g} (dotted: {cfg.tolerance:.0%})", fontsize=9)
    ax = axes[1]
    s = conv["speciation"]
    ok = [(d, y, e) for d, y, e in zip(s["dims"], s["measured_w0"], s["ci"]) if y is not None]
    if ok:
        ax.errorbar([o[0] for o in ok], [o[1] for o in ok], yerr=[o[2] or 0 for o in ok], fmt="o-", capsize=2,
                    label="measured σ_S (w = 0)")
    ax.plot(s["dims"], [np.nan if x is None else x for x in s["finite_d_theory"]], "k:",
            label="Biroli et al., finite (d, M)")
    if s["rem_sigma_C_d_inf"] is not None:
        ax.axhline(s["rem_sigma_C_d_inf"], color="tab:red", ls="--", label="Biroli et al. σ_C (d → ∞)")
    if s["mean_field_sigma_c"] is not None:
        ax.axhline(s["mean_field_sigma_c"], color="tab:orange", ls="-.", label="mean field σ_c (project's own)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d")
    ax.set_ylabel("unguided speciation σ")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title("Which theory the unguided collapse approaches", fontsize=9)
    fig.tight_layout()
    return fig


def figures(cfg, classes, ladder, phase, post, theory, conv, mf_inf, floor, betas, w_c) -> dict:
    """{name: figure} of the study (see the module doc)."""
    figs = {"distortion_vs_dim": _vs_dim(cfg, ladder, mf_inf, floor),
            "phase_diagram": _phase(cfg, classes, phase),
            "phase_mean_field": _phase_mf(cfg, classes, phase, betas, w_c,
                                          identifiability_beta(classes.mean_std, classes.std)),
            "convergence": _convergence(cfg, conv)}
    if post:
        figs["speciation"] = _speciation(cfg, post, theory)
    return figs

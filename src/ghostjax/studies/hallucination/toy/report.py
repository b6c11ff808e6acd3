"""Figures of the hallucination study (plain matplotlib Figures; nothing here selects a backend)."""

from __future__ import annotations

import numpy as np

IN_COLOR, BETWEEN_COLOR, BEYOND_COLOR = "C0", "C3", "C1"


def _figure(nrows: int, ncols: int, w: float = 4.0, h: float = 3.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows))
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def samples_figure(panels: list[tuple[str, np.ndarray, np.ndarray | None]], means: np.ndarray, title: str):
    """One panel per (title, samples [N, D], labels [N] or None): log-count histograms in 1-D over the
    mode positions, scatter plots in 2-D coloured in / between / beyond."""
    d = panels[0][1].shape[1]
    fig, axes = _figure(1, len(panels), 4.2, 3.6)
    lo, hi = float(means.min()) - 0.6, float(means.max()) + 0.6
    for ax, (name, x, lab) in zip(axes[0], panels):
        ok = np.all(np.isfinite(x), axis=1)
        x, lab = x[ok], (lab[ok] if lab is not None else None)
        if d == 1:
            counts, _, _ = ax.hist(x[:, 0], bins=np.linspace(lo, hi, 241), color="0.3")
            if np.any(counts > 0):
                ax.set_yscale("log")
            for m in means[:, 0]:
                ax.axvline(m, color="r", lw=0.5, alpha=0.5)
            ax.set_xlabel("x")
        else:
            if lab is None:
                ax.scatter(x[:, 0], x[:, 1], s=0.3, c="0.3", alpha=0.5, rasterized=True)
            else:
                for code, c in ((0, IN_COLOR), (1, BETWEEN_COLOR), (2, BEYOND_COLOR)):
                    sel = lab == code
                    ax.scatter(x[sel, 0], x[sel, 1], s=0.3 if code == 0 else 2.0, c=c, alpha=0.6, rasterized=True)
            ax.scatter(means[:, 0], means[:, 1], marker="+", c="k", s=12, lw=0.5)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal")
        if lab is not None:
            name += f"\nin {np.mean(lab == 0):.4f} · between {np.mean(lab == 1):.4f} · beyond {np.mean(lab == 2):.4f}"
        ax.set_title(name, fontsize=7)
    fig.suptitle(title + ("" if d == 1 else "  (blue in support, red between modes, orange beyond)"), fontsize=9)
    fig.tight_layout()
    return fig


def roc_figure(curves: list[tuple[str, dict]], title: str = "trajectory-variance detector"):
    """ROC curves {name: {'fpr', 'tpr'}} with the 96 % retention line."""
    fig, axes = _figure(1, 1, 4.4, 4.0)
    ax = axes[0, 0]
    for name, roc in curves:
        ax.plot(roc["fpr"], roc["tpr"], lw=1, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.5)
    ax.axvline(0.04, color="0.5", lw=0.5, ls="--")
    ax.set(xlabel="false-positive rate (in-support flagged)", ylabel="detection rate (out-of-support flagged)",
           title=title)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def recursive_figure(rows: list[dict], k_modes: int):
    """Out-of-support fraction per generation per rule, and the number of live modes / smallest mode
    weight. With several training seeds (rows' `seed`): one thin line per seed and chain, and the
    rule's mean over seeds with the seeds' standard deviation as its error bar."""
    fig, axes = _figure(1, 3, 4.2, 3.4)
    seeds = sorted({r.get("seed", 0) for r in rows})
    for c, rule in enumerate(sorted({r["rule"] for r in rows})):
        color = f"C{c}"
        chains = [sorted((r for r in rows if r["rule"] == rule and r.get("seed", 0) == s), key=lambda r: r["generation"])
                  for s in seeds]
        for rs in chains:
            g = [r["generation"] for r in rs]
            kw = {"color": color, "marker": "o", "ms": 3}
            if len(seeds) == 1:
                axes[0, 0].errorbar(g, [r["out_fraction"] for r in rs], yerr=[r["out_fraction_se"] for r in rs],
                                    capsize=2, label=rule, **kw)
            else:
                axes[0, 0].plot(g, [r["out_fraction"] for r in rs], lw=0.5, alpha=0.5, **{**kw, "ms": 1.5})
            axes[0, 1].plot(g, [r["modes_alive"] for r in rs], label=rule if rs is chains[0] else None, **kw)
            axes[0, 2].semilogy(g, [max(r["min_mode_weight"], 1e-5) for r in rs], label=rule if rs is chains[0] else None,
                                **kw)
        if len(seeds) > 1:
            frac = np.array([[r["out_fraction"] for r in rs] for rs in chains if len(rs) == len(chains[0])])
            axes[0, 0].errorbar(range(frac.shape[1]), frac.mean(0), yerr=frac.std(0, ddof=1), color=color, marker="o",
                                ms=3, capsize=2, label=f"{rule}: mean ± sd over {frac.shape[0]} seeds")
    axes[0, 0].set(xlabel="generation", ylabel="out-of-support fraction", title="hallucinations per generation")
    axes[0, 1].set(xlabel="generation", ylabel=f"modes with ≥ 20 % of 1/K nearest (K = {k_modes})", title="live modes")
    axes[0, 2].set(xlabel="generation", ylabel="smallest mode mass (nearest-mode share)", title="mode weights drift")
    axes[0, 2].axhline(1.0 / k_modes, color="k", lw=0.5, ls=":")
    for ax in axes[0]:
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def occupancy_figure(rows: list[dict], k_modes: int):
    """Mode masses (share of samples nearest each mode) per generation, one panel per rule."""
    rules = sorted({r["rule"] for r in rows})
    fig, axes = _figure(1, len(rules), 4.0, 3.2)
    for ax, rule in zip(axes[0], rules):
        rs = sorted((r for r in rows if r["rule"] == rule), key=lambda r: r["generation"])
        mat = np.array([r["mode_mass"] for r in rs]) * k_modes
        im = ax.imshow(mat, aspect="auto", cmap="viridis", vmin=0, vmax=2, interpolation="nearest")
        ax.set(xlabel="mode", ylabel="generation", title=f"{rule}: weight × K")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def trend_figure(rows: list[dict], fits: dict):
    """Out-of-support (between) fraction vs gap in stds, one line per number of modes, with the fit."""
    fig, axes = _figure(1, 2, 4.4, 3.6)
    for k in sorted({r["n_modes"] for r in rows}):
        rs = sorted((r for r in rows if r["n_modes"] == k), key=lambda r: r["gap"])
        g = np.array([r["gap"] for r in rs])
        y = np.array([max(r["between_per_gap"], 1e-5) for r in rs])
        axes[0, 0].semilogy(g, y, marker="o", ms=3, label=f"K = {k}")
        f = fits.get(str(k))
        if f and f.get("slope") is not None:
            gg = np.linspace(g.min(), g.max(), 50)
            axes[0, 0].semilogy(gg, np.exp(f["intercept"] + f["slope"] * gg), "k:", lw=0.7)
    axes[0, 0].set(xlabel="gap between adjacent modes (stds)", ylabel="between-mode fraction per gap",
                   title="interpolation vs gap")
    axes[0, 0].legend(fontsize=6)
    for gap in sorted({r["gap"] for r in rows}):
        rs = sorted((r for r in rows if r["gap"] == gap), key=lambda r: r["n_modes"])
        axes[0, 1].plot([r["n_modes"] for r in rs], [r["between_fraction"] for r in rs], marker="o", ms=3,
                        label=f"gap {gap:g}")
    axes[0, 1].set(xlabel="number of modes K", ylabel="between-mode fraction", title="interpolation vs K")
    axes[0, 1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def bars_figure(rows: list[dict], floor: float | None, title: str):
    """Out-of-support fraction (between, beyond) per variant, with the exact score's as the floor."""
    fig, axes = _figure(1, 1, max(4.0, 0.7 * len(rows) + 1.5), 3.6)
    ax = axes[0, 0]
    names = [r["name"] for r in rows]
    b = np.array([r["between_fraction"] for r in rows])
    y = np.array([r["beyond_fraction"] for r in rows])
    ax.bar(names, b, color=BETWEEN_COLOR, label="between")
    ax.bar(names, y, bottom=b, color=BEYOND_COLOR, label="beyond")
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=0.8, label="exact score")
    ax.set_ylabel("out-of-support fraction")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig

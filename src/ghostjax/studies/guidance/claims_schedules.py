"""The claims of seed 004 and the papers it builds on about guidance schedules (Ventura et al.'s
negative window and w0 + ωt, Kynkäänniemi et al.'s limited interval, Pavasovic et al.'s power law,
Karras et al.'s autoguidance) that the schedules study tests: `schedules(runs)`, its rows of
docs/REPRODUCTION.md from its recorded run. Every number printed is read from the run."""

from __future__ import annotations


from .._claims_fmt import NOT, REP, claim, config
from .._claims_fmt import num as _f
from .._claims_fmt import pct as _pc
from .claims import NCOMP, NTEST, PAVASOVIC, VENTURA, _ci, _hi, _lo

KYNKAANNIEMI = "Kynkäänniemi et al. 2024"
KARRAS = "Karras et al. 2024"
STANDARD = ("constant", "interval", "ramp", "cosine")   # the non-negative schedules of the schedules study


def _ok(e):
    return e is not None and e["var_par"] is not None


def _family(m, family, pick=None):
    es = [e for e in m["at_target"] if e["family"] == family and _ok(e)]
    return (pick or (lambda xs: xs[0]))(es) if es else None


def _vs(m, e, k):
    """'Δ ± half' of e's k minus constant CFG's, paired over the draws, or None."""
    d = m["vs_constant"].get(e["variant"])
    return None if d is None else (d[k + "_minus_constant"], d[k + "_minus_constant_ci"] or 0.0)


def _pm_vs(m, e, k, nd=2):
    d = _vs(m, e, k)
    return "n/a" if d is None else f"{d[0]:+.{nd}f} ± {d[1]:.{nd}f}"


def _sched_regime(m):
    g = m["regime"]
    at = g["accuracy_at"]
    return (f"d = {m['dim']}, M = {m['n_classes']}, m = {_f(g['mean_std'], 3)} (exact class accuracy "
            f"{g['accuracy_0_target']:g} at w = 0 at d = {at[0]}, M = {at[1]}); every family tuned per mixture draw to "
            f"class accuracy {m['target_accuracy']:g}; mean ± 95 % t-interval over {g['draws']} draws, differences to "
            "constant CFG paired over the same draws")


def _window(m):
    """Ventura et al.: the non-negative schedules shrink ρ_∥ at equal accuracy; the negative window / w0 + ωt
    restores it (the paired difference to constant CFG above 0 and ρ_∥ closer to 1), overshoot beside."""
    std = [e for e in m["at_target"] if e["family"] in STANDARD and _ok(e)]
    neg = m["best_negative"]
    txt = "; ".join(f"{e['variant']}: ρ_∥ {_ci(e, 'var_par')}, overshoot {_ci(e, 'overshoot')}" for e in std)
    u = m["unguided"]
    txt = f"unguided ρ_∥ {_ci(u, 'var_par')}; " + txt
    shrink = all(_hi(e, "var_par") < _lo(u, "var_par") for e in std)
    ok, part = False, ""
    if neg is not None:
        d = _vs(m, neg, "var_par")
        txt += (f"; best negative ({neg['variant']}, strength {_ci(neg, 'strength_at_target')}): ρ_∥ "
                f"{_ci(neg, 'var_par')}, overshoot {_ci(neg, 'overshoot')}; vs constant (paired): Δρ_∥ "
                f"{_pm_vs(m, neg, 'var_par')}, Δ overshoot {_pm_vs(m, neg, 'overshoot')}")
        ok = d is not None and d[0] - d[1] > 0 and _lo(neg, "var_par") <= 1 <= _hi(neg, "var_par")
        c = _family(m, "constant")
        if d is not None and c is not None and u["var_par"] > c["var_par"]:
            part = (f" It recovers {_pc(d[0] / (u['var_par'] - c['var_par']))} of constant CFG's shrinkage below the "
                    f"unguided sampler's ρ_∥ {_f(u['var_par'])}.")
    verdict = REP if shrink and ok else NOT
    return (txt, verdict,
            "Every non-negative schedule leaves ρ_∥ below the unguided sampler's at equal accuracy; the late negative "
            "phase brings the variance along the class-mean direction back towards it, and the early phase, which must "
            f"then guide harder, pays for it in mean overshoot.{part} Verdict: reproduced when every standard schedule's "
            "interval lies below the unguided one and the best negative schedule's paired gain over constant CFG is "
            "above 0 beyond its interval with its ρ_∥ interval reaching 1.")


def _interval(m):
    """Kynkäänniemi et al.: guidance only in a limited σ interval keeps more variation than constant
    guidance at equal effect; here ρ_∥ at equal accuracy, paired against constant CFG."""
    e = _family(m, "interval")
    c = _family(m, "constant")
    if e is None or c is None:
        return "the interval schedule did not reach the target accuracy", NTEST, None
    d = _vs(m, e, "var_par")
    txt = (f"{e['variant']}: w {_ci(e, 'strength_at_target')}, ρ_∥ {_ci(e, 'var_par')}, overshoot "
           f"{_ci(e, 'overshoot')}; constant w {_ci(c, 'strength_at_target')}: ρ_∥ {_ci(c, 'var_par')}, overshoot "
           f"{_ci(c, 'overshoot')}; interval − constant (paired): Δρ_∥ {_pm_vs(m, e, 'var_par')}, Δ overshoot "
           f"{_pm_vs(m, e, 'overshoot')}")
    gain = d is not None and d[0] - d[1] > 0
    return (txt, REP if gain else NOT,
            "Their gain is measured in FID with learned networks on ImageNet; the exact-score proxy here is the variance "
            "kept at equal class accuracy, with their EDM2 band taken as is in σ. Verdict: reproduced when the band's "
            "paired gain in ρ_∥ over constant CFG is above 0 beyond its interval.")


def _collapse(m):
    """Ventura et al.: w0 too negative for ω in w0 + ωt collapses the sample. Read on the (w0, ω) grid:
    the cells flagged collapsed (class lost, off-target > collapse_off, or variance lost, ρ_avg <
    collapse_var) and, per w0, the smallest ω at which the class is kept."""
    c = config(m)
    ph = m["phase"]
    w0s = sorted({r["w0"] for r in ph})
    parts, bound = [], []
    for w0 in w0s:
        rs = sorted((r for r in ph if r["w0"] == w0), key=lambda r: r["omega"])
        lost = [r for r in rs if r["collapsed"]]
        kept = next((r["omega"] for r in rs if not r["collapsed"]), None)
        bound.append(kept)
        worst = rs[0]
        parts.append(f"w0 = {w0:g}: {len(lost)} of {len(rs)} ω collapsed, at ω = {worst['omega']:g} off-target "
                     f"{_ci(worst, 'off_target')}, largest single other class {_ci(worst, 'top_wrong_share')}, ρ_avg "
                     f"{_ci(worst, 'var_avg')}")
    flagged = [r for r in ph if r["collapsed"]]
    var_collapse = any(r["var_avg"] is not None and r["var_avg"] < c["collapse_var"] for r in ph)
    one_mode = any(r["top_wrong_share"] is not None and r["top_wrong_share"] > c["collapse_off"] for r in ph)
    txt = "; ".join(parts) + (f"; smallest ω keeping the class per w0 ({', '.join(f'{w:g}' for w in w0s)}): "
                              f"{', '.join('n/a' if b is None else f'{b:g}' for b in bound)}")
    monotone = flagged and all(a is None or b is None or a >= b for a, b in zip(bound, bound[1:]))
    verdict = REP if flagged and monotone and (var_collapse or one_mode) else NOT
    return (txt, verdict,
            "Too negative a w0 for its ω does break the schedule: below a boundary ω(w0) that rises as w0 falls, most "
            "particles end outside the requested class. It is not a mode collapse: the lost particles spread over the "
            "other classes (no single class takes more than a few %) and the variance grows (ρ_avg > 1) rather than "
            "shrinking; the late phase with w ≈ −1 samples the unconditional mixture. Verdict on mode collapse as "
            "measured (variance → 0 or one mode capturing the sample).")


def _power(m):
    c = _family(m, "constant")
    pls = [e for e in m["at_target"] if e["family"] == "power_law" and _ok(e)]
    if not pls or c is None:
        return "power-law guidance did not reach the target accuracy", NTEST, None
    txt = f"constant w: ρ_∥ {_ci(c, 'var_par')}, overshoot {_ci(c, 'overshoot')}; " + "; ".join(
        f"{e['variant']}: ρ_∥ {_ci(e, 'var_par')}, overshoot {_ci(e, 'overshoot')} (paired vs constant: Δρ_∥ "
        f"{_pm_vs(m, e, 'var_par')}, Δ overshoot {_pm_vs(m, e, 'overshoot')})" for e in pls)

    def both(e):
        v, o = _vs(m, e, "var_par"), _vs(m, e, "overshoot")
        return v is not None and o is not None and v[0] - v[1] > 0 and o[0] + o[1] < 0

    def sig(e, k, sign):
        v = _vs(m, e, k)
        return v is not None and sign * v[0] - v[1] > 0

    less_ov = [e["variant"] for e in pls if sig(e, "overshoot", -1)]
    more_var = [e["variant"] for e in pls if sig(e, "var_par", 1)]
    found = (f"Beyond the paired intervals, less overshoot: {', '.join(less_ov) or 'none'}; more variance along u: "
             f"{', '.join(more_var) or 'none'}.")
    return (txt, REP if any(both(e) for e in pls) else NOT,
            f"{found} Reproduced only if some α both keeps more variance (Δρ_∥ > 0) and overshoots less "
            "(Δ overshoot < 0) than CFG beyond the paired intervals.")


def _auto(m):
    a = _family(m, "autoguidance")
    c = _family(m, "constant")
    if a is None or c is None:
        return "autoguidance did not reach the target accuracy", NTEST, None
    txt = (f"{a['variant']} at w {_ci(a, 'strength_at_target')}: ρ_∥ {_ci(a, 'var_par')}, ρ_⊥ {_ci(a, 'var_perp')}, "
           f"overshoot {_ci(a, 'overshoot', 3)}; constant CFG: ρ_∥ {_ci(c, 'var_par')}, ρ_⊥ {_ci(c, 'var_perp')}")
    return (txt, NCOMP,
            "Their gain comes from the errors of a weaker network that the good network shares and extrapolates away; "
            "with exact scores and a broadened copy of the class as the weak model there is no model error, so the "
            "setting is outside their regime. Measured here: no mean shift, but the class shrinks isotropically "
            "(ρ_⊥ as low as ρ_∥), more than CFG's at the same accuracy.")


def schedules(runs):
    run = "guidance_schedules"
    return [
        claim(runs, run, seed="004", text=f"standard (non-negative) CFG schedules cannot prevent variance shrinkage; a "
              f"negative-guidance window / w(t) = w0 + ωt restores it ({VENTURA})", evaluate=_window,
              definition=lambda m: (f"{_sched_regime(m)}; standard = constant, limited interval, linear and cosine "
                                    "ramps; negative = window (w_late < 0 below t_switch) and w0 + ωt, w0 < 0")),
        claim(runs, run, seed="004", text=f"guidance applied only in a limited interval of noise levels keeps more "
              f"variation than constant guidance ({KYNKAANNIEMI})", evaluate=_interval,
              definition=lambda m: f"{_sched_regime(m)}; interval: CFG weight w for σ_lo < σ ≤ σ_hi, 0 outside"),
        claim(runs, run, seed="004", text=f"with w(t) = w0 + ωt, w0 too negative relative to ω gives mode collapse "
              f"({VENTURA})", evaluate=_collapse,
              definition=lambda m: (f"(w0, ω) grid at d = {m['dim']}, M = {m['n_classes']}, mean over "
                                    f"{m['regime']['draws']} draws; collapsed: off-target fraction (exact posterior "
                                    f"argmax at σ = 0 ≠ c) > {config(m)['collapse_off']:g} or ρ_avg < "
                                    f"{config(m)['collapse_var']:g}; one mode: a single other class takes > "
                                    f"{config(m)['collapse_off']:g}")),
        claim(runs, run, seed="004", text=f"non-linear (power-law) guidance reduces the distortions of CFG ({PAVASOVIC})",
              evaluate=_power, definition=lambda m: f"{_sched_regime(m)}; w_eff = ω (‖Δ‖/√d)^α"),
        claim(runs, run, seed="004", text=f"autoguidance improves class fidelity without CFG's loss of variety ({KARRAS})",
              evaluate=_auto,
              definition=lambda m: (f"{_sched_regime(m)}; weak model = the class with std × "
                                    f"{config(m)['auto_factor']:g}")),
    ]

"""The claims of seed 004 (Ventura et al., classifier-free guidance) that the guidance studies test:
`distortion(runs)` and `schedules(runs)`, their rows of docs/REPRODUCTION.md from their recorded
runs {run: metrics}. Every number printed is read from the runs (results, or `meta.config` for the
settings); the numbers typed here are the seed's claims and the readouts' own thresholds."""

from __future__ import annotations

import math

from .._claims_fmt import DEP, NOT, REP, approx, claim, config
from .._claims_fmt import num as _f
from .._claims_fmt import pct as _pc

ACCURACY = 0.9   # the phase readout: the first w whose class accuracy reaches this
M_LARGE = 10     # the class counts at which the mean-field collapse σ is compared


def _ladder(m, kind, w):
    return [r for r in m["ladder"] if r["ladder"] == kind and r["w"] == w]


def _conv_w(m):
    return config(m)["conv_w"]


def _max_m(m):
    """(largest class count, its d) of the e^(βd) ladder."""
    r = max((r for r in m["ladder"] if r["ladder"] == "exp"), key=lambda r: r["M"])
    return r["M"], r["d"]


def _fixed_m_vanishes(m):
    rs = _ladder(m, "fixed", _conv_w(m))
    floor = m["sampler_floor_var_ratio"]
    txt = ", ".join(f"d={r['d']}: {_f(r['overshoot'])}" for r in rs if r["d"] >= 32)
    last = rs[-1]
    mid = next((r for r in rs if r["d"] >= 64), rs[len(rs) // 2])
    slope = m["fixed_M_overshoot_loglog_slope"]
    ok = slope is not None and slope < -0.5 and last["overshoot"] < 0.15 and abs(last["var_par"] - floor) < 0.15
    return (f"M = {rs[0]['M']}, w = {_conv_w(m):g}: overshoot δμ_∥ {txt} (log-log slope {_f(slope)} over the upper half); "
            f"ρ_∥ {_f(mid['var_par'])} at d={mid['d']} → {_f(last['var_par'])} at d={last['d']} (sampler floor "
            f"{_f(floor, 3)})", REP if ok else NOT,
            "With a fixed number of classes the classes separate at σ ∝ √d (guided speciation σ "
            + ", ".join(f"{_f(r['sigma_speciation'])}" for r in rs if r["sigma_speciation"]) +
            " along the ladder); after that s(x|c) = s(x) and the exact conditional dynamics relaxes the distortion "
            "picked up before, by a factor ≈ s²/(s² + σ_s²) ∝ 1/d: the overshoot falls about as 1/d.")


def _exp_m_persists(m):
    w = _conv_w(m)
    ex, fx = _ladder(m, "exp", w), {r["d"]: r for r in _ladder(m, "fixed", w)}
    c = m["convergence"]["overshoot"]
    beta = config(m)["beta"]
    dmax = max(r["d"] for r in ex if r["d"] in fx)
    e, f = next(r for r in ex if r["d"] == dmax), fx[dmax]
    big_m, big_d = _max_m(m)
    rho = sum(r["var_par"] for r in ex) / len(ex)
    txt = ", ".join(f"d={r['d']} (M={r['M']}): {_f(r['overshoot'])}" for r in ex)
    ok = c["fit_limit"] > 0.1 and e["overshoot"] > 2 * f["overshoot"] and e["var_par"] < f["var_par"] - 0.1
    return (f"M = e^({beta:g} d), w = {w:g}: overshoot {txt}; at d={dmax}: {_f(e['overshoot'])} vs {_f(f['overshoot'])} "
            f"for M = {f['M']}, ρ_∥ {_f(e['var_par'])} vs {_f(f['var_par'])}; d → ∞: fit {_f(c['fit_limit'])}, mean field "
            f"{_f(c['mean_field_limit'])}", REP if ok else NOT,
            f"At equal d the e^(βd) ladder keeps an overshoot {_f(e['overshoot'] / max(f['overshoot'], 1e-9), 1)}× the "
            f"fixed-M one and its variance shrinkage along the class mean (ρ_∥ ≈ {rho:.1f} at every d), and its overshoot "
            f"levels off (fit {_fit_form(m)} over d ≥ {min(c['fit_dims'])}: y_∞ = {_f(c['fit_limit'])}) where fixed M keeps "
            f"falling. CPU limits M to ≈ {approx(big_m)} (d ≤ {big_d}, βd ≤ {beta * big_d:g}), so this is the onset of "
            "the e^(βd) regime, not its limit; configs/guidance_distortion_gpu.toml extends the ladder to larger d.")


def _shift_shrink(m):
    w = _conv_w(m)
    rs = _ladder(m, "exp", w) + _ladder(m, "fixed", w)
    floor = m["sampler_floor_var_ratio"]
    ov = [r["overshoot"] for r in rs]
    par = [r["var_par"] for r in rs]
    perp = [r["var_perp"] / floor - 1 for r in rs]
    cl = config(m)["classes"]
    return (f"all ladder runs at w = {w:g}: overshoot {_f(min(ov))}–{_f(max(ov))} (> 0: beyond the class mean), ρ_∥ "
            f"{_f(min(par))}–{_f(max(par))}; ρ_⊥ relative to the sampler floor {100 * min(perp):+.1f} % to "
            f"{100 * max(perp):+.1f} %", DEP,
            "The mean shift reproduces everywhere. The variance shrinks strongly along the class-mean direction u "
            "(one direction), but hardly orthogonally to it: with class means much closer than the class width per "
            f"coordinate (mean_std {cl['mean_std']:g}, std {cl['std']:g}, forced by M = e^(βd) ≤ {approx(_max_m(m)[0])} "
            "on CPU), s(x ∣ c) − s(x) has an orthogonal part of order m²/(s² + σ²) only. 'Shrinks the variance' holds "
            "along u, not for the average over directions.")


def _participation(m):
    prs = [r["pr_ratio"] for r in m["ladder"]] + [r["pr_ratio"] for r in m["phase"]]
    return (f"debiased PR of guided samples / class PR (= d): {_f(min(prs), 3)}–{_f(max(prs), 3)} over all "
            f"{len(prs)} runs (w up to {max(r['w'] for r in m['phase']):g})", NOT,
            "PR = (Σλ)²/Σλ² is dominated by the d − 1 orthogonal directions, which CFG barely changes here; shrinking "
            "one eigenvalue (along u) moves PR by O(1/d). The PR would register CFG only where the orthogonal variance "
            "shrinks, i.e. for class means comparable to the class width, which the CPU ladder cannot combine with "
            "M = e^(βd); the metric is computed (metrics.guidance.sample_participation_ratio) for the GPU configs.")


def _speciation(m):
    rs = [r for r in _ladder(m, "fixed", 0.0) if r["sigma_speciation"]]
    t = [0.5 * math.log1p(r["sigma_speciation"] ** 2) for r in rs]
    ds = [math.log(r["d"]) for r in rs]
    n = len(ds)
    slope = (n * sum(a * b for a, b in zip(ds, t)) - sum(ds) * sum(t)) / (n * sum(a * a for a in ds) - sum(ds) ** 2)
    g = _ladder(m, "exp", _conv_w(m))
    u = {r["d"]: r for r in _ladder(m, "exp", 0.0)}
    mf = m["mean_field_limit"][f"w={_conv_w(m):g}"]["sigma_collapse"]
    txt = ", ".join(f"d={r['d']}: {_f(r['sigma_speciation'])}" for r in rs)
    gtx = ", ".join(f"d={r['d']}: {_f(r['sigma_speciation'])} vs {_f(u[r['d']]['sigma_speciation'])}" for r in g)
    return (f"fixed M, unguided σ_S {txt}; slope of t_S = ½ ln(1+σ_S²) against ln d: {_f(slope)}. M = e^(βd), guided "
            f"(w = {_conv_w(m):g}) vs unguided σ_S: {gtx}; mean-field guided collapse σ {_f(mf)}",
            REP if 0.35 < slope < 0.65 else NOT,
            "Speciation measured as the σ where the particle mean of P(c ∣ x_σ) crosses (1 + w_c)/2. For fixed M it "
            "moves out as t_S ≈ ½ ln d (Pavasovic et al.); for M = e^(βd) it stays at σ = O(1), and guidance moves it "
            "to a several times larger σ, close to the mean field's guided collapse.")


def _phase(m):
    ph = m["phase"]
    betas = sorted({r["beta"] for r in ph})
    mfb, mfw = m["phase_mean_field_w_collapse"]["betas"], m["phase_mean_field_w_collapse"]["w_c"]
    parts = []
    for b in betas:
        rs = sorted((r for r in ph if r["beta"] == b), key=lambda r: r["w"])
        w90 = next((r["w"] for r in rs if r["accuracy"] >= ACCURACY), None)
        wc = min(((abs(x - b), y) for x, y in zip(mfb, mfw)), key=lambda p: p[0])[1]
        parts.append(f"β={b:g}: acc(w=0) {_f(rs[0]['accuracy'])}, first w with acc ≥ {ACCURACY:g} {w90}, mean-field "
                     f"w_c {_f(wc)}")
    d = config(m)["phase_dim"]
    return (f"d = {d}: " + "; ".join(parts) + f"; β_id = {_f(m['identifiability_beta'], 3)}", DEP,
            "Above β_id the unguided classes are not separable at σ = 0 in the mean field, and the guided particle "
            "collapses onto its class only for w above a line w_c(β) that rises from 0 at β_id: a transition in the "
            f"mean field. At d = {d} the measured accuracy crosses over smoothly in w, with the crossover moving to "
            "larger w as β grows, as the line does; a sharp transition is a d → ∞ statement the CPU ladder cannot test.")


def _finite_d(m):
    c = m["convergence"]["overshoot"]
    rel = ", ".join(f"d={d}: {_pc(x)}" for d, x in zip(c["dims"], c["rel_dev_from_mean_field"]))
    g = _ladder(m, "exp", _conv_w(m))
    mf = m["mean_field_limit"][f"w={_conv_w(m):g}"]["sigma_collapse"]
    sdev = [abs(r["sigma_speciation"] / mf - 1) for r in g if r["sigma_speciation"]]
    big = [abs(r["sigma_speciation"] / mf - 1) for r in g if r["sigma_speciation"] and r["M"] >= M_LARGE]
    ok = c["first_d_within_tol_of_mean_field"] is not None
    return (f"overshoot vs mean field {_f(c['mean_field_limit'])}: {rel} (deviation ∝ "
            f"d^{_f(c['rel_dev_from_mean_field_loglog_slope'])}, {_pc(config(m)['tolerance'])} reached at d ≈ "
            f"{_f(c['d_within_tol_of_mean_field_extrapolated'], 0)} by extrapolation); fit limit {_f(c['fit_limit'])}; "
            f"guided speciation σ within {_pc(min(sdev))}–{_pc(max(sdev))} of the mean-field collapse σ",
            REP if ok else NOT,
            "The mean field (this repository's simplification: population Gaussian score before the guided collapse, "
            "REM collapse criterion, not the paper's DMFT) places the guided collapse within "
            f"{_pc(max(big)) if big else 'n/a'} of the measured speciation σ once M ≥ {M_LARGE}, but underestimates the "
            "overshoot at every accessible d; the measured overshoot approaches it slowly (and the 1/d fit's limit lies "
            "above it), so 'within 5 % at d = 32…256' does not hold for the distortion itself.")


def _fit_form(m) -> str:
    p = config(m)["fit_exponent"]
    return "y_∞ + a/d" if p == 1 else f"y_∞ + a/d^{p:g}"


def distortion(runs):
    run = "guidance_distortion"

    def ladder_def(m):
        c = config(m)
        return (f"CFG towards one class, means ~ N(0, {c['classes']['mean_std']:g}² I), class std "
                f"{c['classes']['std']:g}, M = {c['fixed_classes']}; overshoot δμ_∥ = (x̄ − μ_c)·u/‖μ_c − μ̄‖; "
                f"ρ_∥ = variance along u / true; {c['sampler']['steps']}-step reverse SDE")

    def exp_def(m):
        c = config(m)
        return (f"as above with M = round(e^{{βd}}), β = {c['beta']:g}, d = {min(c['exp_dims'])}…{max(c['exp_dims'])}; "
                f"d → ∞ by a fit {_fit_form(m)} and by a mean field")

    return [
        claim(runs, run, seed="004", text="CFG distortions vanish as d grows for a fixed number of classes",
              evaluate=_fixed_m_vanishes, definition=ladder_def),
        claim(runs, run, seed="004", text="distortions persist when M = e^{βd} (phase transition in the class count)",
              evaluate=_exp_m_persists, definition=exp_def),
        claim(runs, run, seed="004", text="vanilla CFG shifts the mean and shrinks the variance of the class",
              evaluate=_shift_shrink,
              definition="overshoot; ρ_∥ along u; ρ_⊥ = mean variance over the d − 1 orthogonal directions / true"),
        claim(runs, run, seed="004", text="the participation ratio of the samples' covariance degrades under strong "
              "guidance", evaluate=_participation, definition="PR = (Σλ)²/Σλ², debiased for N samples, over the class's PR"),
        claim(runs, run, seed="004", text="speciation time t_S = ½ log d (fixed classes); guidance speciates earlier",
              evaluate=_speciation, definition="σ_S: where the particle mean of P(c ∣ x_σ) crosses (1 + w_c)/2 along "
                                               "the trajectory; t = ½ ln(1 + σ²)"),
        claim(runs, run, seed="004", text="a dynamical phase transition in (β, w) governs the onset of distortion",
              evaluate=_phase, definition=lambda m: (f"accuracy and distortion over β × w at d = "
                                                     f"{config(m)['phase_dim']}; mean-field guided-collapse line w_c(β)")),
        claim(runs, run, seed="004", text="mean-field predictions hold at finite d (d = 32…256) within 5 %",
              evaluate=_finite_d,
              definition=lambda m: (f"abs(δμ(d) − δμ_MF) / δμ_MF on the M = e^{{βd}} ladder, w = {_conv_w(m):g}; "
                                    "guided speciation σ vs the MF collapse σ")),
    ]


# ------------------------------------------------------------------------------------- schedules
def _sched(m, family, pick=None):
    es = [e for e in m["at_target"] if e["family"] == family and e["var_par"] is not None]
    return (pick or (lambda xs: xs[0]))(es) if es else None


def _window(m):
    c = _sched(m, "constant")
    bw = m["best_window"]
    lin = _sched(m, "linear")
    acc = m["target_accuracy"]
    txt = (f"d = {m['dim']}, M = {m['n_classes']}, class accuracy {acc:g}: constant w = {_f(c['strength_at_target'])}: "
           f"ρ_∥ {_f(c['var_par'])}, overshoot {_f(c['overshoot'])}")
    if bw:
        txt += (f"; best negative window ({bw['variant']}, w_early {_f(bw['strength_at_target'])}): ρ_∥ "
                f"{_f(bw['var_par'])}, overshoot {_f(bw['overshoot'])}")
    if lin:
        txt += (f"; w0 + ωt (w0 = {lin['w0']:g}, ω = {_f(lin['strength_at_target'])}): ρ_∥ {_f(lin['var_par'])}, "
                f"overshoot {_f(lin['overshoot'])}")
    ok = bw is not None and abs(bw["var_par"] - 1) < abs(c["var_par"] - 1) - 0.1
    return (txt, REP if ok else NOT,
            "At equal accuracy, constant guidance leaves ρ_∥ well below 1, while a late negative window (and the linear "
            "schedule with w0 < 0, which is one) brings the class-mean-direction variance back to ≈ 1; the price is a "
            "larger mean overshoot (the early phase must guide harder to reach the same accuracy). Windows that switch "
            "at σ above the guided collapse lose the class and do not reach the target accuracy.")


def _power_auto(m):
    c = _sched(m, "constant")
    pls = [e for e in m["at_target"] if e["family"] == "power_law" and e["var_par"] is not None]
    ag = _sched(m, "autoguidance")
    txt = f"at accuracy {m['target_accuracy']:g}: CFG ρ_∥ {_f(c['var_par'])}, overshoot {_f(c['overshoot'])}; " + "; ".join(
        f"{e['variant']}: ρ_∥ {_f(e['var_par'])}, overshoot {_f(e['overshoot'])}" for e in pls)
    if ag:
        txt += f"; {ag['variant']}: ρ_∥ {_f(ag['var_par'])}, ρ_⊥ {_f(ag['var_perp'])}, overshoot {_f(ag['overshoot'], 3)}"
    return (txt, DEP,
            "Power-law guidance with α > 0 overshoots less than CFG at the same accuracy but shrinks the variance along "
            "the class mean more (α < 0 the reverse): it trades one distortion for the other rather than removing "
            "them. Autoguidance with an exact good model and a broadened copy of the same class as the weak model has no "
            "model error to correct: it adds no mean shift but shrinks the class isotropically, in every direction, "
            "which the participation ratio cannot see (it is scale-free) but ρ_⊥ does.")


def schedules(runs):
    run = "guidance_schedules"

    def sched_def(m):
        c = config(m)
        return (f"d = {c['dim']}, M = e^{{{c['beta']:g} d}}; each schedule family scanned in strength, metrics "
                f"interpolated at class accuracy {c['target_accuracy']:g}")

    return [
        claim(runs, run, seed="004", text="standard CFG schedules cannot prevent variance shrinkage; a negative-guidance "
              "window restores it", evaluate=_window, definition=sched_def),
        claim(runs, run, seed="004", text="non-linear (power-law) guidance and autoguidance reduce the distortions of CFG",
              evaluate=_power_auto,
              definition=lambda m: ("as above; w_eff = ω (‖Δ‖/√d)^α; autoguidance weak model = the class with std × "
                                    f"{config(m)['auto_factor']:g}")),
    ]

"""The claims of seeds 000 and 001 checked by `python -m ghostjax.report`: for each, the study that
measures it, the definition used, and a function metrics.json -> (measured text, verdict, note).
Verdicts: "reproduced", "not reproduced", "depends on the definition"."""

from __future__ import annotations

import math

REP, NOT, DEP = "reproduced", "not reproduced", "depends on the definition"


def _f(x, nd=2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{nd}f}" if abs(x) < 1e4 else f"{x:.2g}"


def _pc(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def _ci(p, nd=2) -> str:
    return f"{_f(p['x'], nd)} [{_f(p['lo'], nd)}, {_f(p['hi'], nd)}]"


def _case(m, prefix):
    for k, v in m["cases"].items():
        if k.startswith(prefix):
            return k, v
    raise KeyError(prefix)


def ghosts(m):
    e = m["enumeration"]
    name, c = _case(m, "balanced")
    pname, pc = _case(m, "k=3 one shared sign")
    f = c["factorized"]
    text = (f"enumeration: 2^{{D_free}}−k matches {e['n_sets'] - e['formula_mismatches']}/{e['n_sets']} random corner sets "
            f"(D ≤ 8); 2^D−k matches only {e['n_sets'] - e['seed_formula_mismatches']}/{e['n_sets']} (all misses have a "
            f"coordinate where every mode has the same sign; e.g. {pname}: {pc['count']} ghosts, not {pc['formula_2D_minus_k']}). "
            f"{name}: factorized samples on ghost corners {f['ghost_fraction']:.3f} (predicted {c['predicted_ghost_mass']:.3f}), "
            f"{len(f['per_corner'])}/{2 ** c['D']} corners occupied; joint samples on ghosts {c['joint']['ghost_fraction']:.4f}")
    ok = e["formula_mismatches"] == 0 and e["seed_formula_matches_when_all_coords_free"]
    return text, REP if ok else NOT, ("2^D − k holds exactly when every coordinate takes both signs among the k modes; "
                                      "otherwise the count is 2^{D_free} − k (smaller).")


def comparable(m):
    cases = {k: v for k, v in m["cases"].items() if v["n_blind"] > 0}
    parts = [f"{k}: {v['fact_blind_over_real_at_sigma_data']:.2f}" for k, v in cases.items()]
    rng = [v["fact_blind_over_real_range"] for v in cases.values()]
    lo, hi = min(r[0] for r in rng), max(r[1] for r in rng)
    return (f"median ‖s_fact‖ blind / real at σ = σ_data: {'; '.join(parts)} (range over all σ: {lo:.2f}–{hi:.2f})",
            REP if hi < 10 and lo > 0.1 else NOT, None)


def ratio80(m):
    name, c = _case(m, "balanced")
    x = c["ratio_crossings"]["80"]["sigma_over_sigma_data_min"]
    at = c["ratio_blind_at_sigma_data"]["min"]
    return (f"{name}: ratio = 80 at σ = {_f(x)} σ_data; the ratio falls with σ (decreasing on "
            f"{_pc(c['ratio_decreasing_share'])} of grid steps where it exceeds 2): {_f(c['max_ratio_on_grid'])} at the "
            f"smallest σ on the grid, {_f(at)} at σ = σ_data, {_f(c['ratio_at_sigma_hi'])} at the largest", DEP,
            "The blind-corner ratio ‖s_joint‖/‖s_fact‖ is not a single number: it decreases from astronomically "
            "large values at small σ (s_fact → 0 at every corner) to ≈ 1 at large σ, so any ratio in between "
            "occurs at some σ. 80× is reached at the σ quoted; the seed does not say at which σ it measured.")


def ratio3000(m):
    name, c = _case(m, "95/5")
    cr = c["ratio_crossings"]["3000"]
    at = c["ratio_blind_at_sigma_data"]
    return (f"{name}: ratio = 3000 at σ = {_f(cr['sigma_over_sigma_data_min'])}–{_f(cr['sigma_over_sigma_data_max'])} σ_data "
            f"(over the 6 blind corners); at σ = σ_data the ratio is {_f(at['min'], 0)}–{_f(at['max'], 0)}", DEP,
            f"As for 80×: the 95/5 ratio falls with σ and equals 3000 at σ ≈ {_f(cr['sigma_over_sigma_data_min'])} "
            "σ_data; the number is a choice of σ, not a property of the mixture"
            + (" (the seed plausibly evaluated it at σ = σ_data)." if cr["sigma_over_sigma_data_min"] and
               abs(cr["sigma_over_sigma_data_min"] - 1) < 0.1 else "."))


def sigma_star(m):
    p = m["per_dim"]["3"]["peaks"]
    return (f"D=3 peak σ*/σ_data: excess per dσ (σG) {_ci(p['excess_dsigma'])}; per d ln σ (σ²G) "
            f"{_ci(p['excess_dlnsigma'])}; G itself {_ci(p['G'])}",
            NOT if all(not (v["lo"] <= 0.86 <= v["hi"]) for v in p.values()) else DEP,
            f"No reading of the excess rate puts its D=3 peak near 0.86 σ_data: the peak sits at "
            f"{_f(min(v['x'] for v in p.values()))}–{_f(max(v['x'] for v in p.values()))} σ_data depending on the "
            "measure (per unit σ, per unit ln σ, or the bare gap), and 0.86 lies outside every interval.")


def wasted(m):
    s = m["summary_claim_dims"]
    d3 = m["per_dim"]["3"]["fractions_at_peak"]["excess_dsigma"]
    d3c = m["per_dim"]["3"]["fractions_at_peak_ci_ends"]["excess_dsigma"]["frac_excess_over_fact"]
    r = s["excess_dsigma"]["fractions_at_peak_range"]
    r2 = s["excess_dlnsigma"]["fractions_at_peak_range"]
    return (f"at σ*(σG), D=2…8: G/J_joint {_f(r['frac_excess_over_joint'][0])}–{_f(r['frac_excess_over_joint'][1])}; "
            f"G/J_fact {_f(r['frac_excess_over_fact'][0])}–{_f(r['frac_excess_over_fact'][1])} (D=3: {_f(d3['frac_excess_over_fact'])}, "
            f"{_f(d3c[0])}–{_f(d3c[1])} over the σ* interval); "
            f"(J_fact−J_joint)/J_fact {_f(r['frac_fact_minus_joint'][0])}–{_f(r['frac_fact_minus_joint'][1])}. "
            f"At σ*(σ²G): G/J_fact {_f(r2['frac_excess_over_fact'][0])}–{_f(r2['frac_excess_over_fact'][1])}", DEP,
            f"Excess over the joint budget (G/J_joint) stays at {_pc(r['frac_excess_over_joint'][0])}–"
            f"{_pc(r['frac_excess_over_joint'][1])} for D = 2…8 at σ*(σG)"
            f"{', never 70–78 %' if r['frac_excess_over_joint'][1] < 0.7 else ''}. Excess relative to the "
            f"factorized rate (G/J_fact) is {_pc(d3['frac_excess_over_fact'])} at D = 3 ({_pc(d3c[0])}–{_pc(d3c[1])} as σ* "
            f"moves across its interval; G/J_fact rises steeply with σ there)"
            f"{', overlapping the seed’s range,' if d3c[0] <= 0.78 and d3c[1] >= 0.70 else ''} and "
            f"moves from {_pc(r['frac_excess_over_fact'][0])} to {_pc(r['frac_excess_over_fact'][1])} across D = 2…8. "
            + ("(Ṡ_fact − Ṡ_joint)/Ṡ_fact is negative: on exact marginals the factorized dynamics produces less "
               "entropy than the joint (J_fact ≤ J_joint), so 'wastes more entropy production' is false under that "
               "reading. " if r["frac_fact_minus_joint"][1] < 0 else "") +
            "The fractions above use exact samples of p_σ. " + _traj_fractions(m))


def _traj_fractions(m) -> str:
    parts = []
    for d, t in m.get("trajectory", {}).items():
        dist = m["per_dim"][d]["fractions_at_peak"]["excess_dlnsigma"]
        parts.append(f"D={d}: G/J_joint {_pc(t['frac_excess_over_joint_traj_at_peak'])} (exact p_σ "
                     f"{_pc(dist['frac_excess_over_joint'])}), (Ṡ_fact − Ṡ_joint)/Ṡ_fact "
                     f"{_pc(t['frac_fact_minus_joint_traj_at_peak'])} (exact p_σ {_pc(dist['frac_fact_minus_joint'])})")
    if not parts:
        return ""
    return ("Along SDE trajectories (Ṡ_joint on joint-score paths, Ṡ_fact on factorized-score paths), at the trajectory peak of σ²G: " + "; ".join(parts) + ".")


def d_independence(m):
    s = m["summary_claim_dims"]
    txt = "; ".join(f"{k}: {_f(v['sigma_star_min'])}–{_f(v['sigma_star_max'])}" for k, v in s.items())
    allx = s["G"]["sigma_star_all_dims"]
    big = ", ".join(f"D={d}: {_f(x)}" for d, x in allx.items() if int(d) > 8)
    spread = {k: (v["sigma_star_max"] - v["sigma_star_min"]) / v["sigma_star_min"] for k, v in s.items()}
    fr = s["excess_dsigma"]["fractions_at_peak_range"]["frac_excess_over_fact"]
    return (f"range of σ*/σ_data over D = 2…8 — {txt}; larger D (peak of G): {big}", DEP,
            f"Relative spread of σ* over D = 2…8: G {_pc(spread['G'])}, σG {_pc(spread['excess_dsigma'])}, σ²G "
            f"{_pc(spread['excess_dlnsigma'])}. The peaks of G and of the per-dσ excess are nearly dimension-independent "
            "(they also stay put at D = 16, 32); the per-d ln σ peak drifts upward with D. The location is not 0.86 "
            f"σ_data under any of them, and the wasted fraction G/J_fact at σ* is not constant in D "
            f"({_pc(fr[0])}–{_pc(fr[1])}).")


def speciation_sqrtd(m):
    pd = m["per_dim"]
    txt = ", ".join(f"D={d}: {_f(v['sigma_S_measured'])} [{_f(v['sigma_S_measured_interval'][0])}, "
                    f"{_f(v['sigma_S_measured_interval'][1])}] (cov √(Λ−1) {_f(v['sigma_S'])}, √D {_f(v['sqrt_D'])})"
                    for d, v in pd.items())
    ok = all(v["sigma_S_measured"] and 0.7 < v["sigma_S_measured"] / v["sqrt_D"] < 1.4 for v in pd.values())
    return f"σ_S measured (clone φ midpoint): {txt}", REP if ok else NOT, None


def speciation_ratio(m):
    pd = {d: v for d, v in m["per_dim"].items() if 2 <= int(d) <= 8}
    g = [v["ratio_sigma_S_over_sigma_star"]["G"]["measured"] for v in pd.values()]
    e = [v["ratio_sigma_S_over_sigma_star"]["excess_dsigma"]["measured"] for v in pd.values()]
    c = [v["ratio_sigma_S_over_sigma_star"]["excess_dsigma"]["cov"] for v in pd.values()]
    return (f"D=2…8: σ_S(measured)/σ*(G) {_f(min(g))}–{_f(max(g))}; σ_S(measured)/σ*(σG) {_f(min(e))}–{_f(max(e))}; "
            f"σ_S(cov)/σ*(σG) {_f(min(c))}–{_f(max(c))}", DEP,
            "σ_S grows like √D while σ* does not, so σ_S/σ* is not a fixed factor: it grows ∝ √D. Whether it falls "
            "in the seed's 4–7× depends on which σ* (peak of G or of the excess rate) and which σ_S (measured or "
            "covariance) is used, and on D.")


def dist_peak(m):
    p = m["dist"]["peaks"]["G"]
    ok = p["lo"] <= 1.5 <= p["hi"] or abs(p["x"] - 1.5) < 0.1
    return f"G_dist peak σ*/σ_data = {_ci(p)} (D={m['dim']}, relative G/J_joint peaks at {_ci(m['dist']['peaks']['G_rel'])})", \
        REP if ok else NOT, None


def traj_peak(m):
    t = m["traj"]
    fine = {k: v for k, v in t.items() if v["n_steps"] >= 200}
    coarse = {k: v for k, v in t.items() if v["n_steps"] < 200}
    txt = "; ".join(f"{k}: {_ci(v['peaks']['G'])}" for k, v in fine.items())
    txt2 = "; ".join(f"{k}: {_ci(v['peaks']['G'])} (peak height ×{_f(v['peak_height_over_dist'])} of G_dist)"
                     for k, v in coarse.items())
    fx = [v["peaks"]["G"]["x"] for v in fine.values()]
    worst = min(coarse.values(), key=lambda v: v["peaks"]["G"]["x"]) if coarse else None
    far = all(not (v["peaks"]["G"]["lo"] <= 0.86 <= v["peaks"]["G"]["hi"]) for v in fine.values())
    tail = ("" if worst is None else
            f" The trajectory peak moves down to {_f(worst['peaks']['G']['x'])} σ_data only with a "
            f"{worst['n_steps']}-step {worst['method']} sampler, whose particles are off p_σ (its gap peak is "
            f"×{_f(worst['peak_height_over_dist'])} the exact one);")
    return (f"converged samplers: {txt}. Coarse SDE: {txt2}", NOT if far else REP,
            "With the exact joint score, the reverse SDE and the probability-flow ODE both transport p_σ exactly, "
            "so the particles at noise level σ are distributed as p_σ and E_traj‖s_j − s_f‖² = G_dist(σ): the two "
            f"curves are the same function and peak at the same σ ({_f(min(fx))}–{_f(max(fx))} σ_data for the "
            f"converged samplers, G_dist: {_f(m['dist']['peaks']['G']['x'])}) up to discretisation error." + tail +
            " a difference between the peaks measures the integrator's (or a learned score's) error, not a "
            "property of the data.")


def band(m):
    b = m["dist"]["band_share"]
    p = m["dist"]["peaks"]
    inside = all(0.1 <= p[k]["x"] <= 1.0 for k in ("G", "sigma_G", "sigma2_G"))
    return (f"peaks of G, σG, σ²G at {_f(p['G']['x'])}, {_f(p['sigma_G']['x'])}, {_f(p['sigma2_G']['x'])} σ_data; "
            f"share of ∫·d ln σ (σ ∈ [0.1, 30] σ_data) inside the band: G {_f(b['G'])}, σG {_f(b['sigma_G'])}, "
            f"σ²G {_f(b['sigma2_G'])}", REP if inside else NOT,
            "With exact scores the gap (on p_σ and on converged trajectories, which coincide) peaks "
            + ("above σ_data" if all(p[k]["x"] > 1.0 for k in ("G", "sigma_G", "sigma2_G")) else "partly inside the band")
            + (" and most of its weight (per d ln σ) lies outside the band" if max(b.values()) < 0.5 else "")
            + ", so this toy does not single out [σ_data/10, σ_data] as the band to upweight; whether a learned "
            "factorized model errs most there is a separate question.")


def coupling_ghosts(m):
    em = m["excess_mass"]
    gs = sorted(em, key=float)
    g0 = em[gs[0]] if float(gs[0]) == 0 else None
    return (f"D={m['dim']}: excess (ghost) mass of the product over the data, Σ_c max(q_c − p_c, 0): "
            + ", ".join(f"g={g}: {_f(em[g], 3)}" for g in sorted(set(gs[:: max(1, len(gs) // 5)] + [gs[-1]]), key=float)),
            NOT if g0 is not None and g0 < 1e-6 else REP,
            "At g = 0 the coupled data is itself a product of independent coordinates, so the factorized score is "
            "exact and there are no ghosts; the excess mass grows with g toward 1 − 2/2^D. 'Ghost modes are what "
            "happens at g = 0' is the reverse of what this model gives (every corner holds data for finite g, so "
            "the point-mode ghost count is 0 and the excess mass is the relevant measure).")


def coupling_hierarchy(m):
    sp = m["split"]
    txt = "; ".join(f"g={k}: common {_f(v['sigma_split_common'])}, single coordinate {_f(v['sigma_split_coordinate'])} "
                    f"(√λ: {_f(v['sigma_S_common_cov'])} / {_f(v['sigma_S_diff_cov'])})" for k, v in sp.items())
    pos = {k: v for k, v in m["common_splits_first"].items() if float(k) > 0}
    return (f"split σ (clone φ = ¾) — {txt}", REP if pos and all(pos.values()) else NOT,
            "For g > 0 the common mode (sign of Σ x_i) splits at a larger σ than single coordinates, as the "
            "covariance spectrum predicts (λ_common > λ_diff); at g = 0 single coordinates split first. The seed's "
            "λ± = −β ± g are not defined in the seed; the covariance eigenvalues of the common and difference modes "
            "are used instead.")


CLAIMS = [
    {"seed": "000", "study": "census", "text": "2^D − k ghost modes (k modes on corners)", "eval": ghosts,
     "definition": "ghost = corner of the product-of-marginals support holding no data; census (metrics.census, "
                   "tail 1e-3) of 4096 reverse-SDE samples (200 steps)"},
    {"seed": "000", "study": "blind_corners", "text": "factorized magnitude at blind corners comparable to real corners",
     "eval": comparable, "definition": "median ‖s_fact‖ over blind corners / over real corners"},
    {"seed": "000", "study": "blind_corners", "text": "joint score 80× larger at blind corners (balanced, D=3)",
     "eval": ratio80, "definition": "‖s_joint‖/‖s_fact‖ at a blind corner, as a function of σ"},
    {"seed": "000", "study": "blind_corners", "text": "3000× ratio with 95/5 weights", "eval": ratio3000,
     "definition": "as above, 95/5 weights, D=3"},
    {"seed": "000", "study": "entropy_production", "text": "entropy-production gap peaks at σ* ≈ 0.86 σ_data",
     "eval": sigma_star, "definition": "excess rate T_t E‖s_j − s_f‖² (= Girsanov KL rate) on exact p_σ, "
                                       "per dσ (σG) and per d ln σ (σ²G); also G"},
    {"seed": "000", "study": "entropy_production", "text": "70–78 % of entropy production wasted", "eval": wasted,
     "definition": "three fractions at σ*: G/J_joint, G/J_fact, (J_fact − J_joint)/J_fact"},
    {"seed": "000", "study": "entropy_production", "text": "σ* (and wasted fraction) independent of D, D = 2…8",
     "eval": d_independence, "definition": "bootstrap peaks per D of σG, σ²G and G; D = 2…8, 16, 32"},
    {"seed": "000", "study": "speciation", "text": "speciation at σ ~ √D", "eval": speciation_sqrtd,
     "definition": "σ where the clone probability crosses ¾ (1024 pairs, 60-step SDE); Biroli σ_S = √(Λ−1)"},
    {"seed": "000", "study": "speciation", "text": "speciation 4–7× above σ*", "eval": speciation_ratio,
     "definition": "σ_S / σ* with σ* the peak of G or of σG"},
    {"seed": "001", "study": "two_gaps", "text": "distribution-gap peak ≈ 1.5 σ_data", "eval": dist_peak,
     "definition": "G_dist(σ) = E_{p_σ}‖s_j − s_f‖², 16384 exact samples per σ"},
    {"seed": "001", "study": "two_gaps", "text": "trajectory-gap peak ≈ 0.86 σ_data", "eval": traj_peak,
     "definition": "mean ‖s_j − s_f‖² over 8192 particles at each step of a sampler driven by the exact joint score"},
    {"seed": "000, 001", "study": "two_gaps", "text": "ghost damage is worst in the band [σ_data/10, σ_data]",
     "eval": band, "definition": "peak locations of G, σG, σ²G and their share inside the band"},
    {"seed": "000", "study": "coupling", "text": "ghost modes are what happens at g = 0 (no coupling)",
     "eval": coupling_ghosts, "definition": "weights ∝ exp(g Σ_{i<j} c_i c_j); excess mass Σ_c max(q_c − p_c, 0) "
                                            "of the product of marginals q over the data p"},
    {"seed": "000", "study": "coupling", "text": "coupling g creates a hierarchy: the common mode speciates first",
     "eval": coupling_hierarchy, "definition": "σ where the clone probability of sign(Σx) and of single coordinate "
                                               "signs crosses ¾ (1024 pairs, 60-step SDE)"},
]

NOTES = [
    "## Definitions used",
    "",
    "- Entropy production (Ikeda et al. 2025, VE, f = 0): Ṡ = T_t E‖s‖² with T_t = ½ dσ²/dt. Written per unit σ "
    "it is σ E‖s‖², per unit ln σ it is σ² E‖s‖²; the peak of a rate depends on this choice, so both are reported "
    "(σG and σ²G), with the bare gap G. The excess T_t E‖s_joint − s_fact‖² is also the Girsanov KL rate "
    "½ g² E‖Δs‖² between the joint and factorized path measures.",
    "- Ṡ_joint uses J_joint = E‖s_joint‖²; Ṡ_fact uses J_fact = E‖s_fact‖², which is the same whether evaluated on "
    "p_σ or on the factorized process's own marginals (the product of marginals), because s_fact,i depends on x_i "
    "only and both have the same 1-D marginals.",
    "- Wasted fraction, three readings: G/J_joint (excess as a share of the joint budget), G/J_fact (excess "
    "relative to the factorized rate), (J_fact − J_joint)/J_fact (how much more the factorized dynamics produces).",
    "- σ_S (Biroli et al. 2024): Λ e^{−2t_S} = 1 for the OU process; in VE terms σ_S = √(Λ − 1). Measured σ_S: the "
    "start σ at which the clone probability crosses the midpoint between its two limits.",
    "- Census (metrics.census, the one definition every entry point uses): a point is at a diagonal Gaussian "
    "mode when its standardised deviations z pass max_i |z_i| ≤ t(D) and Σ z_i² ≤ c(D) (the χ²_D quantile), each "
    "failed by an exact sample of the mode with probability tail/2 (tail = 1e-3; t = 3.76, c = 17.7 at D = 3). "
    "A sample is real when it is at a data mode; otherwise a ghost when its per-coordinate snap to the nearest "
    "mode values is a product-of-marginals mode holding no data and it is at it; otherwise off-support.",
    "- Ghost (excess) mass for coupled data: Σ_c max(q_c − p_c, 0) over corners, q the product of the corner "
    "marginals of the data p (modes treated as points).",
    "",
    "## Why the two gaps coincide with exact scores",
    "",
    "The reverse SDE dx = −(dσ²/dt) s(x, σ) dt + √(dσ²/dt) dW̄ and the probability-flow ODE, driven by the exact "
    "score of p_σ and started from p_σmax, have marginal p_σ at every σ (Song et al. 2021). The trajectory gap "
    "averages ‖s_joint − s_fact‖² over those marginals, so G_traj(σ) = E_{p_σ}‖s_joint − s_fact‖² = G_dist(σ). "
    "The seed's explanation (trajectories 'have committed to a mode' at low σ while the distribution average is "
    "'diluted' over low-density regions) describes the same distribution p_σ twice: committed particles are "
    "exactly how p_σ looks at low σ. Two different peaks can only come from (i) discretisation error, "
    "(ii) an approximate (learned) score driving the sampler, or (iii) a different weighting of the same curve "
    "(per step on a non-uniform grid, per dσ, per d ln σ). The `two_gaps` study measures (i): converged SDE, "
    "ODE (Euler, Heun), EDM and DDPM grids give the same peak as G_dist; only very coarse SDE grids pull it down.",
    "",
    "By the tower property E[s_joint,i | x_i] = s_fact,i, G_dist = J_joint − J_fact (difference of Fisher "
    "informations); the `two_gaps` run checks this on its samples and checks J_fact against 1-D quadrature.",
]


# ---------------------------------------------------------------------------------- seed 004: guidance
def _ladder(m, kind, w):
    return [r for r in m["ladder"] if r["ladder"] == kind and r["w"] == w]


def _conv_w(m):
    return m["meta"]["config"]["conv_w"]


def cfg_fixed_m_vanishes(m):
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


def cfg_exp_m_persists(m):
    w = _conv_w(m)
    ex, fx = _ladder(m, "exp", w), {r["d"]: r for r in _ladder(m, "fixed", w)}
    c = m["convergence"]["overshoot"]
    beta = m["meta"]["config"]["beta"]
    dmax = max(r["d"] for r in ex if r["d"] in fx)
    e, f = next(r for r in ex if r["d"] == dmax), fx[dmax]
    txt = ", ".join(f"d={r['d']} (M={r['M']}): {_f(r['overshoot'])}" for r in ex)
    ok = c["fit_limit"] > 0.1 and e["overshoot"] > 2 * f["overshoot"] and e["var_par"] < f["var_par"] - 0.1
    return (f"M = e^({beta:g} d), w = {w:g}: overshoot {txt}; at d={dmax}: {_f(e['overshoot'])} vs {_f(f['overshoot'])} "
            f"for M = {f['M']}, ρ_∥ {_f(e['var_par'])} vs {_f(f['var_par'])}; d → ∞: fit {_f(c['fit_limit'])}, mean field "
            f"{_f(c['mean_field_limit'])}", REP if ok else NOT,
            f"At equal d the e^(βd) ladder keeps an overshoot {_f(e['overshoot'] / max(f['overshoot'], 1e-9), 1)}× the "
            f"fixed-M one and its variance shrinkage along the class mean (ρ_∥ ≈ 0.6 at every d), and its overshoot "
            f"levels off (fit y_∞ + a/d over d ≥ {min(c['fit_dims'])}: y_∞ = {_f(c['fit_limit'])}) where fixed M keeps "
            "falling. CPU limits M to ≈ 600 (d ≤ 256, βd ≤ 6.4), so this is the onset of the e^(βd) regime, not its "
            "limit; configs/guidance_distortion_gpu.toml extends the ladder to d = 512 (M ≈ 3.6e5).")


def cfg_shift_shrink(m):
    w = _conv_w(m)
    rs = _ladder(m, "exp", w) + _ladder(m, "fixed", w)
    floor = m["sampler_floor_var_ratio"]
    ov = [r["overshoot"] for r in rs]
    par = [r["var_par"] for r in rs]
    perp = [r["var_perp"] / floor - 1 for r in rs]
    return (f"all ladder runs at w = {w:g}: overshoot {_f(min(ov))}–{_f(max(ov))} (> 0: beyond the class mean), ρ_∥ "
            f"{_f(min(par))}–{_f(max(par))}; ρ_⊥ relative to the sampler floor {100 * min(perp):+.1f} % to "
            f"{100 * max(perp):+.1f} %", DEP,
            "The mean shift reproduces everywhere. The variance shrinks strongly along the class-mean direction u "
            "(one direction), but hardly orthogonally to it: with class means much closer than the class width per "
            "coordinate (mean_std 0.25, std 1, forced by M = e^(βd) ≤ 600 on CPU), s(x ∣ c) − s(x) has an orthogonal "
            "part of order m²/(s² + σ²) only. 'Shrinks the variance' holds along u, not for the average over directions.")


def cfg_participation(m):
    prs = [r["pr_ratio"] for r in m["ladder"]] + [r["pr_ratio"] for r in m["phase"]]
    return (f"debiased PR of guided samples / class PR (= d): {_f(min(prs), 3)}–{_f(max(prs), 3)} over all "
            f"{len(prs)} runs (w up to {max(r['w'] for r in m['phase']):g})", NOT,
            "PR = (Σλ)²/Σλ² is dominated by the d − 1 orthogonal directions, which CFG barely changes here; shrinking "
            "one eigenvalue (along u) moves PR by O(1/d). The PR would register CFG only where the orthogonal variance "
            "shrinks, i.e. for class means comparable to the class width, which the CPU ladder cannot combine with "
            "M = e^(βd); the metric is computed (metrics.guidance.sample_participation_ratio) for the GPU configs.")


def cfg_speciation(m):
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


def cfg_phase(m):
    ph = m["phase"]
    betas = sorted({r["beta"] for r in ph})
    mfb, mfw = m["phase_mean_field_w_collapse"]["betas"], m["phase_mean_field_w_collapse"]["w_c"]
    parts = []
    for b in betas:
        rs = sorted((r for r in ph if r["beta"] == b), key=lambda r: r["w"])
        w90 = next((r["w"] for r in rs if r["accuracy"] >= 0.9), None)
        wc = min(((abs(x - b), y) for x, y in zip(mfb, mfw)), key=lambda p: p[0])[1]
        parts.append(f"β={b:g}: acc(w=0) {_f(rs[0]['accuracy'])}, first w with acc ≥ 0.9 {w90}, mean-field w_c {_f(wc)}")
    d = m["meta"]["config"]["phase_dim"]
    return (f"d = {d}: " + "; ".join(parts) + f"; β_id = {_f(m['identifiability_beta'], 3)}", DEP,
            "Above β_id the unguided classes are not separable at σ = 0 in the mean field, and the guided particle "
            "collapses onto its class only for w above a line w_c(β) that rises from 0 at β_id: a transition in the "
            "mean field. At d = 96 the measured accuracy crosses over smoothly in w, with the crossover moving to "
            "larger w as β grows, as the line does; a sharp transition is a d → ∞ statement the CPU ladder cannot test.")


def cfg_finite_d(m):
    c = m["convergence"]["overshoot"]
    rel = ", ".join(f"d={d}: {_pc(x)}" for d, x in zip(c["dims"], c["rel_dev_from_mean_field"]))
    g = _ladder(m, "exp", _conv_w(m))
    mf = m["mean_field_limit"][f"w={_conv_w(m):g}"]["sigma_collapse"]
    sdev = [abs(r["sigma_speciation"] / mf - 1) for r in g if r["sigma_speciation"]]
    big = [abs(r["sigma_speciation"] / mf - 1) for r in g if r["sigma_speciation"] and r["M"] >= 10]
    ok = c["first_d_within_tol_of_mean_field"] is not None
    return (f"overshoot vs mean field {_f(c['mean_field_limit'])}: {rel} (deviation ∝ d^{_f(c['rel_dev_from_mean_field_loglog_slope'])}, "
            f"5 % reached at d ≈ {_f(c['d_within_tol_of_mean_field_extrapolated'], 0)} by extrapolation); fit limit "
            f"{_f(c['fit_limit'])}; guided speciation σ within {_pc(min(sdev))}–{_pc(max(sdev))} of the mean-field collapse σ",
            REP if ok else NOT,
            "The mean field (this repository's simplification: population Gaussian score before the guided collapse, "
            "REM collapse criterion, not the paper's DMFT) places the guided collapse within "
            f"{_pc(max(big)) if big else 'n/a'} of the measured speciation σ once M ≥ 10, but underestimates the "
            "overshoot at every accessible d; the measured overshoot approaches it slowly (and the 1/d fit's limit lies "
            "above it), so 'within 5 % at d = 32…256' does not hold for the distortion itself.")


def _sched(m, family, pick=None):
    es = [e for e in m["at_target"] if e["family"] == family and e["var_par"] is not None]
    return (pick or (lambda xs: xs[0]))(es) if es else None


def sched_window(m):
    c = _sched(m, "constant")
    bw = m["best_window"]
    lin = _sched(m, "linear")
    acc = m["target_accuracy"]
    txt = (f"d = {m['dim']}, M = {m['n_classes']}, class accuracy {acc:g}: constant w = {_f(c['strength_at_target'])}: "
           f"ρ_∥ {_f(c['var_par'])}, overshoot {_f(c['overshoot'])}")
    if bw:
        txt += (f"; best negative window ({bw['variant']}, w_early {_f(bw['strength_at_target'])}): ρ_∥ {_f(bw['var_par'])}, "
                f"overshoot {_f(bw['overshoot'])}")
    if lin:
        txt += f"; w0 + ωt (w0 = {lin['w0']:g}, ω = {_f(lin['strength_at_target'])}): ρ_∥ {_f(lin['var_par'])}, overshoot {_f(lin['overshoot'])}"
    ok = bw is not None and abs(bw["var_par"] - 1) < abs(c["var_par"] - 1) - 0.1
    return (txt, REP if ok else NOT,
            "At equal accuracy, constant guidance leaves ρ_∥ well below 1, while a late negative window (and the linear "
            "schedule with w0 < 0, which is one) brings the class-mean-direction variance back to ≈ 1; the price is a "
            "larger mean overshoot (the early phase must guide harder to reach the same accuracy). Windows that switch "
            "at σ above the guided collapse lose the class and do not reach the target accuracy.")


def sched_power_auto(m):
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


CLAIMS += [
    {"seed": "004", "study": "guidance_distortion", "text": "CFG distortions vanish as d grows for a fixed number of classes",
     "eval": cfg_fixed_m_vanishes,
     "definition": "CFG towards one class, means ~ N(0, 0.25² I), class std 1, M = 5; overshoot δμ_∥ = (x̄ − μ_c)·u/‖μ_c − μ̄‖; "
                   "ρ_∥ = variance along u / true; 256-step reverse SDE"},
    {"seed": "004", "study": "guidance_distortion", "text": "distortions persist when M = e^{βd} (phase transition in the class count)",
     "eval": cfg_exp_m_persists,
     "definition": "as above with M = round(e^{βd}), β = 0.025, d = 32…256; d → ∞ by a fit y_∞ + a/d and by a mean field"},
    {"seed": "004", "study": "guidance_distortion", "text": "vanilla CFG shifts the mean and shrinks the variance of the class",
     "eval": cfg_shift_shrink,
     "definition": "overshoot; ρ_∥ along u; ρ_⊥ = mean variance over the d − 1 orthogonal directions / true"},
    {"seed": "004", "study": "guidance_distortion", "text": "the participation ratio of the samples' covariance degrades under strong guidance",
     "eval": cfg_participation, "definition": "PR = (Σλ)²/Σλ², debiased for N samples, over the class's PR"},
    {"seed": "004", "study": "guidance_distortion", "text": "speciation time t_S = ½ log d (fixed classes); guidance speciates earlier",
     "eval": cfg_speciation,
     "definition": "σ_S: where the particle mean of P(c ∣ x_σ) crosses (1 + w_c)/2 along the trajectory; t = ½ ln(1 + σ²)"},
    {"seed": "004", "study": "guidance_distortion", "text": "a dynamical phase transition in (β, w) governs the onset of distortion",
     "eval": cfg_phase, "definition": "accuracy and distortion over β × w at d = 96; mean-field guided-collapse line w_c(β)"},
    {"seed": "004", "study": "guidance_distortion", "text": "mean-field predictions hold at finite d (d = 32…256) within 5 %",
     "eval": cfg_finite_d, "definition": "abs(δμ(d) − δμ_MF) / δμ_MF on the M = e^{βd} ladder, w = 2; guided speciation σ vs the MF collapse σ"},
    {"seed": "004", "study": "guidance_schedules", "text": "standard CFG schedules cannot prevent variance shrinkage; a negative-guidance window restores it",
     "eval": sched_window,
     "definition": "d = 96, M = e^{0.05 d}; each schedule family scanned in strength, metrics interpolated at class accuracy 0.95"},
    {"seed": "004", "study": "guidance_schedules", "text": "non-linear (power-law) guidance and autoguidance reduce the distortions of CFG",
     "eval": sched_power_auto,
     "definition": "as above; w_eff = ω (‖Δ‖/√d)^α; autoguidance weak model = the class with std × 2"},
]


# ---------------------------------------------------------------------------------- seed 003: hallucinations
def _rows(m, prefix):
    return {r["name"]: r for r in m["summary"] if r["name"].startswith(prefix)}


def _cell(m, name):
    return next((c for c in m["cells"] if c.get("name") == name), {})


def _pm(x, se, nd=4):
    return f"{_f(x, nd)} ± {_f(se, nd)}"


def interpolation_exists(m):
    r = _rows(m, "line_1_2_3")
    ex, sh, ind = r["line_1_2_3_exact"], r["line_1_2_3_aithal_shared_s0"], r["line_1_2_3_aithal_independent_s0"]
    tr = r["line_1_2_3_training_set"]
    z = min((x["between_fraction"] - ex["between_fraction"]) / math.hypot(x["between_fraction_se"], ex["between_fraction_se"])
            for x in (sh, ind))
    gaps = {n: _cell(m, f"line_1_2_4_5_{n}").get("gap_fractions", {}) for n in ("exact", "aithal_shared_s0",
                                                                               "aithal_independent_s0")}
    gtxt = "; ".join(f"{n.replace('aithal_', '').replace('_s0', '')} " + ", ".join(f"{k}: {_f(v, 4)}" for k, v in g.items())
                     for n, g in gaps.items())
    return (f"modes {{1, 2, 3}}: between-mode fraction {_pm(sh['between_fraction'], sh['between_fraction_se'])} (shared "
            f"blocks), {_pm(ind['between_fraction'], ind['between_fraction_se'])} (independent) vs "
            f"{_pm(ex['between_fraction'], ex['between_fraction_se'])} for the exact score through the same sampler and "
            f"{_f(tr['between_fraction'], 4)} in the training set; modes {{1, 2, 4, 5}}, share of samples in the middle "
            f"half of each gap: {gtxt}", REP if z > 5 else NOT,
            "Reproduced at the CPU budget (12,000 steps at batch 256 on the σ_t the sampler visits; the paper: 20k steps "
            "at batch 10,000): both block variants put samples between adjacent modes where neither the training set "
            "nor the exact score does (> 5 standard errors above the exact score). With {1, 2, 4, 5} the middle of the "
            "far gap 2–4 stays empty while the middles of 1–2 and 4–5 fill: interpolation is between nearby modes.")


def _detection(m, prefix, label):
    rs = [r for r in m["summary"] if r["name"].startswith(prefix) and r.get("auc") is not None
          and r["score"] not in ("exact", "training set")]
    txt = "; ".join(f"{r['score'].replace('aithal_', '')}: detection {_pm(r['detection_at_retention'], r['detection_at_retention_se'], 3)} "
                    f"at retention {_f(r['retention'], 3)}, AUC {_pm(r['auc'], r['auc_se'], 3)}, deep hallucinations "
                    f"{_f(r.get('detection_deep_at_retention'), 3)}; rule n + 2.5 %: removes {_f(r['selection_removed_out'], 3)} "
                    f"of the out-of-support samples, keeps {_f(r['selection_kept_in'], 3)} of the in-support" for r in rs)
    best = max(r["detection_at_retention"] for r in rs)
    deep = max((r.get("detection_deep_at_retention") or 0.0) for r in rs)
    return f"{label}: {txt}", REP if best >= 0.95 else DEP if deep >= 0.95 else NOT


def detector_1d(m):
    text, verdict = _detection(m, "line_1_2_3", "modes {1, 2, 3}")
    return (text, verdict,
            "With positives = all out-of-support samples (census) the detection at 96 % retention is 0.91 ± 0.02 "
            "(shared blocks) and 0.83 ± 0.03 (independent): below 95 %. With positives = the 'deep' hallucinations "
            "(farther than twice the real-zone radius from every mode, the interpolations of the paper's figures) it "
            "is 1.00: the verdict depends on what counts as a hallucination. The misses are samples just outside a "
            "mode, whose x̂0 trajectories are nearly as stable as in-support ones. For the exact score the variance over the last "
            "steps grows with the distance to the mode (x̂0 = μ + s²/(s² + σ²)(x − μ) moves as σ falls), so the "
            "detector is partly a distance-to-the-nearest-mode score. Their rule (draw n + 2.5 %, keep the n lowest) "
            "drops fewer samples than the ~1 % out of support plus the in-support ones it also drops, so it removes "
            "~70 %, not all. The paper's budget (configs/hallucination_1d_gpu.toml) is not run here.")


def detector_2d(m):
    text, verdict = _detection(m, "gaussian25_aithal", "Gaussian25")
    return text, verdict, ("At the CPU budget (20,000 steps at batch 256, a fifth of the paper's steps at a fortieth of "
                           "its batch) the Gaussian25 networks leave ~40 % of their samples out of support, mostly "
                           "widened modes and bridges along the grid lines, which the variance does not single out.")


def _gen(m, rule):
    return sorted((r for r in m["generations"] if r["rule"] == rule), key=lambda r: r["generation"])


def recursive_grows(m):
    parts, oks = [], []
    for rule in ("none", "random"):
        g = _gen(m, rule)
        if not g:
            continue
        parts.append(f"{rule}: " + " → ".join(_f(r["out_fraction"], 3) for r in g)
                     + f" (modes alive {g[0]['modes_alive']} → {g[-1]['modes_alive']})")
        oks.append(g[-1]["out_fraction"] - g[0]["out_fraction"]
                   > 3 * math.hypot(g[-1]["out_fraction_se"], g[0]["out_fraction_se"]))
    return (f"out-of-support fraction per generation, n = {m['n_keep']}: " + "; ".join(parts),
            REP if oks and all(oks) else NOT,
            "Each generation trains from scratch on the previous generation's samples; 'none' and 'random' are the "
            "same rule in distribution (two replicates). Modes alive: those holding ≥ 20 % of 1/K of the "
            "nearest-mode mass; none dies, the mass drifts and smears."
            + (f" At this CPU budget generation 0 is already {_pc(_gen(m, 'none')[0]['out_fraction'])} out of "
               "support, far from the paper's regime." if _gen(m, "none") and _gen(m, "none")[0]["out_fraction"] > 0.2
               else ""))


def recursive_filter(m):
    v, r = _gen(m, "variance"), _gen(m, "random")
    if not v or not r:
        return "needs the variance and random rules", NOT, None
    d = r[-1]["out_fraction"] - v[-1]["out_fraction"]
    se = math.hypot(r[-1]["out_fraction_se"], v[-1]["out_fraction_se"])
    return ("variance filter: " + " → ".join(_f(x["out_fraction"], 3) for x in v)
            + " vs random " + " → ".join(_f(x["out_fraction"], 3) for x in r)
            + f"; last generation {_f(v[-1]['out_fraction'], 3)} vs {_f(r[-1]['out_fraction'], 3)} (difference "
            f"{_pm(d, se, 3)}); modes alive {v[-1]['modes_alive']} vs {r[-1]['modes_alive']}",
            REP if d > 3 * se else NOT,
            "Equal sample count per generation: both rules keep n of n + 2.5 % draws."
            + (" With about half the draws out of support, dropping the 2.5 % of highest variance cannot change "
               "the next generation's data; the filter needs the paper's regime of rare hallucinations (the 1-D "
               "companion is in it)." if v[0]["out_fraction"] > 0.2 else ""))


CLAIMS += [
    {"seed": "003", "study": "hallucination_1d_full", "text": "diffusion models interpolate between nearby modes (samples "
     "outside the support)", "eval": interpolation_exists,
     "definition": "out of support = not census-real (tail 1e-3); between = inside the hull of the means pushed out by "
                   "the real-zone radius; DDPM T = 1000, β 0.001→0.2, σ_t² = β_t, 20k samples per score"},
    {"seed": "003", "study": "hallucination_1d_full", "text": "trajectory variance removes > 95 % of hallucinations while "
     "keeping > 96 % of in-support samples (1-D)", "eval": detector_1d,
     "definition": "variance of x̂0 over the last 10 steps (t = 9…0), averaged over coordinates; positives = "
                   "out-of-support samples (deep: farther than 2t stds from every mode); threshold at the 96 % "
                   "quantile of in-support scores; ± binomial / Hanley–McNeil se"},
    {"seed": "003", "study": "hallucination_2d_full", "text": "trajectory variance removes > 95 % of hallucinations while "
     "keeping > 96 % of in-support samples (Gaussian25)", "eval": detector_2d,
     "definition": "as the row above, 2-D Gaussian25 (100k training samples)"},
    {"seed": "003", "study": "recursive_2d_full", "text": "recursive training without filtering: hallucinations grow over "
     "generations", "eval": recursive_grows,
     "definition": "out-of-support fraction of each generation's n + 2.5 % draws, Gaussian25, 5 generations; "
                   "growth = last − first > 3 se"},
    {"seed": "003", "study": "recursive_2d_full", "text": "filtering by trajectory variance mitigates it",
     "eval": recursive_filter, "definition": "last generation: random − variance rule > 3 se (equal sample count)"},
    {"seed": "003", "study": "recursive_1d_full", "text": "recursive training without filtering: hallucinations grow over "
     "generations (1-D companion)", "eval": recursive_grows,
     "definition": "as above, modes {1, 2, 3}, n = 10,000 per generation"},
    {"seed": "003", "study": "recursive_1d_full", "text": "filtering by trajectory variance mitigates it (1-D companion)",
     "eval": recursive_filter, "definition": "as above, modes {1, 2, 3}"},
]


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def shapes_combinations(m):
    h, s, t = m["hallucination"], m["summary"][0], m["train"]
    n, cats = h["n"], h["categories"]
    valid = 1.0 - h["rate"]
    lo, hi = _wilson(cats["extra"], n)
    text = (f"two or more shapes in one column: {cats['extra']}/{n} = {_f(cats['extra'] / n, 3)} [{_f(lo, 3)}, "
            f"{_f(hi, 3)}]; all hallucinations {h['k']}/{n} = {_f(h['rate'], 3)} [{_f(h['ci_lo'], 3)}, "
            f"{_f(h['ci_hi'], 3)}] (Wilson 95 %; wrong shape for its column {cats['wrong_kind']}, malformed blob "
            f"{cats['malformed']}, empty {cats['empty']}); training set {m['data']['hallucinated']} of "
            f"{m['data']['n_train']}; UNet {s['n_params']} parameters, {t['steps']} steps × batch {t['batch']}, "
            f"{s['size']}×{s['size']}")
    ok = valid >= 0.5 and lo > 0
    return text, REP if ok else NOT, (
        f"{_pc(valid)} of the samples are valid images of the data set, so the network has learned the shapes; "
        "the combinations no training image has (two triangles, two squares or two pentagons in a column) are the "
        "image-level mode interpolation. CPU budget, one training seed; the paper-scale 64×64 run "
        "(configs/shapes_gpu.toml) needs an accelerator." if ok else
        f"Not established at this budget: only {_pc(valid)} of the samples are valid images of the data set, most of "
        "the rest are empty, all-white or noisy (under-training), so the combinations seen cannot be told apart from "
        "a network that has not yet learned the shapes.")


def shapes_detector(m):
    d = m["detector"]
    by = m["detector_auc_by_category"]
    levels = m["sample"]["levels"]
    text = (f"AUC {_f(d['auc'])} ± {_f(d['auc_se'])} ({d['n_pos']} hallucinated vs {d['n_neg']} valid, {levels} sampler "
            "levels; by category " + ", ".join(f"{k} {_f(v)}" for k, v in by.items() if v is not None)
            + f"); detection at {_pc(d['at_retention_retention'])} retention {_pc(d['at_retention_detection'])}")
    ws = m.get("window_study") or []
    if ws:
        best = max(ws, key=lambda r: r["auc"])
        text += (f"; best window of the study: {best['stat']} over {best['length']} levels ending {best['offset']} "
                 f"before the last, AUC {_f(best['auc'])}")
    ok = d["at_retention_detection"] > 0.95 and d["at_retention_retention"] >= 0.96
    return text, REP if ok else NOT, (
        None if ok else
        "The detector carries signal on images only with the full sampler: on the 1000 DDPM levels the x̂0 variance "
        "separates hallucinated from valid images (AUC above; empty and wrong-kind images best), far from the claimed "
        "operating point; on 100 respaced levels (docs/runs/shapes, same network) it is at chance (AUC 0.56), also "
        "with the last 20 levels kept at their original spacing (AUC 0.53, docs/RESULTS.md): respaced σ² = β steps "
        "over-disperse (tests/test_ddpm.py: +6 % variance at 100 levels), leaving noise every image denoises at the "
        "end. CPU budget (2000 steps, 32×32), one training seed; the paper's scale needs an accelerator.")


CLAIMS += [
    {"seed": "003", "study": "shapes", "text": "image level (Simple Shapes): the model generates images combining "
     "shapes in ways no training image does (several shapes in one column)", "eval": shapes_combinations,
     "definition": "classifier from the data set's rules (scipy.ndimage components, template IoU ≥ 0.8): hallucinated = "
                   "a column with > 1 shape, a shape of the wrong kind for its column, a blob that is no shape, or an "
                   "empty image; 32×32 CPU variant, DDPM T = 1000 sampled on 100 respaced levels"},
    {"seed": "003", "study": "shapes_detector", "text": "trajectory variance detects the image-level hallucinations (Simple "
     "Shapes)", "eval": shapes_detector,
     "definition": "variance of x̂0 over the last 10 of the 1000 DDPM levels, averaged over pixels; positives = "
                   "classifier-flagged images; threshold at 96 % retention of the valid ones"},
]

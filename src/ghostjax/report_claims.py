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
    "- Census (metrics.census, the one definition every entry point uses): with t(D) the per-coordinate bound, "
    "in stds, that a whole exact sample of a diagonal Gaussian mode meets with probability 1 − tail (tail = 1e-3; "
    "t = 3.59 at D = 3), a sample is real when it lies within t stds of some data mode in every coordinate; "
    "otherwise a ghost when its per-coordinate snap to the nearest mode values is a product-of-marginals mode "
    "holding no data and it lies within t stds of it; otherwise off-support.",
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

"""The claim of the learned-guidance study (docs/REPRODUCTION.md): open question 1 of seed 004
(Ventura et al. 2026), `learned(runs)` from the recorded run guidance_learned {run: metrics}. Every
number printed is read from the run (results, or `meta.config` for the settings); kept beside the
study rather than in studies/guidance/claims.py (which holds the exact-score studies' rows)."""

from __future__ import annotations

import math

from ..._claims_fmt import NOT, REP, claim, config
from ..._claims_fmt import num as _f
from ..claims import NTEST, VENTURA


def _pm(e, k, nd=2):
    """'mean ± t-half-width over the training seeds' of a guidance_learned at_target row."""
    h = e.get(k + "_ci")
    return _f(e[k], nd) if h is None else f"{_f(e[k], nd)} ± {_f(h, nd)}"


def _learned(m):
    rows = {(e["score"], e["variant"]): e for e in m["at_target"]}
    wins = [v for (s, v), e in rows.items() if s == "exact" and e["family"] == "window"]
    const = next(v for (s, v), e in rows.items() if s == "exact" and e["family"] == "constant")
    tr = m["training"]
    drift = ", ".join(f"{100 * t['last_fifth']['rel_drift']:+.2f} %" for t in tr if t["last_fifth"]["rel_drift"] is not None)
    errs = {e["sigma"]: e for e in m["score_errors_mean"]}
    s_sw = min(errs, key=lambda s: abs(math.log(s / m["t_switch_sigma"]))) if errs else None
    parts, same = [], []
    for v in [const] + wins:
        ex, le, dif = rows[("exact", v)], rows[("learned", v)], rows[("learned − exact", v)]
        if dif["var_par"] is None or dif.get("var_par_ci") is None:
            parts.append(f"{v}: not at the target accuracy on every seed")
            same.append(None)
            continue
        same.append(abs(dif["var_par"]) <= dif["var_par_ci"])
        parts.append(f"{v}: ρ_∥ exact {_pm(ex, 'var_par')}, learned {_pm(le, 'var_par')} (learned − exact "
                     f"{_pm(dif, 'var_par')}; overshoot {_pm(dif, 'overshoot')})")
    conv = (f"; loss drift over the last fifth of training {drift} (flat within {100 * config(m)['train']['flat_tol']:g} %: "
            f"{m['all_flat']})" + (f"; learned Δ = s(x|c) − s(x) relative error at σ = {s_sw:g}: "
                                   f"{_pm(errs[s_sw], 'rel_err_delta')}" if s_sw is not None else ""))
    win_same = same[1:]
    if not m["all_flat"] or not win_same or any(x is None for x in win_same):
        verdict = NTEST
    else:
        verdict = REP if all(win_same) else NOT
    head = f"d = {m['dim']}, M = {m['n_classes']}, {len(tr)} training seeds, class accuracy {m['target_accuracy']:g}: "
    return (head + "; ".join(parts) + conv, verdict,
            f"Open question 1 of {VENTURA} (seed 004): does the negative-guidance window, which restores the "
            "within-class variance with exact scores, act the same with a learned score? Reproduced when, for every "
            "window, the learned − exact difference of ρ_∥ at equal accuracy (paired by seed: same sampler noise) "
            "has a Student-t 95 % interval over the training seeds that contains 0; not testable here when a "
            "network's loss is not flat over the last fifth of training or a window misses the target accuracy.")


def learned(runs):
    def definition(m):
        c, a0 = config(m), m["unguided"]["exact"]["accuracy"]
        return (f"ConditionalMLP (width {c['model']['width']}, depth {c['model']['depth']}) trained with label dropout "
                f"{c['p_uncond']:g} for {c['train']['steps']} steps on M = {m['n_classes']} classes N(μ_k, I) in "
                f"d = {m['dim']} (mean scale {_f(m['mean_std'], 3)}: theory's exact class accuracy "
                f"{c['classes']['accuracy_0']} at w = 0; measured "
                f"{_f(a0['mean'], 3)} ± {_f(a0['ci'], 3)}); exact and learned scores through the same sampler, "
                f"matched at class accuracy {m['target_accuracy']:g}; ρ_∥ = variance along u / true")

    return [claim(runs, "guidance_learned", seed="004",
                  text=f"with a learned score the negative-guidance window acts on the within-class variance as with "
                       f"the exact score (open question 1 of {VENTURA})", evaluate=_learned, definition=definition)]

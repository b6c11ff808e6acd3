"""The recursive-training claims of seed 003 (Aithal et al. §6): hallucinations grow over generations
without a filter, and the trajectory-variance filter mitigates it. Read from a recorded run of the
toy study's recursive task (toy/recursive.py): one chain of generations per training seed.

One seed (the runs recorded before seeds): the per-generation ratio of the chain's out-of-support
fraction with the t-interval of its log-linear fit; the filter's last-generation difference with a ±
that adds the spread between the two replicate rules (none, random).
Several seeds: each seed gives one value (the mean log ratio of its unfiltered chains; its
last-generation random − variance difference), and the interval is the Student-t interval of the mean
over the seeds, so it carries the seed-to-seed spread (training noise included). The chains of one
seed share generation 0, so they count as one value, not several."""

from __future__ import annotations

import math

from .._claims_fmt import NCOMP, NOT, REP, config, growth_ratio, pct_exact, pm, t_interval
from .._claims_fmt import num as _f
from .._claims_fmt import pct as _pc
from .readers import generations as _gen
from .readers import run_seeds

GROWTH_SE = 3       # one seed: a difference counts beyond this many se
REGIME_OUT = 0.2    # generation 0 beyond this out-of-support fraction is outside the paper's regime
UNFILTERED = ("none", "random")  # the same rule in distribution: replicates
G25_REGIME = ("The chain in the regime (the authors' network at the paper's budget, 3 seeds) is "
              "configs/recursive_2d_gpu.toml, an accelerator job: a recipe decayed over 10k or 20k steps does not reach "
              "the 100k-step network's state (docs/results/hallucination.md, recipes table). ")


def alive_rule() -> str:
    from .toy.recursive import ALIVE

    return (f"Modes alive: those holding ≥ {_pc(ALIVE)} of 1/K of the nearest-mode mass; none dies, the mass drifts "
            "and smears.")


def _first(m) -> float:
    """Generation 0's out-of-support fraction, the mean over the seeds (0 without a 'none' chain)."""
    g0 = [_gen(m, "none", s)[0]["out_fraction"] for s in run_seeds(m) if _gen(m, "none", s)]
    return sum(g0) / len(g0) if g0 else 0.0


def _regime(m, verdict: str, note: str) -> tuple[str, str]:
    """(verdict, note), 'not comparable' when generation 0 is already outside the regime of rare
    hallucinations (> REGIME_OUT)."""
    first = _first(m)
    if first <= REGIME_OUT:
        return verdict, note
    return NCOMP, (f"Not comparable: generation 0 is already {_pc(first)} out of support at this CPU budget, far from "
                   f"the paper's regime of rare hallucinations (the fraction can only saturate, not grow geometrically); "
                   f"by the ratio test it would read: {verdict}. " + (G25_REGIME if m.get("data") == "gaussian25" else "")
                   + note)


def grows(m):
    """Growth as the paper states it, exponential: the per-generation ratio of the out-of-support
    fraction (growth_ratio) with its interval above 1, for the rules without a filter (module
    docstring for one seed and several); not comparable when generation 0 is already outside the
    regime of rare hallucinations (> REGIME_OUT)."""
    seeds = run_seeds(m)
    if len(seeds) > 1:
        return _grows_seeds(m, seeds)
    parts, oks = [], []
    for rule in UNFILTERED:
        g = _gen(m, rule)
        if not g:
            continue
        fit = growth_ratio(r["out_fraction"] for r in g)
        ratio = "no ratio (fewer than 3 generations)" if fit is None else (
            f"per-generation ratio {_f(fit[0], 2)} [{_f(fit[1], 2)}, {_f(fit[2], 2)}]")
        parts.append(f"{rule}: " + " → ".join(_f(r["out_fraction"], 3) for r in g)
                     + f", {ratio} (modes alive {g[0]['modes_alive']} → {g[-1]['modes_alive']})")
        oks.append(fit is not None and fit[1] > 1.0)
    verdict = REP if oks and all(oks) else NOT
    note = ("Each generation trains from scratch on the previous generation's samples; 'none' and 'random' are the "
            "same rule in distribution (two replicates). The ratio's 95 % interval comes from the residuals of the "
            "line through ln(fraction) (each generation is a new network with its own seed, so they carry the "
            "training noise); the whole chain is one training seed. " + alive_rule())
    verdict, note = _regime(m, verdict, note)
    return f"out-of-support fraction per generation, n = {m['n_keep']}: " + "; ".join(parts), verdict, note


def _mean_chain(m, rule: str, seeds: list[int]) -> list[float]:
    """The out-of-support fraction per generation under `rule`, the mean over the seeds."""
    chains = [[r["out_fraction"] for r in _gen(m, rule, s)] for s in seeds]
    n = min(len(c) for c in chains)
    return [sum(c[g] for c in chains) / len(chains) for g in range(n)]


def _grows_seeds(m, seeds: list[int]):
    per_seed, parts = [], []
    for s in seeds:
        fits = [growth_ratio(r["out_fraction"] for r in _gen(m, rule, s)) for rule in UNFILTERED if _gen(m, rule, s)]
        if not fits or any(f is None for f in fits):
            return f"seed {s}: no ratio (fewer than 3 generations)", NOT, None
        b = sum(math.log(f[0]) for f in fits) / len(fits)
        per_seed.append(b)
        parts.append(f"seed {s} {_f(math.exp(b), 2)}")
    mean, half = t_interval(per_seed)
    ratio, lo, hi = math.exp(mean), math.exp(mean - half), math.exp(mean + half)
    verdict = REP if lo > 1.0 else NOT
    chains = "; ".join(f"{rule} (mean over seeds): " + " → ".join(_f(x, 3) for x in _mean_chain(m, rule, seeds))
                       for rule in UNFILTERED if _gen(m, rule, seeds[0]))
    note = (f"Each generation trains from scratch on the previous generation's samples; {len(seeds)} training seeds, "
            "each its own chain from its own generation 0. A seed's ratio is the geometric mean of its 'none' and "
            "'random' chains (the same rule in distribution); the 95 % interval is the t-interval over the seeds, so "
            "it holds the seed-to-seed spread. " + alive_rule())
    verdict, note = _regime(m, verdict, note)
    return (f"out-of-support fraction per generation, n = {m['n_keep']}: {chains}; per-generation ratio "
            f"{_f(ratio, 2)} [{_f(lo, 2)}, {_f(hi, 2)}] over {len(seeds)} seeds ({', '.join(parts)})"), verdict, note


def _replicate_spread(m, gen: int) -> float | None:
    """|f_none − f_random| at generation `gen`: the two unfiltered rules are replicates of one rule, so
    this is one draw of the spread of a difference between two rules' fractions (training noise
    included); None when either rule is missing."""
    a, b = _gen(m, "none"), _gen(m, "random")
    if len(a) <= gen or len(b) <= gen:
        return None
    return abs(a[gen]["out_fraction"] - b[gen]["out_fraction"])


def _filter_caveat(m, v: list[dict]) -> str:
    extra = pct_exact(config(m)["eval"]["extra_fraction"])
    return (f" With about half the draws out of support, dropping the {extra} of highest variance cannot change "
            "the next generation's data; the filter needs the paper's regime of rare hallucinations (the 1-D "
            "companion is in it)." if v[0]["out_fraction"] > REGIME_OUT else "")


def mitigates(m):
    """The variance filter against random selection at the last generation (module docstring)."""
    seeds = run_seeds(m)
    v, r = _gen(m, "variance"), _gen(m, "random")
    if not v or not r:
        return "needs the variance and random rules", NOT, None
    if len(seeds) > 1:
        return _mitigates_seeds(m, seeds)
    d = r[-1]["out_fraction"] - v[-1]["out_fraction"]
    rep = _replicate_spread(m, len(r) - 1)
    se = math.hypot(r[-1]["out_fraction_se"], v[-1]["out_fraction_se"], rep or 0.0)
    extra = pct_exact(config(m)["eval"]["extra_fraction"])
    spread = ("" if rep is None else
              f"; the ± adds the spread between the replicate rules none and random at that generation ({_f(rep, 3)})")
    return ("variance filter: " + " → ".join(_f(x["out_fraction"], 3) for x in v)
            + " vs random " + " → ".join(_f(x["out_fraction"], 3) for x in r)
            + f"; last generation {_f(v[-1]['out_fraction'], 3)} vs {_f(r[-1]['out_fraction'], 3)} (difference "
            f"{pm(d, se, 3)}{spread}); modes alive {v[-1]['modes_alive']} vs {r[-1]['modes_alive']}",
            REP if d > GROWTH_SE * se else NOT,
            f"Equal sample count per generation: both rules keep n of n + {extra} draws. One pair of replicates "
            "gives a crude spread; the run has one training seed." + _filter_caveat(m, v))


def _mitigates_seeds(m, seeds: list[int]):
    diffs = []
    for s in seeds:
        v, r = _gen(m, "variance", s), _gen(m, "random", s)
        diffs.append(r[-1]["out_fraction"] - v[-1]["out_fraction"])
    mean, half = t_interval(diffs)
    extra = pct_exact(config(m)["eval"]["extra_fraction"])
    v_mean, r_mean = _mean_chain(m, "variance", seeds), _mean_chain(m, "random", seeds)
    return ("variance filter (mean over seeds): " + " → ".join(_f(x, 3) for x in v_mean)
            + " vs random " + " → ".join(_f(x, 3) for x in r_mean)
            + f"; last generation random − variance {_f(mean, 3)} [{_f(mean - half, 3)}, {_f(mean + half, 3)}] over "
            f"{len(seeds)} seeds ({', '.join(f'seed {s} {_f(d, 3)}' for s, d in zip(seeds, diffs))})",
            REP if mean - half > 0 else NOT,
            f"Equal sample count per generation: both rules keep n of n + {extra} draws. The 95 % t-interval over the "
            "seeds (one difference per seed, each seed its own chains) holds the seed-to-seed spread; reproduced when "
            "it lies above 0." + _filter_caveat(m, _gen(m, "variance")))


def grows_definition(m):
    c = config(m)
    return (f"out-of-support fraction of each generation's n + {pct_exact(c['eval']['extra_fraction'])} draws, "
            f"Gaussian25, {c['recursive']['generations']} generations; growth = the per-generation ratio e^b of the "
            "least-squares line ln(fraction) = a + b·generation, its 95 % t-interval above 1"
            + (" (the t-interval of the training seeds' mean b)" if len(run_seeds(m)) > 1 else ""))


def mitigates_definition(m):
    if len(run_seeds(m)) > 1:
        return ("last generation: random − variance rule, the 95 % t-interval of its mean over the training seeds above "
                "0 (equal sample count)")
    return (f"last generation: random − variance rule > {GROWTH_SE} se, the se including the spread between the "
            "replicate rules none and random (equal sample count)")


def generation0_states(m) -> list[tuple[str, dict | None]] | None:
    """(name, convergence) of every seed's generation 0 (the chains start from them); None for a run
    recorded without convergence."""
    by_seed = m.get("generation0_convergence_by_seed")
    if by_seed:
        return [(f"seed {s} generation 0" if len(by_seed) > 1 else "generation 0", c) for s, c in by_seed.items()]
    c = m.get("generation0_convergence")
    return None if c is None else [("generation 0", c)]

"""The claims of seed 003 (Aithal et al., hallucinations as mode interpolation) that the
hallucination toy study tests: `hallucination(runs)`, its rows of
docs/REPRODUCTION.md from their recorded runs {run: metrics}. Every number printed is read from the
runs (results, or `meta.config` for the settings); the numbers typed here are the paper's claims and
budget, and the readouts' own thresholds. The Gaussian25 detection row reads the paper-budget sweep
(readers.G25_SWEEP, a report.sweep_run dict) once a cell of it has finished, else the basic-task run
hallucination_2d_full. The Simple Shapes study's claims are in claims_shapes.py, the recursive
task's in claims_recursive.py."""

from __future__ import annotations

import math

from .._claims_fmt import (DEP, NCOMP, NOT, REP, about_pct, claim, config, kilo, pct_exact, pm, sci,
                           t_interval, values)
from .._claims_fmt import num as _f
from .._claims_fmt import pct as _pc
from .claims_recursive import generation0_states, grows, grows_definition, mitigates, mitigates_definition
from .readers import BLOCKS as _BLOCKS
from .readers import G25_SWEEP
from .readers import NOT_MEASURED as _NOT_MEASURED
from .readers import cell as _cell
from .readers import converged_count as _converged_count
from .readers import convergence as _convergence
from .readers import data_label as _data_label
from .readers import failed_tests as _failed_tests
from .readers import modes as _modes
from .readers import networks as _networks
from .readers import rows as _rows
from .readers import sweep_convergence as _sweep_convergence
from .readers import sweep_kinds as _sweep_kinds
from .readers import sweep_rows as _sweep_rows

DETECTION, RETENTION = 0.95, 0.96   # the paper: removes > 95 % of hallucinations, keeps > 96 % of in-support samples
PAPER_1D = (20_000, 10_000)         # the paper's training budget (steps, batch), 1-D
PAPER_2D = (100_000, 10_000)        # and 2-D Gaussian25
PAPER_SIZE = 64                     # the paper's Simple Shapes images (pixels a side)
Z_BETWEEN = 5                       # interpolation: between-mode fraction this many se above the exact score's


def _gated(evaluate, *prefixes: str, needs: bool = True):
    """`evaluate` with the run's convergence added to its measured text ('networks converged: k/n
    (widths, weights, flat)' over the networks named by `prefixes`, metrics.convergence) and, when
    the claim `needs` converged networks and some are not, the verdict 'not comparable' in place of
    its own, the note opening with 'Not comparable (networks not converged: …)'. A run recorded without convergence metrics keeps its verdict
    and says 'convergence not measured in this run'."""

    def ev(m):
        return _gate(*evaluate(m), _convergence(m, *prefixes) if prefixes else None, needs=needs)

    return ev


def _gated_gen0(evaluate):
    """`evaluate` gated as `_gated` on generation 0 of every chain of a recursive run (metrics
    generation0_convergence[_by_seed]: the chains start from them); 'convergence not measured in this
    run' for a run recorded without it."""

    def ev(m):
        return _gate(*evaluate(m), generation0_states(m))

    return ev


def _gate(measured: str, verdict: str, note: str | None, states: list | None, *, needs: bool = True) -> tuple:
    """A row's (measured, verdict, note) with the convergence `states` ((network name, convergence dict
    or None), None when not measured) counted into its measured text, and its verdict 'not comparable'
    when the claim `needs` converged networks and some are not (see `_gated`)."""
    if states is None:
        return f"{measured}; {_NOT_MEASURED}", verdict, note
    measured = f"{measured}; {_converged_count(states)}"
    bad = [_short(name) + _why(c) for name, c in states if not (c and c.get("converged"))]
    if needs and bad:  # the verdict word alone (docs/REPRODUCTION.md's vocabulary), the reason in the note
        why = f"Not comparable (networks not converged: {', '.join(bad)}); at convergence it would read: {verdict}."
        verdict, note = NCOMP, why + (f" {note}" if note else "")
    return measured, verdict, note


def _short(name: str) -> str:
    """'line_1_2_3_aithal_shared_s0' -> 'line_1_2_3 shared s0'."""
    return name.replace("_aithal_", " ").replace("_s", " s")


def _why(c: dict | None) -> str:
    """Which convergence tests a network failed: ' (widths, flat)'."""
    return f" ({', '.join(_failed_tests(c))})" if c else " (not measured)"


def _budget(m, paper, *, where: bool = False) -> str:
    """The run's training budget beside the paper's (`where`: say on which σ it trained)."""
    t = config(m)["train"]
    on = " on the σ_t the sampler visits" if where and t.get("sigma_range") == "sampler" else ""
    return f"{t['steps']:,} steps at batch {t['batch']}{on}; the paper: {kilo(paper[0])} steps at batch {paper[1]:,}"


# ------------------------------------------------------------------------------- toy study (1-D, 2-D)
def _interpolation(m):
    r = _rows(m, "line_1_2_3")
    ex, sh, ind = r["line_1_2_3_exact"], r["line_1_2_3_aithal_shared_s0"], r["line_1_2_3_aithal_independent_s0"]
    tr = r["line_1_2_3_training_set"]
    z = min((x["between_fraction"] - ex["between_fraction"]) / math.hypot(x["between_fraction_se"], ex["between_fraction_se"])
            for x in (sh, ind))
    gaps = {n: _cell(m, f"line_1_2_4_5_{n}").get("gap_fractions", {}) for n in ("exact", "aithal_shared_s0",
                                                                               "aithal_independent_s0")}
    gtxt = "; ".join(f"{n.replace('aithal_', '').replace('_s0', '')} " + ", ".join(f"{k}: {_f(v, 4)}" for k, v in g.items())
                     for n, g in gaps.items())
    pos = _modes(m, 1)
    pairs = list(zip(pos, pos[1:]))
    far = max(pairs, key=lambda p: p[1] - p[0])
    near = " and ".join(f"{a:g}–{b:g}" for a, b in pairs if (a, b) != far)
    return (f"modes {values(_modes(m, 0))}: between-mode fraction {pm(sh['between_fraction'], sh['between_fraction_se'])} "
            f"(shared blocks), {pm(ind['between_fraction'], ind['between_fraction_se'])} (independent) vs "
            f"{pm(ex['between_fraction'], ex['between_fraction_se'])} for the exact score through the same sampler and "
            f"{_f(tr['between_fraction'], 4)} in the training set; modes {values(pos)}, share of samples in the middle "
            f"half of each gap: {gtxt}", REP if z > Z_BETWEEN else NOT,
            f"Reproduced at the CPU budget ({_budget(m, PAPER_1D, where=True)}): "
            "both block variants put samples between adjacent modes where neither the training set nor the exact score "
            f"does (> {Z_BETWEEN} standard errors above the exact score). With {values(pos)} the middle of the far gap "
            f"{far[0]:g}–{far[1]:g} stays empty while the middles of {near} fill: interpolation is between nearby modes.")


def _detection(m, prefix, label):
    rs = _networks(m, prefix)
    extra = pct_exact(config(m)["eval"]["extra_fraction"])
    txt = "; ".join(f"{r['score'].replace('aithal_', '')}: detection {pm(r['detection_at_retention'], r['detection_at_retention_se'], 3)} "
                    f"at retention {_f(r['retention'], 3)}, AUC {pm(r['auc'], r['auc_se'], 3)}, deep hallucinations "
                    f"{_f(r.get('detection_deep_at_retention'), 3)}; rule n + {extra}: removes "
                    f"{_f(r['selection_removed_out'], 3)} of the out-of-support samples, keeps "
                    f"{_f(r['selection_kept_in'], 3)} of the in-support" for r in rs)
    best = max(r["detection_at_retention"] for r in rs)
    deep = max((r.get("detection_deep_at_retention") or 0.0) for r in rs)
    return f"{label}: {txt}", REP if best >= DETECTION else DEP if deep >= DETECTION else NOT


def _detector_1d(m):
    text, verdict = _detection(m, "line_1_2_3", f"modes {values(_modes(m, 0))}")
    rs = _networks(m, "line_1_2_3")
    ev = config(m)["eval"]
    det = " and ".join(f"{pm(r['detection_at_retention'], r['detection_at_retention_se'], 2)} "
                       f"({_BLOCKS.get(r['score'], r['score'])})" for r in rs)
    below = all(r["detection_at_retention"] < DETECTION for r in rs)
    deep = " and ".join(sorted({_f(r.get("detection_deep_at_retention")) for r in rs}))
    out = max(r["out_fraction"] for r in rs)
    removed = sum(r["selection_removed_out"] for r in rs) / len(rs)
    return (text, verdict,
            f"With positives = all out-of-support samples (census) the detection at {_pc(ev['retention'])} retention is "
            f"{det}{f': below {_pc(DETECTION)}' if below else ''}. With positives = the 'deep' hallucinations (farther "
            f"than twice the real-zone radius from every mode, the interpolations of the paper's figures) it is {deep}: "
            "the verdict depends on what counts as a hallucination. The misses are samples just outside a "
            "mode, whose x̂0 trajectories are nearly as stable as in-support ones. For the exact score the variance over "
            "the last steps grows with the distance to the mode (x̂0 = μ + s²/(s² + σ²)(x − μ) moves as σ falls), so the "
            f"detector is partly a distance-to-the-nearest-mode score. Their rule (draw n + {pct_exact(ev['extra_fraction'])}, "
            f"keep the n lowest) drops fewer samples than the {about_pct(out)} out of support plus the in-support ones it "
            f"also drops, so it removes {about_pct(removed)}, not all. The paper's budget "
            "(configs/hallucination_1d_gpu.toml) is not run here.")


def _detector_2d(m):
    text, verdict = _detection(m, "gaussian25_aithal", "Gaussian25")
    out = [r["out_fraction"] for r in _networks(m, "gaussian25_aithal")]
    return text, verdict, (f"At the CPU budget ({_budget(m, PAPER_2D)}) the Gaussian25 networks leave "
                           f"{_pc(min(out))}–{_pc(max(out))} of their samples out of support, mostly widened modes and "
                           "bridges along the grid lines, which the variance does not single out.")


# ------------------------------------------------- the Gaussian25 paper-budget sweep (readers.G25_SWEEP)
def _has_cells(runs: dict, run: str) -> bool:
    """Whether the sweep run `run` is recorded with at least one finished cell."""
    return run in runs and bool(runs[run]["sweep"]["rows"])


def _by_kind(m) -> dict[str, list[dict]]:
    """The finished cells of a sweep run by data set (every data set of its grid, in order), by seed."""
    rows = _sweep_rows(m)
    return {k: [r for r in rows if r["data.kind"] == k] for k in _sweep_kinds(m)}


def _seeds_per_kind(m) -> int:
    """How many cells (training seeds) the sweep's grid gives each data set."""
    return m["sweep"]["n_cells"] // len(_sweep_kinds(m))


def _seed_text(r: dict) -> str:
    """One cell of the sweep: 's0: detection x ± se at retention r, AUC x ± se, out of support x ± se'."""
    return (f"s{r['train.seed']}: detection {pm(r['detection_at_retention'], r['detection_at_retention_se'], 3)} at "
            f"retention {_f(r['retention'], 3)}, AUC {pm(r['auc'], r['auc_se'], 3)}, out of support "
            f"{pm(r['out_fraction'], r['out_fraction_se'], 4)}")


def _mean_text(rs: list[dict]) -> str:
    """The mean detection over the seeds `rs` ± its 95 % t-interval ('' below two seeds)."""
    if len(rs) < 2:
        return ""
    mean, half = t_interval(r["detection_at_retention"] for r in rs)
    return f"; mean detection {pm(mean, half, 3)} (95 % t-interval over {len(rs)} seeds)"


def _means(m) -> dict[str, float]:
    """The mean detection at the retention over the finished seeds of each data set that has one."""
    return {k: sum(r["detection_at_retention"] for r in rs) / len(rs) for k, rs in _by_kind(m).items() if rs}


def _sweep_detector(m):
    """The detector row from the sweep run: per data set its finished seeds of the grid, each seed's
    detection at the retention, AUC and out-of-support fraction, and the mean ± 95 % t-interval over
    the seeds; reproduced when every recorded data set's mean detection is ≥ DETECTION."""
    n = _seeds_per_kind(m)
    text = "; ".join(f"{_data_label(k)} ({len(rs)}/{n} seeds): " + ("; ".join(map(_seed_text, rs)) or "none finished")
                     + _mean_text(rs) for k, rs in _by_kind(m).items())
    means = _means(m)
    low = [_data_label(k) for k, v in means.items() if v < DETECTION]
    note = (f"Budget {_budget(m, PAPER_2D)}, one network per training seed and data set; the interval is a 95 % "
            "Student-t interval over the seeds, so it carries the seed-to-seed spread"
            + (f". Mean detection below {_pc(DETECTION)} for {' and '.join(low)}." if low else "."))
    return text, REP if not low else NOT, note


def _sweep_gated(m):
    """`_sweep_detector` gated as `_gated` on the cells' convergence, and 'not comparable' while the
    sweep has unfinished cells (the note counts them and says the same command resumes it)."""
    measured, verdict, note = _gate(*_sweep_detector(m), _sweep_convergence(m))
    done, total = len(m["sweep"]["rows"]), m["sweep"]["n_cells"]
    if done < total:
        left = f"{done} of {total} cells recorded; the sweep continues (same command resumes)."
        note = (f"{left} {note}" if verdict == NCOMP else
                f"Not comparable: {left} With the cells recorded so far it would read: {verdict}. {note}")
        verdict = NCOMP
    return measured, verdict, note


def _sweep_def(m):
    """The detector row's definition for the sweep: data sets, training set, budget, seeds."""
    c = config(m)
    kinds = " and ".join(_data_label(k) for k in _sweep_kinds(m))
    return (f"as the row above, 2-D {kinds} ({kilo(c['data']['n_train'])} training samples); {_budget(m, PAPER_2D)}; "
            f"{_seeds_per_kind(m)} training seeds per data set (sweep `{c['name']}`), the mean over seeds ± its 95 % "
            "t-interval")


def _detect_2d(runs, text: str):
    """The Gaussian25 detection row: from the paper-budget sweep once a cell of it has finished, else
    from the basic-task run hallucination_2d_full."""
    if _has_cells(runs, G25_SWEEP):
        return claim(runs, G25_SWEEP, seed="003", text=text, evaluate=_sweep_gated, definition=_with_network(_sweep_def))
    return claim(runs, "hallucination_2d_full", seed="003", text=text, evaluate=_gated(_detector_2d, "gaussian25_aithal"),
                 definition=_with_network(lambda m: (f"as the row above, 2-D Gaussian25 "
                                                     f"({kilo(config(m)['data'][0]['n_train'])} training samples)")))


def _interp_def(m):
    c = config(m)
    lo = c["loss"]
    return (f"out of support = not census-real (tail {sci(c['eval']['tail'])}); between = inside the hull of the means "
            f"pushed out by the real-zone radius; DDPM T = {lo['ddpm_T']}, β {lo['ddpm_beta_start']:g}→"
            f"{lo['ddpm_beta_end']:g}, σ_t² = β_t, {kilo(c['eval']['n_samples'])} samples per score")


def _detector_def(m):
    ev = config(m)["eval"]
    return (f"variance of x̂0 over the last {ev['window']} steps (t = {ev['window'] - 1}…0), averaged over coordinates; "
            "positives = out-of-support samples (deep: farther than 2t stds from every mode); threshold at the "
            f"{_pc(ev['retention'])} quantile of in-support scores; ± binomial / Hanley–McNeil se")


def _network(m) -> str:
    """Which toy network the run trained: the `model.recipe` of its config (absent = "ours")."""
    mo = config(m)["model"]
    if mo.get("recipe", "ours") == "aithal":
        return ("network: the authors' (`model.recipe = \"aithal\"`: Xavier init, zero and no block biases, their step "
                "embedding and t_proj, all DDPM levels, walked batches; matched in benchmarks/compare_aithal_toy.py)")
    return (f"network: ghostjax's `ours` recipe of their layout (AithalMLP width {mo['width']}, depth {mo['depth']}; "
            "equinox init, block biases, ¼ ln σ embedding, batches with replacement), not the authors' "
            "(`model.recipe = \"aithal\"`, benchmarks/compare_aithal_toy.py)")


def _with_network(definition):
    """`definition` (text or a function of the metrics) followed by the network the run trained."""
    return lambda m: f"{definition if isinstance(definition, str) else definition(m)}; {_network(m)}"


def hallucination(runs):
    grow = "recursive training without filtering: hallucinations grow over generations"
    filt = "filtering by trajectory variance mitigates it"
    detect = (f"trajectory variance removes > {_pc(DETECTION)} of hallucinations while keeping > {_pc(RETENTION)} of "
              "in-support samples")
    return [
        claim(runs, "hallucination_1d_full", seed="003", text="diffusion models interpolate between nearby modes "
              "(samples outside the support)", evaluate=_gated(_interpolation, "line_1_2_3", "line_1_2_4_5"), definition=_with_network(_interp_def)),
        claim(runs, "hallucination_1d_full", seed="003", text=f"{detect} (1-D)", evaluate=_gated(_detector_1d, "line_1_2_3"),
              definition=_with_network(_detector_def)),
        _detect_2d(runs, f"{detect} (Gaussian25)"),
        claim(runs, "recursive_2d_full", seed="003", text=grow, evaluate=_gated_gen0(grows), definition=_with_network(grows_definition)),
        claim(runs, "recursive_2d_full", seed="003", text=filt, evaluate=_gated_gen0(mitigates),
              definition=_with_network(mitigates_definition)),
        claim(runs, "recursive_1d_full", seed="003", text=f"{grow} (1-D companion)", evaluate=_gated_gen0(grows),
              definition=_with_network(lambda m: f"as above, modes {values(_modes(m, 0))}, n = {m['n_keep']:,} per generation")),
        claim(runs, "recursive_1d_full", seed="003", text=f"{filt} (1-D companion)", evaluate=_gated_gen0(mitigates),
              definition=_with_network(lambda m: f"as above, modes {values(_modes(m, 0))}")),
    ]

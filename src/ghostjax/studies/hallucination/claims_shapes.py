"""The claims of seed 003 (Aithal et al.) that the Simple Shapes study tests (`shapes(runs)`): its
rows of docs/REPRODUCTION.md from its recorded runs {run: metrics} (shapes, shapes_detector,
shapes_recursive). Every number printed is read from the runs; the numbers typed here are the
paper's claims and setting.

The recursion on Simple Shapes (§6: "the ratio of hallucinated samples increases exponentially",
and the variance filter mitigates the collapse) is judged as the toy recursion is (claims_recursive):
growth by the per-generation ratio of the hallucination rate (the least-squares line through
ln(rate), its 95 % t-interval above 1), the filter by the last generation's random − variance
difference beyond SE_BOUND binomial se. The CPU run is outside the paper's regime on stated grounds
(`_outside`), so those readings are reported, not taken as verdicts."""

from __future__ import annotations

import math

from .._claims_fmt import NCOMP, NOT, REP, claim, config, growth_ratio, pct_exact, wilson
from .._claims_fmt import num as _f
from .._claims_fmt import pct as _pc
from .claims import DETECTION, PAPER_SIZE, RETENTION


def _combinations(m):
    h, s, t = m["hallucination"], m["summary"][0], m["train"]
    n, cats = h["n"], h["categories"]
    level = config(m)["eval"]["confidence"]
    valid = 1.0 - h["rate"]
    lo, hi = wilson(cats["extra"], n, level)
    text = (f"two or more shapes in one column: {cats['extra']}/{n} = {_f(cats['extra'] / n, 3)} [{_f(lo, 3)}, "
            f"{_f(hi, 3)}]; all hallucinations {h['k']}/{n} = {_f(h['rate'], 3)} [{_f(h['ci_lo'], 3)}, "
            f"{_f(h['ci_hi'], 3)}] (Wilson {_pc(level)}; wrong shape for its column {cats['wrong_kind']}, malformed blob "
            f"{cats['malformed']}, empty {cats['empty']}); training set {m['data']['hallucinated']} of "
            f"{m['data']['n_train']}; UNet {s['n_params']} parameters, {t['steps']} steps × batch {t['batch']}, "
            f"{s['size']}×{s['size']}")
    ok = valid >= 0.5 and lo > 0
    return text, REP if ok else NOT, (
        f"{_pc(valid)} of the samples are valid images of the data set, so the network has learned the shapes; "
        "the combinations no training image has (two triangles, two squares or two pentagons in a column) are the "
        f"image-level mode interpolation. CPU budget, one training seed; the paper-scale {PAPER_SIZE}×{PAPER_SIZE} run "
        "(configs/shapes_gpu.toml) needs an accelerator." if ok else
        f"Not established at this budget: only {_pc(valid)} of the samples are valid images of the data set, most of "
        "the rest are empty, all-white or noisy (under-training), so the combinations seen cannot be told apart from "
        "a network that has not yet learned the shapes.")


def _detector(m, respaced: dict | None):
    d = m["detector"]
    by = {k: v for k, v in m["detector_auc_by_category"].items() if v is not None}
    levels = m["sample"]["levels"]
    text = (f"AUC {_f(d['auc'])} ± {_f(d['auc_se'])} ({d['n_pos']} hallucinated vs {d['n_neg']} valid, {levels} sampler "
            "levels; by category " + ", ".join(f"{k} {_f(v)}" for k, v in by.items())
            + f"); detection at {_pc(d['at_retention_retention'])} retention {_pc(d['at_retention_detection'])}")
    ws = m.get("window_study") or []
    if ws:
        best = max(ws, key=lambda r: r["auc"])
        text += (f"; best window of the study: {best['stat']} over {best['length']} levels ending {best['offset']} "
                 f"before the last, AUC {_f(best['auc'])}")
    ok = d["at_retention_detection"] > DETECTION and d["at_retention_retention"] >= RETENTION
    if ok:
        return text, REP, None
    c = config(m)
    top = " and ".join(k.replace("_", "-") for k in sorted(by, key=by.get, reverse=True)[:2])
    chance = ("" if respaced is None else
              f"; on {respaced['sample']['levels']} respaced levels (docs/runs/shapes, same network) it is at chance "
              f"(AUC {_f(respaced['detector']['auc'])}), also with the last levels kept at their original spacing "
              "(docs/results/hallucination.md): respaced σ² = β steps over-disperse (tests/test_ddpm.py measures it), leaving noise "
              "every image denoises at the end")
    return text, NOT, (
        f"The detector carries signal on images only with the full sampler: on the {levels} DDPM levels the x̂0 variance "
        f"separates hallucinated from valid images (AUC above; {top} images best), far from the claimed operating "
        f"point{chance}. CPU budget ({c['train']['steps']} steps, {c['data']['size']}×{c['data']['size']}), one "
        "training seed; the paper's scale needs an accelerator.")


CATEGORY_WORDS = {"extra": "several shapes in a column", "wrong_kind": "wrong shape", "malformed": "malformed",
                  "empty": "empty"}
PAPER_PER_GENERATION = 100_000  # the seed: "100k samples per generation for recursive training on ... shapes"
SE_BOUND = 3                    # the filter counts when random − variance exceeds this many se
CHANCE_AUC = 0.6                # a detector below this AUC selects close to at random


def _chain(m, rule: str) -> list[dict]:
    return sorted((r for r in m["generations"] if r["rule"] == rule), key=lambda r: r["generation"])


def _rates(rows: list[dict]) -> str:
    return " → ".join(f"{_f(r['rate'], 3)} [{_f(r['ci_lo'], 3)}, {_f(r['ci_hi'], 3)}]" for r in rows)


def _outside(m) -> str:
    """Why the CPU recursion is outside the paper's regime, from the run's own numbers."""
    c, g0 = config(m), _chain(m, "random")[0]
    aucs = [r["auc"] for r in m["generations"] if r["rule"] == "variance" and r["auc"] is not None]
    return (f"Not comparable: {m['n_keep']:,} images kept a generation at {m['data']['size']}×{m['data']['size']} "
            f"(the paper: {PAPER_PER_GENERATION:,} a generation, 64×64), one training seed (seed + g at generation g), "
            f"a CPU-budget network ({c['train']['steps']:,} steps × batch {c['train']['batch']}) whose generation 0 "
            f"already hallucinates {_pc(g0['rate'])} of its draws{_detector_state(c, aucs)}. "
            "configs/shapes_recursive_gpu.toml is the run in the regime (accelerator). ")


def _detector_state(c: dict, aucs: list[float]) -> str:
    if not aucs:
        return ""
    where = f", and a detector on {c['eval']['steps'] or 'all'} sampler levels at AUC {_f(min(aucs))}–{_f(max(aucs))}"
    if max(aucs) < CHANCE_AUC:
        return (where + " over the variance chain's generations, so the variance rule selects little better than at "
                "random (the respaced sampler hides the detector's signal, docs/results/hallucination.md)")
    return where + " over the variance chain's generations"


def _recursive_growth(m):
    rows = _chain(m, "random")
    fit = growth_ratio(r["rate"] for r in rows)
    ratio = ("no ratio (fewer than 3 generations or a generation with none)" if fit is None else
             f"per-generation ratio {_f(fit[0], 2)} [{_f(fit[1], 2)}, {_f(fit[2], 2)}]")
    reading = REP if fit is not None and fit[1] > 1.0 else NOT
    level = config(m)["eval"]["confidence"]
    first, last = rows[0], rows[-1]
    by_cat = ", ".join(f"{CATEGORY_WORDS[c]} {first[f'n_{c}']} → {last[f'n_{c}']}" for c in CATEGORY_WORDS)
    text = (f"hallucinated draws per generation, random selection of {m['n_keep']:,} from {rows[0]['n_drawn']:,} "
            f"(Wilson {_pc(level)}): {_rates(rows)}; {ratio}; by category, generation 0 → {last['generation']}: {by_cat}")
    grew = [CATEGORY_WORDS[c] for c in CATEGORY_WORDS if last[f"n_{c}"] > first[f"n_{c}"]]
    fell = [CATEGORY_WORDS[c] for c in CATEGORY_WORDS if last[f"n_{c}"] < first[f"n_{c}"]]
    what = (f"What grows is {', '.join(grew) or 'no category'}" + (f"; {', '.join(fell)} fall" if fell else "")
            + " (an image can be in several categories). ")
    return text, NCOMP, (_outside(m) + f"By the ratio test it would read: {reading}. {what}The ratio's interval comes "
                         "from the residuals of the line through ln(rate) over the generations (each a new network with "
                         "its own seed, so they carry the training noise of one chain).")


def _recursive_filter(m):
    rnd, var = _chain(m, "random"), _chain(m, "variance")
    a, b = rnd[-1], var[-1]
    n = a["n_drawn"]
    diff = a["rate"] - b["rate"]
    se = math.sqrt(a["rate"] * (1 - a["rate"]) / n + b["rate"] * (1 - b["rate"]) / b["n_drawn"])
    reading = REP if diff > SE_BOUND * se else NOT
    kept = " → ".join(_f(r["kept_rate"], 3) for r in var)
    text = (f"variance filter: {_rates(var)} vs random {_rates(rnd)}; last generation random − variance "
            f"{_f(diff, 3)} ± {_f(se, 3)} (binomial se of the two draws); hallucinated among the images the variance "
            f"rule keeps: {kept}; detector AUC per generation "
            + " → ".join(_f(r["auc"]) for r in var))
    return text, NCOMP, (_outside(m) + f"By the {SE_BOUND}-se test it would read: {reading}; its se is binomial only "
                         "(one chain per rule: the training noise between chains is not in it).")


def _recursive_def(m):
    c = config(m)
    return (f"each generation a new UNet from scratch on the previous generation's kept draws, "
            f"{c['recursive']['generations']} generations, {m['n_keep']:,} kept of n + {pct_exact(c['eval']['extra_fraction'])} "
            f"by the variance rule (lowest x̂0 variance over the last {c['eval']['window']} levels) or at random; "
            f"rate = classifier-flagged draws (as row 35); growth = per-generation ratio of the random chain's rate "
            f"(log-linear fit, 95 % t-interval above 1); filter = last generation random − variance > {SE_BOUND} se; "
            f"{m['data']['size']}×{m['data']['size']}, DDPM T = {c['loss']['ddpm_T']} sampled on "
            f"{c['eval']['steps'] or c['loss']['ddpm_T']} respaced levels; network: ghostjax's DDPM UNet")


def shapes(runs):
    def combinations_def(m):
        c = config(m)
        return ("classifier from the data set's rules (scipy.ndimage components, template IoU ≥ "
                f"{c['classify']['min_iou']:g}): hallucinated = a column with > 1 shape, a shape of the wrong kind for "
                "its column, a blob that is no shape, or an empty image; "
                f"{c['data']['size']}×{c['data']['size']} CPU variant, DDPM T = {c['loss']['ddpm_T']} sampled on "
                f"{m['sample']['levels']} respaced levels; network: ghostjax's DDPM UNet (nets.UNet), not the authors' "
                "image network")

    def detector_def(m):
        c = config(m)
        return (f"variance of x̂0 over the last {c['eval']['window']} of the {m['sample']['levels']} DDPM levels, "
                "averaged over pixels; positives = classifier-flagged images; threshold at "
                f"{_pc(c['eval']['retention'])} retention of the valid ones; network: ghostjax's DDPM UNet")

    return [
        claim(runs, "shapes", seed="003", text="image level (Simple Shapes): the model generates images combining "
              "shapes in ways no training image does (several shapes in one column)", evaluate=_combinations,
              definition=combinations_def),
        claim(runs, "shapes_detector", seed="003", text="trajectory variance detects the image-level hallucinations "
              "(Simple Shapes)", evaluate=lambda m: _detector(m, runs.get("shapes")), definition=detector_def),
        claim(runs, "shapes_recursive", seed="003", text="recursive training on Simple Shapes without filtering: the "
              "ratio of hallucinated samples grows exponentially over generations", evaluate=_recursive_growth,
              definition=_recursive_def),
        claim(runs, "shapes_recursive", seed="003", text="filtering by trajectory variance mitigates it (Simple "
              "Shapes)", evaluate=_recursive_filter, definition=_recursive_def),
    ]

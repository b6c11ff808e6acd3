"""The claims of seed 003 (Aithal et al.) that the Simple Shapes study tests (`shapes(runs)`): its
rows of docs/REPRODUCTION.md from its recorded runs {run: metrics} (shapes, shapes_detector). Every
number printed is read from the runs; the numbers typed here are the paper's claims and setting."""

from __future__ import annotations

from .._claims_fmt import NOT, REP, claim, config, wilson
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
    ]

"""The flat summary row of one measured sample set, shared by the tasks (run.py, questions.py) and
the sweep cell (cell.py): one module below all of them, so none imports another's driver."""

from __future__ import annotations


def row(name: str, data: str, score: str, seed, m: dict, extra: dict | None = None) -> dict:
    """One flat summary row of a measured sample set (m: evaluate.measure's dict)."""
    s, det = m["split"], m["detector"] or {}
    sel = det.get("selection", {})
    return {"name": name, "data": data, "score": score, "seed": seed, "n": s["n"],
            "in_fraction": s["in_fraction"], "out_fraction": s["out_fraction"],
            "out_fraction_se": s["out_fraction_se"], "between_fraction": s["between_fraction"],
            "between_fraction_se": s["between_fraction_se"], "beyond_fraction": s["beyond_fraction"],
            "beyond_fraction_se": s["beyond_fraction_se"], "auc": det.get("auc"), "auc_se": det.get("auc_se"),
            "detection_at_retention": det.get("at_retention_detection"),
            "detection_at_retention_se": det.get("at_retention_detection_se"),
            "retention": det.get("at_retention_retention"), "selection_removed_out": sel.get("removed_out"),
            "selection_kept_in": sel.get("kept_in"), "non_finite": m["non_finite"],
            "deep_fraction": m.get("deep_fraction", 0.0), "auc_deep": (m.get("detector_deep") or {}).get("auc"),
            "detection_deep_at_retention": (m.get("detector_deep") or {}).get("at_retention_detection"),
            **(extra or {})}

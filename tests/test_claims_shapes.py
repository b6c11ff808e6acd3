"""studies/hallucination/claims_shapes.py, the Simple Shapes recursion's rows: growth read as the
per-generation ratio of the random chain's rate (checked against a log-linear fit by numpy), the
filter as the last generation's random − variance difference in binomial se, both reported as
readings under 'not comparable' with the run's own reasons (budget, one seed, detector AUC)."""

import math

import numpy as np
from test_tables_hallucination import shapes_recursive_metrics

from ghostjax.studies.hallucination import claims_shapes as C


def test_growth_reads_the_log_linear_ratio_and_stays_not_comparable():
    ks = [100, 200, 400, 800]  # exactly doubling: ratio 2 with a zero-width interval
    m = shapes_recursive_metrics({"random": ks, "variance": [100, 100, 100, 100]})
    text, verdict, note = C._recursive_growth(m)
    slope = np.polyfit(np.arange(4), np.log(np.array(ks) / 1000), 1)[0]
    assert f"per-generation ratio {math.exp(slope):.2f} [2.00, 2.00]" in text and verdict == "not comparable"
    assert "By the ratio test it would read: reproduced." in note and "one training seed" in note
    assert "100,000 a generation" in note and "hallucinates 10 % of its draws" in note
    assert "by category, generation 0 → 3: several shapes in a column 50 → 400, wrong shape 1 → 1" in text
    assert "What grows is several shapes in a column, malformed (an image" in note
    flat = shapes_recursive_metrics({"random": [100, 90, 110, 100], "variance": [100] * 4})
    assert "would read: not reproduced." in C._recursive_growth(flat)[2]


def test_filter_counts_the_difference_in_binomial_se_and_names_the_detector():
    m = shapes_recursive_metrics({"random": [100, 200, 300], "variance": [100, 150, 200]},
                                 aucs={"variance": [0.52, 0.55, 0.58], "random": [0.5] * 3})
    text, verdict, note = C._recursive_filter(m)
    se = math.sqrt(0.3 * 0.7 / 1000 + 0.2 * 0.8 / 1000)
    assert f"random − variance 0.100 ± {se:.3f}" in text and verdict == "not comparable"
    assert "would read: reproduced" in note and "AUC 0.52–0.58" in note and "little better than at random" in note
    close = shapes_recursive_metrics({"random": [100, 200, 300], "variance": [100, 190, 280]},
                                     aucs={"variance": [0.7, 0.8, 0.9], "random": [0.5] * 3})
    _, _, note = C._recursive_filter(close)
    assert "would read: not reproduced" in note and "little better than at random" not in note


def test_shapes_rows_include_the_recursion_or_name_its_command():
    rows = C.shapes({})
    rec = [r for r in rows if r.run == "shapes_recursive"]
    assert len(rec) == 2 and all(r.verdict == "not measured" for r in rec)
    m = shapes_recursive_metrics({"random": [100, 200, 400], "variance": [100, 150, 200]})
    rec = [r for r in C.shapes({"shapes_recursive": m}) if r.run == "shapes_recursive"]
    assert [r.verdict for r in rec] == ["not comparable"] * 2 and "3 generations" in rec[0].definition

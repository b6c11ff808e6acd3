"""The README's API example runs as written and gives the ghost fraction it promises."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_api_example_runs():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own documentation
    frac = float(ns["gj"].census(ns["out"].x, ns["gm"])["ghost_fraction"])
    assert abs(frac - 0.75) < 0.04, frac
    assert ns["out"].observations["last_x0"].shape == (10, 4096, 3)
    assert ns["out"].observations["score_sq"].shape == (200,)
    xg = ns["xg"]  # the guided example: finite samples, nearer class 0's mean than the mixture's
    assert xg.shape == (64, 64) and bool(ns["jax"].numpy.isfinite(xg).all())
    import numpy as np

    x, means = np.asarray(xg), np.asarray(ns["classes"].means)
    d0 = float(((x - means[0][None]) ** 2).sum(-1).mean())
    d_other = float(((x[:, None, :] - means[1:9][None]) ** 2).sum(-1).mean())
    assert d0 < d_other, (d0, d_other)

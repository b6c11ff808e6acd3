"""What the studies' claims share (studies/<theme>/claims.py): the verdict words, the number formats
of docs/REPRODUCTION.md, and `claim`, which turns one claim's spec and a study's recorded runs into
its `Claim` row. Every number a row prints is read from the run's metrics.json (its results, or
`meta.config` for the settings); the numbers typed in the claims modules are the seeds' claims."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from statistics import NormalDist

from .base import Claim

REP, NOT, DEP = "reproduced", "not reproduced", "depends on the definition"
NCOMP, NTEST = "not comparable", "not testable here"
NOT_MEASURED = "not measured"

Evaluate = Callable[[dict], tuple]  # metrics -> (measured text, verdict, note or None)


def claim(runs: dict[str, dict], run: str, *, seed: str, text: str, definition: str | Callable[[dict], str],
          evaluate: Evaluate) -> Claim:
    """The row of one claim read from the recorded run `run` of `runs` ({run name: metrics}).
    `definition` is text, or a function of the metrics when it names the run's settings. A missing
    run gives a 'no recorded run' / 'not measured' row."""
    m = runs.get(run)
    if m is None:
        d = definition if isinstance(definition, str) else f"as configured in configs/{run}.toml"
        return Claim(text, seed, d, "no recorded run", NOT_MEASURED, f"run `{run}` first", run=run)
    measured, verdict, note = evaluate(m)
    return Claim(text, seed, definition if isinstance(definition, str) else definition(m), measured, verdict,
                 note, run=run)


def config(m: dict) -> dict:
    """The settings a recorded run ran with (metrics.json `meta.config`; for a sweep run, the base
    settings its cells share, report.sweep_run)."""
    return m["meta"]["config"]


def num(x, nd: int = 2) -> str:
    """x with nd decimals (2 significant digits when |x| ≥ 1e4); 'n/a' for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{nd}f}" if abs(x) < 1e4 else f"{x:.2g}"


def pct(x) -> str:
    """A fraction as a whole percentage: 0.706 -> '71 %'."""
    return "n/a" if x is None else f"{100 * x:.0f} %"


def pct_exact(x: float | int) -> str:
    """A fraction as a percentage with its digits: 0.025 -> '2.5 %'."""
    return f"{100 * x:g} %"


def pct_range(lo: float | int, hi: float | int) -> str:
    """Two fractions as a percentage range: (0.70, 0.78) -> '70–78 %'."""
    return f"{100 * lo:.0f}–{100 * hi:.0f} %"


def about_pct(x: float | int) -> str:
    """A rough percentage: whole percent below 10 %, else to the nearest ten: 0.706 -> '~70 %'."""
    p = 100 * x
    return f"~{p:.0f} %" if p < 10 else f"~{round(p, -1):.0f} %"


def ci(p: dict, nd: int = 2) -> str:
    """A peak with its interval: {'x', 'lo', 'hi'} -> 'x [lo, hi]'."""
    return f"{num(p['x'], nd)} [{num(p['lo'], nd)}, {num(p['hi'], nd)}]"


def pm(x, se, nd: int = 4) -> str:
    return f"{num(x, nd)} ± {num(se, nd)}"


def approx(x: float | int, digits: int = 2) -> str:
    """x to `digits` significant digits, as a plain number: 602 -> '600'."""
    if x == 0:
        return "0"
    return f"{round(x, digits - 1 - math.floor(math.log10(abs(x)))):g}"


def sci(x: float | int) -> str:
    """A small setting as a power of ten: 0.001 -> '1e-3'."""
    mant, exp = f"{x:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def kilo(n: int) -> str:
    """A count in thousands when round: 20000 -> '20k'."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def values(xs: Iterable[float | int]) -> str:
    """A set of numbers: [1.0, 2.0, 3.0] -> '{1, 2, 3}'."""
    return "{" + ", ".join(f"{x:g}" for x in xs) + "}"


def span(xs: Iterable[int]) -> str:
    """The range of a list of dimensions: [2, 3, …, 8] -> '2…8'."""
    xs = list(xs)
    return f"{min(xs)}…{max(xs)}"


def t_interval(xs: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of the Student-t interval at confidence `level` of the mean of xs (≥ 2 values):
    t_{(1+level)/2, n−1} · s / √n with s the sample standard deviation, so the half-width carries the
    spread between the values (e.g. between training seeds)."""
    from statistics import mean, stdev

    from scipy.stats import t

    xs = list(xs)
    return mean(xs), float(t.ppf(0.5 + level / 2, len(xs) - 1)) * stdev(xs) / math.sqrt(len(xs))


def growth_ratio(fractions: Iterable[float], level: float = 0.95) -> tuple[float, float, float] | None:
    """(ratio, lo, hi): the per-step growth ratio e^b of a sequence of positive fractions f_0, f_1, …
    from the least-squares line ln f_g = a + b g (scipy.stats.linregress), with the Student-t interval
    of b at confidence `level` (n − 2 degrees of freedom, from the line's residuals); None with fewer
    than 3 values or a value ≤ 0."""
    from scipy.stats import linregress, t

    f = [float(x) for x in fractions]
    if len(f) < 3 or min(f) <= 0:
        return None
    fit = linregress(range(len(f)), [math.log(x) for x in f])
    half = float(t.ppf(0.5 + level / 2, len(f) - 2)) * fit.stderr
    return math.exp(fit.slope), math.exp(fit.slope - half), math.exp(fit.slope + half)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson interval of k successes in n at confidence `level`."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h

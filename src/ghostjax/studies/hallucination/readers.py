"""What the hallucination theme's tables (tables.py) and claims (claims.py) read from its recorded runs,
and the formats they share.

Runs come as report.load_runs gives them: {run name: metrics.json dict}, and for the sweep runs
(SWEEPS, recorded by `python -m ghostjax.sweep`) report.sweep_run's {"sweep": results.json, "meta":
{"config": the base settings, "sweep": config.toml, …}}, one row per finished cell with its dotted
settings ("data.kind", "train.seed", …) and metrics. Readers: the summary rows of a basic-task run
(`rows`, `cell`, `networks`, `modes`), convergence (`convergence`, `converged_count`, `failed_tests`,
`converged_word`), recursive generations (`generations`, `run_seeds`), sweep cells (`sweep_rows`, `sweep_kinds`,
`sweep_convergence`, …); formats: `f`, `pm`, `data_label`, `table`, and the `missing` / `no_cells`
markers of a run that is not recorded.
"""

from __future__ import annotations

from .._claims_fmt import config, num
from ..base import command

DASH = "–"
BLOCKS = {"aithal_shared": "shared blocks", "aithal_independent": "independent"}
DATA = {"gaussian25": "Gaussian25", "gaussian25_rotated": "diamond"}


# ------------------------------------------------------------------------ readers (shared with claims.py)
def rows(m: dict, prefix: str) -> dict[str, dict]:
    """The summary rows of a basic-task run whose name starts with `prefix`, by name."""
    return {r["name"]: r for r in m["summary"] if r["name"].startswith(prefix)}


def cell(m: dict, name: str) -> dict:
    """The cell named `name` of a run ({} when absent)."""
    return next((c for c in m["cells"] if c.get("name") == name), {})


def modes(m: dict, i: int) -> list[float]:
    """The mode positions of the run's i-th data set."""
    return config(m)["data"][i]["positions"]


def networks(m: dict, prefix: str) -> list[dict]:
    """The summary rows of the trained networks (detector scored) whose name starts with `prefix`."""
    return [r for r in m["summary"] if r["name"].startswith(prefix) and r.get("auc") is not None
            and r["score"] not in ("exact", "training set")]


NOT_MEASURED = "convergence not measured in this run"


def convergence(m: dict, *prefixes: str) -> list[tuple[str, dict | None]] | None:
    """(cell name, its `convergence` dict or None) of every trained network of a basic-task run whose
    name starts with one of `prefixes`; None when the run records no convergence at all (recorded
    before toy/convergence.py, or a task that does not measure it)."""
    cells = [c for c in m.get("cells", []) if "convergence" in c]
    if not cells:
        return None
    return [(c["name"], c["convergence"]) for c in cells if not prefixes or c["name"].startswith(prefixes)]


def converged_count(states: list[tuple[str, dict | None]]) -> str:
    """'networks converged: k/n (widths a/n, weights b/n, flat c/n)' of `convergence`'s result."""
    n = len(states)

    def k(key: str) -> int:
        return sum(1 for _, c in states if c and c.get(key))

    return (f"networks converged: {k('converged')}/{n} (widths {k('widths_ok')}/{n}, weights {k('weights_ok')}/{n}, "
            f"flat {k('flat_ok')}/{n})")


def failed_tests(c: dict) -> list[str]:
    """Which convergence tests a `convergence` dict failed: ['widths', 'flat'] ('flat not measured'
    when its flatness has no verdict)."""
    failed = [k for k, key in (("widths", "widths_ok"), ("weights", "weights_ok")) if not c.get(key)]
    return failed + (["flat" if c.get("flat_ok") is False else "flat not measured"] if not c.get("flat_ok") else [])


G25_SWEEP = "sweep_hallucination_g25_full"  # Gaussian25 and diamond at the paper's budget, seeds × data sets
RECIPE_SWEEP = "sweep_hallucination_recipe_full"  # the same network, data and batch, learning rate decayed
SWEEPS = (G25_SWEEP, RECIPE_SWEEP)         # the sweep runs the tables and claims read


def sweep_rows(m: dict) -> list[dict]:
    """The finished cells of a sweep run (results.json rows), ordered by data set (DATA's order) then
    training seed."""
    order = list(DATA)
    return sorted(m["sweep"]["rows"], key=lambda r: (order.index(r["data.kind"]) if r["data.kind"] in order
                                                     else len(order), r["data.kind"], r["train.seed"]))


def sweep_setting(m: dict, key: str) -> list:
    """The values the sweep's grid gives the dotted setting `key` (a dotted key, "data.kind" = [...], or
    a nested table, [grid.data] kind = [...]); [] when the grid does not vary it."""
    grid = m["meta"]["sweep"].get("grid", {})
    if key in grid:
        return list(grid[key])
    node = grid
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    return list(node)


def sweep_kinds(m: dict) -> list[str]:
    """The data sets of a sweep run: its grid's data.kind, else its base data.kind."""
    return sweep_setting(m, "data.kind") or [config(m)["data"]["kind"]]


def cell_label(r: dict) -> str:
    """How the tables and claims name a sweep cell: 'Gaussian25 s0'."""
    return f"{data_label(r['data.kind'])} s{r['train.seed']}"


def sweep_convergence(m: dict) -> list[tuple[str, dict | None]] | None:
    """(cell label, its `convergence` dict or None) of every finished cell of a sweep run, as
    `convergence` gives them for a basic-task run; None when no cell records convergence."""
    rs = sweep_rows(m)
    if not any("convergence" in r for r in rs):
        return None
    return [(cell_label(r), r.get("convergence")) for r in rs]


def run_seeds(m: dict) -> list[int]:
    """The training seeds of a recursive run, one chain each ([0] for a run recorded before seeds:
    its rows carry no `seed`)."""
    return sorted({r.get("seed", 0) for r in m["generations"]})


def generations(m: dict, rule: str, seed: int | None = None) -> list[dict]:
    """A recursive run's generations under `rule` for training `seed` (None: the run's first seed), in
    order."""
    seed = run_seeds(m)[0] if seed is None else seed
    return sorted((r for r in m["generations"] if r["rule"] == rule and r.get("seed", 0) == seed),
                  key=lambda r: r["generation"])


# ------------------------------------------------------------------------------------------- formats
def missing(*runs: str) -> str:
    """The marker a table gets when a run it reads is not recorded (a sweep run of SWEEPS: no cell of it
    finished yet, and the sweep command that records and resumes it)."""
    return "".join(no_cells(r) if r in SWEEPS else f"*No recorded run `{r}`: record it with `{command('train', r)}`.*\n"
                   for r in runs)


def no_cells(run: str) -> str:
    """The marker of a sweep run with no finished cell: the command that runs it and resumes it."""
    return f"*No finished cell of the sweep `{run}` yet: run it with `{command('sweep', run)}` (the same command resumes it).*\n"


def f(x, nd: int = 4) -> str:
    """x with nd decimals (a minus sign for negatives); '–' for None."""
    return DASH if x is None else num(x, nd).replace("-", "−")


def pm(x, se, nd: int = 4) -> str:
    """x ± se (x alone when se is None)."""
    return f(x, nd) if se is None else f"{f(x, nd)} ± {f(se, nd)}"


def data_label(name: str) -> str:
    """'line_1_2_3' -> '{1, 2, 3}', 'gaussian25' -> 'Gaussian25'."""
    if name.startswith("line_"):
        return "{" + name[5:].replace("_", ", ") + "}"
    return DATA.get(name, name)


def table(header: list[str], body: list[list[str]], align: str = "---") -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([align] * len(header)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def converged_word(c: dict | None) -> str:
    """'yes', 'no (widths, flat)' (the tests it failed) or 'not measured' for a `convergence` dict."""
    if not c:
        return "not measured"
    if c.get("converged"):
        return "yes"
    failed = failed_tests(c)
    return "no" + (f" ({', '.join(failed)})" if failed else "")

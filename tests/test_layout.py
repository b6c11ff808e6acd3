"""The shape of src/ghostjax (../shared/DESIGN.md, issue 18): small modules and no import circle.

Both are read statically from the source (no import): module sizes in lines, and the graph of the
imports each module runs when it is loaded (statements at module level; imports inside functions run
later, on call, and are left out)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "ghostjax"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package (a package is its __init__.py)."""
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _targets(node: ast.AST, name: str, is_pkg: bool, mods: dict[str, Path]) -> list[str]:
    """The package modules an import statement in module `name` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        where = ".".join(base + ([node.module] if node.module else []))
    else:
        where = node.module or ""
    found = [f"{where}.{a.name}" for a in node.names if f"{where}.{a.name}" in mods]  # from pkg import submodule
    return found + ([where] if where in mods else [])


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        edges = set()
        for node in tree.body:  # module level only
            edges.update(_targets(node, name, path.name == "__init__.py", mods))
        graph[name] = {e for e in edges if e != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """An import circle (its modules, sorted) found by graphlib's topological sort, or []. A package
    importing its own submodules and a submodule importing a sibling through the package are the
    package's business: edges from a module to a package that contains it are left out."""
    g = {a: {b for b in bs if not a.startswith(b + ".")} for a, bs in graph.items()}
    try:
        graphlib.TopologicalSorter(g).prepare()
    except graphlib.CycleError as e:
        return [sorted(set(e.args[1]))]
    return []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_circle():
    graph = _graph()
    assert len(graph) > 100 and "ghostjax.studies.hallucination.readers" in graph["ghostjax.studies.hallucination.claims"]
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    """The check above can fail: a made-up graph with a circle a → b → c → a and a tail d → a."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"p.x": {"p"}, "p": {"p.x"}}) == []  # a package and its own submodule

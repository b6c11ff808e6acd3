"""The results table of a sweep run directory, rewritten atomically after every batch.

  results.csv    one row per finished cell: cell index, id, label, every setting (dotted keys),
                 every metric
  results.json   {"sweep": name, "kind", "n_cells", "n_done", "rows": [...], "curves": {id: {...}}}
  curves.csv     per-σ curves of every finished cell, long format (cell, id, label, curve columns)

A rerun reads results.json back and skips the cells whose id is there (resume).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import ConfigError
from ..runio import atomic_write_csv, atomic_write_json
from .spec import Cell, flat_settings


class Table:
    def __init__(self, out: Path, name: str, kind: str, cells: list[Cell], hidden: tuple[str, ...] = ()):
        self.out, self.name, self.kind, self.cells, self.hidden = Path(out), name, kind, cells, hidden
        self.rows: dict[str, dict] = {}
        self.curves: dict[str, dict] = {}
        path = self.out / "results.json"
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ConfigError(f"--out {self.out}: {path.name} is corrupt ({e}); delete it to rerun every cell") from None
            ids = {c.id for c in cells}
            for r in saved.get("rows", []):
                if r.get("id") in ids:
                    self.rows[r["id"]] = r
            self.curves = {k: v for k, v in saved.get("curves", {}).items() if k in self.rows}

    def done(self, cell: Cell) -> bool:
        return cell.id in self.rows

    def add(self, cell: Cell, metrics: dict, curves: dict) -> dict:
        settings = {k: v for k, v in flat_settings(cell.settings).items() if k not in self.hidden}
        row = {"cell": cell.index, "id": cell.id, "label": cell.label, **settings, **metrics}
        self.rows[cell.id] = row
        if curves:
            self.curves[cell.id] = curves
        return row

    def ordered(self) -> list[dict]:
        """Finished rows in grid order, with their current grid index."""
        out = []
        for c in self.cells:
            if c.id in self.rows:
                out.append({**self.rows[c.id], "cell": c.index, "label": c.label})
        return out

    def write(self) -> None:
        rows = self.ordered()
        atomic_write_json(self.out / "results.json", {
            "sweep": self.name, "kind": self.kind, "n_cells": len(self.cells), "n_done": len(rows),
            "rows": rows, "curves": {r["id"]: self.curves[r["id"]] for r in rows if r["id"] in self.curves}})
        atomic_write_csv(self.out / "results.csv", rows)
        long = []
        for r in rows:
            cur = self.curves.get(r["id"])
            if not cur:
                continue
            n = len(next(iter(cur.values())))
            for i in range(n):
                long.append({"cell": r["cell"], "id": r["id"], "label": r["label"],
                             **{k: v[i] for k, v in cur.items()}})
        if long:
            atomic_write_csv(self.out / "curves.csv", long)

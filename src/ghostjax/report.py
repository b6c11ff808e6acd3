"""`python -m ghostjax.report [--runs docs/runs] [--out docs/REPRODUCTION.md] [--results docs/results] [--rerun [--with-train] [--only A,B]]`

Regenerates docs/REPRODUCTION.md, one numbered row per claim of the seeds, from the recorded runs
docs/runs/<run>/metrics.json (committed with the docs) and the recorded sweeps
docs/runs/<sweep>/results.json of the sweep kinds that name a study (`load_runs`; a sweep is recorded,
and resumed, by `python -m ghostjax.sweep --config configs/<sweep>.toml --out docs/runs/<sweep>`,
never by --rerun unless --only names it). The studies of studies.registry.STUDIES
contribute their rows in registry order: each study's `claims(runs)` gets the metrics of its
recorded runs (the runs whose config.toml names the study; no `study` key means learned), and each
theme's claims module may add the conventions paragraph (`conventions(runs)`) and sections after
the notes (`notes(runs)`). With --rerun the runs are first recorded again from configs/<run>.toml by
the entry point the registry names (`python -m ghostjax.analyze` or `python -m ghostjax.train
--config configs/<run>.toml --out docs/runs/<run>`): every study that does not train; the training
runs (tens of minutes on 2 cores) with --with-train, or when --only names them.
It also rewrites the tables of the results pages (docs/results/*.md): each `<!-- table: THEME:NAME -->`
… `<!-- /table -->` block is replaced by the table studies/<theme>/tables.py builds from its runs.
Every number in the report and in those tables is read from the metrics files.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

from .config import ArgumentParser, ConfigError, RunFailed, build, cli_guard, load_config, read_toml
from .studies import Claim
from .studies.base import command
from .studies.registry import STUDIES, Study, get

DEFAULT_STUDY = "learned"  # a config without a `study` key is a learned run (python -m ghostjax.train)
SWEEP_ENTRY = "sweep"      # the entry point of a sweep run (python -m ghostjax.sweep)


def _command(study: Study, run: str) -> str:
    return command(study.entry, run)


def _toml(path: Path) -> dict:
    """The TOML table at `path` (ConfigError naming it when unreadable)."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"--runs: {path}: unreadable ({e})") from None


def _json(path: Path):
    """The JSON at `path` (ConfigError naming it when unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"--runs: {path}: unreadable ({e})") from None


def _study_key(path: Path) -> str:
    """The `study` key of a run's or a config's TOML (DEFAULT_STUDY when absent)."""
    return _toml(path).get("study", DEFAULT_STUDY)


def is_sweep_config(data: dict) -> bool:
    """Whether a parsed TOML is a sweep config (python -m ghostjax.sweep): it has a top-level `kind`."""
    return "kind" in data


def is_sweep(m: dict) -> bool:
    """Whether a loaded run (a `load_runs` value) is a sweep run (`sweep_run`)."""
    return "sweep" in m.get("meta", {})


def sweep_run(run: str, cfg: dict, results: dict, study: str) -> dict:
    """The run dict of the sweep run directory docs/runs/<run>, from its config.toml `cfg` (parsed) and
    results.json `results`:
      sweep               results.json as written (sweeps/table.py: sweep, kind, n_cells, n_done, rows, curves)
      meta.config         the base settings every cell shares, as config.toml types them, with the
                          sweep's `name` and `study` (what the claims' `config(m)` reads: model, train, eval, …)
      meta.sweep          config.toml whole (kind, base, grid, cells, run)
      meta.command        the sweep command that records it (the same command resumes it)
      meta.elapsed_s      the finished cells' training and sampling seconds, summed: per cell its
                          sample_s and the larger of train_s (the last session's training wall time)
                          and steps_s (its training steps over every session, where recorded)"""
    secs = sum(max(r.get("train_s") or 0.0, r.get("steps_s") or 0.0) + (r.get("sample_s") or 0.0)
               for r in results.get("rows", []))
    return {"sweep": results,
            "meta": {"config": {"name": cfg.get("name", run), "study": study, **cfg.get("base", {})},
                     "sweep": cfg, "command": command(SWEEP_ENTRY, run), "elapsed_s": round(secs, 1)}}


def _load_sweep(d: Path) -> tuple[str, dict] | None:
    """(study, sweep_run dict) of the directory d holding results.json; None when its config.toml is
    missing or not a sweep config, or its kind names no study (SweepKind.study)."""
    path = d / "config.toml"
    cfg = _toml(path) if path.is_file() else {}
    if not is_sweep_config(cfg):
        return None
    from .sweeps.kinds import get_kind

    try:
        study = get_kind(cfg["kind"]).study
    except ConfigError as e:
        raise ConfigError(f"--runs: {path}: {e}") from None
    return None if study is None else (study, sweep_run(d.name, cfg, _json(d / "results.json"), study))


def _load_metrics(p: Path) -> tuple[str, dict]:
    """(study, metrics) of a run's metrics.json `p`, its study read from the run's config.toml."""
    metrics = _json(p)
    cfg = p.parent / "config.toml"
    study = _study_key(cfg) if cfg.is_file() else metrics.get("meta", {}).get("config", {}).get("study", DEFAULT_STUDY)
    return study, metrics


def load_runs(runs: Path) -> dict[str, dict[str, dict]]:
    """{study: {run: metrics}} of the recorded runs under `runs`; studies in registry order (unknown
    ones last), runs by name. A recorded run is a directory holding
      metrics.json   its metrics as written, its study read from the run's config.toml; or
      results.json   and no metrics.json: a sweep run (config.toml a sweep config, with a top-level
                     `kind`) of a kind that names a study (SweepKind.study), loaded as `sweep_run`
                     gives it: {"sweep": results.json, "meta": {"config": base settings + name and
                     study, "sweep": config.toml, "command", "elapsed_s"}}. Other kinds are skipped,
                     and so is a sweep directory with no results.json yet (no finished cell).
    ConfigError naming the file when one is unreadable or names an unknown sweep kind."""
    paths = [*runs.glob("*/metrics.json"),
             *(p for p in runs.glob("*/results.json") if not (p.parent / "metrics.json").exists())]
    found: dict[str, dict[str, dict]] = {}
    for p in sorted(paths):
        loaded = _load_metrics(p) if p.name == "metrics.json" else _load_sweep(p.parent)
        if loaded is not None:
            found.setdefault(loaded[0], {})[p.parent.name] = loaded[1]
    order = [s for s in STUDIES if s in found] + sorted(s for s in found if s not in STUDIES)
    return {s: found[s] for s in order}


def _themes() -> list[str]:
    return list(dict.fromkeys(s.theme for s in STUDIES.values()))


def _theme_runs(by_study: dict, theme: str) -> dict[str, dict]:
    return {run: m for s in STUDIES.values() if s.theme == theme for run, m in by_study.get(s.name, {}).items()}


def _theme_module(theme: str, kind: str):
    """studies/<theme>/<kind>.py (claims or tables), or None."""
    name = f"{__package__}.studies.{theme}.{kind}"
    return importlib.import_module(name) if importlib.util.find_spec(name) is not None else None


TABLE = re.compile(r"<!-- table: (?P<key>[\w.:/-]+) -->\n(?P<body>.*?)<!-- /table -->", re.S)


def tables(by_study: dict[str, dict[str, dict]]) -> dict[str, str]:
    """Every table the themes build from the recorded runs: {key: markdown}, each theme's
    studies/<theme>/tables.py `tables(runs)` given its runs ({run: metrics}); keys are
    "<theme>:<name>"."""
    out = {}
    for theme in _themes():
        mod = _theme_module(theme, "tables")
        if mod is not None:
            out.update({f"{theme}:{k}": v for k, v in mod.tables(_theme_runs(by_study, theme)).items()})
    return out


def fill(text: str, built: dict[str, str], where: str = "page") -> str:
    """`text` with the body of every `<!-- table: KEY -->` … `<!-- /table -->` block replaced by
    built[KEY] (ConfigError naming the page and key when no study builds it)."""
    def one(m: re.Match) -> str:
        key = m["key"]
        if key not in built:
            raise ConfigError(f"{where}: table {key!r}: no study builds it (studies/<theme>/tables.py)")
        return f"<!-- table: {key} -->\n{built[key].rstrip()}\n<!-- /table -->"
    return TABLE.sub(one, text)


def claims(by_study: dict[str, dict[str, dict]]) -> list[tuple[Study, Claim]]:
    """Every study's claims in registry order, each with the study that makes it."""
    return [(s, c) for s in STUDIES.values() for c in s.claims(by_study.get(s.name, {}))]


def render(by_study: dict[str, dict[str, dict]], runs_rel: str = "runs", figures: dict | None = None) -> str:
    """The markdown of REPRODUCTION.md from the recorded runs {study: {run: metrics}} (links relative
    to docs/; `figures`: {run: [figure names]})."""
    figures = figures or {}
    themes = [(t, _theme_module(t, "claims"), _theme_runs(by_study, t)) for t in _themes()]
    conventions = [mod.conventions(r) for _, mod, r in themes if hasattr(mod, "conventions")]
    lines = [
        "# Reproduction of the seed claims (000 Ghost Modes, 001 Two Gaps, 003 Aithal et al., 004 Ventura et al.)",
        "",
        "Generated by `python -m ghostjax.report` from the recorded runs in `docs/runs/<study>/metrics.json`; "
        "do not edit by hand. `python -m ghostjax.report --rerun` runs every study again "
        "(`configs/<study>.toml`, exact Gaussian-mixture scores, float32, CPU) and rewrites this page; "
        "the seed-003 rows read trained-network runs recorded with `python -m ghostjax.train` (their command "
        "is in the row).",
        "",
        *[line for text in conventions for line in (text, "")],
        "| # | Claim (seed) | Definition used | Measured | Command | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    for i, (study, c) in enumerate(claims(by_study), 1):
        m = by_study.get(study.name, {}).get(c.run)
        cmd = m["meta"]["command"] if m is not None else _command(study, c.run)
        lines.append(f"| {i} | {c.text} ({c.seed}) | {c.definition} | {c.measured} | `{cmd}` | **{c.verdict}** |")
        if c.note:
            notes.append(f"{i}. {c.note}")
    lines += ["", "## Notes on the verdicts", ""] + notes
    for _, mod, r in themes:
        if hasattr(mod, "notes"):
            lines += [""] + mod.notes(r)
    lines += ["", "## Recorded runs", "", "| study | command | wall time (s) | figures |", "|---|---|---|---|"]
    for runs in by_study.values():
        for name, m in runs.items():
            figdir = Path(runs_rel) / name / "figures"
            figs = ", ".join(f"[{f}]({figdir / (f + '.png')})" for f in figures.get(name, [])) or f"`{figdir}/`"
            lines.append(f"| {name} | `{m['meta']['command']}` | {m['meta']['elapsed_s']} | {figs} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = ArgumentParser(prog="python -m ghostjax.report", description=__doc__.split("\n\n")[1])
    p.add_argument("--runs", default="docs/runs", help="folder of recorded runs (default docs/runs)")
    p.add_argument("--out", default="docs/REPRODUCTION.md", help="report path (default docs/REPRODUCTION.md)")
    p.add_argument("--results", default="docs/results",
                   help="folder of results pages whose <!-- table: KEY --> blocks are rewritten from the runs "
                        "(default docs/results; skipped when absent)")
    p.add_argument("--configs", default="configs", help="folder of study configs, for --rerun")
    p.add_argument("--rerun", action="store_true", help="record the runs again before writing the report")
    p.add_argument("--only", default=None, help="with --rerun: comma-separated runs (configs/<run>.toml) to rerun")
    p.add_argument("--with-train", action="store_true", help="with --rerun: also rerun every training run (slow)")
    return p.parse_args(argv)


def rerun_names(runs: Path, with_train: bool) -> list[str]:
    """The runs --rerun records again by default: per study in registry order, its recorded runs
    (not its sweeps: their own command resumes them), the runs its claims read and (a study that
    does not train) configs/<study>.toml; the studies that train only `with_train`."""
    recorded = load_runs(runs) if runs.is_dir() else {}
    names: list[str] = []
    for s in STUDIES.values():
        if s.trains and not with_train:
            continue
        mine = {r for r, m in recorded.get(s.name, {}).items() if not is_sweep(m)}
        own = mine | {c.run for c in s.claims({})} | (set() if s.trains else {s.name})
        names += sorted(own)
    return list(dict.fromkeys(names))


def _validate(path: Path) -> str:
    """The entry point (train, analyze, sweep) that records a config TOML, after validating it
    (ConfigError naming the key): a sweep config with its cells expanded, else its study's Config."""
    data = read_toml(path)
    if is_sweep_config(data):
        from .sweeps.spec import SweepConfig, expand

        expand(load_config(SweepConfig, path))
        return SWEEP_ENTRY
    study = get(data.get("study", DEFAULT_STUDY))
    build(study.Config, {**data, "study": study.name})
    return study.entry


def rerun(args, runs: Path) -> None:
    """Record the chosen runs again into runs/<run>, each by its entry point's `main` (its study's, or
    ghostjax.sweep for a sweep config, which resumes it), after validating every config (ConfigError
    before anything runs)."""
    if args.only is None:
        names = rerun_names(runs, args.with_train)
    else:
        names = [s.strip() for s in args.only.split(",") if s.strip()]
    todo = []
    for name in names:
        path = Path(args.configs) / f"{name}.toml"
        if not path.is_file():
            raise ConfigError(f"--only: unknown run {name!r} (no {path})" if args.only is not None
                              else f"--rerun: {path}: no such config")
        todo.append((name, path, _validate(path)))
    for name, path, entry_name in todo:
        entry = importlib.import_module(f"{__package__}.{entry_name}")
        if entry.main(["--config", str(path), "--out", str(runs / name)]) != 0:
            raise RunFailed(f"--rerun: run {name} failed (see above)")


def _figures(runs: Path, by_study: dict) -> dict[str, list[str]]:
    out = {}
    for recorded in by_study.values():
        for name in recorded:
            figdir = runs / name / "figures"
            out[name] = sorted(p.stem for p in figdir.glob("*.png")) if figdir.is_dir() else []
    return out


def main(argv=None) -> int:
    from .runio import atomic_write_text, check_writable

    args = parse_args(argv)
    runs, out = Path(args.runs), Path(args.out)
    if args.with_train and not args.rerun:
        raise ConfigError("--with-train: only meaningful with --rerun")
    if out.is_dir() or (out.parent.exists() and not out.parent.is_dir()):
        raise ConfigError(f"--out {out}: not a file path")
    check_writable(out.parent, what=f"--out {out}")
    if args.rerun:
        rerun(args, runs)
    by_study = load_runs(runs)
    if not by_study:
        raise ConfigError(f"--runs {runs}: no recorded runs (<run>/metrics.json); use --rerun")
    try:
        rel = Path(runs.resolve()).relative_to(out.resolve().parent)
    except ValueError:
        rel = runs.resolve()
    pages = sorted(Path(args.results).glob("*.md")) if Path(args.results).is_dir() else []
    built = tables(by_study) if pages else {}
    filled = [(p, fill(p.read_text(), built, str(p))) for p in pages]  # every page checked before any write
    atomic_write_text(out, render(by_study, str(rel), _figures(runs, by_study)))
    for p, text in filled:
        if text != p.read_text():
            atomic_write_text(p, text)
    print(f"wrote {out} and the tables of {len(pages)} results pages from "
          f"{sum(map(len, by_study.values()))} recorded runs")
    return 0


if __name__ == "__main__":
    sys.exit(cli_guard(main)())

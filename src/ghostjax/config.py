"""Typed experiment configs: TOML files validated by pydantic v2 models.

Every config table is a `Section` (a frozen pydantic model that forbids unknown keys); its fields
carry types, defaults and bounds (`Field(gt=0)`, `Literal[...]`), and cross-field rules are
`model_validator`s raising ValueError("key: ..."). `load_config` reads a TOML file, applies dotted
`key.sub=value` overrides and validates in pydantic's strict JSON mode (an int is a valid float,
a list a valid tuple, nothing else is coerced). The first error becomes a ConfigError whose one-line
message names the dotted key; entry points print it and exit 2 (`cli_guard`).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A bad config value; the message names the key."""


class Section(BaseModel):
    """Base of every config table: frozen (hashable, so usable as a static jit argument), unknown
    keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _plain_name(name: str) -> str:
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"must be a plain folder name, got {name!r}")
    return name


RunName = Annotated[str, pydantic.AfterValidator(_plain_name)]
"""A run's name: the default run directory is runs/<name>, so no path separators."""


def _parse_value(text: str) -> Any:
    """Parse an override's value as a TOML value (numbers, booleans, strings, arrays)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides to nested dict `data` (a copy is returned)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {p} is not a table")
        node[parts[-1]] = _parse_value(text.strip())
    return data


_NAMES_KEY = re.compile(r"^[A-Za-z_][\w.]*: ")
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_TYPES = {"int": "int", "float": "float", "string": "str", "bool": "bool", "tuple": "a list", "list": "a list",
          "dict": "a table", "model": "a table"}


def _fields_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model reached from `schema` along the key path `loc`."""
    model = schema
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        sub = getattr(field, "annotation", None) if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            break
        model = sub
    return sorted(model.model_fields)


def _message(schema: type[BaseModel], err: dict) -> str:
    """One line for a pydantic error: '<dotted key>: <what is wrong>'."""
    loc = tuple(p for p in err["loc"] if isinstance(p, str))
    key = ".".join(loc)
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        what = f"unknown key (expected one of {', '.join(_fields_at(schema, loc[:-1]))})"
    elif kind == "missing":
        what = "missing required key"
    elif kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        what = f"must be {_BOUNDS[kind]} {bound}, got {value!r}"
    elif kind == "literal_error":
        what = f"expected one of {ctx.get('expected', '').replace(' or ', ', ')}, got {value!r}"
    elif kind.split("_")[0] in _TYPES and kind.endswith(("_type", "_parsing", "_from_float")):
        what = f"expected {_TYPES[kind.split('_')[0]]}, got {value!r}"
    elif kind == "value_error":
        what = str(ctx.get("error", err["msg"]))
        if _NAMES_KEY.match(what):  # a model rule's message starts with the field it names
            return f"{key}.{what}" if key else what
    else:
        what = err["msg"]
    return f"{key}: {what}" if key else what


def build(schema: type[T], data: dict, prefix: str = "") -> T:
    """Validate nested dict `data` against `schema` (strict JSON mode); ConfigError naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    try:
        return schema.model_validate_json(json.dumps(data), strict=True)
    except pydantic.ValidationError as e:
        raise ConfigError(prefix + _message(schema, e.errors()[0])) from None
    except (TypeError, ValueError) as e:  # a value JSON cannot carry (e.g. a TOML date)
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {e}") from None


def read_toml(path: str | Path) -> dict:
    """The TOML table at `path`; ConfigError naming --config when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path}: malformed TOML ({e})") from None


def load_config(schema: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """Read TOML at `path` (or start from the defaults when None), apply overrides, build schema."""
    data = read_toml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return build(schema, data)


def to_dict(cfg: Any) -> dict:
    """A config model as a plain nested dict (tuples become lists), for TOML/JSON output."""
    def conv(v):
        if isinstance(v, BaseModel):
            return {k: conv(getattr(v, k)) for k in type(v).model_fields}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def to_toml(data: dict) -> str:
    """Serialise a nested dict of scalars/lists/tables to TOML (enough for our configs)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):  # a table inside an array: an inline table (None values omitted)
            return "{" + ", ".join(f"{k} = {scalar(x)}" for k, x in v.items() if x is not None) + "}"
        if v is None:
            raise ConfigError("to_toml: None has no TOML form")
        raise ConfigError(f"to_toml: cannot write {type(v).__name__}")

    lines: list[str] = []

    def table(d: dict, name: str):
        flat = {k: v for k, v in d.items() if not isinstance(v, dict) and v is not None}
        sub = {k: v for k, v in d.items() if isinstance(v, dict)}
        if name:
            lines.append(f"\n[{name}]")
        for k, v in flat.items():
            lines.append(f"{k} = {scalar(v)}")
        for k, v in sub.items():
            table(v, f"{name}.{k}" if name else k)

    table(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one ConfigError line (exit 2 via cli_guard)."""

    def error(self, message):
        raise ConfigError(f"arguments: {message}")


def entry_parser(prog: str, doc: str, *, config_help: str, out_help: str, example: str,
                 config_required: bool = False, **kw) -> ArgumentParser:
    """The parser every entry point starts from: --config, --out, --no-progress and dotted overrides.

    doc: the module docstring (its second paragraph is the description)."""
    p = ArgumentParser(prog=prog, description=doc.split("\n\n")[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
    p.add_argument("--config", required=config_required, help=config_help)
    p.add_argument("--out", help=out_help)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("overrides", nargs="*", help=f"dotted overrides, e.g. {example}")
    return p


def cli_guard(main: Callable[[], int | None]) -> Callable[[], int]:
    """Wrap an entry point: a ConfigError (bad input) -> one line on stderr, exit 2. Any other
    exception is a bug and keeps its traceback."""
    def wrapped() -> int:
        try:
            return int(main() or 0)
        except ConfigError as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            return 2
    return wrapped

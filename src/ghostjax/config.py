"""Typed experiment configs: TOML files checked against frozen dataclass schemas.

A schema is a (nested) dataclass whose fields carry types and defaults. `load_config` reads a
TOML file, applies dotted `key.sub=value` overrides, and builds the dataclass, rejecting unknown
keys, wrong types and impossible values (a field's `metadata["check"]`, or a dataclass's
`validate()` method) with a ConfigError whose message names the key. Entry points turn a
ConfigError into one line on stderr and exit status 2 (`cli_guard`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config value; the message names the key."""


def check(pred: Callable[[Any], bool], what: str):
    """Field metadata helper: `x: float = field(default=1.0, metadata=check(lambda v: v > 0, "> 0"))`."""
    return {"check": (pred, what)}


def _parse_value(text: str) -> Any:
    """Parse an override's value as a TOML value (numbers, booleans, strings, arrays)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides to nested dict `data` (a copy is returned)."""
    import copy

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


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is typing.Literal:
        return value in typing.get_args(tp), value
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, value
        inner = args[0] if args else Any
        out = []
        for v in value:
            ok, v2 = _type_ok(v, inner)
            if not ok:
                return False, value
            out.append(v2)
        return True, tuple(out)
    if tp is type(None):
        return value is None, value
    if tp is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def build(schema: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass `schema` from nested dict `data`, validating every key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (expected one of {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        tp = hints[name]
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing required key")
            continue
        value = data[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, value, key + ".")
            continue
        ok, value = _type_ok(value, tp)
        if not ok:
            raise ConfigError(f"{key}: expected {_describe(tp)}, got {data[name]!r}")
        chk = f.metadata.get("check")
        if chk is not None and not chk[0](value):
            raise ConfigError(f"{key}: must be {chk[1]}, got {value!r}")
        kwargs[name] = value
    obj = schema(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None
    return obj


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
    """A dataclass config as a plain nested dict (tuples become lists), for TOML/JSON output."""
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
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


def cli_guard(main: Callable[[], int | None]) -> Callable[[], int]:
    """Wrap an entry point: ConfigError/ValueError/FileNotFoundError -> one line on stderr, exit 2."""
    def wrapped() -> int:
        try:
            return int(main() or 0)
        except (ConfigError, ValueError, FileNotFoundError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            return 2
    return wrapped

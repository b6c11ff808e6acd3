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
import math
import re
import sys
import tomllib
from pathlib import Path
import types
from typing import Annotated, Any, Callable, Literal, TypeVar, Union, get_args, get_origin

import pydantic
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A bad config value; the message names the key."""


class RunFailed(RuntimeError):
    """A run that started from a valid config but cannot give results (e.g. its metrics came out
    non-finite). One line naming the cause; `cli_guard` prints it and exits 1."""


class Section(BaseModel):
    """Base of every config table: frozen (hashable, so usable as a static jit argument), unknown
    keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def tag_of(cls: type[BaseModel], tag: str = "kind") -> str:
    """The name a config writes for Section class `cls`: the default of its `tag` field."""
    return cls.model_fields[tag].default


def tagged(*classes: type[Section], tag: str = "kind") -> Any:
    """A config field type that is one of `classes`, chosen by their `tag` field (a one-value
    Literal: the name each class is written under, once). A config gives a table {tag = name, ...}
    or the bare name (that class with its defaults); `to_dict` writes the bare name back when every
    other value is the class's default."""
    def bare(v):
        return {tag: v} if isinstance(v, str) else v

    def write(v, handler):
        return getattr(v, tag) if v == type(v)() else handler(v)

    return Annotated[Union[classes], Field(discriminator=tag), pydantic.BeforeValidator(bare),  # noqa: UP007
                     pydantic.WrapSerializer(write)]


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


def _split_override(item: str) -> tuple[str, str]:
    """(key, value text) of `key=value`, where the key may hold TOML-quoted parts with '=' in them."""
    quoted = False
    for i, c in enumerate(item):
        if c == '"':
            quoted = not quoted
        elif c == "=" and not quoted:
            return item[:i], item[i + 1:]
    raise ConfigError(f"override {item!r}: expected key.sub=value")


def _key_path(key: str) -> list[str]:
    """The parts of a dotted TOML key: `grid."data.gap"` -> ['grid', 'data.gap']."""
    try:
        node = tomllib.loads(f"{key.strip()} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"override {key.strip()!r}: not a valid key (use key.sub or key.\"quoted.sub\")") from None
    parts = []
    while isinstance(node, dict):
        (k, node), = node.items()
        parts.append(k)
    return parts


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides to nested dict `data` (a copy is returned)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, text = _split_override(item)
        parts = _key_path(key)
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


def _models_in(annotation) -> list[type[BaseModel]]:
    """The model classes a field annotation holds (through Annotated, Optional, unions, tuples)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _models_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType, tuple, list):
        return [m for a in get_args(annotation) if a is not Ellipsis for m in _models_in(a)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _tag_values(model: type[BaseModel]) -> set:
    """The values of `model`'s one-value Literal fields (its union tags)."""
    return {get_args(f.annotation)[0] for f in model.model_fields.values()
            if get_origin(f.annotation) is Literal and len(get_args(f.annotation)) == 1}


def _walk(schema: type[BaseModel], loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """(the dotted key's parts, the model reached) along a pydantic error location: list indices and
    the tags pydantic puts after a tagged-union field (e.g. ('grid', 'edm', 'rho')) are dropped."""
    names: list[str] = []
    model: type[BaseModel] | None = schema
    parts = [p for p in loc if isinstance(p, str)]
    while parts:
        p = parts.pop(0)
        names.append(p)
        field = model.model_fields.get(p) if model is not None else None
        subs = _models_in(field.annotation) if field is not None else []
        if len(subs) > 1:  # a tagged union: the next part, if any, is the tag of the member
            member = [m for m in subs if parts and parts[0] in _tag_values(m)]
            if member:
                parts.pop(0)
            model = member[0] if member else None
        else:
            model = subs[0] if subs else None
    return names, model


def _message(schema: type[BaseModel], err: dict) -> str:
    """One line for a pydantic error: '<dotted key>: <what is wrong>'."""
    names, _ = _walk(schema, tuple(err["loc"]))
    key = ".".join(names)
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _walk(schema, tuple(err["loc"])[:-1])[1]
        what = f"unknown key (expected one of {', '.join(sorted(parent.model_fields) if parent else [])})"
    elif kind == "union_tag_invalid":
        what = f"expected one of {ctx.get('expected_tags', '').replace(chr(39), '')}, got {ctx.get('tag')!r}"
    elif kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "kind")).strip("'")
        return f"{key}.{tag}: missing required key" if key else f"{tag}: missing required key"
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


def check_finite(data: Any, key: str = "") -> None:
    """ConfigError '<dotted.key>: must be finite, got inf' for the first float in nested dicts/lists
    `data` that is inf or nan (TOML and the overrides allow both; no config number may be either)."""
    if isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(f"{key or 'config'}: must be finite, got {data!r}")
    if isinstance(data, dict):
        for k, v in data.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(data, (list, tuple)):
        for v in data:
            check_finite(v, key)


def _over_defaults(model: type[BaseModel], base: dict, given: dict) -> dict:
    """`given` read over `base` (a field default's dict), table by table: a table given for a field
    whose default is a model instance keeps that default's values for the keys it leaves out (a
    study's own [optim] or [train] defaults, not the Optim or Train class's)."""
    out = dict(base)
    for k, v in given.items():
        field = model.model_fields.get(k) if isinstance(k, str) else None
        subs = _models_in(field.annotation) if field is not None else []
        if isinstance(v, dict) and len(subs) == 1 and field.annotation is subs[0]:
            d = base.get(k)
            if not isinstance(d, dict):
                default = field.get_default(call_default_factory=True)
                d = to_dict(default) if type(default) is subs[0] else {}
            out[k] = _over_defaults(subs[0], d, v)
        else:
            out[k] = v
    return out


def build(schema: type[T], data: dict, prefix: str = "") -> T:
    """Validate nested dict `data` against `schema` (strict JSON mode); ConfigError naming the key.
    Non-finite floats (inf, nan) are refused anywhere in `data`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    check_finite(data, prefix.rstrip("."))
    try:
        return schema.model_validate_json(json.dumps(_over_defaults(schema, {}, data)), strict=True)
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
    """A config model as a plain nested dict (tuples become lists), for TOML/JSON output. Values
    that are objects (a solver, a tagged spec) are written as the config names them."""
    def conv(v):
        if isinstance(v, BaseModel):
            return conv(v.model_dump(mode="python"))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def to_toml(data: dict) -> str:
    """Serialise a nested dict of scalars/lists/tables to TOML (enough for our configs)."""
    def key(k: str) -> str:  # a bare key, or a quoted one ("data.dim" is one key, not a table)
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

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
            return "{" + ", ".join(f"{key(k)} = {scalar(x)}" for k, x in v.items() if x is not None) + "}"
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
            lines.append(f"{key(k)} = {scalar(v)}")
        for k, v in sub.items():
            table(v, f"{name}.{key(k)}" if name else key(k))

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
    """Wrap an entry point so that expected failures are one line on stderr, never a traceback:

    ConfigError (bad input)                       -> "error: <key>: <what>", exit 2
    RunFailed (training.TrainingDiverged is one)  -> "error: <cause>", exit 1
    Ctrl-C (training.Interrupted carries the step) -> "interrupted at step N; resume with --resume"
                                                     (a bare KeyboardInterrupt: "interrupted"), exit 130
    Any other exception is a bug and keeps its traceback."""
    def wrapped() -> int:
        try:
            return int(main() or 0)
        except ConfigError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return 2
        except RunFailed as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as e:  # training.Interrupted is a KeyboardInterrupt with a message
            print(one_line(e) if str(e) else "interrupted", file=sys.stderr)
            return 130
    return wrapped


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its class name when empty)."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__

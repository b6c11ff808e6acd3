"""Config schemas: unknown keys, wrong types, impossible values and bad command lines are one
line naming the key; TOML round trip; atomic writes leave nothing half-written."""

import os
import subprocess
import sys
import tomllib

import pytest
from pydantic import Field

from ghostjax.config import ArgumentParser, ConfigError, Section, apply_overrides, build, cli_guard, to_dict, to_toml
from ghostjax.runio import atomic_write_json, atomic_write_text


class Inner(Section):
    dim: int = Field(3, ge=1)
    std: float = 0.3


class Outer(Section):
    name: str = "x"
    kinds: tuple[str, ...] = ("joint",)
    data: Inner = Inner()


def test_build_validates_with_key_names():
    cfg = build(Outer, {"data": {"dim": 4, "std": 1}, "kinds": ["a", "b"]})
    assert cfg.data.dim == 4 and cfg.data.std == 1.0 and isinstance(cfg.data.std, float)
    assert cfg.kinds == ("a", "b")
    with pytest.raises(ConfigError, match=r"^data\.dimm: unknown key"):
        build(Outer, {"data": {"dimm": 4}})
    with pytest.raises(ConfigError, match=r"^data\.dim: expected int"):
        build(Outer, {"data": {"dim": "four"}})
    with pytest.raises(ConfigError, match=r"^data\.dim: must be >= 1"):
        build(Outer, {"data": {"dim": 0}})
    with pytest.raises(ConfigError, match=r"^data\.std: expected float"):
        build(Outer, {"data": {"std": True}})


def test_overrides_and_toml_round_trip():
    data = apply_overrides({}, ["data.dim=8", "kinds=[\"joint\", \"factorized\"]", "name=run1"])
    cfg = build(Outer, data)
    assert cfg.data.dim == 8 and cfg.kinds == ("joint", "factorized") and cfg.name == "run1"
    assert build(Outer, tomllib.loads(to_toml(to_dict(cfg)))) == cfg
    with pytest.raises(ConfigError, match="override"):
        apply_overrides({}, ["novalue"])


def test_cli_guard_and_parser_give_one_line_exit_2(capsys):
    def main():
        p = ArgumentParser(prog="x")
        p.add_argument("--n", type=int)
        p.parse_args(["--n", "notanint"])

    assert cli_guard(main)() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n" in err[0]


@pytest.mark.parametrize("module", ["train", "analyze", "sweep", "report"])
def test_entry_points_reject_unknown_flags_in_one_line(module, tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", f"ghostjax.{module}", "--no-such-flag", "--config", "missing.toml",
                        "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-flag" in lines[0], r.stderr
    assert not out.exists()


def test_atomic_writes_replace_whole_files(tmp_path):
    p = tmp_path / "a" / "m.json"
    atomic_write_json(p, {"x": 1, "nan": float("nan")})
    assert p.read_text().strip().startswith("{")
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]  # no temporary left behind

"""`python -m ghostjax.analyze`: config validation before any directory, one-line errors with exit
2, every shipped config valid, and a tiny end-to-end run writing metrics, CSVs and figures."""

import json
from pathlib import Path

import pytest

from ghostjax import analyze
from ghostjax.config import ConfigError
from ghostjax.analyze import NAMES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", NAMES)
def test_every_study_has_a_valid_config(name):
    mod, cfg = analyze.resolve(str(ROOT / "configs" / f"{name}.toml"), [])
    assert cfg.study == name and mod.Config is type(cfg)


def test_bad_inputs_raise_config_error_naming_the_key(tmp_path):
    cfg = str(ROOT / "configs" / "two_gaps.toml")
    with pytest.raises(ConfigError, match="nonsense"):
        analyze.resolve(cfg, ["nonsense=1"])
    with pytest.raises(ConfigError, match="integrators"):
        analyze.resolve(cfg, ['integrators=["rk4:10:geometric"]'])
    with pytest.raises(ConfigError, match="n: must be a multiple"):
        analyze.resolve(cfg, ["n=1000"])
    with pytest.raises(ConfigError, match="study"):
        analyze.resolve(cfg, ["study=nope"])
    with pytest.raises(ConfigError, match="required"):
        analyze.resolve(None, [])
    bad = tmp_path / "bad.toml"
    bad.write_text("study = 'census'\nn = -3\n")
    with pytest.raises(ConfigError, match="n: must be >= 1"):
        analyze.resolve(str(bad), [])


def test_cli_bad_value_prints_one_line_exits_2_and_creates_nothing(tmp_path):
    out = tmp_path / "run"
    from conftest import run_module

    status, stderr = run_module("analyze", "--config", str(ROOT / "configs" / "census.toml"), "--out", str(out),
                                "std=-1")
    assert status == 2
    assert stderr.strip().count("\n") == 0 and "std" in stderr
    assert not out.exists()


def test_cli_help_exits_0():
    with pytest.raises(SystemExit) as e:
        analyze.parse_args(["--help"])
    assert e.value.code == 0


def test_tiny_blind_corners_run_writes_outputs(tmp_path):
    out = tmp_path / "run"
    analyze.run_study(str(ROOT / "configs" / "blind_corners.toml"), ["n_sigma=25", "high_dim=4", "more_dim=3", "more_k=2", "seed=1"], str(out),
                      progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["command"].startswith("python -m ghostjax.analyze --config")
    assert "n_sigma=25" in m["meta"]["command"]
    case = m["cases"]["balanced D=3"]
    # The blind-corner factorized score equals the real-corner one for balanced opposite corners.
    assert case["fact_blind_over_real_at_sigma_data"] == pytest.approx(1.0, rel=1e-4)
    assert case["n_blind"] == 6
    # The ratio at a blind corner decreases with σ, so 3000× is reached below 80×.
    cr = case["ratio_crossings"]
    assert cr["3000"]["sigma_over_sigma_data_min"] < cr["80"]["sigma_over_sigma_data_min"]
    assert (out / "magnitudes.csv").is_file() and (out / "config.toml").is_file()
    assert (out / "figures" / "ratio_curves.png").stat().st_size > 1000

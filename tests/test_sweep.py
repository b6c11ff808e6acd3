"""Sweeps: grid expansion and validation, the exact cell's census and grids against the reference
implementations, and in subprocesses: 4 forced host devices and two gloo processes give the same
table as one device; a SIGKILLed sweep resumes to the same table through the persistent cache."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import sweep
from ghostjax.metrics.census import census, product_ghost_mass
from ghostjax.config import ConfigError, cli_guard, load_config
from ghostjax.studies.ghosts import corners_cell
from ghostjax.sweeps import exact
from ghostjax.sweeps.spec import SweepConfig, expand

REPO = Path(__file__).resolve().parents[1]
# One xdist worker runs this module (pyproject: --dist loadgroup), so the module-scoped reference
# sweep (a subprocess, ~10 s) is computed once, not once per worker.
pytestmark = pytest.mark.xdist_group("sweep_reference")
TINY = """
name = "tiny"
kind = "exact"
[base]
std = 0.3
n = 256
n_steps = 24
sigma_max = 20.0
sigma_min = 0.01
[grid]
dim = [2, 3]
weight = [0.5, 0.8]
seed = [0, 1]
[run]
batch_cells = 2
"""
# Across device layouts only the order of the particle reductions changes: metrics agree to float
# tolerance (measured: ≤ 1e-5 relative), census fractions to one particle in 256 (measured: equal).
ATOL = {f"{w}_{s}": 1.01 / 256 for w in ("real", "ghost", "off") for s in ("joint", "fact")}


# ------------------------------------------------------------------------------ config and grid
def load(tmp_path, text=TINY, overrides=()):
    p = tmp_path / "sweep.toml"
    p.write_text(text)
    return load_config(SweepConfig, p, list(overrides))


def test_grid_expansion_order_labels_and_ids(tmp_path):
    cells = expand(load(tmp_path))
    assert len(cells) == 8
    assert cells[0].label == "dim=2,weight=0.5,seed=0" and cells[1].label == "dim=2,weight=0.5,seed=1"
    assert [c.settings.dim for c in cells] == [2] * 4 + [3] * 4
    assert len({c.id for c in cells}) == 8
    # ids depend on settings only: a reordered grid gives the same ids
    again = expand(load(tmp_path, overrides=["grid.seed=[1, 0]"]))
    assert {c.id for c in again} == {c.id for c in cells}


def test_list_times_grid_and_duplicates(tmp_path):
    text = TINY.replace("[grid]\ndim = [2, 3]\nweight = [0.5, 0.8]\nseed = [0, 1]",
                        "[grid]\nseed = [0, 1]\n[[cells]]\ndim = 2\n[[cells]]\ndim = 4\nweight = 0.9\n[[cells]]\ndim = 2")
    cells = expand(load(tmp_path, text))
    assert [(c.settings.dim, c.settings.weight, c.settings.seed) for c in cells] == [
        (2, 0.5, 0), (2, 0.5, 1), (4, 0.9, 0), (4, 0.9, 1)]


@pytest.mark.parametrize("override, msg", [
    (["grid.dim=[2, 0]"], "cell dim=0,weight=0.5,seed=0: dim: must be >= 1"),
    (["base.bogus=1"], "bogus: unknown key"),
    (["grid.seed=3"], "grid.seed: expected a non-empty list"),
    (["kind=nope"], "kind: expected one of"),
    (["base.method=rk4"], "method: expected one of"),
])
def test_bad_config_names_the_key(tmp_path, override, msg):
    with pytest.raises(ConfigError, match=msg):
        expand(load(tmp_path, overrides=override))


def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    for argv in ([f"--config={cfg}", f"--out={out}", "grid.dim=[0]"],
                 [f"--config={cfg}", f"--out={out}", "--coordinator", "nohost"],
                 [f"--config={tmp_path / 'missing.toml'}", f"--out={out}"],
                 [f"--out={out}"]):
        assert cli_guard(lambda: sweep.main(argv))() == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        assert not out.exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert cli_guard(lambda: sweep.main([f"--config={cfg}", f"--out={tmp_path / 'busy'}"]))() == 2
    assert "holds no sweep" in capsys.readouterr().err


@pytest.mark.parametrize("name, n_cells", [("sweep_dims", 66), ("sweep_large_gpu", 54), ("sweep_learned", 108)])
def test_shipped_configs_expand(name, n_cells):
    cfg = load_config(SweepConfig, REPO / "configs" / f"{name}.toml")
    cells = expand(cfg)
    assert len(cells) == n_cells and cfg.name == name


def test_large_config_batches_fit_the_element_cap():
    from ghostjax.sweeps.runner import plan

    cfg = load_config(SweepConfig, REPO / "configs" / "sweep_large_gpu.toml")
    _, groups = plan(cfg, expand(cfg))
    assert max(c.settings.dim for _, g in groups for c in g) == 512
    for b, g in groups:
        assert b * exact.KIND.cost(g[0].settings) <= max(cfg.run.max_batch_elements, exact.KIND.cost(g[0].settings))
        assert len({c.settings.dim for c in g}) == 1  # one shape per group


def test_learned_cells_train_one_network_each():
    from ghostjax.studies.ghosts.learned.cell import study_config

    cfg = load_config(SweepConfig, REPO / "configs" / "sweep_learned.toml")
    cells = expand(cfg)
    c = next(c for c in cells if c.varied == {"data.dim": 8, "loss.band_factor": 10.0, "net": "pooled", "train.seed": 2})
    study = study_config(c.settings, c.id)
    assert study.model.kinds == ("pooled",) and study.data.dim == 8 and study.loss.band_factor == 10.0
    assert study.train.seed == 2 and study.train.steps == 1500
    with pytest.raises(ConfigError, match="net: expected one of"):
        expand(load_config(SweepConfig, REPO / "configs" / "sweep_learned.toml", ['grid.net=["mlp"]']))
    with pytest.raises(ConfigError, match="loss.band_lo: must be < band_hi"):  # resolved band [0.5, σ_mode = 0.3]
        expand(load_config(SweepConfig, REPO / "configs" / "sweep_learned.toml", ["base.loss.band_lo=0.5"]))


# ------------------------------------------------------------------------------ the exact cell
@pytest.mark.parametrize("dim, weight", [(2, 0.5), (5, 0.3)])
def test_traced_census_and_ghost_mass_match_reference(dim, weight):
    gm = gj.GaussianMixture.opposite_corners(dim, std=0.3, weight=weight)
    rng = np.random.default_rng(dim)
    x = (rng.normal(size=(2000, dim)) + 0.8 * rng.choice([-1.0, 1.0], size=(2000, 1))).astype(np.float32)
    traced = lambda x, s, w: corners_cell.census_fractions(x, gj.GaussianMixture.opposite_corners(dim, s, w), 1e-3)  # noqa: E731
    f = jax.jit(traced)(x, jnp.float32(0.3), jnp.float32(weight))
    ref = {k: float(v) for k, v in census(x, gm).items()}
    np.testing.assert_allclose(np.asarray(f), [ref["real_fraction"], ref["ghost_fraction"], ref["off_fraction"]],
                               atol=1e-6)
    assert 0 < ref["ghost_fraction"] < 1 and 0 < ref["off_fraction"] < 1  # every class is exercised
    pm = jax.jit(lambda w: product_ghost_mass(gj.GaussianMixture.opposite_corners(dim, jnp.float32(0.3), w)))
    np.testing.assert_allclose(float(pm(jnp.float32(weight))), float(product_ghost_mass(gm)), rtol=1e-5)
    np.testing.assert_allclose(float(product_ghost_mass(gm)), 1 - weight**dim - (1 - weight) ** dim, rtol=1e-5)


# ------------------------------------------------------------------------------ subprocess sweeps
def child_env(devices: int = 1) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO / "src"))
    # The children compare tables with each other, never with this process; they compile with the
    # suite's XLA settings (tests/conftest.py: opt level 0, elemental emitters), which keep it short.
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([f"--xla_force_host_platform_device_count={devices}", *flags])
    return env


def run_sweep(cfg: Path, out: Path, *extra, devices=1, check=True, cache=None):
    cmd = [sys.executable, "-m", "ghostjax.sweep", "--config", str(cfg), "--out", str(out), "--no-progress",
           *extra]
    if cache is not None:
        cmd.append(f"run.cache_dir={cache}")
    p = subprocess.run(cmd, env=child_env(devices), capture_output=True, text=True, timeout=240)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def table(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["rows"]


def assert_same_table(a: list[dict], b: list[dict], exact: bool = False):
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(a) > 0
    for ra, rb in zip(a, b):
        for k, v in ra.items():
            if isinstance(v, float) and not exact:
                np.testing.assert_allclose(rb[k], v, rtol=1e-4, atol=ATOL.get(k, 1e-6), err_msg=f"{ra['label']} {k}")
            else:
                assert rb[k] == v, (ra["label"], k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY)
    run_sweep(cfg, d / "one", cache=d / "cache")
    return cfg, d


def test_reference_table_is_complete_and_sane(reference):
    cfg, d = reference
    rows = table(d / "one")
    assert len(rows) == 8 and (d / "one" / "results.csv").is_file() and (d / "one" / "figures" / "summary.png").is_file()
    for r in rows:
        assert r["real_joint"] > 0.9  # the exact joint score makes no ghosts ...
        assert r["ghost_fact"] > 0.1  # ... the factorized one does, near the product-of-marginals mass
        assert abs(r["ghost_fact"] - r["ghost_predicted"]) < 0.15
        assert np.isclose(r["real_fact"] + r["ghost_fact"] + r["off_fact"], 1.0)
        assert 0.1 < r["gap_peak_sigma"] < 10 and r["ep_total"] > 0
    t = json.loads((d / "one" / "timings.json").read_text())
    assert t["persistent_cache"]["misses"] >= 2 and len(t["compile"]) == 2  # one program per D


def test_four_devices_same_table(reference):
    cfg, d = reference
    run_sweep(cfg, d / "four", "run.mesh_cells=2", devices=4)
    t = json.loads((d / "four" / "timings.json").read_text())
    assert t["devices"] == 4 and t["mesh"] == {"cells": 2, "particles": 2}
    assert_same_table(table(d / "one"), table(d / "four"))


def test_two_processes_gloo_same_table(reference):
    cfg, d = reference
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "ghostjax.sweep", "--config", str(cfg), "--out", str(d / "two"), "--no-progress",
           "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "run.mesh_cells=1"]
    procs = [subprocess.Popen(cmd + ["--process-id", str(i)], env=child_env(1), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    t = json.loads((d / "two" / "timings.json").read_text())
    assert t["processes"] == 2 and t["devices"] == 2 and t["mesh"] == {"cells": 1, "particles": 2}
    assert_same_table(table(d / "one"), table(d / "two"))


@pytest.mark.slow  # SIGKILL of a child sweep (~9 s); resume in CI: tests/test_sweep_kinds.py
def test_killed_sweep_resumes_to_same_table_without_recompiling(reference):
    cfg, d = reference
    out = d / "killed"
    p = run_sweep(cfg, out, "--stop-after-batches", "2", check=False, cache=d / "cache")
    assert p.returncode == -signal.SIGKILL
    assert len(table(out)) == 4 and not (out / "timings.json").exists()
    run_sweep(cfg, out, cache=d / "cache")
    t = json.loads((out / "timings.json").read_text())
    assert t["cells_run"] == 4  # only the unfinished cells ran
    assert t["persistent_cache"]["hits"] >= 1 and t["persistent_cache"]["misses"] == 0
    assert_same_table(table(d / "one"), table(out), exact=True)  # same programs, same inputs: bitwise

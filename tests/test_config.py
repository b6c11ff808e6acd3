"""Config schemas: unknown keys, wrong types, impossible values and bad command lines are one
line naming the key; TOML round trip; atomic writes leave nothing half-written."""

import tomllib

import pytest
from pydantic import Field

from ghostjax.config import ArgumentParser, ConfigError, Section, apply_overrides, build, cli_guard, to_dict, to_toml
from ghostjax.guidance import ConstantCFG, Guidance
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
def test_entry_points_reject_unknown_flags_in_one_line(module, tmp_path, monkeypatch):
    from conftest import run_module

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    status, stderr = run_module(module, "--no-such-flag", "--config", "missing.toml", "--out", str(out))
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-flag" in lines[0], stderr
    assert not out.exists()


def test_atomic_writes_replace_whole_files(tmp_path):
    p = tmp_path / "a" / "m.json"
    atomic_write_json(p, {"x": 1, "nan": float("nan")})
    assert p.read_text().strip().startswith("{")
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]  # no temporary left behind


# ------------------------------------------------------------------ typed specs (grids, solvers, guidance)
def _study(name, overrides=(), path=None):
    from ghostjax.config import load_config
    from ghostjax.studies.registry import STUDIES

    return load_config(STUDIES[name].Config, path, list(overrides))


@pytest.mark.parametrize("study, override, message", [
    ("census", "grid=spiral", "grid: expected one of geometric, edm, ddpm, got 'spiral'"),
    ("census", "grid={kind=\"edm\", rho=-1.0}", "grid.rho: must be > 0"),
    ("census", "grid={kind=\"edm\", rh=1.0}", "grid.rh: unknown key (expected one of kind, rho)"),
    ("census", "grid={rho=1.0}", "grid.kind: missing required key"),
    ("census", "grid=ddpm", "grid: expected one of geometric, edm (a grid from sigma_max to sigma_min)"),
    ("learned", "eval.grid=3", "eval.grid: expected a table"),
    ("census", "method=rk4", "method: expected one of euler_maruyama, ode_euler, ode_heun, ddpm, got 'rk4'"),
    ("learned", "eval.method=rk4", "eval.method: expected one of euler_maruyama, ode_euler, ode_heun, ddpm"),
    ("guidance_schedules", "sampler.solver={name=\"ddpm\", variance=\"both\"}",
     "sampler.solver.variance: expected 'beta' or 'posterior', got 'both'"),
    ("guidance_schedules", "sampler.solver={name=\"ode_heun\", order=3}", "sampler.solver.order: not an option of ode_heun"),
    ("two_gaps", "integrators=[\"euler_maruyama:200\"]", "integrators: expected 'method:steps:grid'"),
    ("two_gaps", "integrators=[\"rk4:200:edm\"]", "integrators.solver: expected one of euler_maruyama"),
    ("two_gaps", "integrators=[\"ode_euler:200:spiral\"]", "integrators.grid: expected one of geometric, edm, ddpm"),
])
def test_bad_grid_and_solver_are_one_line_naming_the_key(study, override, message):
    with pytest.raises(ConfigError) as e:
        _study(study, [override])
    assert str(e.value).startswith(message) and len(str(e.value).splitlines()) == 1, str(e.value)


class GuidedRun(Section):
    guidance: Guidance = ConstantCFG()


@pytest.mark.parametrize("value, message", [
    ("\"cosine\"", "guidance: expected one of constant, window, linear, power_law, autoguidance, got 'cosine'"),
    ("{kind=\"window\", w_late=0.5}", "guidance.w_late: must be < 0.0, got 0.5"),
    ("{kind=\"power_law\", alpha=-2.0}", "guidance.alpha: must be >= -1"),
    ("{kind=\"linear\", omega=1.0}", "guidance.omega: unknown key (expected one of kind, w0)"),
])
def test_bad_guidance_schedule_is_one_line_naming_the_key(value, message):
    with pytest.raises(ConfigError) as e:
        build(GuidedRun, apply_overrides({}, [f"guidance={value}"]))
    assert str(e.value).startswith(message) and len(str(e.value).splitlines()) == 1, str(e.value)


def test_guidance_families_build_the_guided_scores():
    import jax
    import numpy as np

    import ghostjax.guidance as G

    run = build(GuidedRun, {"guidance": {"kind": "window", "w_late": -0.5, "t_switch": 0.7}})
    assert run.guidance == G.WindowCFG(w_late=-0.5, t_switch=0.7) and run.guidance.params() == {"w_late": -0.5, "t_switch": 0.7}
    assert to_dict(build(GuidedRun, {"guidance": "autoguidance"})) == {"guidance": "autoguidance"}
    gm = G.class_mixture(4, key=jax.random.key(0), n_classes=3)
    x, s = jax.numpy.ones(4), 0.8
    for fam, ref in ((G.WindowCFG(w_late=-0.5, t_switch=0.7), G.cfg(gm, 1, G.NegativeWindow(2.0, -0.5, 0.7))),
                     (G.LinearCFG(w0=-1.0), G.cfg(gm, 1, G.LinearInTime(-1.0, 2.0))),
                     (G.PowerLawFamily(alpha=0.5), G.power_law(gm, 1, 2.0, 0.5)),
                     (G.AutoguidanceFamily(factor=3.0), G.autoguidance(gm, 1, 3.0, 2.0))):
        np.testing.assert_allclose(fam.score(gm, 1, 2.0)(x, s), ref(x, s), rtol=1e-6)


@pytest.mark.parametrize("study, path, overrides", [
    ("census", "configs/census.toml", ["grid={kind=\"edm\", rho=5.0}", "method={name=\"ddpm\", variance=\"posterior\"}"]),
    ("two_gaps", "configs/two_gaps.toml", []),
    ("learned", "configs/quickstart.toml", ["eval.gap_method=ode_heun", "eval.grid=ddpm"]),
    ("guidance_learned", "configs/guidance_learned.toml", ["sampler.solver=ode_heun"]),
    ("hallucination", "configs/hallucination_arch.toml", []),
])
def test_study_config_round_trip(study, path, overrides):
    cfg = _study(study, overrides, path)
    assert build(type(cfg), tomllib.loads(to_toml(to_dict(cfg)))) == cfg


def test_specs_are_objects_and_are_written_as_the_config_wrote_them():
    import ghostjax as gj
    from ghostjax.processes import EDMGrid, GeometricGrid

    cfg = _study("census", ["grid={kind=\"edm\", rho=5.0}", "method=ode_heun"])
    assert cfg.grid == EDMGrid(rho=5.0) and cfg.method == gj.OdeHeun() and hash(cfg) == hash(_study("census", [
        "grid={kind=\"edm\", rho=5.0}", "method=ode_heun"]))
    d = to_dict(cfg)
    assert d["grid"] == {"kind": "edm", "rho": 5.0} and d["method"] == "ode_heun"
    d = to_dict(_study("census", path="configs/census.toml"))
    assert d["grid"] == "geometric" and d["method"] == "euler_maruyama"
    assert _study("census", ["grid=geometric"]).grid == GeometricGrid()
    its = _study("two_gaps", path="configs/two_gaps.toml").integrators
    assert its[-1].solver == gj.DDPM() and its[-1].grid.kind == "ddpm" and its[-1].label == "ddpm:1000:ddpm"


def test_a_table_is_read_over_the_studys_defaults():
    cfg = _study("shapes", ["train.steps=5", "optim.lr=0.002", "loss.ddpm_T=50"])
    assert (cfg.train.steps, cfg.train.batch, cfg.train.steps_per_call) == (5, 32, 50)   # shapes' defaults, not Train's
    assert cfg.optim.lr == 0.002 and cfg.optim.ema_decay == 0.995 and cfg.optim.final_lr_frac == 0.1
    assert (cfg.loss.sigma_dist, cfg.loss.ddpm_T, cfg.loss.ddpm_beta_end) == ("ddpm", 50, 0.02)
    h = _study("hallucination", ["train.sigma_range=sampler"])
    assert (h.train.steps, h.train.batch, h.train.sigma_range, h.loss.ddpm_beta_end) == (4000, 1024, "sampler", 0.2)
    g = _study("guidance_learned", ["train.seeds=[3]"])
    assert (g.train.steps, g.train.seeds, g.optim.lr) == (6000, (3,), 3e-3)
    with pytest.raises(ConfigError, match=r"^train\.seed: not used here"):
        _study("guidance_learned", ["train.seed=2"])

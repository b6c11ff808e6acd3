"""Every shipped config (accelerator `_gpu` and recorded `_full` settings aside) runs through its
entry point at a tiny size, so a study that its config no longer reaches cannot land: the run must
exit 0 and write metrics.json with at least one finite number. The overrides only shrink sizes.

CI runs one config per (study, task): a config in SIBLINGS runs the same code path as the config it
names, with other values, and is marked slow (`pytest -m slow tests/test_configs.py` runs them), and
a config in COVERED is run through its entry point by the CI test it names, with these checks;
every config, siblings, `_gpu` and `_full` included, is still validated by its entry point's loader
in test_every_config_validates (the cheap half of the smoke test: no compilation)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.toml")
                 if not p.stem.endswith(("_gpu", "_full")))

# config -> the config whose (study, task) run covers its code path in CI
SIBLINGS = {
    "hallucination_1d_aithal": "hallucination_1d",      # recipe "aithal": tests/test_aithal_match.py
    "hallucination_2d": "hallucination_1d",             # 2-D data kinds: tests/test_hallucination.py
    "hallucination_arch_seeds": "hallucination_arch",
    "recursive_2d": "recursive_1d",
    "guidance_regime_large": "guidance_distortion",
    "learned_study": "quickstart",
    "shapes_detector": "shapes",
}
# config -> the CI test that runs it through its entry point with at least the smoke test's checks
COVERED = {
    "quickstart": "tests/test_train_cli.py::test_run_writes_its_files_and_refuses_to_overwrite",
    "shapes_recursive": "tests/test_shapes.py::test_recursive_run_measures_every_rule_and_generation",
}
ALL_CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.toml"))

_TRAIN_TINY = ["train.steps=20", "train.batch=32", "train.steps_per_call=10"]
# the convergence snapshots run in hallucination_1d only; eval.exact samples the exact score too
_HALL = _TRAIN_TINY + ["eval.n_samples=64", "model.width=16", "model.embed_dim=16", "model.depth=1",
                       "eval.convergence_samples=0", "eval.window=3", "eval.window_max=4"]
_LINE = ['data=[{kind = "line", positions = [1.0, 2.0, 3.0], std = 0.05, n_train = 256}]']
_LEARNED = ["train.steps=20", "train.batch=32", "train.steps_per_call=10", "train.checkpoint_every=20",
            "eval.n_samples=64", "eval.n_steps=10"]
TINY = {
    "blind_corners": ["n_sigma=9", "high_dim=4", "more_dim=3", "more_k=2"],
    "census": ["n=64", "n_steps=10", "enum_max_dim=4", "enum_trials=2"],
    "coupling": ["couplings=[0.0, 0.5]", "clone_couplings=[0.0]", "n_starts=3", "n_pairs=32", "n_steps=8"],
    "edm2_tree": ["n=256", "steps=8", "grid_resolution=40", "zoom_n=64"],
    "entropy_production": ["dims=[2, 3]", "claim_dims=[2, 3]", "n=256", "groups=4", "n_sigma=7", "traj_dims=[3]",
                           "traj_n=64", "traj_steps=10", "n_boot=10"],
    "guidance_distortion": ["observe=true", "draws=2", "phase_dim=8", "phase_beta_ratios=[0.5, 1.0]", "phase_ws=[0.0, 1.0]",
                            "phase_n=32", "sampler.n=64", "sampler.steps=16", "fit_min_dim=8", "mf_points=5",
                            'laws=[{kind = "fixed", classes = 3, dims = [8]}, {kind = "exponential", beta = 0.1, '
                            'dims = [8, 12]}]', "classes.max_classes=50"],
    "guidance_regime_large": ["observe=false", "draws=2", "phase_dim=8", "phase_beta_ratios=[0.5]", "phase_ws=[0.0]",
                              "phase_n=32", "sampler.n=64", "sampler.steps=16", "fit_min_dim=8", "mf_points=5",
                              'laws=[{kind = "exponential", beta = 0.1, dims = [8, 12]}]', "classes.max_classes=50"],
    "guidance_schedules": ["dim=8", "draws=2", "sampler.n=64", "sampler.steps=16", "constant_ws=[0.0, 1.0]",
                           "interval_ws=[0.0, 1.0]", "ramp_ws=[0.0, 1.0]", "cosine_ws=[0.0, 1.0]",
                           "window_w_early=[1.0, 2.0]", "window_w_late=[-0.5]", "window_t_switch=[0.5]",
                           "phase_w0s=[-0.5]", "phase_omegas=[1.0, 2.0]", "power_alphas=[0.5]",
                           "power_omegas=[1.0, 3.0]", "auto_ws=[1.0, 2.0]", "classes.accuracy_at=[8, 2]"],
    "guidance_learned": ["dim=4", "n_classes=3", "classes.accuracy_at=[4, 3]", "sampler.n=64", "sampler.steps=16",
                         "constant_ws=[0.0, 1.0]", "window_w_early=[2.0, 4.0]", "window_w_late=[-0.5]",
                         "model.width=16", "model.depth=1", "model.embed_dim=8", "score_error_sigmas=[0.1, 1.0]",
                         "train.seeds=[0, 1]"] + _TRAIN_TINY,
    "hallucination_1d": _HALL + _LINE + ['model.blocks=["shared"]', "eval.convergence_samples=32"],
    "hallucination_1d_aithal": _HALL + _LINE,
    "hallucination_2d": _HALL + ['model.blocks=["independent"]',
                                 'data=[{kind = "gaussian25_rotated", std = 0.05, n_train = 256}]'],
    "hallucination_arch": _HALL + ['sweep.variants=[{name = "base"}, {name = "exact_regression", source = "mixture", '
                                   'target = "exact"}]'],
    "hallucination_arch_seeds": _HALL,
    "hallucination_gap": _HALL + ["sweep.gaps=[8.0]", "sweep.n_modes=[2]", "eval.convergence_samples=16"],
    "hallucination_ghosts": _HALL + ["eval.convergence_samples=16"],
    "recursive_1d": _HALL + ["recursive.generations=2", "recursive.rules=[\"none\", \"variance\"]"],
    "recursive_2d": _HALL + ["recursive.generations=2", "recursive.rules=[\"none\"]"],
    "learned_study": _LEARNED + ["sweep.dims=[2]", "sweep.band_factors=[1.0]", "sweep.seeds=[0]",
                                 'model.kinds=["pooled"]'],  # quickstart runs the joint and factorized kinds
    "quickstart": _LEARNED + ["data.dim=2"],
    "shapes": ["train.steps=2", "train.batch=4", "train.steps_per_call=1", "data.n_train=16", "eval.n_samples=8",
               "eval.batch=8", "eval.steps=12", "model.base_channels=8", "model.channel_mult=[1]", "model.groups=4",
               "eval.grid=8"],
    "shapes_detector": ["train.steps=2", "train.batch=4", "train.steps_per_call=1", "data.n_train=16",
                        "eval.n_samples=8", "eval.batch=8", "eval.steps=12", "eval.window_max=10",
                        "model.base_channels=8", "model.channel_mult=[1]", "model.groups=4", "eval.grid=8"],
    "shapes_recursive": ["train.steps=2", "train.batch=4", "train.steps_per_call=1", "data.n_train=16",
                         "recursive.n_keep=16", "recursive.generations=2", "eval.batch=8", "eval.steps=12",
                         "model.base_channels=8", "model.channel_mult=[1]", "model.groups=4", "eval.grid=8"],
    "speciation": ["dims=[2, 3]", "n_starts=3", "n_pairs=32", "n_steps=8", "gap_n=256", "groups=4", "n_sigma=7",
                   "n_boot=10"],
    "two_gaps": ["n=256", "groups=4", "n_sigma=7", "traj_n=64", "n_boot=10",
                 'integrators=["euler_maruyama:20:geometric", "ode_heun:10:geometric"]',
                 'reference="euler_maruyama:20:geometric"'],
    "sweep_dims": ["base.n=64", "base.n_steps=10", "grid.dim=[2, 3]", "grid.weight=[0.5]", "grid.seed=[0]",
                   "run.batch_cells=1", 'run.cache_dir="none"'],
    "sweep_guidance": ["base.sampler.n=32", "base.sampler.steps=8", "grid.dim=[8]", "grid.w=[1.0]", "grid.seed=[0]",
                       "run.batch_cells=1", 'run.cache_dir="none"'],
    "sweep_hallucination": ['grid."data.gap"=[8.0]', 'grid."train.seed"=[0]', "base.train.steps=20",
                            "base.train.batch=32", "base.train.steps_per_call=10", "base.eval.n_samples=64",
                            "base.eval.convergence_samples=0",  # the cell's snapshots: tests/test_convergence.py
                            'run.cache_dir="none"'],
    "sweep_learned": ['grid."data.dim"=[2]', 'grid."loss.band_factor"=[1.0]', 'grid.net=["joint"]',
                      'grid."train.seed"=[0]', "base.train.steps=20", "base.train.batch=32",
                      "base.train.steps_per_call=10", "base.train.checkpoint_every=20", "base.eval.n_samples=64",
                      "base.eval.n_steps=10", 'run.cache_dir="none"'],
}


def _entry(name: str):
    import tomllib

    from ghostjax import analyze, sweep, train
    from ghostjax.studies.registry import STUDIES

    data = tomllib.loads((ROOT / "configs" / f"{name}.toml").read_text())
    if name.startswith("sweep_"):
        return sweep.main
    return train.main if STUDIES[data.get("study", "learned")].trains else analyze.main


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "meta":
                yield from _finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _finite_numbers(v)
    elif isinstance(obj, float) and math.isfinite(obj):
        yield obj


def test_every_config_has_tiny_settings():
    assert sorted(TINY) == CONFIGS, "add tiny overrides for a new config (or name it *_gpu / *_full)"


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_every_config_validates(name):
    """The config (its sizes as shipped) loads through its entry point's loader: typed, every key known."""
    from ghostjax import train
    from ghostjax.config import load_config
    from ghostjax.entry import load
    from ghostjax.studies.registry import STUDIES
    from ghostjax.sweeps.spec import SweepConfig, expand

    path = str(ROOT / "configs" / f"{name}.toml")
    if name.startswith("sweep_"):
        assert expand(load_config(SweepConfig, path))
        return
    entry = "train" if _entry(name) is train.main else "analyze"
    study, cfg = load(path, [], entry=entry, default_study="learned")
    assert study is STUDIES[cfg.study]


def test_siblings_share_study_and_task():
    import tomllib

    def key(name):
        d = tomllib.loads((ROOT / "configs" / f"{name}.toml").read_text())
        return d.get("study", "learned"), d.get("task")

    for name, twin in SIBLINGS.items():
        assert name in CONFIGS and twin in CONFIGS and twin not in SIBLINGS
        assert key(name) == key(twin), (name, twin)


def test_covered_configs_name_a_ci_test_that_runs_them():
    import importlib.util

    for name, test in COVERED.items():
        path, func = test.split("::")
        spec = importlib.util.spec_from_file_location("covering", ROOT / path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fn = getattr(mod, func)
        assert name in CONFIGS and not hasattr(fn, "pytestmark"), (name, test)  # not marked slow


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SIBLINGS or n in COVERED else n
                                  for n in CONFIGS])
def test_config_runs_through_its_entry_point(name, tmp_path, monkeypatch):
    from ghostjax import runio

    monkeypatch.chdir(tmp_path)
    save = runio.atomic_savefig  # figures at 20 dpi: the smoke test checks they are written, not how they look
    monkeypatch.setattr(runio, "atomic_savefig", lambda fig, path, **kw: save(fig, path, **{**kw, "dpi": 20}))
    out = tmp_path / "run"
    main = _entry(name)
    status = main(["--config", str(ROOT / "configs" / f"{name}.toml"), "--out", str(out), "--no-progress",
                   *TINY[name]])
    assert status == 0
    if name.startswith("sweep_"):  # a sweep writes its table and timings
        table = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else None
        assert (out / "timings.json").is_file() and table, f"{name}: no table"
        metrics = table
    else:
        metrics = json.loads((out / "metrics.json").read_text())
    assert any(True for _ in _finite_numbers(metrics)), f"{name}: no finite number in the results"
    assert list((out / "figures").glob("*.png")), f"{name}: no figure written"
    assert (out / "config.toml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], f"{name}: wrote outside --out"

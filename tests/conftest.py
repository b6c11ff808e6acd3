"""Test-wide JAX settings: strict dtype promotion and rank promotion that raises, so silent
broadcasting or float64 leaks fail loudly (../shared/DESIGN.md, "Style")."""

import os

# The suite is bound by XLA compilation (tiny arrays, many programs). Two XLA:CPU settings cut it
# and compute the same operations: backend optimisation level 0 (tests/test_nets.py +
# test_mixtures_matmul.py on 2 cores: 76 -> 52 s) and, with it, the elemental IR emitters in place of
# the MLIR fusion emitters (--xla_cpu_use_fusion_emitters=false: the mixture-score programs of
# test_mixtures_matmul.py compile 4x faster, 2.0 -> 0.5 s; test_mixtures_matmul + test_nets +
# test_integrate 147 -> 112 s on a loaded machine). Set before the first computation initialises the
# backend; a caller's own XLA_FLAGS setting of either wins. Benchmarks never run under this conftest.
_TEST_XLA_FLAGS = {"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"}
_flags = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join([_flags] * bool(_flags) + [f"--{k}={v}" for k, v in _TEST_XLA_FLAGS.items()
                                                             if k not in _flags])

import jax  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


def run_module(module: str, *args: str) -> tuple[int, str]:
    """Run `python -m ghostjax.<module> ARGS` in this process (runpy, as -m does: the module's
    `__main__` block runs with sys.argv set) and return (exit status, stderr). The same code path as a
    subprocess without a fresh interpreter's 3 s of imports; tests/test_train_cli.py keeps one real
    subprocess. stderr is captured by swapping sys.stderr for the call."""
    import io
    import runpy
    import sys
    import warnings

    argv, err = sys.argv, sys.stderr
    sys.argv, sys.stderr = [f"ghostjax.{module}", *args], io.StringIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "found in sys.modules": the module is imported
            runpy.run_module(f"ghostjax.{module}", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        text, sys.argv, sys.stderr = sys.stderr.getvalue(), argv, err
    return status, text

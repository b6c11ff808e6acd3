"""Test-wide JAX settings: strict dtype promotion and rank promotion that raises, so silent
broadcasting or float64 leaks fail loudly (../shared/DESIGN.md, "Style")."""

import os

# The suite is bound by XLA compilation (tiny arrays, many programs): XLA's backend optimisation
# level 0 compiles ~30 % faster (tests/test_nets.py + test_mixtures_matmul.py on 2 cores: 76 -> 52 s)
# and computes the same operations. Set before the first computation initialises the backend; a
# caller's own XLA_FLAGS setting of the level wins. Benchmarks never run under this conftest.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

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

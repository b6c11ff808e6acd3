"""Class-conditional training with label dropout (ghostjax.conditional), the conditional network and
its score wrappers (ghostjax.nets.conditional), and the guidance_learned study entry point."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ghostjax import train as train_cli
from ghostjax.conditional import LabelledMixture, conditional_dsm_loss
from ghostjax.config import cli_guard
from ghostjax.guidance import Constant, NegativeWindow
from ghostjax.losses import Loss
from ghostjax.mixtures import GaussianMixture
from ghostjax.nets.conditional import ConditionalMLP, CondScore, UncondScore, guided

D, M = 3, 4


def _data(p):
    gm = GaussianMixture.random_classes(D, M, key=jax.random.PRNGKey(3), mean_std=2.0, std=0.7)
    return LabelledMixture(gm, p)


def _net():
    return ConditionalMLP(D, M, key=jax.random.PRNGKey(5), width=16, depth=2, embed_dim=8, sigma_data=1.5)


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_objective_equals_an_independent_conditional_dsm(p):
    """The loss against a float64 NumPy evaluation of (1/n) Σ λ(σ)/σ² · σ²‖s(x_σ, σ, c) + ε/σ‖²/D with
    the EDM λ = σ²(σ² + σ_d²)/σ_d², the network called one example at a time, the batch drawn with
    the key layout the module documents, the labels dropped by u < p."""
    data, net, n = _data(p), _net(), 16
    spec = Loss().resolve(data)
    key = jax.random.PRNGKey(11)
    loss, aux = eqx.filter_jit(conditional_dsm_loss)(net, data, key=key, spec=spec, batch=n)
    one = eqx.filter_jit(net)
    k_data, k_sig, k_eps, k_drop = jax.random.split(key, 4)
    x0, labels = data.gm.sample(k_data, n, return_labels=True)
    lnsig = spec.p_mean + spec.p_std * np.asarray(jax.random.normal(jax.random.split(k_sig, 3)[0], (n,)), np.float64)
    sig = np.exp(lnsig)
    eps = np.asarray(jax.random.normal(k_eps, (n, D)), np.float64)
    u = np.asarray(jax.random.uniform(k_drop, (n,)), np.float64)
    c = np.where(u < p, M, np.asarray(labels))
    assert (p == 0) == np.all(c < M) and (p == 0 or 0 < np.sum(c == M) < n)
    xs = np.asarray(x0, np.float64) + sig[:, None] * eps
    sd2 = spec.sigma_data**2
    err = np.zeros(n)
    for i in range(n):
        s = np.asarray(one(jnp.asarray(xs[i], jnp.float32), jnp.float32(sig[i]), jnp.int32(c[i])), np.float64)
        err[i] = np.mean((sig[i] * s + eps[i]) ** 2)
    lam = sig**2 * (sig**2 + sd2) / sd2
    assert float(loss) == pytest.approx(np.mean(lam / sig**2 * err), rel=2e-4)
    assert float(np.sum(aux["bucket_count"])) == n
    assert float(np.sum(aux["bucket_sum"])) == pytest.approx(err.sum(), rel=2e-4)


def test_label_dropout_rate_is_respected():
    """Monte Carlo: the fraction replaced by the null class is p within 4 standard errors, and the
    kept labels are unchanged."""
    n, p = 40000, 0.2
    data = _data(p)
    _, labels = data.sample(jax.random.PRNGKey(0), n)
    dropped = np.asarray(data.drop_labels(jax.random.PRNGKey(1), labels))
    labels = np.asarray(labels)
    frac = np.mean(dropped == M)
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
    keep = dropped != M
    assert np.array_equal(dropped[keep], labels[keep]) and labels.max() < M
    assert np.all(np.asarray(LabelledMixture(data.gm, 0.0).drop_labels(jax.random.PRNGKey(1), jnp.asarray(labels))) == labels)
    with pytest.raises(ValueError, match="p_uncond"):
        LabelledMixture(data.gm, 1.5)


def test_wrappers_give_the_conditional_and_unconditional_scores():
    net = _net()
    x, sig = jnp.asarray([0.3, -1.0, 2.0]), jnp.float32(0.7)
    outs = [np.asarray(net(x, sig, jnp.int32(c))) for c in range(M + 1)]
    for c in range(M):
        np.testing.assert_array_equal(np.asarray(CondScore(net, c)(x, sig)), outs[c])
    np.testing.assert_array_equal(np.asarray(UncondScore(net)(x, sig)), outs[M])
    assert min(np.abs(outs[a] - outs[b]).max() for a in range(M + 1) for b in range(a)) > 1e-4  # labels matter
    w = 1.7
    np.testing.assert_allclose(np.asarray(guided(net, 2, w)(x, sig)), (1 + w) * outs[2] - w * outs[M], rtol=1e-5, atol=1e-6)
    win = guided(net, 1, NegativeWindow(3.0, -1.0, 0.5))  # σ = 0.7 is below σ(t = 0.5) = 1.31: w = −1
    np.testing.assert_allclose(np.asarray(win(x, sig)), outs[M], rtol=1e-5, atol=1e-6)
    # the label is traced: one compiled function serves every class
    f = jax.jit(lambda c: guided(net, c, Constant(0.0))(x, sig))
    np.testing.assert_allclose(np.asarray(f(jnp.int32(3))), outs[3], rtol=1e-5, atol=1e-6)


TINY = """
study = "guidance_learned"
dim = 4
n_classes = 3
targets = 1
p_uncond = 0.2
constant_ws = [0.0, 2.0]
window_w_early = [1.0, 4.0]
window_w_late = [-1.0]
score_error_sigmas = []
[sampler]
n = 32
steps = 8
[model]
width = 8
depth = 1
embed_dim = 4
[train]
steps = 20
batch = 32
steps_per_call = 10
seeds = [0]
score_error_n = 16
"""


def _main(argv):
    return cli_guard(lambda: train_cli.main(argv))()


@pytest.mark.slow  # tests/test_configs.py runs this study's configs through the entry point in CI
def test_tiny_study_writes_its_files(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    for f in ("metrics.json", "summary.csv", "scan.csv", "score_errors.csv", "training.csv", "config.toml",
              "figures/frontier.png"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    scores = {r["score"] for r in m["at_target"]}
    assert {"exact", "learned", "learned_s0"} <= scores
    assert m["n_classes"] == 3 and m["training"][0]["final_loss"] > 0


@pytest.mark.parametrize("override, key", [("bogus=1", "bogus"), ("train.sedes=[1]", "sedes"),
                                           ("window_w_late=[0.5]", "window_w_late")])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, override, key):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert _main(["--config", str(cfg), "--out", str(out), "--no-progress", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0]
    assert not out.exists()

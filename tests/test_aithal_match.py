"""The hallucination study's `aithal` recipe against Aithal et al.'s public toy code
(locuslab/diffusion-model-hallucination, gaussian_experiments/ddpm_torch/toy): initialisation,
biases, the levels trained on, the batch order, and (with torch) the forward pass of the PyTorch
transcription in benchmarks/compare_aithal_toy.py with copied weights. Each check is against a
computation written here from their code's description, not through the code under test."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ghostjax.data import EmpiricalData
from ghostjax.losses import Loss
from ghostjax.nets import make_net
from ghostjax.nets.aithal import StepEmbedding
from ghostjax.studies.hallucination.toy.config import Config, HallucinationTrain, Model, Sweep, Variant
from ghostjax.studies.hallucination.toy.fitting import WalkedBatches, net_key, training_loss
from ghostjax.studies.hallucination.toy.nets import build_net
from ghostjax.training import Optim, fit

AITHAL = Model(recipe="aithal", t_proj=True)


def their_sigmas() -> np.ndarray:
    """σ_t, t = 0 … 999, from their GaussianDiffusion: ᾱ = cumprod(1 − linspace(0.001, 0.2, 1000))."""
    ab = np.cumprod(1.0 - np.linspace(0.001, 0.2, 1000))
    return np.sqrt(1.0 / ab - 1.0)


@pytest.fixture(scope="module")
def net():
    return build_net(AITHAL, 1, key=net_key(0))


def test_xavier_uniform_weights_and_zero_biases(net):
    lins = [x for x in jax.tree_util.tree_leaves(net, is_leaf=lambda x: isinstance(x, eqx.nn.Linear))
            if isinstance(x, eqx.nn.Linear)]
    assert len(lins) == 6  # in_fc, fc1, enc, fc2 (one shared layer), out_fc, t_proj
    bound_in = math.sqrt(6.0 / (1 + 128))
    assert bound_in == pytest.approx(0.2157, abs=1e-4)
    w = np.asarray(net.inp.weight)
    assert np.abs(w).max() <= bound_in and np.abs(w).max() > 0.9 * bound_in  # U(±0.2157), not U(±1)
    for lin in lins:
        fo, fi = lin.weight.shape
        b = math.sqrt(6.0 / (fi + fo))
        v = np.asarray(lin.weight).ravel()
        assert np.abs(v).max() <= b
        if v.size >= 4096:  # U(±b): variance b²/3, mean |w| b/2
            assert np.var(v) == pytest.approx(b * b / 3, rel=0.05)
            assert np.mean(np.abs(v)) == pytest.approx(b / 2, rel=0.03)
        if lin.bias is not None:
            assert not np.any(np.asarray(lin.bias))
    # ours keeps equinox's U(±1/√fan_in): the 1 → 128 input layer spans ±1
    ours = build_net(Model(), 1, key=net_key(0))
    assert np.abs(np.asarray(ours.inp.weight)).max() > 0.9


def test_biases_where_theirs_have_them(net):
    blk = net.blocks[0]
    assert len(net.blocks) == 1 and net.depth == 3  # one layer applied 3 times
    assert net.inp.bias is None and blk.lin1.bias is None and blk.lin2.bias is None
    assert blk.temb.bias is not None and net.out.bias is not None and net.t_proj.bias is not None
    # their Decoder(1, 128, 3): in_fc 128; layer: 2 LayerNorms 2·256, fc1, fc2 128², enc 128² + 128;
    # out LayerNorm 256, out_fc 128 + 1; t_proj 128² + 128
    theirs = 128 + (2 * 256 + 2 * 128**2 + 128**2 + 128) + 256 + 129 + 128**2 + 128
    assert sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_inexact_array))) == theirs


def test_ours_is_unchanged():
    """The default recipe builds exactly what make_net builds (the recorded runs' networks)."""
    a = build_net(Model(), 1, key=net_key(3))
    b = make_net("aithal", 1, key=net_key(3), width=128, depth=3, embed_dim=128, precond="eps", shared_blocks=True)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert a.blocks[0].lin1.bias is not None


def test_step_embedding_recovers_every_step():
    sig = jnp.asarray(their_sigmas(), jnp.float32)
    emb = StepEmbedding(128)
    t = np.asarray(jax.vmap(emb.step)(0.25 * jnp.log(sig)))
    assert np.array_equal(t, np.arange(1000))
    half = np.exp(-np.arange(64) * math.log(10000) / 63)  # get_timestep_embedding(t, 128)
    e = np.asarray(emb(0.25 * jnp.log(sig[417])))
    assert np.allclose(e, np.concatenate([np.sin(417 * half), np.cos(417 * half)]), atol=2e-5)


def test_trains_on_all_1000_levels():
    cfg = Config(model=AITHAL)
    dist = training_loss(cfg).sigma_distribution()
    table, _ = dist.table()
    assert np.allclose(table, their_sigmas(), rtol=1e-12)
    draws = np.asarray(dist.sample(jax.random.PRNGKey(0), 100_000))
    assert np.unique(draws).size == 1000
    # the recorded runs (ours, sigma_range = "sampler") stop at the 419 levels with σ_t ≤ 1e4
    ours = Config(train=HallucinationTrain(sigma_range="sampler"))
    assert training_loss(ours).sigma_distribution().table()[0].size == int(np.sum(their_sigmas() <= 1e4)) == 419


def their_stream(x: np.ndarray, batch: int, epochs: int) -> list[np.ndarray]:
    """Their DataStreamer.__iter__ over `epochs` epochs: num_batches = len // batch slices in order."""
    out, nb = [], len(x) // batch
    for _ in range(epochs):
        cnt = 0
        while True:
            out.append(x[cnt * batch:(cnt + 1) * batch])
            cnt += 1
            if cnt >= nb:
                break
    return out


@pytest.mark.parametrize("n, batch", [(20, 10), (25, 10), (9, 3)])
def test_batch_order_walks_fixed_blocks(n, batch):
    x = np.arange(n, dtype=np.float32)[:, None]
    w = WalkedBatches(EmpiricalData(x), batch)
    expect = their_stream(x, batch, 3)
    for step, block in enumerate(expect):
        got = w.at_step(jnp.asarray(step, jnp.int32)).sample(jax.random.PRNGKey(step), batch)
        assert np.array_equal(np.asarray(got), block)
    with pytest.raises(ValueError, match="batch"):
        WalkedBatches(EmpiricalData(x), n + 1)


class _Probe(eqx.Module):
    w: jax.Array


def _batch_mean(model, data, *, key, spec, batch, band_factor):
    """An objective whose loss is the batch mean (the parameter gets zero gradient)."""
    del band_factor
    m = jnp.mean(data.sample(key, batch)) + 0.0 * jnp.sum(model.w)
    nb = spec.n_buckets
    return m, {"bucket_sum": jnp.zeros(nb), "bucket_count": jnp.ones(nb), "band_sum": m, "band_count": jnp.ones(())}


def test_fit_draws_the_walked_blocks():
    """training.fit's AbstractStepData hook: step s trains on block s mod 2 (the two halves in turn)."""
    x = np.arange(20, dtype=np.float32)[:, None]
    _, hist = fit(_Probe(jnp.zeros(1)), WalkedBatches(EmpiricalData(x), 10), Loss(), Optim(ema_decay=0.0), seed=0,
                  steps=4, batch=10, steps_per_call=1, progress=False, objective=_batch_mean)
    assert [h["loss"] for h in hist] == [4.5, 14.5, 4.5, 14.5]


def test_recipe_rules():
    with pytest.raises(ValueError, match="model.t_proj"):
        Config(model=Model(recipe="aithal"))
    with pytest.raises(ValueError, match="train.sigma_range"):
        Config(model=AITHAL, train=HallucinationTrain(sigma_range="sampler"))
    with pytest.raises(ValueError, match="model.recipe"):
        Config(model=AITHAL, task="architecture", sweep=Sweep(variants=(Variant(name="f", kind="fourier_aithal"),)))
    with pytest.raises(ValueError, match="loss"):
        Config(model=AITHAL, loss=Loss.ddpm(1e-4, 0.02))


def test_forward_matches_torch_transcription():
    torch = pytest.importorskip("torch")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_aithal_toy.py"
    spec = importlib.util.spec_from_file_location("compare_aithal_toy", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    decoder, _, _ = mod.torch_parts()
    rng = np.random.default_rng(0)
    net = build_net(AITHAL, 1, key=net_key(1))
    # zero biases and unit norms would hide a misplaced one: perturb them first
    blk = net.blocks[0]
    where = lambda n: [n.blocks[0].norm1.weight, n.blocks[0].norm1.bias, n.blocks[0].norm2.weight,  # noqa: E731
                       n.blocks[0].norm2.bias, n.blocks[0].temb.bias, n.norm.weight, n.norm.bias, n.out.bias,
                       n.t_proj.bias]
    net = eqx.tree_at(where, net, [a + 0.1 * jnp.asarray(rng.standard_normal(a.shape), a.dtype) for a in where(net)])
    blk = net.blocks[0]
    state = {"in_fc.weight": net.inp.weight, "layer.norm1.weight": blk.norm1.weight, "layer.norm1.bias": blk.norm1.bias,
             "layer.fc1.weight": blk.lin1.weight, "layer.norm2.weight": blk.norm2.weight,
             "layer.norm2.bias": blk.norm2.bias, "layer.fc2.weight": blk.lin2.weight, "layer.enc.weight": blk.temb.weight,
             "layer.enc.bias": blk.temb.bias, "out_norm.weight": net.norm.weight, "out_norm.bias": net.norm.bias,
             "out_fc.weight": net.out.weight, "out_fc.bias": net.out.bias, "t_proj.weight": net.t_proj.weight,
             "t_proj.bias": net.t_proj.bias}
    tm = decoder()
    tm.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in state.items()})
    t = np.array([0, 1, 5, 50, 106, 200, 418, 419, 500, 750, 999])
    sig = their_sigmas()[t]
    xt = rng.standard_normal((t.size, 1)).astype(np.float32)  # their x_t = √ᾱ x_0 + √(1 − ᾱ) ε
    xs = (xt * np.sqrt(1.0 + sig**2)[:, None]).astype(np.float32)  # ours: x_σ = x_t / √ᾱ
    s32 = jnp.asarray(sig, jnp.float32)
    eps_ours = -np.asarray(s32)[:, None] * np.asarray(jax.vmap(net)(jnp.asarray(xs), s32))
    with torch.no_grad():
        eps_theirs = tm(torch.from_numpy(xt), torch.from_numpy(t)).numpy()
    assert np.abs(eps_theirs).max() > 0.5
    np.testing.assert_allclose(eps_ours, eps_theirs, atol=1e-5, rtol=1e-5)

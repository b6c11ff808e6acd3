"""The UNet score network (nets/unet.py): its convolution and group norm against NumPy, the hand-written
backward passes (CanonicalConv, BatchConv) against JAX's autodiff of lax.conv_general_dilated, both layouts,
the conv_impl option, shapes, σ-dependence, float64, argument checks, training."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ghostjax.data import EmpiricalData
from ghostjax.losses import Loss
from ghostjax.nets import UNet, make_net
from ghostjax.nets.conv import CONV_IMPLS, BatchConv, CanonicalConv, ConvImpl, LaxConv
from ghostjax.nets.unet import Conv, GroupNorm
from ghostjax.training import Optim, fit

N = 8  # image side
TINY = dict(image_size=N, base_channels=4, channel_mult=(1, 2), blocks_per_level=1, groups=2, embed_dim=8)


def _np_conv(x, w, b, stride):
    """Direct NumPy convolution of one HWC example with an HWIO kernel, zero padding (k-1)/2."""
    k = w.shape[0]
    p = (k - 1) // 2
    xp = np.pad(x, ((p, p), (p, p), (0, 0)))
    ho, wo = (x.shape[0] + 2 * p - k) // stride + 1, (x.shape[1] + 2 * p - k) // stride + 1
    out = np.zeros((ho, wo, w.shape[3]))
    for i in range(ho):
        for j in range(wo):
            patch = xp[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = np.einsum("hwc,hwco->o", patch, w) + b
    return out


@pytest.mark.parametrize("impl", ["batch", "canonical"])
@pytest.mark.parametrize("k,stride,size", [(3, 1, 6), (3, 2, 7), (1, 2, 7)])  # odd sizes cover the even ones' paths
def test_conv_matches_numpy_and_jax_autodiff(impl, k, stride, size):
    """Values and gradients (input and weight, under vmap + grad as in training, float32, tolerance
    rtol = atol = 1e-5) of the hand-written backward passes against JAX's autodiff of lax convs."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, 3))
    conv = Conv(3, 5, k, key=jax.random.PRNGKey(1), stride=stride, impl=impl)
    ref = np.stack([_np_conv(np.asarray(xi, np.float64), np.asarray(conv.weight, np.float64),
                             np.asarray(conv.bias, np.float64), stride) for xi in x])
    lax_conv = Conv(3, 5, k, key=jax.random.PRNGKey(1), stride=stride, impl="lax")  # same weights
    nchw = Conv(3, 5, k, key=jax.random.PRNGKey(1), stride=stride, layout="nchw")

    @jax.jit
    def run(conv, lax_conv, nchw, x, dy):
        out = jax.vmap(conv)(x)
        out_chw = jax.vmap(nchw)(jnp.moveaxis(x, -1, 1))
        # the hand-written backward (canonical) against JAX's transpose of lax.conv_general_dilated
        grads = [jax.grad(lambda c, x: jnp.sum(jax.vmap(c)(x) * dy), argnums=(0, 1))(c, x) for c in (conv, lax_conv)]
        return out, jnp.moveaxis(out_chw, 1, -1), grads

    dy = jax.random.normal(jax.random.PRNGKey(2), ref.shape)
    out, out_chw, ((gc, gxc), (gl, gxl)) = run(conv, lax_conv, nchw, x, dy)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_chw, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gc.weight, gl.weight, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gc.bias, gl.bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gxc, gxl, rtol=1e-5, atol=1e-5)
    # the weight gradient in closed form: sum over examples and positions of patch ⊗ dy
    p = (k - 1) // 2
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (p, p + 1), (p, p + 1), (0, 0)))
    ho = dy.shape[1]
    gw = sum(np.einsum("bhwc,bhwo->co", xp[:, i:i + stride * ho:stride, j:j + stride * ho:stride], dy)[None, None]
             * np.eye(k)[i][:, None, None, None] * np.eye(k)[j][None, :, None, None] for i in range(k) for j in range(k))
    np.testing.assert_allclose(gc.weight, gw, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("piece", [0, 4, 8])
@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2)])
def test_batch_conv_weight_gradient_over_pieces_of_the_batch(monkeypatch, piece, k, stride):
    """BatchConv's weight gradient summed over pieces of `WGRAD_PIECE` examples (0: the whole batch;
    11 examples: a short last piece) against JAX's autodiff of the lax convolution."""
    import ghostjax.nets.conv as conv_mod

    monkeypatch.setattr(conv_mod, "WGRAD_PIECE", piece)
    x = jax.random.normal(jax.random.PRNGKey(3), (11, 7, 7, 3))
    conv = Conv(3, 4, k, key=jax.random.PRNGKey(4), stride=stride, impl="batch")
    lax_conv = Conv(3, 4, k, key=jax.random.PRNGKey(4), stride=stride, impl="lax")
    dy = jax.random.normal(jax.random.PRNGKey(5), jax.vmap(lax_conv)(x).shape)

    def grads(c):
        return jax.jit(jax.grad(lambda c, x: jnp.sum(jax.vmap(c)(x) * dy), argnums=(0, 1)))(c, x)

    (gc, gxc), (gl, gxl) = grads(conv), grads(lax_conv)
    np.testing.assert_allclose(gc.weight, gl.weight, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gxc, gxl, rtol=1e-5, atol=1e-5)
    # at most WGRAD_MAX_PIECES pieces: larger batches get larger pieces
    if piece and jax.default_backend() == "cpu":  # other backends take the whole batch
        assert conv_mod._wgrad_piece(11) == max(piece, 1)
        assert conv_mod._wgrad_piece(64 * conv_mod.WGRAD_MAX_PIECES) == 64


def test_conv_impl_option_and_batch_conv_outside_training():
    assert all(isinstance(CONV_IMPLS[n](), ConvImpl) for n in ("lax", "canonical", "batch"))
    key = jax.random.PRNGKey(1)
    convs = [Conv(3, 4, 3, key=key, impl=i) for i in ("batch", BatchConv, BatchConv(), "canonical", CanonicalConv, LaxConv)]
    assert [type(c.impl) for c in convs] == [BatchConv] * 3 + [CanonicalConv] * 2 + [LaxConv]
    assert convs[0].impl == convs[1].impl and hash(convs[0].impl) == hash(convs[2].impl)  # static, jit-cacheable
    with pytest.raises(ValueError, match="conv_impl"):
        Conv(3, 4, 3, key=key, impl="eigen")
    with pytest.raises(ValueError, match="conv_impl"):
        UNet(N * N, key=key, conv_impl="eigen", **TINY)
    # BatchConv on one unbatched example, and vmapped over per-example weights (one conv each)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 6, 6, 3))
    ws = jax.random.normal(jax.random.PRNGKey(2), (3, 3, 3, 3, 4))
    ref = jax.vmap(lambda xi, wi: LaxConv()(xi, wi, 2))(x, ws)
    np.testing.assert_allclose(BatchConv()(x[0], ws[0], 2), ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.vmap(lambda xi, wi: BatchConv()(xi, wi, 2))(x, ws), ref, rtol=1e-5, atol=1e-5)
    # nested vmaps (the outer one batches the whole-batch convolution) give the same gradient
    xx = jnp.stack([x, 2.0 * x])

    def nested(impl, w):
        return jnp.sum(jax.vmap(jax.vmap(lambda xi: impl(xi, w, 1)))(xx) ** 2)

    np.testing.assert_allclose(jax.grad(lambda w: nested(BatchConv(), w))(ws[0]),
                               jax.grad(lambda w: nested(LaxConv(), w))(ws[0]), rtol=1e-5, atol=1e-4)
    # its documented limit: reverse mode only with the vmap inside (training's grad(loss(vmap(net))));
    # grad of one unbatched example raises (CanonicalConv and LaxConv take it)
    with pytest.raises(ValueError, match="Linearization"):
        jax.grad(lambda w: BatchConv()(x[0], w, 1).sum())(ws[0])
    g = jax.grad(lambda w: LaxConv()(x[0], w, 1).sum())(ws[0])
    np.testing.assert_allclose(jax.grad(lambda w: CanonicalConv()(x[0], w, 1).sum())(ws[0]), g, rtol=1e-5, atol=1e-5)


def test_unet_weights_do_not_depend_on_conv_impl():
    """Same key, any conv_impl: identical parameters (checkpoints load into any), outputs equal up to rounding."""
    x = jax.random.normal(jax.random.PRNGKey(1), (2, N * N))
    sig = jnp.asarray([0.3, 2.0])
    one_level = {**TINY, "channel_mult": (1,)}  # each conv_impl compiles its own initialiser: keep it small
    nets = [make_net("unet", dim=N * N, key=jax.random.PRNGKey(0), precond="eps", conv_impl=i, **one_level)
            for i in ("batch", "canonical", LaxConv)]
    leaves = [jax.tree.leaves(eqx.filter(n, eqx.is_array)) for n in nets]
    for other in leaves[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(leaves[0], other))
    outs = [_batched(n, x, sig) for n in nets]
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-5, atol=1e-5)


def test_group_norm_matches_numpy():
    x = np.random.default_rng(0).normal(size=(4, 4, 6)) * 3 + 1
    gn = GroupNorm(3, 6)
    gn = eqx.tree_at(lambda g: (g.weight, g.bias), gn, (jnp.arange(1.0, 7.0), jnp.full((6,), 0.5)))
    g = x.reshape(16, 3, 2)
    ref = ((g - g.mean((0, 2), keepdims=True)) / np.sqrt(g.var((0, 2), keepdims=True) + 1e-5)).reshape(4, 4, 6)
    ref = ref * np.arange(1.0, 7.0) + 0.5
    np.testing.assert_allclose(gn(jnp.asarray(x, jnp.float32)), ref, rtol=1e-4, atol=1e-5)
    gn_chw = GroupNorm(3, 6, layout="nchw")
    gn_chw = eqx.tree_at(lambda g: (g.weight, g.bias), gn_chw, (gn.weight, gn.bias))
    np.testing.assert_allclose(gn_chw(jnp.asarray(np.moveaxis(x, -1, 0), jnp.float32)), np.moveaxis(ref, -1, 0),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="groups"):
        GroupNorm(4, 6)



def _gn_reference(gn, x):
    """GroupNorm as first written (joint mean over positions and group channels, plain broadcasts)."""
    h, w, c = x.shape
    xg = x.reshape(h * w, gn.groups, c // gn.groups)
    centred = xg - jnp.mean(xg, axis=(0, 2), keepdims=True)
    var = jnp.mean(centred * centred, axis=(0, 2), keepdims=True)
    return (centred * jax.lax.rsqrt(var + gn.eps)).reshape(x.shape) * gn.weight[None, None] + gn.bias[None, None]


def test_group_norm_and_conv_bias_gradients_match_plain_broadcasts():
    """GroupNorm (statistics summed over positions first, weight/bias through `_spread`) and Conv's bias
    add (`_spread`): values and gradients under grad(vmap) as in training, float32, equal to the plain
    formulation up to rounding."""
    kx, kw, kb, kd = jax.random.split(jax.random.PRNGKey(3), 4)
    x = 2 * jax.random.normal(kx, (3, 5, 4, 8)) + 0.5
    dy = jax.random.normal(kd, x.shape)
    gn = eqx.tree_at(lambda g: (g.weight, g.bias), GroupNorm(4, 8),
                     (1 + jax.random.normal(kw, (8,)), jax.random.normal(kb, (8,))))
    conv = Conv(8, 8, 3, key=kw, impl="canonical")

    def loss(mod, x, fn):
        return jnp.sum(jax.vmap(lambda xi: fn(mod, xi))(x) * dy)

    gn_new = lambda m, xi: m(xi)  # noqa: E731
    conv_ref = lambda m, xi: CanonicalConv()(xi, m.weight, 1) + m.bias[None, None]  # noqa: E731
    for mod, new, ref in ((gn, gn_new, _gn_reference), (conv, gn_new, conv_ref)):
        np.testing.assert_allclose(jax.vmap(lambda xi: new(mod, xi))(x), jax.vmap(lambda xi: ref(mod, xi))(x),
                                   rtol=1e-5, atol=1e-5)
        g_new = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)(mod, x, new)
        g_ref = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)(mod, x, ref)
        for a, b in zip(jax.tree.leaves(g_new), jax.tree.leaves(g_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # and against a float64 NumPy GroupNorm (its forward value)
    xn = np.asarray(x[0], np.float64).reshape(20, 4, 2)
    ref64 = ((xn - xn.mean((0, 2), keepdims=True)) / np.sqrt(xn.var((0, 2), keepdims=True) + 1e-5)).reshape(5, 4, 8)
    np.testing.assert_allclose(gn(x[0]), ref64 * np.asarray(gn.weight) + np.asarray(gn.bias), rtol=1e-5, atol=1e-5)

_batched = eqx.filter_jit(lambda net, x, s: jax.vmap(net)(x, s))


def test_unet_shapes_sigma_dependence_and_arguments():
    net = make_net("unet", dim=N * N, key=jax.random.PRNGKey(0), precond="eps", **TINY)
    assert isinstance(net, UNet)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, N * N))
    xs = x.at[1].set(x[0]).at[2].set(x[0])  # rows 0, 1, 2: the same x
    sig = jnp.asarray([0.1, 0.1, 3.0, 1.0])  # rows 0 and 1 at the same σ, row 2 at another
    out = _batched(net, xs, sig)
    assert out.shape == (4, N * N) and out.dtype == jnp.float32 and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], out[1])  # vmapped examples do not interact (no batch statistics)
    assert np.abs(out[2] - out[0]).max() > 1e-3 * np.abs(out[0]).max()  # the noise embedding reaches the output
    with pytest.raises(ValueError, match="widht"):
        make_net("unet", dim=N * N, key=jax.random.PRNGKey(0), widht=3, **TINY)
    with pytest.raises(ValueError, match="dim"):
        make_net("unet", dim=N * N + 1, key=jax.random.PRNGKey(0), **TINY)
    with pytest.raises(ValueError, match="groups"):
        UNet(N * N, key=jax.random.PRNGKey(0), **{**TINY, "groups": 3})


def test_float64_when_enabled():
    with jax.enable_x64(True):
        net = UNet(16, key=jax.random.PRNGKey(0), image_size=4, base_channels=2, channel_mult=(1,), groups=1,
                   embed_dim=4)
        x = jnp.linspace(-1.0, 1.0, 16, dtype=jnp.float64)
        out = eqx.filter_jit(lambda m, x: m(x, jnp.float64(0.5)))(net, x)
        assert out.dtype == jnp.float64 and out.shape == (16,) and np.all(np.isfinite(out))


def test_training_through_fit_reduces_the_loss():
    rng = np.random.default_rng(0)
    imgs = np.where(rng.random((64, N * N)) < 0.15, 1.0, -1.0).astype(np.float32)  # sparse binary images
    one_level = {**TINY, "channel_mult": (1,)}  # the two-level network: test_unet_shapes_sigma_dependence_...
    net = make_net("unet", dim=N * N, key=jax.random.PRNGKey(0), precond="eps", **one_level)
    spec = Loss(sigma_dist="ddpm", weighting="sigma2")
    _, hist = fit(net, EmpiricalData(imgs), spec, Optim(lr=3e-3, warmup=5), seed=0, steps=40, batch=16,
                  steps_per_call=20, progress=False)
    first, last = hist[0]["loss"], hist[-1]["loss"]
    assert np.isfinite(last) and last < 0.8 * first, (first, last)

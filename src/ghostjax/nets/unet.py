"""An attention-free DDPM-style UNet score network for grayscale images (Ho et al. 2020, without attention).

The body maps x_in [D] (D = image_size², one image row-major) and the noise embedding emb [E] to
[D], reshaping internally to one image of one channel. Structure, for channel multipliers
(m_0, ..., m_{L-1}) and C = base_channels:

  noise:  emb [E] → Linear(E, 4C) → SiLU → Linear(4C, 4C) = t          (as DDPM's timestep MLP)
  in:     3×3 conv 1 → C
  down:   level l: `blocks_per_level` ResBlocks to C·m_l; then (but at the last level) a 3×3
          stride-2 conv (or a 2×2 average pool); every block and downsample output is kept as a skip
  middle: two ResBlocks at the lowest resolution
  up:     level l (reversed): blocks_per_level + 1 ResBlocks on concat(h, skip) to C·m_l; then (but
          at level 0) nearest-neighbour ×2 upsampling + 3×3 conv
  out:    GroupNorm → SiLU → 3×3 conv C → 1

ResBlock(cin → cout): h = conv3(SiLU(GN(x))) + Linear(SiLU(t)); h = conv3(SiLU(GN(h))); return
skip(x) + h, with skip a 1×1 conv when cin ≠ cout. GroupNorm uses `groups` groups (eps 1e-5).
Default preconditioning: ε-prediction (`EpsPrecond`), so the body is DDPM's ε-network.

The call is per example; under `jax.vmap` the per-example convolutions (a batch dimension of 1)
become one convolution over the batch. Activations are kept channels-last (`layout="nhwc"`, the
fastest on XLA:CPU, benchmarks/README.md "bench_unet.py"); `layout="nchw"` computes the same with
channels first. Conv weights are stored HWIO [kh, kw, in, out] in both layouts, whatever the
convolution implementation (`conv_impl`: a `ConvImpl` subclass, instance or name in `CONV_IMPLS`;
default `BatchConv`, the fastest measured for training, benchmarks/bench_conv.py), so parameters
and checkpoints do not depend on it.
"""

from __future__ import annotations

import abc
import functools
import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float, PRNGKeyArray

from .base import AbstractScoreNet, check_dim
from .embedding import AbstractEmbedding, SinusoidalEmbedding
from .layers import dense, silu
from .precond import AbstractPrecond, EpsPrecond

Layout = Literal["nhwc", "nchw"]
Image = Float[Array, "..."]  # one example: [H, W, C] (nhwc) or [C, H, W] (nchw)


def _spatial_axes(layout: Layout) -> tuple[int, int]:
    return (0, 1) if layout == "nhwc" else (1, 2)


def _channel_axis(layout: Layout) -> int:
    return -1 if layout == "nhwc" else 0


_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv(x, w, stride: int, pad: tuple[int, int], lhs_dilation: int = 1):
    """lax convolution of one NHWC example [H, W, C] or a batch [B, H, W, C] with an HWIO kernel:
    XLA:CPU's canonical form."""
    one = x.ndim == 3
    y = jax.lax.conv_general_dilated(x[None] if one else x, w, (stride, stride), (pad, pad), (lhs_dilation,) * 2,
                                     dimension_numbers=_NHWC)
    return y[0] if one else y


def _patches(x, k: int, stride: int):
    """im2col of one NHWC example with zero padding (k−1)/2: [H'·W', k·k·C], columns ordered (kh, kw, c)."""
    h, w, c = x.shape
    p = (k - 1) // 2
    ho, wo = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
    if k == 1 and stride == 1:
        return x.reshape(h * w, c)
    xp = jnp.pad(x, ((p, p), (p, p), (0, 0)))
    cols = [xp[i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride] for i in range(k) for j in range(k)]
    return jnp.concatenate(cols, axis=-1).reshape(ho * wo, k * k * c)


def _canonical_bwd(stride: int, x, w, dy):
    """The input gradient of a zero-padded NHWC/HWIO convolution (x [B, H, W, C] or one example
    [H, W, C]) as a direct convolution in XLA:CPU's canonical form: the flipped, in/out-swapped
    kernel over dy dilated by the stride."""
    k, h, ho = w.shape[0], x.shape[-3], dy.shape[-3]
    p = (k - 1) // 2
    lo = k - 1 - p
    hi = h - (ho - 1) * stride - 1 - lo + k - 1
    w_t = jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))
    return _conv(dy, w_t, 1, (lo, hi), lhs_dilation=stride)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_nhwc(x: Float[Array, "H W cin"], w: Float[Array, "k k cin cout"], stride: int) -> Float[Array, "Ho Wo cout"]:
    """Zero-padded ((k−1)/2) convolution of one NHWC example, with a hand-written backward pass in
    XLA:CPU's canonical convolution form (see `CanonicalConv`). Reverse-mode only (no jvp/jacfwd)."""
    p = (w.shape[0] - 1) // 2
    return _conv(x, w, stride, (p, p))


def _conv_nhwc_fwd(x, w, stride):
    return conv_nhwc(x, w, stride), (x, w)


def _conv_nhwc_bwd(stride, res, dy):
    x, w = res
    # weight gradient: a matrix product patchesᵀ dy; under vmap a batched product (one per example)
    # summed over the batch
    dw = (_patches(x, w.shape[0], stride).T @ dy.reshape(-1, dy.shape[-1])).reshape(w.shape)
    return _canonical_bwd(stride, x, w, dy), dw


conv_nhwc.defvjp(_conv_nhwc_fwd, _conv_nhwc_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_nhwc_batch(x: Float[Array, "B H W cin"], w: Float[Array, "k k cin cout"],
                    stride: int) -> Float[Array, "B Ho Wo cout"]:
    """Zero-padded ((k−1)/2) convolution of a batch x [B, H, W, C] (NHWC, kernel HWIO) whose three
    convolutions (forward, input gradient, weight gradient) are all in XLA:CPU's canonical NHWC/HWIO
    form: the weight gradient is the convolution of the padded input, read as C images of B channels
    [C, H+2p, W+2p, B], with dy as an [Ho, Wo, B, cout] kernel (dilated by the stride), which
    contracts batch and positions in one Eigen convolution (k = 1: one GEMM xᵀ·dy; see `BatchConv`).
    Reverse-mode only."""
    p = (w.shape[0] - 1) // 2
    return _conv(x, w, stride, (p, p))


def _conv_nhwc_batch_fwd(x, w, stride):
    return conv_nhwc_batch(x, w, stride), (x, w)


def _conv_nhwc_batch_bwd(stride, res, dy):
    x, w = res
    k, h, ho = w.shape[0], x.shape[1], dy.shape[1]
    if k == 1:  # a plain GEMM over batch × positions (1.3–2× faster than the convolution form here)
        xs = x[:, :stride * (ho - 1) + 1:stride, :stride * (ho - 1) + 1:stride]
        dw = xs.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])
        return _canonical_bwd(stride, x, w, dy), dw.reshape(w.shape)
    p = (k - 1) // 2
    hi = stride * (ho - 1) + k - h - p  # pad (or crop) so that exactly k windows fit
    xp = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (p, hi, 0), (p, hi, 0), (0, 0, 0)])
    dw = jax.lax.conv_general_dilated(jnp.transpose(xp, (3, 1, 2, 0)), jnp.transpose(dy, (1, 2, 0, 3)), (1, 1),
                                      ((0, 0), (0, 0)), rhs_dilation=(stride, stride), dimension_numbers=_NHWC)
    return _canonical_bwd(stride, x, w, dy), jnp.transpose(dw, (1, 2, 0, 3))


conv_nhwc_batch.defvjp(_conv_nhwc_batch_fwd, _conv_nhwc_batch_bwd)


@functools.cache
def _batch_conv(stride: int):
    """Per-example `conv_nhwc_batch` whose vmap runs it once on the whole batch (jax.custom_batching)."""

    @custom_vmap
    def conv(x, w):
        return conv_nhwc_batch(x[None], w, stride)[0]

    @conv.def_vmap
    def _rule(axis_size, in_batched, x, w):
        if not in_batched[1]:  # the network's case: shared weights, batched activations
            return conv_nhwc_batch(x, w, stride), True
        in_axes = (0 if in_batched[0] else None, 0)  # per-example weights: one convolution per example
        return jax.vmap(lambda xi, wi: conv_nhwc_batch(xi[None], wi, stride)[0], in_axes=in_axes)(x, w), True

    return conv


class ConvImpl(eqx.Module):
    """How `Conv` computes the zero-padded ((k−1)/2) convolution of one NHWC example x [H, W, cin]
    with an HWIO kernel w [k, k, cin, cout] (stride 1 or 2): `impl(x, w, stride)` → [Ho, Wo, cout].
    A subclass is a (hashable, field-less) strategy; `CONV_IMPLS` names them for configs."""

    name: ClassVar[str]

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "H W cin"], w: Float[Array, "k k cin cout"],
                 stride: int) -> Float[Array, "Ho Wo cout"]:
        raise NotImplementedError


class LaxConv(ConvImpl):
    """lax.conv_general_dilated differentiated by JAX: every transformation (jvp, jacfwd, vmap of
    grad) works, but inside a lax.scan (the training loop) XLA:CPU ran JAX's transposed
    convolutions as naive loops, ~10× slower (benchmarks/README.md, "bench_unet.py")."""

    name: ClassVar[str] = "lax"

    def __call__(self, x, w, stride):
        p = (w.shape[0] - 1) // 2
        return _conv(x, w, stride, (p, p))


class CanonicalConv(ConvImpl):
    """`conv_nhwc`: the forward and input-gradient convolutions in XLA:CPU's canonical NHWC/HWIO form,
    the weight gradient as a per-example patchesᵀ·dy product summed over the batch. Reverse-mode only."""

    name: ClassVar[str] = "canonical"

    def __call__(self, x, w, stride):
        return conv_nhwc(x, w, stride)


class BatchConv(ConvImpl):
    """`conv_nhwc_batch` applied to the whole batch when the network is vmapped (jax.custom_batching):
    all three convolutions canonical, the weight gradient one convolution contracting batch and
    positions. The weight gradient is where CanonicalConv spent most of its time (2–5× its forward
    convolution at the UNet's shapes, benchmarks/bench_conv.py). Reverse-mode only, and only with the
    vmap inside the differentiation (`grad(loss of vmap(net))`, as training does); `grad` of one
    unbatched example or `vmap(grad(...))` raise (use CanonicalConv or LaxConv there). Under nested
    vmaps the outer ones batch the whole-batch convolution as JAX does (correct, not faster)."""

    name: ClassVar[str] = "batch"

    def __call__(self, x, w, stride):
        return _batch_conv(stride)(x, w)


CONV_IMPLS: dict[str, type[ConvImpl]] = {c.name: c for c in (BatchConv, CanonicalConv, LaxConv)}


def as_conv_impl(spec: str | type[ConvImpl] | ConvImpl) -> ConvImpl:
    """A ConvImpl from a registered name (`CONV_IMPLS`), a ConvImpl subclass, or an instance."""
    if isinstance(spec, ConvImpl):
        return spec
    if isinstance(spec, type) and issubclass(spec, ConvImpl):
        return spec()
    if isinstance(spec, str) and spec in CONV_IMPLS:
        return CONV_IMPLS[spec]()
    raise ValueError(f"conv_impl: expected one of {', '.join(CONV_IMPLS)} or a ConvImpl subclass, got {spec!r}")


class Conv(eqx.Module):
    """A 2-D convolution of one example, weight HWIO [k, k, in, out], bias [out]; zero padding
    (k−1)/2 on each side, so stride 1 keeps the size and stride 2 halves an even size.
    Initialised as PyTorch's Conv2d: U(±1/√fan_in) for weight and bias (scaled by `scale`).

    `impl` (a `ConvImpl`, its class or its name; nhwc only, nchw always uses lax convolutions):
    how the convolution and its gradients are computed. JAX's own transposes of a convolution use
    swapped dimension labels, which XLA:CPU rewrites into the NHWC/HWIO form its fast (Eigen) kernels
    run only in the top-level computation: inside the training step's lax.scan they fell back to a
    naive loop, ~10× slower (benchmarks/README.md, "bench_unet.py"). `CanonicalConv` and `BatchConv`
    write the backward pass in that form themselves."""

    weight: Float[Array, "k k cin cout"]
    bias: Float[Array, " cout"]
    stride: int = eqx.field(static=True)
    layout: str = eqx.field(static=True)
    impl: ConvImpl = eqx.field(static=True)

    def __init__(self, cin: int, cout: int, kernel: int, *, key: PRNGKeyArray, stride: int = 1,
                 layout: Layout = "nhwc", scale: float = 1.0, impl: str | type[ConvImpl] | ConvImpl = "batch"):
        kw, kb = jax.random.split(key)
        bound = scale / math.sqrt(cin * kernel * kernel)
        self.weight = jax.random.uniform(kw, (kernel, kernel, cin, cout), minval=-bound, maxval=bound)
        self.bias = jax.random.uniform(kb, (cout,), minval=-bound, maxval=bound)
        self.stride, self.layout, self.impl = stride, layout, as_conv_impl(impl)

    def __call__(self, x: Image) -> Image:
        w, b = self.weight.astype(x.dtype), self.bias.astype(x.dtype)
        if self.layout == "nhwc":
            y = self.impl(x, w, self.stride)
            return y + _spread(b, (y.shape[0] * y.shape[1], y.shape[2])).reshape(y.shape)
        p = (w.shape[0] - 1) // 2
        y = jax.lax.conv_general_dilated(x[None], w, (self.stride,) * 2, ((p, p), (p, p)),
                                         dimension_numbers=("NCHW", "HWIO", "NCHW"))[0]
        return y + b[:, None, None]


class GroupNorm(eqx.Module):
    """Group normalisation of one example over `groups` channel groups (statistics over the spatial
    positions and the channels of a group, biased variance, eps inside the root), then a per-channel
    affine map (weight 1, bias 0 at init)."""

    weight: Float[Array, " C"]
    bias: Float[Array, " C"]
    groups: int = eqx.field(static=True)
    layout: str = eqx.field(static=True)
    eps: float = eqx.field(static=True, default=1e-5)

    def __init__(self, groups: int, channels: int, layout: Layout = "nhwc", eps: float = 1e-5):
        if channels % groups:
            raise ValueError(f"groups: {groups} does not divide the channel count {channels}")
        self.weight, self.bias = jnp.ones((channels,)), jnp.zeros((channels,))
        self.groups, self.layout, self.eps = groups, layout, eps

    def __call__(self, x: Image) -> Image:
        g, shape = self.groups, x.shape
        wt, b = self.weight.astype(x.dtype), self.bias.astype(x.dtype)
        if self.layout == "nchw":
            xg = x.reshape(g, -1)
            mean = jnp.mean(xg, axis=1, keepdims=True)
            centred = xg - mean
            var = jnp.mean(centred * centred, axis=1, keepdims=True)
            y = (centred * jax.lax.rsqrt(var + self.eps)).reshape(shape)
            return y * wt[:, None, None] + b[:, None, None]
        # nhwc: each statistic summed over the positions first (per example a [C] vector; under vmap
        # one reduction [B, H·W, C] → [B, C], which XLA:CPU runs ~5× faster than the joint reduction to
        # [B, G]), then over the C/G channels of a group; weight and bias enter through `_spread`
        c = shape[-1]
        xf = x.reshape(-1, c)
        n = xf.shape[0] * (c // g)
        group_mean = lambda v: jnp.repeat(jnp.sum(jnp.sum(v, axis=0).reshape(g, c // g), axis=1) / n, c // g)[None]  # noqa: E731
        centred = xf - group_mean(xf)
        r = jax.lax.rsqrt(group_mean(centred * centred) + self.eps)
        return ((centred * r) * _spread(wt, xf.shape) + _spread(b, xf.shape)).reshape(shape)


def _spread(v: Float[Array, " C"], shape: tuple[int, int]) -> Float[Array, "P C"]:
    """A parameter vector v [C] broadcast to one example's [P, C] as the product ones[P, 1] · v[1, C]
    (exactly v in every row). Same value as broadcasting; what changes is the gradient under
    vmap + grad: JAX sums the cotangent over the batch (a reduction to [P, C] with a large output,
    fast) and the product's transpose then sums the positions as a matrix-vector product, where the
    transpose of a broadcast is one joint reduction [B, P, C] → [C] that XLA:CPU splits into slow
    reduce-window passes (2.6× slower at [64, 1024, 32])."""
    return jnp.ones((shape[0], 1), v.dtype) @ v[None].astype(v.dtype)


class ResBlock(eqx.Module):
    """skip(x) + conv(SiLU(GN(conv(SiLU(GN(x))) + Linear(SiLU(t))))); skip a 1×1 conv if cin ≠ cout."""

    norm1: GroupNorm
    conv1: Conv
    temb: eqx.nn.Linear
    norm2: GroupNorm
    conv2: Conv
    skip: Conv | None

    def __init__(self, cin: int, cout: int, temb_dim: int, groups: int, *, key: PRNGKeyArray, layout: Layout,
                 impl: str | type[ConvImpl] | ConvImpl = "batch"):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.norm1 = GroupNorm(groups, cin, layout)
        self.conv1 = Conv(cin, cout, 3, key=k1, layout=layout, impl=impl)
        self.temb = eqx.nn.Linear(temb_dim, cout, key=k2)
        self.norm2 = GroupNorm(groups, cout, layout)
        self.conv2 = Conv(cout, cout, 3, key=k3, layout=layout, impl=impl)
        self.skip = Conv(cin, cout, 1, key=k4, layout=layout, impl=impl) if cin != cout else None

    def __call__(self, x: Image, t: Float[Array, " T"]) -> Image:
        h = self.conv1(silu(self.norm1(x)))
        proj = dense(self.temb, silu(t))
        h = h + (proj[None, None, :] if self.conv1.layout == "nhwc" else proj[:, None, None])
        h = self.conv2(silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Downsample(eqx.Module):
    """Halve the resolution: a 3×3 stride-2 conv, or a 2×2 average pool when `conv` is None."""

    conv: Conv | None
    layout: str = eqx.field(static=True)

    def __call__(self, x: Image) -> Image:
        if self.conv is not None:
            return self.conv(x)
        a, b = _spatial_axes(self.layout)
        shape = list(x.shape)
        shape[a:b + 1] = [shape[a] // 2, 2, shape[b] // 2, 2]
        return jnp.mean(x.reshape(shape), axis=(a + 1, a + 3))


class Upsample(eqx.Module):
    """Double the resolution: nearest-neighbour ×2, then a 3×3 conv."""

    conv: Conv

    def __call__(self, x: Image) -> Image:
        a, b = _spatial_axes(self.conv.layout)
        x = jnp.repeat(jnp.repeat(x, 2, axis=a), 2, axis=b)
        return self.conv(x)


class UNet(AbstractScoreNet):
    """Attention-free DDPM UNet on image_size × image_size grayscale images (see the module docstring).

    dim = image_size² (image_size None: √dim, which must be an integer); channel_mult: one multiplier
    of base_channels per resolution; groups must divide every channel count; embed_dim: the
    sinusoidal embedding's size; downsample "conv" (3×3 stride 2) or "avgpool"; layout and conv_impl:
    see `Conv`. Initialisation as PyTorch's defaults (Conv2d, Linear, GroupNorm)."""

    # Its initialiser draws ~100 weight tensors; XLA:CPU took ~9 s to optimise that one-off program
    # (threefry for every tensor), 2.7 s at optimisation level 0. The weights then differ from an
    # optimised build by float rounding (uniform's scaling), not in distribution; checkpoints load
    # either way.
    INIT_CPU_OPTIONS: ClassVar[dict] = {"xla_backend_optimization_level": 0}

    time_mlp: tuple[eqx.nn.Linear, eqx.nn.Linear]
    conv_in: Conv
    down: tuple[ResBlock | Downsample, ...]
    mid: tuple[ResBlock, ResBlock]
    up: tuple[ResBlock | Upsample, ...]
    norm_out: GroupNorm
    conv_out: Conv
    image_size: int = eqx.field(static=True)
    layout: str = eqx.field(static=True)
    embedding: AbstractEmbedding
    precond: AbstractPrecond

    def __init__(self, dim: int, *, key: PRNGKeyArray, image_size: int | None = None, base_channels: int = 32,
                 channel_mult: tuple[int, ...] = (1, 2), blocks_per_level: int = 1, groups: int = 8,
                 embed_dim: int = 128, embedding: type[AbstractEmbedding] = SinusoidalEmbedding,
                 precond: type[AbstractPrecond] = EpsPrecond, sigma_data: float = 1.0,
                 downsample: Literal["conv", "avgpool"] = "conv", layout: Layout = "nhwc",
                 conv_impl: str | type[ConvImpl] | ConvImpl = "batch"):
        dim = check_dim(dim)
        image_size = math.isqrt(dim) if image_size is None else int(image_size)
        if dim != image_size * image_size:
            raise ValueError(f"dim: must be image_size² = {image_size * image_size}, got {dim}")
        channel_mult = tuple(int(m) for m in channel_mult)
        if not channel_mult or min(channel_mult) < 1:
            raise ValueError(f"channel_mult: must be non-empty positive integers, got {channel_mult}")
        levels = len(channel_mult)
        if image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size: {image_size} is not divisible by 2^(levels-1) = {2 ** (levels - 1)}")
        if blocks_per_level < 1 or base_channels < 1:
            raise ValueError("blocks_per_level and base_channels must be >= 1")
        if downsample not in ("conv", "avgpool"):
            raise ValueError(f"downsample: expected 'conv' or 'avgpool', got {downsample!r}")
        if layout not in ("nhwc", "nchw"):
            raise ValueError(f"layout: expected 'nhwc' or 'nchw', got {layout!r}")
        conv_impl = as_conv_impl(conv_impl)
        self.embedding, self.precond = embedding(embed_dim), precond.for_data(sigma_data)
        self.image_size, self.layout = int(image_size), layout
        keys = iter(jax.random.split(key, 64 + 8 * levels * (blocks_per_level + 1)))
        c0, tdim = base_channels, 4 * base_channels
        self.time_mlp = (eqx.nn.Linear(embed_dim, tdim, key=next(keys)), eqx.nn.Linear(tdim, tdim, key=next(keys)))
        self.conv_in = Conv(1, c0, 3, key=next(keys), layout=layout, impl=conv_impl)
        skips, ch, down = [c0], c0, []
        for lvl, m in enumerate(channel_mult):
            for _ in range(blocks_per_level):
                down.append(ResBlock(ch, c0 * m, tdim, groups, key=next(keys), layout=layout, impl=conv_impl))
                ch = c0 * m
                skips.append(ch)
            if lvl < levels - 1:
                conv = Conv(ch, ch, 3, key=next(keys), stride=2, layout=layout, impl=conv_impl) if downsample == "conv" else None
                down.append(Downsample(conv, layout))
                skips.append(ch)
        self.down = tuple(down)
        self.mid = (ResBlock(ch, ch, tdim, groups, key=next(keys), layout=layout, impl=conv_impl),
                    ResBlock(ch, ch, tdim, groups, key=next(keys), layout=layout, impl=conv_impl))
        up = []
        for lvl in reversed(range(levels)):
            for _ in range(blocks_per_level + 1):
                up.append(ResBlock(ch + skips.pop(), c0 * channel_mult[lvl], tdim, groups, key=next(keys),
                                   layout=layout, impl=conv_impl))
                ch = c0 * channel_mult[lvl]
            if lvl > 0:
                up.append(Upsample(Conv(ch, ch, 3, key=next(keys), layout=layout, impl=conv_impl)))
        self.up = tuple(up)
        self.norm_out = GroupNorm(groups, ch, layout)
        self.conv_out = Conv(ch, 1, 3, key=next(keys), layout=layout, impl=conv_impl)

    def body(self, x_in: Float[Array, " D"], emb: Float[Array, " E"]) -> Float[Array, " D"]:
        n = self.image_size
        cax = _channel_axis(self.layout)
        h = x_in.reshape((n, n, 1) if self.layout == "nhwc" else (1, n, n))
        t = dense(self.time_mlp[1], silu(dense(self.time_mlp[0], emb.astype(x_in.dtype))))
        h = self.conv_in(h)
        skips = [h]
        for layer in self.down:
            h = layer(h, t) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        for block in self.mid:
            h = block(h, t)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(jnp.concatenate([h, skips.pop()], axis=cax), t)
            else:
                h = layer(h)
        h = self.conv_out(silu(self.norm_out(h)))
        return h.reshape(-1)

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
convolution implementation (`conv_impl`: a `ConvImpl` subclass, instance or name in `CONV_IMPLS`,
all in conv.py; default `BatchConv`, the fastest measured for training, benchmarks/bench_conv.py),
so parameters and checkpoints do not depend on it.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .base import AbstractScoreNet, check_dim
from .conv import CONV_IMPLS, BatchConv, CanonicalConv, ConvImpl, LaxConv, as_conv_impl, conv_nhwc, conv_nhwc_batch
from .embedding import AbstractEmbedding, SinusoidalEmbedding
from .layers import dense, silu
from .precond import AbstractPrecond, EpsPrecond

# The convolution implementations live in conv.py; their names stay importable from here.
__all__ = ["UNet", "Conv", "GroupNorm", "ResBlock", "Downsample", "Upsample", "ConvImpl", "LaxConv", "CanonicalConv",
           "BatchConv", "CONV_IMPLS", "as_conv_impl", "conv_nhwc", "conv_nhwc_batch"]

Layout = Literal["nhwc", "nchw"]
Image = Float[Array, "..."]  # one example: [H, W, C] (nhwc) or [C, H, W] (nchw)


def _spatial_axes(layout: Layout) -> tuple[int, int]:
    return (0, 1) if layout == "nhwc" else (1, 2)


def _channel_axis(layout: Layout) -> int:
    return -1 if layout == "nhwc" else 0


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

"""The convolution of the UNet's layers (unet.Conv): a zero-padded ((k−1)/2) 2-D convolution of one
NHWC example with an HWIO kernel, in three implementations, each a `ConvImpl` (a hashable,
field-less strategy; `CONV_IMPLS` names them for configs):

  LaxConv        lax.conv_general_dilated differentiated by JAX (every transformation works)
  CanonicalConv  `conv_nhwc`: a custom_vjp whose forward and input-gradient convolutions are in
                 XLA:CPU's canonical NHWC/HWIO form, the weight gradient a per-example patchesᵀ·dy
  BatchConv      `conv_nhwc_batch` on the whole batch under vmap (jax.custom_batching): all three
                 convolutions canonical, the weight gradient over pieces of WGRAD_PIECE examples
                 (the default; the fastest measured for training, benchmarks/bench_conv.py and
                 bench_conv_phases.py)

JAX's own transposes of a convolution use swapped dimension labels, which XLA:CPU rewrites into the
NHWC/HWIO form its fast (Eigen) kernels run only in the top-level computation: inside the training
step's lax.scan they fell back to a naive loop, ~10× slower (benchmarks/README.md, "bench_unet.py").
The custom backward passes here are written in that form themselves.
"""

from __future__ import annotations

import abc
import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float

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
    contracts batch and positions in Eigen convolutions over pieces of WGRAD_PIECE examples, summed
    (k = 1: one GEMM xᵀ·dy; see `BatchConv`).
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
    piece = _wgrad_piece(x.shape[0])
    dw = sum(_batch_wgrad(xp[i:i + piece], dy[i:i + piece], stride) for i in range(0, x.shape[0], piece))
    return _canonical_bwd(stride, x, w, dy), jnp.transpose(dw, (1, 2, 0, 3))


# Examples per weight-gradient convolution on the CPU (0: the whole batch in one). XLA:CPU's (Eigen)
# convolution runs the weight gradient, whose "channels" are the batch and whose kernel is dy, faster
# on pieces of a few examples summed than on the whole batch at once (benchmarks/README.md,
# bench_conv_phases). At most WGRAD_MAX_PIECES pieces (larger batches: larger pieces), so the unrolled
# sum stays small; other backends take the whole batch.
WGRAD_PIECE = 8
WGRAD_MAX_PIECES = 16


def _wgrad_piece(batch: int) -> int:
    """Examples per weight-gradient convolution for a batch of `batch` (see WGRAD_PIECE)."""
    if not WGRAD_PIECE or jax.default_backend() != "cpu":
        return batch
    return max(WGRAD_PIECE, -(-batch // WGRAD_MAX_PIECES))


def _batch_wgrad(xp, dy, stride: int):
    """Σ_b over the examples of xp [b, H+2p, W+2p, cin] (padded) and dy [b, Ho, Wo, cout]: the weight
    gradient as one canonical convolution, xp read as cin images of b channels and dy as the
    [Ho, Wo, b, cout] kernel (dilated by the stride). Returns [cin, k, k, cout]."""
    return jax.lax.conv_general_dilated(jnp.transpose(xp, (3, 1, 2, 0)), jnp.transpose(dy, (1, 2, 0, 3)), (1, 1),
                                        ((0, 0), (0, 0)), rhs_dilation=(stride, stride), dimension_numbers=_NHWC)


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

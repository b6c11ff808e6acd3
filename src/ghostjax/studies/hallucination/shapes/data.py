"""The Simple Shapes data set (Aithal et al. 2024), generated procedurally as their public generator
does (locuslab/diffusion-model-hallucination, shapes/gen_simple_shapes_dataset.py).

Rules (64×64, `FULL`). Three columns, 21 wide × 63 tall, side by side (63×63), padded with one black
row and column to 64×64; column 0 may hold a triangle, column 1 a square, column 2 a pentagon, each
present independently with probability ½ at a random integer position inside its column; all-black
images are dropped; values 0 / 255. Shapes as their PIL calls draw them (fill and outline):
  square    rectangle [x, y, x+7, y+7] (side 7 = ⌊√60⌋; 8×8 = 64 px), x ∈ [1, 7], y ∈ [1, 49]
  triangle  polygon (x, y), (x+11, y), (x+5, y+9) (side 11; flat top, apex down; 65 px),
            x ∈ [0, 10], y ∈ [0, 52]; at x = 10 the right corner pixel falls outside the column (64 px)
  pentagon  polygon of the 5 points (x, y) + 5·(cos 72k°, −sin 72k°), k = 1…5 (their "side" 5 is the
            circumradius; one vertex points right; 70 px), centre x ∈ [5, 16], y ∈ [5, 58]; at x = 16
            the right vertex pixel falls outside the column (69 px)
These are exactly their pixels: each shape is drawn once with PIL (a dependency of matplotlib) and
stamped at integer offsets, which is the same raster (PIL draws these polygons identically at every
integer offset; tests/test_shapes.py checks it against PIL at random positions).

Half scale (32×32, `HALF`, for CPU runs; our variant, not theirs): columns 10 × 31, padding to 32×32,
square side 3 (4×4 = 16 px), triangle side 5 (16 px), pentagon radius 2.5 (23 px), positions by
the same formulas (square x ∈ [1, w − 2a], y ∈ [1, h − 2a]; triangle x ∈ [0, w − b], y ∈ [0, h − b];
pentagon centre in [m, w − m] × [m, h − m] with m = ⌈r⌉).

Randomness: one NumPy Generator seeded with `seed` (their script uses Python's `random` unseeded).
Model scale: pixels mapped 0 → −1, 255 → 1 (the transform of the DDPM code base their toy code
vendors, Normalize(0.5, 0.5)), flattened row-major to [N, H·W].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

SHAPES = ("triangle", "square", "pentagon")  # column order


@dataclass(frozen=True)
class Geometry:
    """Canvas and shape sizes: image `size`², columns col_w × col_h, square side a (PIL draws a+1
    pixels a side), triangle side b, pentagon circumradius r with centre margin m."""

    size: int
    col_w: int
    col_h: int
    a: int
    b: int
    r: float
    m: int

    def ranges(self) -> np.ndarray:
        """Inclusive position ranges [3 shapes, (x_lo, x_hi, y_lo, y_hi)] of the shapes' anchors."""
        w, h = self.col_w, self.col_h
        return np.array([[0, w - self.b, 0, h - self.b],              # triangle: top-left corner
                         [1, w - 2 * self.a, 1, h - 2 * self.a],      # square: top-left corner
                         [self.m, w - self.m, self.m, h - self.m]])   # pentagon: centre


FULL = Geometry(size=64, col_w=21, col_h=63, a=7, b=11, r=5.0, m=5)
HALF = Geometry(size=32, col_w=10, col_h=31, a=3, b=5, r=2.5, m=3)
GEOMETRIES = {64: FULL, 32: HALF}


def draw_pil(kind: str, g: Geometry, x: int, y: int, canvas: tuple[int, int] | None = None) -> np.ndarray:
    """One shape drawn with PIL at anchor (x, y) on a black col_w × col_h canvas (or `canvas` =
    (width, height)), as bool [height, width]: the reference raster."""
    from PIL import Image, ImageDraw

    im = Image.new("L", canvas or (g.col_w, g.col_h), color=0)
    d = ImageDraw.Draw(im)
    if kind == "square":
        d.rectangle([x, y, x + g.a, y + g.a], fill=255, outline=255)
    elif kind == "triangle":
        d.polygon([(x, y), (x + g.b, y), (x + g.b // 2, y + int(g.b * math.sqrt(3) / 2))], fill=255, outline=255)
    elif kind == "pentagon":
        pts = [(x + g.r * math.cos(math.radians(72 * k)), y - g.r * math.sin(math.radians(72 * k))) for k in range(1, 6)]
        d.polygon(pts, fill=255, outline=255)
    else:
        raise ValueError(f"kind: expected one of {', '.join(SHAPES)}, got {kind!r}")
    return np.asarray(im) > 0


@functools.lru_cache(maxsize=8)
def templates(g: Geometry) -> tuple[tuple[np.ndarray, int, int], ...]:
    """Per shape (column order): (mask [th, tw] bool, dy, dx), the raster's bounding box relative to
    the anchor (x, y): pixels (y + dy + i, x + dx + j) for mask[i, j]."""
    out = []
    pad = int(2 * max(g.a, g.b, g.r)) + 4
    for kind in SHAPES:
        m = draw_pil(kind, g, pad, pad, canvas=(4 * pad, 4 * pad))
        ys, xs = np.nonzero(m)
        out.append((m[ys.min():ys.max() + 1, xs.min():xs.max() + 1].copy(), int(ys.min()) - pad, int(xs.min()) - pad))
    return tuple(out)


@dataclass(frozen=True)
class ShapesData:
    """N images and their metadata. images uint8 [N, H, W] (0 / 255); present bool [N, 3]; x, y int
    [N, 3] the column-local anchors (−1 where absent); boxes int [N, 3, 4] the drawn pixels' bounding
    boxes in image coordinates (y0, x0, y1, x1), half-open, −1 where absent."""

    images: np.ndarray
    present: np.ndarray
    x: np.ndarray
    y: np.ndarray
    boxes: np.ndarray
    geometry: Geometry

    def model_inputs(self) -> np.ndarray:
        """float32 [N, H·W] in [−1, 1], rows flattened row-major."""
        return to_model(self.images)


def to_model(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W] (0…255) -> float32 [N, H·W] in [−1, 1]."""
    return (images.reshape(images.shape[0], -1).astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def _stamp(g: Geometry, present: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [n, size, size] with the templates stamped (clipped to each column) and their
    pixel bounding boxes [n, 3, 4]."""
    n = present.shape[0]
    img = np.zeros((n, g.size, g.size), np.uint8)
    boxes = np.full((n, 3, 4), -1, np.int64)
    yy, xx = np.arange(g.col_h)[None, :, None], np.arange(g.col_w)[None, None, :]
    for c, (mask, dy, dx) in enumerate(templates(g)):
        th, tw = mask.shape
        oy, ox = (y[:, c] + dy)[:, None, None], (x[:, c] + dx)[:, None, None]
        iy, ix = yy - oy, xx - ox
        inside = (iy >= 0) & (iy < th) & (ix >= 0) & (ix < tw) & present[:, c, None, None]
        on = inside & mask[np.clip(iy, 0, th - 1), np.clip(ix, 0, tw - 1)]
        img[:, :g.col_h, c * g.col_w:(c + 1) * g.col_w] = np.where(on, 255, 0).astype(np.uint8)
        rows, cols = on.any(axis=2), on.any(axis=1)
        y0, y1 = rows.argmax(1), g.col_h - rows[:, ::-1].argmax(1)
        x0, x1 = cols.argmax(1), g.col_w - cols[:, ::-1].argmax(1)
        b = np.stack([y0, x0 + c * g.col_w, y1, x1 + c * g.col_w], axis=1)
        boxes[:, c] = np.where(present[:, c, None], b, -1)
    return img, boxes


def generate(n: int = 5000, size: int = 64, seed: int = 0, p: float = 0.5) -> ShapesData:
    """n Simple Shapes images of `size` (64: theirs, 32: half scale) from `seed` (module docstring).
    Deterministic: the same (n, size, seed, p) gives the same images; a smaller n is a prefix."""
    if size not in GEOMETRIES:
        raise ValueError(f"size: expected one of {sorted(GEOMETRIES)}, got {size}")
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    if not 0 < p <= 1:
        raise ValueError(f"p: must lie in (0, 1], got {p}")
    g = GEOMETRIES[size]
    rng = np.random.default_rng(seed)
    lo_hi = g.ranges()
    parts, have = [], 0
    while have < n:  # draw in blocks and drop the all-black draws, as their loop does one by one
        m = 4096  # fixed blocks: the draws do not depend on n
        present = rng.random((m, 3)) < p
        x = rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1, size=(m, 3))
        y = rng.integers(lo_hi[:, 2], lo_hi[:, 3] + 1, size=(m, 3))
        keep = present.any(axis=1)
        parts.append((present[keep], x[keep], y[keep]))
        have += int(keep.sum())
    present, x, y = (np.concatenate(a)[:n] for a in zip(*parts))
    x, y = np.where(present, x, -1), np.where(present, y, -1)
    img, boxes = _stamp(g, present, x, y)
    return ShapesData(img, present, x, y, boxes, g)

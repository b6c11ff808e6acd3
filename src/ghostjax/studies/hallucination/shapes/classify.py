"""Counting hallucinations: a classifier of (generated) Simple Shapes images from the data set's rules.

Binarise (pixel > `threshold`, model scale [−1, 1]: 0 is mid-grey), label the 8-connected components
of every image at once (scipy.ndimage.label with a structure that does not connect images), then
identify each blob by template matching: a window of side S around the blob's rounded centroid,
holding that blob's pixels only, is compared with each shape's raster (data.templates, and the
column-edge-clipped variants the generator also draws) centred the same way and shifted by −1…1
pixel; the blob is the shape of highest IoU when that IoU is at least `min_iou`, otherwise it is no
shape of the set. A blob is also no shape when it crosses a column border or touches the padding
(the generator never draws there).

An image is hallucinated when
  extra       a column holds more than one blob
  wrong_kind  a recognised shape sits in another shape's column (a square in column 0, ...)
  malformed   a blob is no shape of the set (smeared, merged, half a shape, a speck)
  empty       the image holds no blob at all (the data set drops all-black images)
Every image of the data set passes (tests/test_shapes.py), so any flag is off the data's support.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .data import SHAPES, Geometry, templates

CATEGORIES = ("extra", "wrong_kind", "malformed", "empty")
NO_SHAPE = -1


@functools.lru_cache(maxsize=8)
def _bank(g: Geometry) -> tuple[np.ndarray, np.ndarray, int]:
    """Template windows [M, S·S] float32 (every shape, clipped variants, shifts −1…1), their shape
    index [M], and the window side S."""
    variants = []
    for k, (mask, _, _) in enumerate(templates(g)):
        variants.append((k, mask))
        if k != 1:  # triangle / pentagon at the largest x: the rightmost pixel column clipped
            variants.append((k, mask[:, :-1]))
    s = 2 * max(max(m.shape) for _, m in variants) + 3
    wins, kinds = [], []
    for k, m in variants:
        ys, xs = np.nonzero(m)
        cy, cx = int(np.rint(ys.mean())), int(np.rint(xs.mean()))
        for sy in (-1, 0, 1):
            for sx in (-1, 0, 1):
                w = np.zeros((s, s), np.float32)
                w[ys - cy + s // 2 + sy, xs - cx + s // 2 + sx] = 1.0
                wins.append(w.reshape(-1))
                kinds.append(k)
    return np.stack(wins), np.asarray(kinds), s


@dataclass(frozen=True)
class Classification:
    """Per image: hallucinated bool [N]; flags bool [N, 4] (CATEGORIES); counts int [N, 3] blobs per
    column; kinds int [N, 3] the shape identified in each column (−1: none or no single shape);
    n_blobs int [N]. Per blob: blob_kind [B] (−1: no shape), blob_iou [B], blob_image [B]."""

    hallucinated: np.ndarray
    flags: np.ndarray
    counts: np.ndarray
    kinds: np.ndarray
    n_blobs: np.ndarray
    blob_kind: np.ndarray
    blob_iou: np.ndarray
    blob_image: np.ndarray

    def rates(self) -> dict:
        """Fraction of images in each category and hallucinated overall."""
        n = max(self.hallucinated.size, 1)
        out = {c: float(self.flags[:, i].sum() / n) for i, c in enumerate(CATEGORIES)}
        out["hallucinated"] = float(self.hallucinated.sum() / n)
        return out


def classify(images: np.ndarray, g: Geometry, *, threshold: float = 0.0, min_iou: float = 0.8) -> Classification:
    """Classify images [N, H·W] or [N, H, W] (model scale [−1, 1]; uint8 0/255 also accepted) of
    geometry g (module docstring)."""
    x = np.asarray(images)
    n = x.shape[0]
    x = x.reshape(n, g.size, g.size)
    on = x > (127.5 if x.dtype == np.uint8 else threshold)
    on &= np.all(np.isfinite(x), axis=(1, 2))[:, None, None] if x.dtype != np.uint8 else True
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # 8-connected within an image, never across images
    lab, nb = ndimage.label(on, structure=structure)
    if nb:
        zz, yy, xx = np.nonzero(lab)
        ids = lab[zz, yy, xx] - 1
        area = np.bincount(ids, minlength=nb)
        cy = np.bincount(ids, yy, minlength=nb) / area
        cx = np.bincount(ids, xx, minlength=nb) / area
        img = np.zeros(nb, np.int64)
        img[ids] = zz
        objs = ndimage.find_objects(lab)
        y1 = np.array([o[1].stop for o in objs])
        x0 = np.array([o[2].start for o in objs])
        x1 = np.array([o[2].stop for o in objs])
        bank, bank_kind, s = _bank(g)
        # each blob's pixels in an s × s window around its rounded centroid
        wy = yy - np.rint(cy[ids]).astype(np.int64) + s // 2
        wx = xx - np.rint(cx[ids]).astype(np.int64) + s // 2
        fits = np.ones(nb, bool)
        outside = (wy < 0) | (wy >= s) | (wx < 0) | (wx >= s)
        np.logical_and.at(fits, ids, ~outside)
        win = np.zeros((nb, s * s), np.float32)
        ok = ~outside
        win[ids[ok], wy[ok] * s + wx[ok]] = 1.0
        inter = win @ bank.T                                     # [B, M]
        union = area[:, None] + bank.sum(1)[None] - inter
        iou = inter / union
        best = iou.argmax(1)
        blob_iou = np.where(fits, iou[np.arange(nb), best], 0.0)
        kind = np.where(blob_iou >= min_iou, bank_kind[best], NO_SHAPE)
        col = np.floor(cx / g.col_w).astype(np.int64)
        crosses = (x0 // g.col_w) != ((x1 - 1) // g.col_w)
        padding = (x1 > 3 * g.col_w) | (y1 > g.col_h)
        kind = np.where(crosses | padding | ~fits, NO_SHAPE, kind)
        col = np.clip(col, 0, 2)
    else:
        img = col = kind = np.zeros(0, np.int64)
        blob_iou = np.zeros(0)
    counts = np.zeros((n, 3), np.int64)
    np.add.at(counts, (img, col), 1)
    malformed = np.bincount(img[kind == NO_SHAPE], minlength=n)[:n] > 0
    wrong = np.bincount(img[(kind != NO_SHAPE) & (kind != col)], minlength=n)[:n] > 0
    extra = (counts > 1).any(axis=1)
    n_blobs = counts.sum(1)
    empty = n_blobs == 0
    kinds = np.full((n, 3), NO_SHAPE, np.int64)
    single = counts[img, col] == 1 if img.size else np.zeros(0, bool)
    kinds[img[single], col[single]] = kind[single]
    flags = np.stack([extra, wrong, malformed, empty], axis=1)
    return Classification(flags.any(axis=1), flags, counts, kinds, n_blobs, kind, blob_iou, img)


def composition(c: Classification) -> np.ndarray:
    """Which shapes an image holds, as a 3-bit code Σ 2^k over recognised shapes in their own
    column, int [N]; −1 for hallucinated images."""
    code = ((c.kinds == np.arange(3)[None]) * (1 << np.arange(3))[None]).sum(1)
    return np.where(c.hallucinated, -1, code)


def describe(c: Classification, i: int) -> str:
    """A short text of image i's verdict, e.g. 'square | — | pentagon ×2 (extra)'."""
    parts = []
    for col in range(3):
        k = c.kinds[i, col]
        cnt = c.counts[i, col]
        parts.append("—" if cnt == 0 else (SHAPES[k] if cnt == 1 and k >= 0 else f"{cnt} blobs"))
    why = [name for name, f in zip(CATEGORIES, c.flags[i]) if f]
    return " | ".join(parts) + (f" ({', '.join(why)})" if why else "")

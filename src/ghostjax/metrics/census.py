"""The census: one definition of real / ghost / off-support, used by every entry point.

Definition. For a diagonal Gaussian mode (mean μ [D], stds s [D]) and a point x [D], let
z_i = (x_i − μ_i)/s_i. The point is *at* the mode when both
  max_i |z_i| ≤ t(D, tail)   with t = Φ⁻¹(1 − q/2), q = 1 − (1 − tail/2)^{1/D}, and
  Σ_i z_i²   ≤ c(D, tail)    with c the (1 − tail/2) quantile of χ²_D,
so an exact sample of the mode is at it with probability ≥ 1 − tail (each test fails with
probability exactly tail/2). The per-coordinate test tells a one-coordinate flip to a neighbouring
corner from a sample of the mode at any D; the aggregate test rejects points that are a little off
in every coordinate (e.g. the origin between ±(1,…,1), or a diffuse cloud), which the per-coordinate
test alone accepts in high D. A sample x is
  real   if it is at some data mode k;
  ghost  otherwise, if its per-coordinate snap c (c_i = the value μ_{k,i} nearest to x_i, over k,
         with that component's std s_i) is a mode of the product of marginals that holds no data
         (c is no μ_k) and x is at c (same two tests, stds s_i);
  off    otherwise (between modes, beyond the outer modes, or far from every mode).
A sample with a NaN or infinite coordinate is none of these: `census` counts it as `non_finite`
(`classify` labels it OFF, its snap is meaningless).
The default tail 1e-3 gives t = 3.48, 4.16, 4.62, 5.03 and c = 12.1, 41.3, 187, 1179 at D = 1, 16,
128, 1024. For hypercube mixtures the snap is the sign pattern (restricted to the signs each
coordinate sees), so the ghost corners are the 2^{D_free} − k corners of the product of marginals.

`tail` is a Python float (it fixes the thresholds at trace time); x and the mixture may be traced
(jit, vmap over sweep cells). `corner_counts` and the ghost-count helpers are host-side.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jaxtyping import Array, ArrayLike, Float, Int

from ..mixtures import GaussianMixture

DEFAULT_TAIL = 1e-3
REAL, GHOST, OFF = 0, 1, 2
_WORK_FLOATS = 2**22  # samples are classified in blocks of about this many K·D elements


def thresholds(dim: int, tail: float = DEFAULT_TAIL) -> tuple[float, float]:
    """(t, c): the per-coordinate bound on |z_i| and the bound on Σ z_i² (module docstring)."""
    tail = float(tail)
    if not 0.0 < tail < 1.0:
        raise ValueError(f"tail: must lie in (0, 1), got {tail}")
    q = -math.expm1(math.log1p(-0.5 * tail) / dim)  # per-coordinate two-sided tail of the box
    return -NormalDist().inv_cdf(0.5 * q), float(scipy.stats.chi2.isf(0.5 * tail, dim))


def _at(z: Float[Array, "*K D"], t: float, c: float):
    """Whether points with standardised deviations z are at their mode (both tests), [*K]."""
    return (jnp.max(jnp.abs(z), axis=-1) <= t) & (jnp.sum(z * z, axis=-1) <= c)


def _classify_one(x: Float[Array, " D"], means: Float[Array, "K D"], stds: Float[Array, "K D"], t: float,
                  c: float):
    """(label, snap [D]) of one sample: REAL, GHOST or OFF (see the module docstring)."""
    real = jnp.any(_at((x[None, :] - means) / stds, t, c))
    nearest = jnp.argmin(jnp.abs(x[None, :] - means), axis=0)  # [D]: per-coordinate nearest component
    cols = jnp.arange(x.shape[0])
    snap, snap_std = means[nearest, cols], stds[nearest, cols]
    snap_is_data = jnp.any(jnp.all(means == snap[None, :], axis=1))
    ghost = ~snap_is_data & _at((x - snap) / snap_std, t, c)
    label = jnp.where(real, REAL, jnp.where(ghost, GHOST, OFF))
    return label.astype(jnp.int32), snap


def classify(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail: float = DEFAULT_TAIL
             ) -> tuple[Int[Array, " N"], Float[Array, "N D"]]:
    """Labels [N] (REAL = 0, GHOST = 1, OFF = 2) and per-coordinate snaps [N, D] of samples x."""
    x = jnp.asarray(x, gm.means.dtype)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x: expected shape [N, {gm.dim}], got {tuple(x.shape)}")
    return _classify(x, gm, float(tail))


@eqx.filter_jit
def _classify(x, gm: GaussianMixture, tail: float):
    """classify, compiled once per (shapes, tail): called eagerly, the blockwise map would compile its
    closure anew on every call (and its surrounding operations one by one)."""
    t, c = thresholds(gm.dim, tail)
    block = max(1, _WORK_FLOATS // (gm.n_components * gm.dim))
    return jax.lax.map(lambda xi: _classify_one(xi, gm.means, gm.stds, t, c), x, batch_size=block)


def census(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail: float = DEFAULT_TAIL) -> dict:
    """Counts and fractions of real / ghost / off-support / non-finite samples x [N, D] (traceable in
    x, gm). A row with a NaN or infinite coordinate is counted as non_finite only (not as off).

    Returns {'n', 'real', 'ghost', 'off', 'non_finite', 'real_fraction', 'ghost_fraction',
    'off_fraction', 'non_finite_fraction'} as JAX scalars (float() them for host use; the four
    counts sum to n, the fractions to 1), and the thresholds 't_coordinate', 'c_total' (floats).
    ValueError for an empty x (N = 0: no fractions to report; N is static, so also under jit)."""
    xs = jnp.asarray(x)
    if xs.ndim == 2 and xs.shape[0] == 0:
        raise ValueError("x: empty (N = 0 samples), the census needs at least one")
    labels, _ = classify(xs, gm, tail)
    n = labels.shape[0]
    finite = jnp.all(jnp.isfinite(xs), axis=1)
    t, c = thresholds(gm.dim, tail)
    out: dict = {"n": n, "t_coordinate": t, "c_total": c}
    for name, hit in (("real", labels == REAL), ("ghost", labels == GHOST), ("off", (labels == OFF) & finite),
                      ("non_finite", ~finite)):
        count = jnp.sum(hit)
        out[name] = count
        out[f"{name}_fraction"] = count / n
    return out


def corner_counts(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail: float = DEFAULT_TAIL) -> dict[int, int]:
    """{corner code: number of real or ghost samples at it} for hypercube mixtures (host-side).

    The code of a ±1 pattern sets bit i where coordinate i is +1 (D ≤ 62)."""
    if gm.dim > 62:
        raise ValueError(f"dim: corner codes need D ≤ 62, got {gm.dim}")
    labels, snap = (np.asarray(a) for a in classify(x, gm, tail))
    on = labels != OFF
    codes = ((snap[on] > 0).astype(np.int64) << np.arange(gm.dim, dtype=np.int64)).sum(axis=1)
    uniq, counts = np.unique(codes, return_counts=True)
    return {int(c): int(k) for c, k in zip(uniq, counts)}


@eqx.filter_jit
def product_ghost_mass(gm: GaussianMixture) -> Float[Array, ""]:
    """Mass the product of marginals puts on ±1 corners holding no data (hypercube mixtures with
    distinct corners; traceable). Per coordinate P(+) = p_i = Σ_k w_k [μ_ki > 0]; a corner c gets
    Π_i p_i^{[c_i>0]} (1 − p_i)^{[c_i<0]}; the ghost mass is 1 − Σ over data corners. Modes are
    treated as points (exact as std → 0; the census of samples also counts wide modes' spill-over).
    For opposite corners with weights w, 1 − w: 1 − w^D − (1 − w)^D."""
    plus = gm.means > 0
    p = gm.weights @ plus.astype(gm.weights.dtype)
    logp = jnp.where(plus, jnp.log(p)[None, :], jnp.log1p(-p)[None, :])
    return 1.0 - jnp.sum(jnp.exp(jnp.sum(logp, axis=1)))


def n_ghost_corners(corners) -> int:
    """Number of ghost corners of the product of marginals of distinct ±1 corners [k, D]:
    2^{D_free} − k with D_free the coordinates in which both signs occur."""
    corners = np.sign(np.asarray(corners, np.float64))
    free = int(np.sum(np.any(corners > 0, axis=0) & np.any(corners < 0, axis=0)))
    return 2**free - len({tuple(c) for c in corners.tolist()})


def enumerate_ghost_corners(corners) -> int:
    """Ghost count by brute force: corners of {−1,+1}^D on which the product of the per-coordinate
    sign marginals of `corners` [k, D] is positive, minus the data corners. For tests (D ≤ 16)."""
    corners = np.sign(np.asarray(corners, np.float64))
    d = corners.shape[1]
    if d > 16:
        raise ValueError(f"enumerate_ghost_corners: D ≤ 16, got {d}")
    signs_seen = [set(corners[:, i].tolist()) for i in range(d)]
    data = {tuple(c) for c in corners.tolist()}
    support = sum(1 for c in itertools.product((-1.0, 1.0), repeat=d)
                  if all(c[i] in signs_seen[i] for i in range(d)))
    return support - len(data)


def ghost_count(corners) -> dict:
    """{'formula_2D_minus_k': 2^D − k, 'count': the true count 2^{D_free} − k, 'd_free', 'D', 'k'}.

    The seed's 2^D − k holds only when every coordinate sees both signs among the data corners;
    each coordinate on which all modes agree halves the support of the product of marginals."""
    corners = np.sign(np.asarray(corners, np.float64))
    k, d = corners.shape
    free = int(np.sum(np.any(corners > 0, axis=0) & np.any(corners < 0, axis=0)))
    return {"formula_2D_minus_k": 2**d - k, "count": n_ghost_corners(corners), "d_free": free, "D": d, "k": k}

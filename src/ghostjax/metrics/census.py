"""The census: one definition of real / ghost / off-support, used by every entry point.

Definition. Let μ_k, s_k [D] be the means and stds of the K data modes and
t(D, tail) = Φ⁻¹(1 − q/2) with q = 1 − (1 − tail)^{1/D}: the per-coordinate threshold, in stds,
such that an exact sample of a diagonal Gaussian mode has every |x_i − μ_i|/s_i ≤ t with
probability exactly 1 − tail. A sample x [D] is
  real   if max_i |x_i − μ_ki| / s_ki ≤ t for some data mode k;
  ghost  otherwise, if its per-coordinate snap c (c_i = the value μ_{k,i} nearest to x_i, over k,
         with that component's std s_i) is a mode of the product of marginals that holds no data
         (c is no μ_k) and max_i |x_i − c_i| / s_i ≤ t;
  off    otherwise (between modes, beyond the outer modes, or far from every mode).
So exact samples of the data are real with probability ≥ 1 − tail at every D (the default tail
1e-3 gives t = 3.29 at D = 1, 3.84 at D = 8, 4.47 at D = 128, 4.90 at D = 1024); a one-coordinate flip to a ghost
corner is a ghost as long as the modes are narrower than the gap (t·s below half the gap between
per-coordinate values; where regions overlap, real is decided first). For hypercube mixtures the
snap is the sign pattern (restricted to the signs each coordinate sees), so the ghost corners are
the 2^{D_free} − k corners of the product of marginals.

Everything here is traceable (jit, vmap over sweep cells); `corner_counts` and the ghost-count
helpers are host-side.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ..mixtures import GaussianMixture

DEFAULT_TAIL = 1e-3
REAL, GHOST, OFF = 0, 1, 2
_WORK_FLOATS = 2**22  # samples are classified in blocks of about this many K·D elements


def threshold(dim: int, tail=DEFAULT_TAIL) -> Float[Array, ""]:
    """t(D, tail): per-coordinate bound in stds met by a whole exact sample with prob. 1 − tail."""
    tail = jnp.asarray(tail, jnp.result_type(float))
    q = -jnp.expm1(jnp.log1p(-tail) / dim)  # per-coordinate two-sided tail
    return -jax.scipy.special.ndtri(0.5 * q)


def _classify_one(x: Float[Array, " D"], means: Float[Array, "K D"], stds: Float[Array, "K D"], t):
    """(label, snap [D]) of one sample: REAL, GHOST or OFF (see the module docstring)."""
    dev = jnp.abs(x[None, :] - means)  # [K, D]
    real = jnp.min(jnp.max(dev / stds, axis=1)) <= t
    nearest = jnp.argmin(dev, axis=0)  # [D]: per-coordinate nearest component
    cols = jnp.arange(x.shape[0])
    snap, snap_std = means[nearest, cols], stds[nearest, cols]
    on_snap = jnp.max(jnp.abs(x - snap) / snap_std) <= t
    snap_is_data = jnp.any(jnp.all(means == snap[None, :], axis=1))
    label = jnp.where(real, REAL, jnp.where(on_snap & ~snap_is_data, GHOST, OFF))
    return label.astype(jnp.int32), snap


def classify(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL
             ) -> tuple[Int[Array, " N"], Float[Array, "N D"]]:
    """Labels [N] (REAL = 0, GHOST = 1, OFF = 2) and per-coordinate snaps [N, D] of samples x."""
    x = jnp.asarray(x, gm.means.dtype)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x: expected shape [N, {gm.dim}], got {tuple(x.shape)}")
    t = threshold(gm.dim, tail).astype(x.dtype)
    block = max(1, _WORK_FLOATS // (gm.n_components * gm.dim))
    return jax.lax.map(lambda xi: _classify_one(xi, gm.means, gm.stds, t), x, batch_size=block)


def census(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL) -> dict:
    """Counts and fractions of real / ghost / off-support samples x [N, D] (traceable).

    Returns {'n', 'real', 'ghost', 'off', 'real_fraction', 'ghost_fraction', 'off_fraction',
    'threshold'} as JAX scalars (float() them for host use)."""
    labels, _ = classify(x, gm, tail)
    n = labels.shape[0]
    out: dict = {"n": n, "threshold": threshold(gm.dim, tail)}
    for name, code in (("real", REAL), ("ghost", GHOST), ("off", OFF)):
        count = jnp.sum(labels == code)
        out[name] = count
        out[f"{name}_fraction"] = count / n
    return out


def corner_counts(x: Float[ArrayLike, "N D"], gm: GaussianMixture, tail=DEFAULT_TAIL) -> dict[int, int]:
    """{corner code: number of real or ghost samples at it} for hypercube mixtures (host-side).

    The code of a ±1 pattern sets bit i where coordinate i is +1 (D ≤ 62)."""
    if gm.dim > 62:
        raise ValueError(f"dim: corner codes need D ≤ 62, got {gm.dim}")
    labels, snap = (np.asarray(a) for a in classify(x, gm, tail))
    on = labels != OFF
    codes = ((snap[on] > 0).astype(np.int64) << np.arange(gm.dim, dtype=np.int64)).sum(axis=1)
    uniq, counts = np.unique(codes, return_counts=True)
    return {int(c): int(k) for c, k in zip(uniq, counts)}


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

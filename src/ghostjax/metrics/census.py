"""Ghost census: classify samples as real (a data mode), ghost, or off-support.

For hypercube mixtures (modes on ±1 corners), each sample is assigned to its nearest corner of
{−1, +1}^D (the sign pattern) and classified: `real` if that corner holds a data mode, `ghost` if it
is a corner of the product of marginals that holds no data, `off` if the sample is farther than
`radius` from its corner. For general mixtures use `mode_census` (nearest mode, within radius).

Counting ghosts: the product of the marginals of k corner modes puts mass on every corner whose
coordinate i takes a sign that some mode takes in coordinate i. If every coordinate sees both
signs there are 2^D − k ghost corners; coordinates on which all modes agree halve the count each:
2^{D_free} − k with D_free the number of coordinates where both signs occur.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .mixtures import GaussianMixture


def _corner_code(signs: Array) -> Array:
    """Integer code of a ±1 sign pattern [..., D] (D ≤ 62): bit i set where coordinate i is +1."""
    d = signs.shape[-1]
    bits = (signs > 0).astype(jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)
    if d > 30 and not jax.config.jax_enable_x64:
        raise ValueError(f"dim: corner codes need D ≤ 30 without jax_enable_x64, got {d}")
    return jnp.sum(bits << jnp.arange(d, dtype=bits.dtype)[None, :], axis=-1)


def n_ghost_corners(corners: np.ndarray) -> int:
    """Number of ghost corners of the product of marginals of the given ±1 corners [k, D]."""
    corners = np.asarray(corners)
    free = int(np.sum(np.any(corners > 0, axis=0) & np.any(corners < 0, axis=0)))
    return 2**free - len({tuple(c) for c in corners})


def product_ghost_mass(gm: GaussianMixture) -> float:
    """Mass the product of marginals puts on corners that hold no data (hypercube mixtures).

    Per coordinate i, the marginal's probability of the + sign is p_i = Σ_k w_k [μ_ki > 0]; the
    product gives corner c probability Π_i p_i^{[c_i>0]} (1−p_i)^{[c_i<0]}. Real corners are the
    data corners; the ghost mass is 1 − Σ_real Π(...). (Modes are treated as points: exact in the
    limit std → 0; the census of samples also counts the spill-over of wide modes.)
    """
    mu = np.asarray(gm.means, dtype=np.float64)
    w = np.asarray(gm.weights, dtype=np.float64)
    p = w @ (mu > 0)
    real = np.sign(mu)
    probs = np.prod(np.where(real > 0, p[None, :], 1.0 - p[None, :]), axis=1)
    uniq = {tuple(c): pr for c, pr in zip(real.tolist(), probs)}
    return float(1.0 - sum(uniq.values()))


def corner_census(x: Float[Array, "N D"], gm: GaussianMixture, radius: float | None = None) -> dict:
    """Census of samples x [N, D] against the corner modes of hypercube mixture `gm`.

    radius: distance (Euclidean) from the nearest corner beyond which a sample is off-support
    (default: half the distance between adjacent corners, i.e. 1.0).
    Returns {'n', 'real', 'ghost', 'off', 'real_fraction', 'ghost_fraction', 'off_fraction',
    'per_corner': {corner code: count}} with counts as Python ints.
    """
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x: expected shape [N, {gm.dim}], got {tuple(x.shape)}")
    radius = 1.0 if radius is None else float(radius)
    if radius <= 0:
        raise ValueError(f"radius: must be positive, got {radius}")
    signs = jnp.where(x >= 0, 1.0, -1.0).astype(x.dtype)
    dist = jnp.linalg.norm(x - signs, axis=1)
    codes = np.asarray(_corner_code(signs))
    data_codes = set(np.asarray(_corner_code(jnp.sign(gm.means))).tolist())
    on = np.asarray(dist <= radius)
    is_real = np.isin(codes, list(data_codes))
    n = int(x.shape[0])
    real = int(np.sum(on & is_real))
    ghost = int(np.sum(on & ~is_real))
    off = n - real - ghost
    uniq, counts = np.unique(codes[on], return_counts=True)
    return {
        "n": n, "real": real, "ghost": ghost, "off": off,
        "real_fraction": real / n, "ghost_fraction": ghost / n, "off_fraction": off / n,
        "per_corner": {int(c): int(k) for c, k in zip(uniq, counts)},
    }


def mode_census(x: Float[Array, "N D"], gm: GaussianMixture, radius: float) -> dict:
    """Nearest-mode census for a general mixture: a sample within `radius` (in units of that
    mode's rms std) of its nearest mode is 'real', otherwise 'off'. Returns counts, fractions
    and per-mode counts [K]."""
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x: expected shape [N, {gm.dim}], got {tuple(x.shape)}")

    def nearest(xi):
        d2 = jnp.sum((xi[None, :] - gm.means) ** 2, axis=1)
        k = jnp.argmin(d2)
        scale = jnp.sqrt(jnp.mean(gm.stds[k] ** 2))
        return k, jnp.sqrt(d2[k]) / scale

    k, z = jax.lax.map(nearest, x, batch_size=4096)
    k, z = np.asarray(k), np.asarray(z)
    on = z <= radius
    n = int(x.shape[0])
    real = int(on.sum())
    return {
        "n": n, "real": real, "off": n - real, "real_fraction": real / n, "off_fraction": (n - real) / n,
        "per_mode": np.bincount(k[on], minlength=gm.n_components).tolist(),
    }

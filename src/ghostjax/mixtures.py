"""Gaussian mixtures with exact VE-noised log densities, scores and denoisers.

p_0 = Σ_k w_k N(μ_k, diag(s_k²)) noises under x_σ = x_0 + σ ε to
p_σ = Σ_k w_k N(μ_k, diag(s_k² + σ²)). All methods are per example (x: [D], sigma: scalar);
batch them with jax.vmap. A concrete σ that is negative, NaN or infinite raises ValueError('sigma: ...');
a traced σ (under jit, or vmapped over σ) is not checked: NaN gives NaN, a negative σ acts as |σ|.
Responsibilities are computed in log space and streamed over chunks of components (see
_stream.py), so K may be large.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ._matmul import matmul_average, matmul_logits, use_matmul
from ._stream import stream_average
from .distributions import AbstractMixture
from ._util import check_sigma as _check_sigma
from ._util import concrete as _concrete

_LOG_2PI = math.log(2.0 * math.pi)


def _float_dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def draw_labels(key: PRNGKeyArray, weights: Float[Array, " K"], n: int) -> Int[Array, " n"]:
    """n component labels with P(k) = weights[k] / Σ weights, by the inverse CDF: one uniform per label
    (jax.random.categorical draws K Gumbels per label, the largest non-GEMM cost of a training step
    on Aithal's 25-mode grid). Components of weight 0 are never drawn."""
    cdf = jnp.cumsum(weights)
    u = jax.random.uniform(key, (n,), cdf.dtype) * cdf[-1]
    return jnp.minimum(jnp.searchsorted(cdf, u, side="right"), weights.shape[0] - 1)


class GaussianMixture(AbstractMixture):
    """A mixture of K axis-aligned Gaussians in D dimensions.

    Fields: means [K, D]; weights [K] (non-negative, summing to 1); stds [K, D] (per-component,
    per-coordinate standard deviations; an isotropic [K] or scalar std is broadcast).
    Density methods take one example (x [D], σ scalar); vmap them. Two paths, chosen by K and D
    (_matmul.use_matmul): the joint posterior of large mixtures (log_prob, score, denoise,
    log_responsibilities; D >= 16, K >= 64, K·D >= 8192) goes through matrix products over
    chunks of _matmul.MATMUL_CHUNK components (GEMMs under vmap, the winners recomputed by
    direct differences; see _matmul.py), everything else through the streamed elementwise path.
    `chunk` (static) is the number of components processed at once by that streamed path.
    Vmapped over N particles its working set is about N · chunk · D floats, so a small chunk
    keeps it in cache and bounded (the measurements behind 8: benchmarks/README.md, "Design decisions").
    """

    means: Float[Array, "K D"]
    weights: Float[Array, " K"]
    stds: Float[Array, "K D"]
    chunk: int = eqx.field(static=True, default=8)

    def __init__(self, means, weights=None, stds=1.0, *, chunk: int = 8, dtype=None):
        dt = _float_dtype(dtype)  # float32, or float64 when jax_enable_x64 is on (or asked for)
        means = jnp.asarray(means, dtype=dt)
        if means.ndim != 2:
            raise ValueError(f"means: expected shape [K, D], got {tuple(means.shape)}")
        k, d = means.shape
        if k == 0:
            raise ValueError("means: the mixture needs at least one component (K = 0)")
        if d == 0:
            raise ValueError("means: dimension D must be at least 1")
        if weights is None:
            weights = jnp.full((k,), 1.0 / k, dt)
        weights = jnp.asarray(weights, dtype=dt)
        if weights.shape != (k,):
            raise ValueError(f"weights: expected shape [{k}] to match means, got {tuple(weights.shape)}")
        stds = jnp.asarray(stds, dtype=dt)
        if stds.ndim == 0:
            stds = jnp.full((k, d), stds, dt)
        elif stds.shape == (k,):
            stds = jnp.broadcast_to(stds[:, None], (k, d))
        elif stds.shape != (k, d):
            raise ValueError(f"stds: expected a scalar, [{k}] or [{k}, {d}], got {tuple(stds.shape)}")
        if chunk < 1:
            raise ValueError(f"chunk: must be a positive integer, got {chunk}")
        w, s, m = _concrete(weights), _concrete(stds), _concrete(means)
        if m is not None and not np.all(np.isfinite(m)):
            raise ValueError("means: must be finite")
        if w is not None:
            if np.any(w < 0) or not np.all(np.isfinite(w)):
                raise ValueError("weights: must be finite and non-negative")
            if abs(float(w.sum()) - 1.0) > 1e-4:
                raise ValueError(f"weights: must sum to 1, got {float(w.sum()):.6g}")
        if s is not None and (np.any(s <= 0) or not np.all(np.isfinite(s))):
            raise ValueError("stds: must be finite and strictly positive")
        self.means, self.weights, self.stds, self.chunk = means, weights, stds, chunk

    # ------------------------------------------------------------------ moments (the rest: AbstractMixture)
    def within_covariance(self) -> Float[Array, "D D"]:
        """Σ_k w_k diag(s_k²), shape [D, D]."""
        return jnp.diag(self.weights @ self.stds**2)

    def mode_std(self) -> Float[Array, ""]:
        """Weighted root-mean-square component std (the seeds' σ_data: the width of one mode)."""
        return jnp.sqrt(self.weights @ jnp.mean(self.stds**2, axis=1))

    # ------------------------------------------------------------------ exact densities
    def _stream(self, x, sigma, per_coordinate: bool, value: str):
        _check_sigma(sigma)  # every density method comes through here
        x = jnp.asarray(x, self.means.dtype)
        if x.shape != (self.dim,):
            raise ValueError(f"x: expected shape [{self.dim}] (one example; vmap for batches), got {x.shape}")
        sigma = jnp.asarray(sigma, self.means.dtype)
        s2 = sigma * sigma

        def component_fn(log_w, mu, data_var):
            # One component: log_w [], mu [D], data_var [D] -> (logit [1] or [D], value [D]).
            # σ-only terms (shared by all particles under vmap) are formed once; the
            # per-particle work is then subtract / multiply / add only (no divide or log).
            var = data_var + s2
            inv_var = 1.0 / var
            log_norm = -0.5 * (jnp.log(var) + _LOG_2PI)  # [D]
            diff = x - mu
            scaled = diff * inv_var  # (x − μ)/v, [D]
            if per_coordinate:
                logits = log_w + (log_norm - 0.5 * (diff * scaled))
            else:
                logits = (log_w + jnp.sum(log_norm) - 0.5 * jnp.sum(diff * scaled))[None]
            if value == "score":
                vals = -scaled
            elif value == "denoise":
                vals = mu + (data_var / var) * diff
            else:
                vals = jnp.zeros_like(diff)
            return logits, vals

        log_w = jnp.log(self.weights)
        if not per_coordinate and use_matmul(self.n_components, self.dim):
            # The joint posterior by matrix products (GEMMs under vmap; see _matmul.py).
            return matmul_average(x, sigma, log_w, self.means, self.stds**2, value)
        return stream_average(component_fn, log_w, self.means, self.stds**2, self.chunk)

    def log_prob(self, x: Float[Array, " D"], sigma) -> Float[Array, ""]:
        """log p_σ(x) for one example x [D]; scalar."""
        lse, _ = self._stream(x, sigma, per_coordinate=False, value="none")
        return lse[0]

    def marginal_log_prob(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Per-coordinate 1-D marginal log densities log p_σ^{(i)}(x_i), shape [D].

        Their sum is the log density of the product of marginals Π_i p_σ^{(i)}.
        """
        lse, _ = self._stream(x, sigma, per_coordinate=True, value="none")
        return lse

    def score(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Exact joint score ∇_x log p_σ(x), shape [D]."""
        return self._stream(x, sigma, per_coordinate=False, value="score")[1]

    def factorized_score(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Product-of-marginals score: s_i = d/dx_i log p_σ^{(i)}(x_i), shape [D]."""
        return self._stream(x, sigma, per_coordinate=True, value="score")[1]

    def denoise(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Tweedie posterior mean E[x_0 | x_σ = x] = x + σ² ∇log p_σ(x), shape [D].

        Computed as Σ_k r_k(x) (μ_k + s_k²/(s_k²+σ²) (x − μ_k)), which avoids the cancellation of
        x + σ² score at large σ.
        """
        return self._stream(x, sigma, per_coordinate=False, value="denoise")[1]

    def factorized_denoise(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Per-coordinate posterior mean under the product of marginals, shape [D]."""
        return self._stream(x, sigma, per_coordinate=True, value="denoise")[1]

    def log_responsibilities(self, x: Float[Array, " D"], sigma) -> Float[Array, " K"]:
        """log P(component k | x_σ = x), shape [K] (materialises K).

        For large K (see _matmul.use_matmul) the logits come from matrix products, the largest
        recomputed exactly; otherwise from direct differences ([K, D] per example).
        """
        _check_sigma(sigma)
        x = jnp.asarray(x, self.means.dtype)
        sigma = jnp.asarray(sigma, self.means.dtype)
        if use_matmul(self.n_components, self.dim):
            logits = matmul_logits(x, sigma, jnp.log(self.weights), self.means, self.stds**2)
            return logits - jax.nn.logsumexp(logits)
        var = self.stds**2 + sigma * sigma
        diff = x[None, :] - self.means
        logits = jnp.log(self.weights) - 0.5 * jnp.sum(diff * diff / var + jnp.log(var) + _LOG_2PI, axis=1)
        return logits - jax.nn.logsumexp(logits)

    def conditional_score(self, x: Float[Array, " D"], sigma, label: Int[Array, ""]) -> Float[Array, " D"]:
        """Score of component `label` alone (the class-conditional score s(x | c)), shape [D]."""
        _check_sigma(sigma)
        x = jnp.asarray(x, self.means.dtype)
        sigma = jnp.asarray(sigma, self.means.dtype)
        var = self.stds[label] ** 2 + sigma * sigma
        return (self.means[label] - x) / var

    # ------------------------------------------------------------------ sampling
    def sample(self, key: PRNGKeyArray, n: int, return_labels: bool = False):
        """Draw n samples from p_0: [n, D] (and labels [n] when return_labels)."""
        k_lab, k_eps = jax.random.split(key)
        labels = draw_labels(k_lab, self.weights, n)
        eps = jax.random.normal(k_eps, (n, self.dim), self.means.dtype)
        x = self.means[labels] + self.stds[labels] * eps
        return (x, labels) if return_labels else x

    # ------------------------------------------------------------------ constructors
    @classmethod
    def opposite_corners(cls, dim: int, std=0.3, weight=0.5, **kw) -> "GaussianMixture":
        """Two modes at (+1,…,+1) (weight `weight`) and (−1,…,−1) (weight 1 − weight).

        std and weight may be traced (sweeps vmap over them); dim is static."""
        _check_dim(dim)
        w = _concrete(weight)
        if w is not None and not 0.0 <= w <= 1.0:
            raise ValueError(f"weight: must lie in [0, 1], got {weight}")
        means = np.stack([np.ones(dim), -np.ones(dim)])
        if w is not None:  # concrete: 1 − w in float64, then cast
            return cls(means, np.array([float(w), 1.0 - float(w)]), std, **kw)
        return cls(means, jnp.stack([weight, 1.0 - weight]), std, **kw)

    @classmethod
    def hypercube(cls, dim: int, corners=None, weights=None, std=0.3, *, k: int | None = None,
                  key: PRNGKeyArray | None = None, **kw) -> "GaussianMixture":
        """Modes on ±1 corners of the D-cube.

        corners: [k, D] array of ±1 (or None with `k` and `key`: k distinct random corners).
        weights: [k] (default equal). std: scalar, [k] or [k, D].
        """
        _check_dim(dim)
        if corners is None:
            if k is None or key is None:
                raise ValueError("corners: give corners, or both k and key for random corners")
            corners = random_corners(key, dim, k)
        corners = np.asarray(corners, dtype=np.float64)
        if corners.ndim != 2 or corners.shape[1] != dim:
            raise ValueError(f"corners: expected shape [k, {dim}], got {corners.shape}")
        if not np.all(np.abs(corners) == 1):
            raise ValueError("corners: entries must be +1 or -1")
        if len({tuple(c) for c in corners}) != len(corners):
            raise ValueError("corners: must be distinct")
        return cls(corners, weights, std, **kw)

    @classmethod
    def coupled_hypercube(cls, dim: int, coupling: float, std: float = 0.3, field: float = 0.0,
                          **kw) -> "GaussianMixture":
        """All 2^D corners c with weights ∝ exp(g Σ_{i<j} c_i c_j + h Σ_i c_i) (D ≤ 16).

        g = 0 makes the data a product of independent coordinates (no ghosts); large g puts
        nearly all the mass on the two opposite corners ±(1,…,1).
        """
        _check_dim(dim)
        if dim > 16:
            raise ValueError(f"dim: coupled_hypercube enumerates 2^D corners, D ≤ 16; got {dim}")
        corners = all_corners(dim)
        s = corners.sum(axis=1)
        pair = 0.5 * (s**2 - dim)
        logw = coupling * pair + field * s
        w = np.exp(logw - logw.max())
        return cls(corners, w / w.sum(), std, **kw)

    @classmethod
    def grid(cls, n: int = 5, spacing: float = 2.0, std: float = 0.05, scale: float = 1.0,
             **kw) -> "GaussianMixture":
        """n × n grid of 2-D modes spacing·(i, j), i, j centred on 0, all divided by `scale`
        (spacing, std and scale may be traced; n is static).

        Aithal et al.'s "Gaussian25" is grid(5, 2.0, 0.05, scale=sqrt(0.05² + 2²·2)).
        """
        if n < 1:
            raise ValueError(f"n: must be at least 1, got {n}")
        sc = _concrete(scale)
        if sc is not None and not sc > 0:
            raise ValueError(f"scale: must be positive, got {scale}")
        c = np.arange(n) - (n - 1) / 2
        unit = np.stack(np.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
        dt = _float_dtype(kw.get("dtype"))
        scale = jnp.asarray(scale, dt)
        return cls(jnp.asarray(spacing, dt) / scale * unit.astype(dt), None, jnp.asarray(std, dt) / scale, **kw)

    @classmethod
    def rotated_grid(cls, n: int = 5, spacing: float = 2.0, std: float = 0.05, scale: float = 1.0,
                     angle: float = math.pi / 4, **kw) -> "GaussianMixture":
        """`grid(n, spacing, std, scale)` with its means rotated by `angle` (radians, counter-clockwise)
        about the origin. Isotropic modes stay isotropic under a rotation, so the scalar std is exact.

        Aithal et al.'s "Gaussian25 rotated" (a diamond inside the same box) is
        rotated_grid(5, spacing=2/√2, std=0.05, scale=sqrt(0.05² + 2²·2)).
        """
        base = cls.grid(n, spacing, std, scale, **kw)
        c, s = math.cos(angle), math.sin(angle)
        rot = jnp.asarray([[c, s], [-s, c]], base.means.dtype)  # row vectors: m @ rot rotates by +angle
        return cls(base.means @ rot, base.weights, base.stds, **kw)

    @classmethod
    def line(cls, positions, std: float = 0.05, weights=None, **kw) -> "GaussianMixture":
        """1-D modes at `positions` (e.g. [1, 2, 3] as in Aithal et al.)."""
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 1)
        return cls(pos, weights, std, **kw)

    @classmethod
    def random_classes(cls, dim: int, n_classes: int, *, key: PRNGKeyArray, mean_std: Float[ArrayLike, ""] = 1.0,
                       std: Float[ArrayLike, ""] = 1.0, **kw) -> "GaussianMixture":
        """M equally weighted classes with means ~ N(0, mean_std² I_D), within-class std `std` (both
        may be traced scalars: sweeps vmap over them)."""
        _check_dim(dim)
        if n_classes < 1:
            raise ValueError(f"n_classes: must be at least 1, got {n_classes}")
        dt = _float_dtype(kw.get("dtype"))
        means = jnp.asarray(mean_std, dt) * jax.random.normal(key, (n_classes, dim), dt)
        return cls(means, None, std, **kw)


def bound_mixture(score) -> GaussianMixture | None:
    """The mixture whose exact `score` method `score` is (a bound GaussianMixture.score), else None:
    how the sampler and the guidance recognise the exact mixture score among arbitrary callables."""
    gm = getattr(score, "__self__", None)
    if isinstance(gm, GaussianMixture) and getattr(score, "__func__", None) is GaussianMixture.score:
        return gm
    return None


def _check_dim(dim: int) -> None:
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim}")


def all_corners(dim: int) -> np.ndarray:
    """All 2^D corners of {−1, +1}^D as a [2^D, D] float array (bit i of the row index → coord i)."""
    idx = np.arange(2**dim)[:, None]
    bits = (idx >> np.arange(dim)[None, :]) & 1
    return (2.0 * bits - 1.0)


def random_corners(key: PRNGKeyArray, dim: int, k: int) -> np.ndarray:
    """k distinct random corners of {−1, +1}^D, shape [k, D]."""
    if k < 1:
        raise ValueError(f"k: must be at least 1, got {k}")
    if dim < 63 and k > 2**dim:
        raise ValueError(f"k: the {dim}-cube has only {2**dim} corners, asked for {k}")
    if dim <= 16:
        idx = np.asarray(jax.random.choice(key, 2**dim, (k,), replace=False))
        return all_corners(dim)[idx]
    signs = np.asarray(jax.random.bernoulli(key, 0.5, (4 * k, dim)))
    uniq = np.unique(signs, axis=0)[:k]  # distinct with overwhelming probability for D > 16
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 1), uniq.shape[0]))
    return 2.0 * uniq[order].astype(np.float64) - 1.0

"""Gaussian mixtures with full covariance matrices, exact under VE noise.

p_0 = Σ_k w_k N(μ_k, Σ_k) noises under x_σ = x_0 + σ ε to p_σ = Σ_k w_k N(μ_k, Σ_k + σ² I).
All methods are per example (x: [D], sigma: scalar), like `GaussianMixture`; batch them with
jax.vmap (σ is checked as there: ValueError for a concrete negative, NaN or infinite σ; unchecked when traced). Each call first factors C_k C_kᵀ = Σ_k + σ² I (Cholesky, [K, D, D]), solves for the
triangular inverse C_k⁻¹ and forms the precision P_k = C_k⁻ᵀ C_k⁻¹ and the gain G_k = Σ_k P_k. That
part depends on σ only, so under jax.vmap(f, in_axes=(0, None)) it is computed once for all
particles; the per-particle work is g_k = P_k (x − μ_k) and then

    log N_k = log w_k − Σ_i log (C_k)_ii − D/2 log 2π − ½ (x − μ_k)·g_k,
    score   = −Σ_k r_k g_k,              denoise = Σ_k r_k (μ_k + G_k (x − μ_k)),

with responsibilities r = softmax(log N) taken in log space. The denoiser uses G_k (never
x + σ² score), so it does not cancel at large σ. Components are visited in chunks of `chunk` with a
running log-sum-exp (as _stream.py does for the diagonal mixture), so vmapped over N particles the
working set is about N · chunk · D² floats. The per-component products are written as elementwise
products and sums, which XLA fuses (faster at D = 2 than batched 2×2 matrix products).

`FullCovMixture.edm2_tree` builds the two-class "tree" of Karras et al. (2024)'s 2-D toy example
(NVlabs/edm2, toy_example.py, function `gt`; that code is CC BY-NC-SA 4.0 and is not copied here:
`edm2_tree_components` re-implements the construction it describes, numbers and random-draw order
included, so the same seed gives the same components; tests/test_fullcov.py checks it against
values printed by their code).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._util import check_sigma as _check_sigma
from ._util import concrete as _concrete
from .distributions import AbstractMixture
from .mixtures import GaussianMixture

_LOG_2PI = math.log(2.0 * math.pi)


def _float_dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


class FullCovMixture(AbstractMixture):
    """A mixture of K Gaussians with full covariances in D dimensions.

    Fields: means [K, D]; weights [K] (non-negative, summing to 1); covs [K, D, D] (symmetric
    positive definite). `chunk` (static): components per step of the streamed log-sum-exp.
    Constructors: FullCovMixture(means, weights, covs), .from_cholesky(means, weights, chols),
    .from_diagonal(gm), .edm2_tree(classes).
    """

    means: Float[Array, "K D"]
    weights: Float[Array, " K"]
    covs: Float[Array, "K D D"]
    chunk: int = eqx.field(static=True, default=64)

    def __init__(self, means, weights=None, covs=None, *, chunk: int = 64, dtype=None):
        dt = _float_dtype(dtype)
        means = jnp.asarray(means, dt)
        if means.ndim != 2 or means.shape[0] == 0 or means.shape[1] == 0:
            raise ValueError(f"means: expected shape [K, D] with K, D ≥ 1, got {tuple(means.shape)}")
        k, d = means.shape
        weights = jnp.full((k,), 1.0 / k, dt) if weights is None else jnp.asarray(weights, dt)
        if weights.shape != (k,):
            raise ValueError(f"weights: expected shape [{k}] to match means, got {tuple(weights.shape)}")
        covs = jnp.broadcast_to(jnp.eye(d, dtype=dt), (k, d, d)) if covs is None else jnp.asarray(covs, dt)
        if covs.shape != (k, d, d):
            raise ValueError(f"covs: expected shape [{k}, {d}, {d}], got {tuple(covs.shape)}")
        if chunk < 1:
            raise ValueError(f"chunk: must be a positive integer, got {chunk}")
        m, w, c = _concrete(means), _concrete(weights), _concrete(covs)
        if m is not None and not np.all(np.isfinite(m)):
            raise ValueError("means: must be finite")
        if w is not None:
            if np.any(w < 0) or not np.all(np.isfinite(w)):
                raise ValueError("weights: must be finite and non-negative")
            if abs(float(w.sum()) - 1.0) > 1e-4:
                raise ValueError(f"weights: must sum to 1, got {float(w.sum()):.6g}")
        if c is not None:
            c64 = np.asarray(c, np.float64)
            if not np.all(np.isfinite(c64)):
                raise ValueError("covs: must be finite")
            if not np.allclose(c64, np.swapaxes(c64, 1, 2), rtol=1e-5, atol=1e-12):
                raise ValueError("covs: must be symmetric")
            if np.any(np.linalg.eigvalsh(c64) <= 0):
                raise ValueError("covs: must be positive definite")
        self.means, self.weights, self.covs, self.chunk = means, weights, covs, chunk

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_cholesky(cls, means, weights, chols, **kw) -> "FullCovMixture":
        """Covariances Σ_k = L_k L_kᵀ from factors chols [K, D, D]."""
        chols = np.asarray(chols, np.float64)
        return cls(means, weights, chols @ np.swapaxes(chols, 1, 2), **kw)

    @classmethod
    def from_diagonal(cls, gm: GaussianMixture, **kw) -> "FullCovMixture":
        """The same mixture as a diagonal GaussianMixture gm: Σ_k = diag(s_k²)."""
        s2 = gm.stds * gm.stds
        covs = s2[:, :, None] * jnp.eye(gm.dim, dtype=s2.dtype)[None, :, :]
        kw.setdefault("dtype", gm.means.dtype)
        return cls(gm.means, gm.weights, covs, **kw)

    @classmethod
    def edm2_tree(cls, classes: str = "A", seed: int = 2, origin=(0.0030, 0.0325), scale=(1.3136, 1.3844),
                  **kw) -> "FullCovMixture":
        """The EDM2 toy example's tree (Karras et al. 2024) restricted to `classes` ('A', 'B' or 'AB'),
        weights renormalised over the kept components (1016 per class at the default depth)."""
        comps = edm2_tree_components(seed, origin, scale)
        keep = np.isin(comps["cls"], [_CLASS_IDS[c] for c in _check_classes(classes)])
        phi = comps["phi"][keep]
        return cls(comps["mu"][keep], phi / phi.sum(), comps["Sigma"][keep], **kw)

    # ------------------------------------------------------------------ moments (the rest: AbstractMixture)
    def within_covariance(self) -> Float[Array, "D D"]:
        """Σ_k w_k Σ_k, shape [D, D]."""
        return jnp.einsum("k,kij->ij", self.weights, self.covs)

    def broaden(self, factor=1.0, extra_std=0.0) -> "FullCovMixture":
        """Σ_k → factor² Σ_k + extra_std² I (a weaker model for autoguidance); same means, weights."""
        f = jnp.asarray(factor, self.covs.dtype)
        e = jnp.asarray(extra_std, self.covs.dtype)
        eye = jnp.eye(self.dim, dtype=self.covs.dtype)
        return FullCovMixture(self.means, self.weights, f * f * self.covs + (e * e) * eye[None, :, :], chunk=self.chunk)

    # ------------------------------------------------------------------ exact densities
    def _factors(self, sigma):
        """σ-only terms: (log w_k + log-normaliser [K], precision P_k = (Σ_k + σ²I)⁻¹ = C_k⁻ᵀ C_k⁻¹
        [K, D, D], gain G_k = Σ_k P_k [K, D, D]). Every density method comes through here."""
        _check_sigma(sigma)
        dt = self.means.dtype
        s2 = jnp.asarray(sigma, dt) ** 2
        eye = jnp.eye(self.dim, dtype=dt)
        chol = jnp.linalg.cholesky(self.covs + s2 * eye[None, :, :])
        inv = jax.scipy.linalg.solve_triangular(chol, jnp.broadcast_to(eye, chol.shape), lower=True)
        prec = jnp.einsum("kji,kjl->kil", inv, inv)
        logdiag = jnp.log(jnp.diagonal(chol, axis1=1, axis2=2))
        log_c = jnp.log(self.weights) - jnp.sum(logdiag, axis=1) - 0.5 * self.dim * _LOG_2PI
        return log_c, prec, jnp.einsum("kij,kjl->kil", self.covs, prec)

    @staticmethod
    def _logits(x, log_c, prec, means):
        """Per component: logits [c] and g = P_k (x − μ_k) [c, D]."""
        diff = x[None, :] - means
        g = _matvec(prec, diff)
        return log_c - 0.5 * _rowdot(diff, g), g

    def _average(self, x, sigma, value: str):
        """(log p_σ(x), Σ_k r_k v_k) with v_k the per-component score or denoiser ('none': None)."""
        x = jnp.asarray(x, self.means.dtype)
        if x.shape != (self.dim,):
            raise ValueError(f"x: expected shape [{self.dim}] (one example; vmap for batches), got {x.shape}")
        log_c, prec, gain = self._factors(sigma)

        def chunk_terms(lc, pr, gn, mu):
            logits, g = self._logits(x, lc, pr, mu)
            if value == "score":
                vals = -g
            elif value == "denoise":
                vals = mu + _matvec(gn, x[None, :] - mu)
            else:
                vals = None  # log_prob only: no values (a dot with a zero operand miscompiles on XLA:CPU)
            return logits, vals

        k, c = self.n_components, self.chunk
        if k <= c:
            logits, vals = chunk_terms(log_c, prec, gain, self.means)
            top = jax.lax.stop_gradient(jnp.max(logits))
            p = jnp.exp(logits - top)
            total = jnp.sum(p)
            avg = None if vals is None else _weighted_sum(p, vals) / total
            return top + jnp.log(total), avg
        n = -(-k // c)
        pad = n * c - k
        eye = jnp.eye(self.dim, dtype=self.means.dtype)

        def padded(a, fill):
            return jnp.concatenate([a, jnp.broadcast_to(fill, (pad,) + a.shape[1:])]).reshape((n, c) + a.shape[1:])

        xs = (padded(log_c, jnp.asarray(-jnp.inf, log_c.dtype)), padded(prec, eye), padded(gain, 0.0 * eye),
              padded(self.means, jnp.zeros((self.dim,), self.means.dtype)))

        def body(carry, chunk):
            run_max, run_sum, run_acc = carry
            logits, vals = chunk_terms(*chunk)
            new_max = jax.lax.stop_gradient(jnp.maximum(run_max, jnp.max(logits)))
            scale = jnp.exp(run_max - new_max)
            p = jnp.exp(logits - new_max)
            acc = run_acc * scale + (0.0 if vals is None else _weighted_sum(p, vals))
            return (new_max, run_sum * scale + jnp.sum(p), acc), None

        dt = self.means.dtype
        init = (jnp.asarray(-jnp.inf, dt), jnp.zeros((), dt), jnp.zeros((self.dim,), dt))
        # The first chunk holds real components, so run_max is finite after it (padding only at the end).
        (top, total, acc), _ = jax.lax.scan(body, init, xs)
        return top + jnp.log(total), (None if value == "none" else acc / total)

    def log_prob(self, x: Float[Array, " D"], sigma) -> Float[Array, ""]:
        """log p_σ(x) for one example x [D]; scalar."""
        return self._average(x, sigma, "none")[0]

    def score(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Exact score ∇_x log p_σ(x), shape [D]."""
        return self._average(x, sigma, "score")[1]

    def denoise(self, x: Float[Array, " D"], sigma) -> Float[Array, " D"]:
        """Tweedie posterior mean E[x_0 | x_σ = x] = x + σ² ∇log p_σ(x), shape [D] (computed as
        Σ_k r_k (μ_k + Σ_k (Σ_k + σ²I)⁻¹ (x − μ_k)), without the cancellation at large σ)."""
        return self._average(x, sigma, "denoise")[1]

    def log_responsibilities(self, x: Float[Array, " D"], sigma) -> Float[Array, " K"]:
        """log P(component k | x_σ = x), shape [K] (materialises K)."""
        x = jnp.asarray(x, self.means.dtype)
        log_c, prec, _ = self._factors(sigma)
        logits, _ = self._logits(x, log_c, prec, self.means)
        return logits - jax.nn.logsumexp(logits)

    # ------------------------------------------------------------------ sampling
    def sample(self, key: PRNGKeyArray, n: int, return_labels: bool = False):
        """Draw n samples from p_0: [n, D] (and component labels [n] when return_labels)."""
        k_lab, k_eps = jax.random.split(key)
        labels = jax.random.categorical(k_lab, jnp.log(self.weights), shape=(n,))
        eps = jax.random.normal(k_eps, (n, self.dim), self.means.dtype)
        chol = jnp.linalg.cholesky(self.covs)
        x = self.means[labels] + jnp.einsum("nij,nj->ni", chol[labels], eps)
        return (x, labels) if return_labels else x


# Up to this dimension the small per-component products are unrolled over D into elementwise
# multiply-adds. Under a plain jax.jit on XLA:CPU (jaxlib 0.10.2), the same products written as
# jnp.sum(P * v[:, None, :], axis=2) over a vmapped batch of ≥ 64 particles returned logits off by
# hundreds (the YNNPACK reduce fusions; the sampler's compile option hid it, research code's jit did
# not); batched einsums are slow at D = 2. Unrolled, there is no reduction over D to fuse.
_UNROLL_D = 8


def _matvec(mats, vecs):
    """mats [c, D, D] @ vecs [c, D] per component -> [c, D]."""
    d = vecs.shape[1]
    if d > _UNROLL_D:
        return jnp.einsum("kij,kj->ki", mats, vecs)
    cols = []
    for i in range(d):
        acc = mats[:, i, 0] * vecs[:, 0]
        for j in range(1, d):
            acc = acc + mats[:, i, j] * vecs[:, j]
        cols.append(acc)
    return jnp.stack(cols, axis=1)


def _rowdot(a, b):
    """Σ_i a[:, i] b[:, i] -> [c] (unrolled over D up to _UNROLL_D)."""
    d = a.shape[1]
    if d > _UNROLL_D:
        return jnp.einsum("ki,ki->k", a, b)
    acc = a[:, 0] * b[:, 0]
    for i in range(1, d):
        acc = acc + a[:, i] * b[:, i]
    return acc


def _weighted_sum(p, vals):
    """Σ_k p_k v_k [D] for p [c], vals [c, D], as an elementwise product and a sum: written as a dot
    (p @ vals), XLA:CPU's YNNPACK fusions under a plain jax.jit returned wrong log densities here
    (jaxlib 0.10.2; benchmarks/README.md has the same hazard for the diagonal mixture)."""
    return jnp.sum(p[:, None] * vals, axis=0)


# ---------------------------------------------------------------------------------- the EDM2 tree
_CLASS_IDS = {"A": 0, "B": 1}


def _check_classes(classes: str) -> str:
    if classes not in ("A", "B", "AB"):
        raise ValueError(f"classes: expected 'A', 'B' or 'AB', got {classes!r}")
    return classes


def edm2_tree_components(seed: int = 2, origin=(0.0030, 0.0325), scale=(1.3136, 1.3844), depth: int = 7,
                         per_branch: int = 8) -> dict[str, np.ndarray]:
    """Components of both classes of the EDM2 toy tree, in float64 NumPy.

    Each class is a binary tree of branches grown from `origin`, class A at angle π/4 and class B
    at 5π/4. A branch at level ℓ = 0 … depth−1 has length L = 0.292 · 0.8^ℓ · (1 + 0.2 g) and is
    drawn as `per_branch` Gaussians at fractions t = linspace(0.07, 0.93) along it: mean
    (p + t L u) ∘ scale, weight L · 0.5^ℓ, covariance diag(a) (u uᵀ + τ² (I − u uᵀ)) diag(a) with
    a = 0.06 L · scale and τ = 0.2 · 0.8^ℓ / L. Its two children start at its end with angles
    θ ± 0.7^ℓ (1 + 0.2 g). The normals g come from numpy RandomState(seed) in depth-first order
    (a branch's length, then its first child's angle and whole subtree, then the second child's
    angle and subtree), class A before class B: the order of Karras et al.'s code, which this
    re-implements. Returns {'phi': [K] unnormalised weights, 'mu': [K, 2], 'Sigma': [K, 2, 2],
    'cls': [K] 0 for A, 1 for B, 'level': [K] the branch level ℓ}.
    """
    rng = np.random.RandomState(seed)
    origin, scale = np.asarray(origin, np.float64), np.asarray(scale, np.float64)
    ts = np.linspace(0.07, 0.93, num=per_branch)
    phi, mu, cov, cls, lev = [], [], [], [], []

    def grow(label: int, level: int, start: np.ndarray, angle: float) -> None:
        if level >= depth:
            return
        u = np.array([np.cos(angle), np.sin(angle)])
        length = 0.292 * 0.8**level * (1.0 + 0.2 * rng.randn())
        tau = 0.2 * 0.8**level / length
        a = 0.06 * length * scale
        along = np.outer(u, u)
        shape = (along + tau**2 * (np.eye(2) - along)) * np.outer(a, a)
        for t in ts:
            phi.append(length * 0.5**level)
            mu.append((start + t * length * u) * scale)
            cov.append(shape)
            cls.append(label)
            lev.append(level)
        end = start + length * u
        for sign in (1.0, -1.0):
            grow(label, level + 1, end, angle + sign * 0.7**level * (1.0 + 0.2 * rng.randn()))

    grow(0, 0, origin, 0.25 * np.pi)
    grow(1, 0, origin, 1.25 * np.pi)
    return {"phi": np.asarray(phi), "mu": np.asarray(mu), "Sigma": np.asarray(cov), "cls": np.asarray(cls),
            "level": np.asarray(lev)}

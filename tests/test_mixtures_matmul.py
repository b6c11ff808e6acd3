"""GaussianMixture's matrix-product path (_matmul.py) against independent NumPy float64 references.

The references below compute every log density by direct differences in float64, component by
component; they share no code with the library. The streamed path (_stream.py) is the accuracy
bar: on tight modes far from the origin the products must be as accurate as it is.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax as gj
from ghostjax import _matmul

SAMPLER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}
# What gj.sample compiles a product-path score with (integrate.uses_library_reductions).
REDUCTION_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                     "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE"}


# ---------------------------------------------------------------------------------- references
def ref_posterior(means, weights, stds, xs, sigma):
    """float64: (score [N, D], denoiser [N, D], log p [N], log responsibilities [N, K])."""
    mu, w, s = (np.asarray(a, np.float64) for a in (means, weights, stds))
    s = np.broadcast_to(s, mu.shape)
    var = s**2 + sigma**2
    out = ([], [], [], [])
    for x in np.asarray(xs, np.float64):
        diff = x - mu
        with np.errstate(divide="ignore"):
            lc = np.log(w) - 0.5 * np.sum(diff**2 / var + np.log(2 * np.pi * var), axis=1)
        m = lc.max()
        lse = m + np.log(np.sum(np.exp(lc - m)))
        r = np.exp(lc - lse)
        out[0].append(r @ (-diff / var))
        out[1].append(r @ (mu + s**2 / var * diff))
        out[2].append(lse)
        out[3].append(lc - lse)
    return tuple(np.array(o) for o in out)


def rel_err(got, want):
    """Worst |Δ| / (1 + |want|) over particles (vector norms for [N, D], absolute values for [N])."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if want.ndim == 1:
        return float(np.max(np.abs(got - want) / (1.0 + np.abs(want))))
    return float(np.max(np.linalg.norm(got - want, axis=1) / (1.0 + np.linalg.norm(want, axis=1))))


@pytest.fixture
def streamed(monkeypatch):
    """Calling streamed() makes every mixture traced afterwards use the streamed path."""
    def force():
        monkeypatch.setattr(_matmul, "MATMUL_MIN_K", 10**12)
    return force


def batched(fn):
    return jax.jit(jax.vmap(fn, (0, None)))


# ---------------------------------------------------------------------------------- problems
def far_tight_mixture(kind, d, k, rng):
    """std-0.05 modes at distance 5 from the origin."""
    if kind == "sphere":  # random directions, |μ| = 5
        mu = rng.normal(size=(k, d))
        mu *= 5.0 / np.linalg.norm(mu, axis=1, keepdims=True)
    elif kind == "corners":  # random corners of the cube [−5/√D, 5/√D]^D
        mu = 5.0 / math.sqrt(d) * np.sign(rng.normal(size=(k, d)))
    else:  # one cluster at distance 5
        c = rng.normal(size=d)
        mu = 5.0 * c / np.linalg.norm(c) + 0.3 / math.sqrt(d) * rng.normal(size=(k, d))
    return gj.GaussianMixture(mu, None, 0.05)


def particles(gm, sigma, rng, n=48):
    """n samples of p_σ, 8 of them scaled ×10 (far from everything), 8 midpoints of two modes."""
    mu = np.asarray(gm.means, np.float64)
    k, d = mu.shape
    lab = rng.integers(k, size=n)
    x = mu[lab] + math.sqrt(0.05**2 + sigma**2) * rng.normal(size=(n, d))
    i, j = rng.integers(k, size=(2, 8))
    mid = 0.5 * (mu[i] + mu[j]) + 0.01 * rng.normal(size=(8, d))
    return np.concatenate([x, 10.0 * x[:8], mid]).astype(np.float32)


# ---------------------------------------------------------------------------------- dispatch
def test_dispatch_rule():
    assert not _matmul.use_matmul(2, 8) and not _matmul.use_matmul(64, 8)  # bench_sampler's main cases
    assert not _matmul.use_matmul(8, 4096)  # K <= 8: the unrolled path
    assert not _matmul.use_matmul(10_000, 8)  # thin products: streamed
    assert _matmul.use_matmul(10_000, 128) and _matmul.use_matmul(1000, 32) and _matmul.use_matmul(64, 128)


def test_vmapped_score_is_a_gemm():
    """Per-example code, but vmapped over N particles the logits are an [N, 2D] @ [2D, C] product."""
    gm = gj.GaussianMixture.random_classes(128, 10_000, key=jax.random.key(0), std=0.5)
    text = str(jax.make_jaxpr(jax.vmap(gm.score, (0, None)))(jnp.zeros((64, 128)), 0.5))
    dots = [line for line in text.splitlines() if "dot_general[" in line]
    shapes = {line.split("=")[0].split(":")[-1].strip() for line in dots}
    assert {"f32[64,512]", "f32[64,256]"} <= shapes, shapes


# ---------------------------------------------------------------------------------- precision
@pytest.mark.parametrize("kind, d", [("sphere", 128), ("corners", 128), ("cluster", 128), ("sphere", 16)])
def test_far_tight_modes_as_accurate_as_streamed(kind, d, streamed):
    rng = np.random.default_rng(d + len(kind))
    gm = far_tight_mixture(kind, d, 2000, rng)
    assert _matmul.use_matmul(gm.n_components, gm.dim)
    fast = [batched(f) for f in (gm.score, gm.denoise, gm.log_prob)]
    xs0 = jnp.zeros((64, d))
    for f in fast:
        f(xs0, 0.5)  # trace with the matrix products
    streamed()
    slow = [batched(f) for f in (gm.score, gm.denoise, gm.log_prob)]
    sigma_data = float(gm.data_std())
    for sigma in (0.0, 1e-3, 1e-2, sigma_data, 10.0, 1e3):
        xs = particles(gm, sigma, rng)
        want = ref_posterior(gm.means, gm.weights, gm.stds, xs, sigma)[:3]
        for name, f, g, w in zip(("score", "denoise", "log_prob"), fast, slow, want):
            e_fast, e_slow = rel_err(f(xs, sigma), w), rel_err(g(xs, sigma), w)
            assert e_fast <= 3.0 * e_slow + 3e-5, (name, sigma, e_fast, e_slow)
            assert e_fast < 1e-3, (name, sigma, e_fast)


@pytest.mark.parametrize("ties", [2, 8, 16])
def test_tied_modes_in_one_chunk(ties):
    """x equidistant from `ties` tight modes listed together (one chunk), σ → 0: the expanded
    squares alone err by ~1e-3 in each logit (5e-3 in the score); the exact recomputation of the
    winners removes it."""
    rng = np.random.default_rng(ties)
    d, k, a = 128, 2000, 5.0 / math.sqrt(128)
    mu = a * np.sign(rng.normal(size=(k, d)))
    bits = int(math.log2(ties))
    for t in range(ties):  # modes 100 … 100 + ties − 1 differ only in the first `bits` coordinates
        mu[100 + t] = mu[100]
        mu[100 + t, :bits] = [a if (t >> b) & 1 else -a for b in range(bits)]
    x = mu[100].copy()
    x[:bits] = 0.0
    xs = (x + 1e-3 * rng.normal(size=(8, d))).astype(np.float32)
    gm = gj.GaussianMixture(mu, None, 0.05)
    score = batched(gm.score)
    for sigma in (0.0, 1e-2):
        want = ref_posterior(gm.means, gm.weights, gm.stds, xs, sigma)[0]
        assert rel_err(score(xs, sigma), want) < 2e-4, sigma


def test_heterogeneous_stds_padding_and_zero_weights():
    """Unequal per-coordinate stds, K not a multiple of the chunk, some weights exactly 0."""
    rng = np.random.default_rng(3)
    k, d = 1000, 24
    w = rng.uniform(0.1, 1.0, size=k)
    w[::7] = 0.0
    gm = gj.GaussianMixture(2.0 * rng.normal(size=(k, d)), w / w.sum(), rng.uniform(0.1, 0.8, size=(k, d)))
    xs = (3.0 * rng.normal(size=(32, d))).astype(np.float32)
    score, denoise, log_prob, log_r = (batched(f) for f in (gm.score, gm.denoise, gm.log_prob, gm.log_responsibilities))
    for sigma in (0.0, 0.3, 30.0):
        s, dn, lp, lr = ref_posterior(gm.means, gm.weights, gm.stds, xs, sigma)
        assert rel_err(score(xs, sigma), s) < 1e-4
        assert rel_err(denoise(xs, sigma), dn) < 1e-4
        assert rel_err(log_prob(xs, sigma), lp) < 1e-5
        got = np.asarray(log_r(xs, sigma), np.float64)
        assert np.all(got[:, ::7] == -np.inf)
        np.testing.assert_allclose(np.exp(got), np.exp(lr), atol=1e-4)  # float32 logits of size ~100
        top = lr > -20.0
        np.testing.assert_allclose(got[top], lr[top], atol=2e-3, rtol=1e-5)


def test_log_prob_gradient_is_the_score():
    """Autodiff through the products (and the exact recomputation) gives the score, also far out."""
    gm = gj.GaussianMixture.random_classes(32, 700, key=jax.random.key(4), mean_std=2.0, std=0.3)
    xs = jnp.concatenate([2.0 * jax.random.normal(jax.random.key(5), (8, 32)), jnp.full((2, 32), 40.0)])
    score, ad = batched(gm.score), batched(jax.grad(gm.log_prob))
    for sigma in (0.0, 0.1, 1.0, 30.0):
        s = score(xs, sigma)
        scale = 1.0 + jnp.linalg.norm(s, axis=1, keepdims=True)
        np.testing.assert_allclose(s / scale, ad(xs, sigma) / scale, atol=2e-5, err_msg=f"σ={sigma}")


@pytest.mark.parametrize("d", [16, 1024])
def test_finite_far_from_modes(d):
    """No NaN/inf from σ = 0 to 1e3·σ_data, at and far from the modes (matrix-product path)."""
    gm = gj.GaussianMixture.random_classes(d, 600, key=jax.random.key(6), std=0.3)
    assert _matmul.use_matmul(600, d)
    xs = jnp.stack([jnp.full((d,), 1e3), jnp.zeros((d,)), jnp.linspace(-50.0, 80.0, d), gm.means[0]])
    for fn in (gm.score, gm.denoise, gm.log_prob, gm.log_responsibilities):
        f = batched(fn)
        for sigma in (0.0, 1e-3, 1.0, 300.0, 1e3):
            out = f(xs, sigma)
            assert out.dtype == jnp.float32
            assert bool(jnp.all(jnp.isfinite(out))), (fn.__name__, d, sigma)


def test_float64_on_request():
    with jax.enable_x64(True):
        rng = np.random.default_rng(7)
        gm = gj.GaussianMixture(rng.normal(size=(300, 32)), None, rng.uniform(0.2, 0.6, size=(300, 32)),
                                dtype=jnp.float64)
        xs = jnp.asarray(rng.normal(size=(8, 32)), jnp.float64)
        s, dn, lp, _ = ref_posterior(gm.means, gm.weights, gm.stds, xs, 0.3)
        got = batched(gm.score)(xs, 0.3)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, s, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(batched(gm.denoise)(xs, 0.3), dn, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(batched(gm.log_prob)(xs, 0.3), lp, rtol=1e-11)


# ---------------------------------------------------------------------------------- XLA:CPU guard
@pytest.mark.parametrize("options", [None, SAMPLER_OPTIONS, REDUCTION_OPTIONS],
                         ids=["default", "sampler_options", "reduction_options"])
def test_closed_over_mixture_in_research_jit(options):
    """Research code jits the vmapped score with the mixture closed over (constants to XLA).

    jaxlib 0.10.2 miscompiles YNNPACK dots whose operand folds to a broadcast scalar, which is what
    1/(s² + σ²) is for equal stds (benchmarks/README.md); the products here must stay correct."""
    k, d, n = 10_000, 128, 64
    gm = gj.GaussianMixture.random_classes(d, k, key=jax.random.key(8), mean_std=2.0, std=0.5)
    kw = {"compiler_options": options} if options and jax.default_backend() == "cpu" else {}
    score = jax.jit(lambda x: jax.vmap(gm.score, (0, None))(x, 0.5), **kw)
    log_prob = jax.jit(lambda x: jax.vmap(gm.log_prob, (0, None))(x, 0.5), **kw)
    rng = np.random.default_rng(9)
    mu = np.asarray(gm.means)
    xs = (mu[rng.integers(k, size=n)] + 0.7 * rng.normal(size=(n, d))).astype(np.float32)
    s, _, lp, _ = ref_posterior(gm.means, gm.weights, gm.stds, xs, 0.5)
    assert rel_err(score(xs), s) < 1e-5
    assert rel_err(log_prob(xs), lp) < 1e-6


def test_sampler_with_closed_over_score():
    """The same hazard through gj.sample (its own compile options): a lambda closing over the
    mixture must give the trajectories of the bound method (whose arrays are traced)."""
    gm = gj.GaussianMixture.random_classes(64, 2048, key=jax.random.key(10), mean_std=2.0, std=0.5)
    kw = {"solver": gj.EulerMaruyama()} if hasattr(gj, "EulerMaruyama") else {"method": "euler_maruyama"}
    x0 = gj.prior(jax.random.key(11), 64, 64, 20.0)
    sig = jnp.asarray([20.0, 5.0, 1.0, 0.2])
    a = gj.sample(gm.score, x0, sig, key=jax.random.key(12), **kw).x
    b = gj.sample(lambda x, s: gm.score(x, s), x0, sig, key=jax.random.key(12), **kw).x
    assert bool(jnp.all(jnp.isfinite(b)))
    np.testing.assert_allclose(a, b, atol=5e-3)  # float32 rounding of differently folded constants


# ---------------------------------------------------------------------------------- memory
def test_memory_bounded_for_1e5_particles():
    """N = 1e5, K = 1e4, D = 128 vmapped at once: XLA's buffers stay well under 2 GiB."""
    gm = gj.GaussianMixture.random_classes(128, 10_000, key=jax.random.key(13), std=0.5)
    x = jax.ShapeDtypeStruct((100_000, 128), jnp.float32)
    compiled = jax.jit(jax.vmap(gm.score, (0, None))).lower(x, 0.5).compile()
    mem = compiled.memory_analysis()
    if mem is None:
        pytest.skip("no memory analysis on this backend")
    total = mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
    assert total < 2 * 2**30, total / 2**30

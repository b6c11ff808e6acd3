"""The guided pair in one pass (guided_score.py) against the separate computation and against
independent float64 references (NumPy direct differences, autodiff of log p written here)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ghostjax.guidance as G
from ghostjax import guided_score as GS
from ghostjax.mixtures import GaussianMixture

K, D, N = 320, 32, 24  # K·D = 10240: the product path (use_matmul)


def _mixture(key=0, std=0.3, dtype=None):
    kk = jax.random.key(key)
    stds = std * (1.0 + jax.random.uniform(jax.random.fold_in(kk, 1), (K,)))  # isotropic, unequal
    return GaussianMixture(jax.random.normal(kk, (K, D), dtype), None, stds, dtype=dtype)


def _points(gm, sigma, key=2):
    """Particles near their classes' means (labels) and a few far ones."""
    labels = jnp.arange(N, dtype=jnp.int32) * 37 % K
    z = jax.random.normal(jax.random.key(key), (N, D), gm.means.dtype)
    x = gm.means[labels] + jnp.sqrt(gm.stds[labels] ** 2 + sigma**2) * z
    return x.at[-3:].multiply(4.0), labels


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)))


def _ref_scores(gm, x, sigma, mask):
    """float64 NumPy: (mixture score over the components in `mask` [N, K], full mixture score)."""
    mu, s = np.asarray(gm.means, np.float64), np.asarray(gm.stds, np.float64)
    var = s**2 + float(sigma) ** 2
    out = []
    for m in (mask, np.ones_like(mask)):
        rows = []
        for xi, mi in zip(np.asarray(x, np.float64), m):
            lc = -0.5 * np.sum((xi - mu) ** 2 / var + np.log(2 * np.pi * var), axis=1)
            lc = np.where(mi, lc, -np.inf)
            r = np.exp(lc - lc.max())
            rows.append((r / r.sum()) @ ((mu - xi) / var))
        out.append(np.array(rows))
    return out


@pytest.mark.parametrize("sigma_factor", [0.0, 0.5, 1e3])
def test_fused_equals_separate(sigma_factor):
    gm = _mixture()
    sigma = sigma_factor * float(gm.data_std())
    x, labels = _points(gm, sigma)
    c = G.ClassScore(gm, 0)
    assert c.one_pass and G.cfg(gm, 0, 1.0).fused
    fused = jax.jit(jax.vmap(lambda x, c: G.ClassScore(gm, c).pair(x, sigma)))(x, labels)
    sep = jax.jit(jax.vmap(lambda x, c: (G.ClassScore(gm, c)(x, sigma), gm.score(x, sigma))))(x, labels)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in fused)
    assert _rel(fused[0], sep[0]) < 1e-6  # one component: the same formula
    # Far particles have product logits of a few hundred: a few float32 ulps of them are ~3e-5 in the
    # weights (seen under the suite's XLA optimisation level 0; ~2e-7 at the default level).
    assert _rel(fused[1], sep[1]) < 1e-4
    # ... and both against float64 direct differences
    ref_c, ref_u = _ref_scores(gm, x, sigma, np.eye(K, dtype=bool)[np.asarray(labels)])
    assert _rel(fused[0], ref_c) < 1e-5 and _rel(fused[1], ref_u) < 1e-4 and _rel(sep[1], ref_u) < 1e-4


@pytest.mark.parametrize("sigma_factor", [0.0, 1e3])
def test_several_components_per_class(sigma_factor):
    gm = _mixture(key=3)
    sigma = sigma_factor * float(gm.data_std())
    classes = np.arange(K) % 7
    classes[11] = 7  # class 7 has one component
    x, _ = _points(gm, sigma)
    labels = jnp.asarray(np.where(np.arange(N) % 4 == 0, 7, np.arange(N) % 7), jnp.int32)
    fused = jax.jit(jax.vmap(lambda x, c: G.ClassScore(gm, c, classes).pair(x, sigma)))(x, labels)
    sep = jax.jit(jax.vmap(lambda x, c: G.ClassScore(gm, c, classes)(x, sigma)))(x, labels)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in fused)
    assert _rel(fused[0], sep) < 1e-4
    ref_c, ref_u = _ref_scores(gm, x, sigma, classes[None, :] == np.asarray(labels)[:, None])
    assert _rel(fused[0], ref_c) < 1e-4 and _rel(fused[1], ref_u) < 1e-4
    one = np.asarray(labels) == 7  # the one-component class: that component's score
    direct = (np.asarray(gm.means[11]) - np.asarray(x)[one]) / (float(gm.stds[11, 0]) ** 2 + sigma**2)
    assert _rel(np.asarray(fused[0])[one], direct) < 1e-5


def test_cfg_and_families_take_the_fused_pass():
    gm = _mixture(key=4)
    x, _ = _points(gm, 0.4)

    class Wrapped(eqx.Module):  # the same score, not recognisable as gm.score: the separate route
        gm: GaussianMixture

        def __call__(self, x, s):
            return self.gm.score(x, s)

    for fam in (G.ConstantCFG(), G.PowerLawFamily(alpha=0.5)):
        fused = fam.score(gm, 5, 1.5)
        assert fused.fused
        plain = type(fused)(fused.cond, Wrapped(gm), *((fused.schedule,) if isinstance(fused, G.CFG) else (1.5, 0.5)))
        assert not plain.fused
        a = jax.jit(jax.vmap(fused, (0, None)))(x, 0.4)
        b = jax.jit(jax.vmap(plain, (0, None)))(x, 0.4)
        assert _rel(a, b) < 1e-4


def test_float64_against_autodiff_of_log_p():
    with jax.enable_x64(True):
        gm = _mixture(key=5, dtype=jnp.float64)
        classes = np.arange(K) % 5
        mu, var0 = gm.means, gm.stds[:, 0] ** 2

        def log_p(x, sigma, mask):  # independent: log Σ_k w_k N(x; μ_k, v_k I) over mask, direct
            v = var0 + sigma**2
            lc = jnp.log(gm.weights) - 0.5 * (jnp.sum((x[None, :] - mu) ** 2, axis=1) / v + D * jnp.log(2 * jnp.pi * v))
            return jax.nn.logsumexp(jnp.where(mask, lc, -jnp.inf))

        labels = jnp.arange(4, dtype=jnp.int32) % 5
        masks = jnp.asarray(classes[None, :] == np.arange(4)[:, None] % 5)
        fused = jax.jit(jax.vmap(lambda x, c, s: G.ClassScore(gm, c, classes).pair(x, s), (0, 0, None)))
        grad = jax.jit(jax.vmap(jax.grad(log_p), (0, None, 0)))
        for sigma in (0.0, 0.7, 300.0):
            x = _points(gm, sigma)[0][:4]
            sc, su = fused(x, labels, sigma)
            assert sc.dtype == jnp.float64
            assert _rel(su, grad(x, sigma, jnp.ones((4, K), bool))) < 1e-9
            assert _rel(sc, grad(x, sigma, masks)) < 1e-9


@pytest.mark.parametrize("sigma", [0.05, 0.6, 1.5])
def test_pruning_bound_holds(sigma):
    gm = _mixture(key=6, std=0.5)
    x, labels = _points(gm, sigma)
    lw, v0 = jnp.log(gm.weights), gm.stds[:, 0] ** 2
    radius = jnp.max(jnp.linalg.norm(gm.means - jnp.mean(gm.means, 0)[None, :], axis=1))
    _, s_hat, bound = jax.jit(jax.vmap(lambda x, c: GS.pruned_pair(x, sigma, lw, gm.means, v0, c, radius)))(x, labels)
    _, ref = _ref_scores(gm, x, sigma, np.ones((N, K), bool))
    err = np.linalg.norm(np.asarray(s_hat, np.float64) - ref, axis=1)
    slack = 1e-5 * np.linalg.norm(ref, axis=1)  # float32 rounding of ŝ itself
    assert np.all(err <= np.asarray(bound) + slack)
    if sigma == 0.05:  # separated: every particle certified at ε = 1e-3
        assert float(jnp.max(bound)) <= 1e-3
    if sigma == 1.5:  # overlapping: pruning changes the score, and the bound says so
        assert err.max() > 1e-3 and float(jnp.max(bound)) >= err.max()


def test_traced_stds_keep_the_separate_route():
    gm = _mixture(key=7)
    assert not jax.jit(lambda g: jnp.asarray(G.ClassScore(g, 0).one_pass))(gm)
    assert jax.jit(lambda g: jnp.asarray(G.ClassScore(g, 0, one_pass=True).one_pass))(gm)  # asserted
    anis = GaussianMixture(gm.means, None, gm.stds * (1 + jnp.arange(D) / D)[None, :])
    assert not G.ClassScore(anis, 0).one_pass and G.cfg(anis, 0, 1.0).fused  # pair() falls back


@pytest.mark.parametrize("fusions", ["LIBRARY_FUSION_TYPE_DOT",
                                     "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE"])
def test_closed_over_equal_stds_under_the_sampler_options(fusions):
    """A mixture with equal stds closed over by the caller's jit (XLA folds the constant 1/v): the
    products' operands are concatenations, never a bare broadcast (_matmul.py, XLA:CPU note); under
    both option sets gj.sample uses (integrate.py: the product path gets YNNPACK reductions)."""
    gm = GaussianMixture(jax.random.normal(jax.random.key(8), (K, D)), None, 0.4)
    x, labels = _points(gm, 0.3)
    opts = {"xla_cpu_experimental_ynn_fusion_type": fusions} if jax.default_backend() == "cpu" else None
    step = jax.jit(jax.vmap(G.cfg(gm, 3, 2.0), (0, None)), compiler_options=opts)
    c = G.ClassScore(gm, 3)
    ref = (1 + 2.0) * jax.vmap(c, (0, None))(x, 0.3) - 2.0 * jax.vmap(gm.score, (0, None))(x, 0.3)
    out = step(x, 0.3)
    assert np.all(np.isfinite(np.asarray(out))) and _rel(out, ref) < 1e-4


def test_gj_sample_takes_the_one_pass(monkeypatch):
    """gj.sample(cfg(gm, c, w), ...) traces guided_pair (no change at the call site), compiled with
    YNNPACK reductions, and gives the particles of the separate computation (compiled without)."""
    import ghostjax as gj
    from ghostjax import integrate

    gm = _mixture(key=9)
    calls = []
    real = GS.guided_pair
    monkeypatch.setattr(GS, "guided_pair", lambda *a, **k: calls.append(1) or real(*a, **k))

    class Wrapped(eqx.Module):
        gm: GaussianMixture

        def __call__(self, x, s):
            return self.gm.score(x, s)

    x0 = gj.prior(jax.random.key(1), 64, D, 3.0)
    grid = jnp.asarray([3.0, 1.0, 0.3, 0.1])
    guided = G.cfg(gm, 4, 1.0)
    assert integrate.product_components(guided) == integrate.product_components(gm.score) == K
    assert integrate.product_components(Wrapped(gm)) == 0
    assert integrate.product_components(G.cfg(GaussianMixture(gm.means[:4, :2], None, 0.3), 1, 1.0)) == 0
    monkeypatch.setattr(integrate, "LIBRARY_REDUCTIONS_MIN_WORK", 1)  # this small case compiles as a large one
    assert integrate.uses_library_reductions(guided, x0.shape)
    compiled = []

    class Spy(integrate.BackendJit):
        def __call__(self, *args, **kwargs):
            compiled.append(1)
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(integrate, "_run_reductions", Spy(integrate._run_impl, integrate._CPU_REDUCTION_OPTIONS))
    fused = gj.sample(guided, x0, grid, key=jax.random.key(2), solver=gj.OdeEuler()).x
    assert calls and compiled == [1]
    plain = gj.sample(G.CFG(G.ClassScore(gm, 4), Wrapped(gm), 1.0), x0, grid, key=jax.random.key(2),
                      solver=gj.OdeEuler()).x
    assert _rel(fused, plain) < 1e-4 and compiled == [1]  # the wrapped score took the dots-only compilation


def test_sampler_takes_library_reductions_from_the_work_per_call():
    """gj.sample compiles a product-path score with YNNPACK reductions only where (particles per
    score call) × components reaches integrate.LIBRARY_REDUCTIONS_MIN_WORK (faster there, slower
    below: benchmarks/README.md); particles per call are capped by the CPU's particle blocks."""
    from ghostjax import integrate

    gm = GaussianMixture.random_classes(64, 8192, key=jax.random.key(3), mean_std=1.0, std=0.3)
    guided = G.cfg(gm, 0, 1.0)
    assert integrate.LIBRARY_REDUCTIONS_MIN_WORK == 2048 * 8192
    assert integrate.uses_library_reductions(guided, (2048, 64)) and integrate.uses_library_reductions(gm.score, (2048, 64))
    assert not integrate.uses_library_reductions(guided, (2047, 64))
    assert not integrate.uses_library_reductions(G.ClassScore(gm, 0), (10**6, 64))  # no product_components
    if jax.default_backend() == "cpu":  # particles per call: blocks of max(1024, 2^17 / D) = 1024 at D = 256
        assert integrate._block_size(10**6, 64) == 2048 and integrate._block_size(10**6, 256) == 1024
        wide = GaussianMixture.random_classes(256, 8192, key=jax.random.key(3), mean_std=1.0, std=0.3)
        assert not integrate.uses_library_reductions(G.cfg(wide, 0, 1.0), (10**6, 256))
        assert integrate.compiler_options(guided, (2048, 64)) != integrate.compiler_options(guided, (512, 64))
        assert integrate.compiler_options(guided, (512, 64)) == integrate.compiler_options()

"""Score networks: shapes, exact factorization (diagonal Jacobian), preconditioning identities."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ghostjax.nets import (
    EMBEDDINGS,
    NETS,
    EDMPrecond,
    EpsPrecond,
    FactorizedNet,
    FourierEmbedding,
    SinusoidalEmbedding,
    make_net,
)

D = 5
SMALL = dict(width=8, depth=2, embed_dim=8, sigma_data=1.1)
PER_KIND = {"joint": {}, "factorized": dict(coord_dim=3), "pooled": dict(coord_dim=3, pool_dim=4), "aithal": {},
            "fourier_aithal": dict(features=4)}
SIGMAS = (1e-3, 0.05, 1.0, 100.0)


def _net(kind, **kw):
    return make_net(kind, D, key=jax.random.PRNGKey(0), **{**SMALL, **PER_KIND[kind], **kw})


# jitted helpers: one compilation per network structure instead of one per eager op (fast tests)
_call = eqx.filter_jit(lambda net, x, s: net(x, s))
_both = eqx.filter_jit(lambda net, x, sigmas: (jax.vmap(net, in_axes=(None, 0))(x, sigmas),
                                               jax.vmap(jax.jacfwd(net), in_axes=(None, 0))(x, sigmas)))
SIG = jnp.asarray(SIGMAS, jnp.float32)
_denoise = eqx.filter_jit(lambda net, x, s: net.denoise(x, s))


def _offdiag(J):
    return np.abs(np.asarray(J) - np.diag(np.diag(np.asarray(J))))


@pytest.mark.parametrize("kind", [k for k in NETS if k != "unet"])  # images: tests/test_unet.py
def test_shapes_dtype_finite(kind):
    net = _net(kind)
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    out, _ = _both(net, x, SIG)
    assert out.shape == (len(SIGMAS), D) and out.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(out)))


@pytest.mark.parametrize("mode", ["shared", "ensemble"])
def test_factorized_jacobian_is_diagonal(mode):
    net = _net("factorized", mode=mode)
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    base, jac = _both(net, x, SIG)
    for J in np.asarray(jac):
        assert np.all(_offdiag(J) == 0.0)          # exactly, not approximately
        assert np.all(np.abs(np.diag(J)) > 0)
    # finite perturbations too: moving x_j leaves every other output bit-for-bit unchanged
    ref, moved = (np.asarray(_call(net, v, SIG[1])) for v in (x, x + 0.7 * jnp.eye(D)[2]))
    others = np.arange(D) != 2
    assert np.array_equal(moved[others], ref[others]) and moved[2] != ref[2]


def test_ensemble_has_independent_weights_per_dimension():
    net = _net("factorized", mode="ensemble")
    w = net.mlp.layers[0].weight
    assert w.shape[0] == D and not np.allclose(w[0], w[1])
    # the same input in two coordinates gives different outputs (different weights)
    out = _call(net, jnp.full((D,), 0.4), jnp.float32(0.5))
    assert not np.isclose(out[0], out[1])


@pytest.mark.parametrize("kind", ["joint", "pooled", "aithal"])
def test_cross_dimension_networks_are_not_diagonal(kind):
    net = _net(kind)
    _, jac = _both(net, jax.random.normal(jax.random.PRNGKey(1), (D,)), SIG)
    assert _offdiag(np.asarray(jac)[2]).max() > 1e-6


def test_pooled_is_permutation_equivariant_up_to_coordinates():
    # with equal coordinate embeddings, permuting x permutes the output (pooled summary is symmetric)
    net = _net("pooled")
    net = eqx.tree_at(lambda n: n.coords, net, jnp.zeros_like(net.coords))
    x = jax.random.normal(jax.random.PRNGKey(3), (D,))
    perm = jnp.array([2, 0, 4, 1, 3])
    s = jnp.float32(0.3)
    np.testing.assert_allclose(_call(net, x[perm], s), _call(net, x, s)[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["joint", "aithal"])
def test_score_is_tweedie_of_denoiser(kind):
    net = _net(kind)  # aithal uses the 'eps' preconditioning, joint 'edm'
    x = jax.random.normal(jax.random.PRNGKey(4), (D,))
    for s in (0.05, 1.0, 10.0):
        s = jnp.float32(s)
        np.testing.assert_allclose(_call(net, x, s), (_denoise(net, x, s) - x) / (s * s), rtol=2e-3, atol=1e-4)


def test_edm_preconditioning_limits():
    # c_skip → 1, c_out → 0 as σ → 0: the denoiser returns its input; at large σ it returns ≈ c_out F
    net = _net("joint")
    x = jnp.linspace(-1.0, 1.0, D)
    np.testing.assert_allclose(_denoise(net, x, jnp.float32(1e-6)), x, atol=1e-5)
    assert np.abs(np.asarray(_denoise(net, x, jnp.float32(1e3)))).max() < 50


def test_noise_embedding_distinguishes_sigmas():
    for cls in EMBEDDINGS.values():
        e1 = cls(16)(jnp.float32(0.25 * np.log(0.03)))
        e2 = cls(16)(jnp.float32(0.25 * np.log(0.3)))
        assert e1.shape == (16,) and np.linalg.norm(np.asarray(e1 - e2)) > 0.5


def test_noise_embedding_frequencies():
    c = jnp.float32(0.25 * np.log(0.2))
    f = np.exp(np.linspace(0.0, np.log(100.0), 8))
    want = np.concatenate([np.cos(f * c), np.sin(f * c)])  # float32 phases up to 100·|c| ≈ 40: atol 5e-5
    np.testing.assert_allclose(SinusoidalEmbedding(16)(c), want, rtol=0, atol=5e-5)
    f = np.asarray(FourierEmbedding(16, max_freq=60.0).frequencies())
    assert f.shape == (8,) and np.array_equal(f, np.asarray(FourierEmbedding(16, max_freq=60.0).frequencies()))
    with pytest.raises(ValueError, match="embed_dim"):
        SinusoidalEmbedding(7)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="model kind"):
        make_net("transformer", D, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="mode"):
        FactorizedNet(D, key=jax.random.PRNGKey(0), mode="bogus")
    with pytest.raises(ValueError, match="precond"):
        make_net("joint", D, key=jax.random.PRNGKey(0), precond="vp")
    with pytest.raises(ValueError, match="embed"):
        make_net("joint", D, key=jax.random.PRNGKey(0), embed="wavelet")


@pytest.mark.parametrize("kind, bad", [("joint", "mode"), ("joint", "coord_dim"), ("factorized", "pool_dim"),
                                       ("aithal", "widht")])
def test_make_net_rejects_unknown_arguments(kind, bad):
    with pytest.raises(ValueError, match=f"^{bad}: not an argument of model kind '{kind}'"):
        make_net(kind, D, key=jax.random.PRNGKey(0), **{bad: 1})


def test_make_net_names_map_to_classes():
    net = make_net("joint", D, key=jax.random.PRNGKey(0), width=8, depth=1, embed="fourier", precond="eps")
    assert isinstance(net.embedding, FourierEmbedding) and isinstance(net.precond, EpsPrecond)
    net = make_net("joint", D, key=jax.random.PRNGKey(0), width=8, depth=1, sigma_data=0.7)
    assert net.precond == EDMPrecond(0.7) and isinstance(net.embedding, SinusoidalEmbedding)
    assert isinstance(make_net("aithal", D, key=jax.random.PRNGKey(0), width=8, depth=1).precond, EpsPrecond)


@pytest.mark.parametrize("sigma", [1e-3, 0.05, 1.0, 30.0])
def test_preconditioning_classes_match_formulas(sigma):
    """EDMPrecond / EpsPrecond compute the closed forms of Karras et al. (2022) and of ε-prediction."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    x, f = jax.random.normal(k1, (D,)), jax.random.normal(k2, (D,))
    xs, fs, s = np.asarray(x, np.float64), np.asarray(f, np.float64), float(sigma)
    sd = 0.6
    c_skip, c_out, c_in = sd**2 / (s**2 + sd**2), s * sd / np.sqrt(s**2 + sd**2), 1 / np.sqrt(s**2 + sd**2)
    edm, eps, sig = EDMPrecond(sd), EpsPrecond(), jnp.float32(sigma)
    d_edm = c_skip * xs + c_out * fs
    def close(got, want):
        return np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-6)
    close(edm.inputs(x, sig), c_in * xs)
    close(edm.denoise(f, x, sig), d_edm)
    np.testing.assert_allclose(np.asarray(edm.score(f, x, sig)), (d_edm - xs) / s**2, rtol=2e-4, atol=1e-4 / s)
    close(eps.inputs(x, sig), xs / np.sqrt(1 + s**2))
    close(eps.score(f, x, sig), -fs / s)
    close(eps.denoise(f, x, sig), xs - s * fs)


def test_aithal_shared_blocks():
    shared = make_net("aithal", D, key=jax.random.PRNGKey(0), width=8, depth=3, shared_blocks=True)
    own = make_net("aithal", D, key=jax.random.PRNGKey(0), width=8, depth=3)
    assert len(shared.blocks) == 1 and len(own.blocks) == 3
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    assert _call(shared, x, jnp.float32(0.5)).shape == (D,)


@pytest.mark.parametrize("out", [3, "scalar"])
def test_dense_and_mlp_apply_match_equinox(out):
    """dense / mlp_apply (x Wᵀ + b, batch-leading under vmap) compute what eqx.nn.Linear / MLP do."""
    from ghostjax.nets import dense, mlp_apply

    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    x = jax.random.normal(k3, (7, 4))
    lin = eqx.nn.Linear(4, out, key=k1)
    mlp = eqx.nn.MLP(4, out, 6, 2, activation=jax.nn.silu, key=k2)
    for ours, theirs in ((dense, lin), (mlp_apply, mlp)):
        got = jax.vmap(lambda xi: ours(theirs, xi))(x)
        want = jax.vmap(theirs)(x)
        assert got.shape == want.shape
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    scalar_in = eqx.nn.Linear("scalar", 3, key=k1)
    np.testing.assert_allclose(np.asarray(dense(scalar_in, x[0, 0])), np.asarray(scalar_in(x[0, 0])), rtol=1e-6)


def test_layer_norm_matches_equinox():
    """layer_norm (statistics as products with 1/W) computes what eqx.nn.LayerNorm does."""
    from ghostjax.nets import layer_norm

    x = 3.0 + 5.0 * jax.random.normal(jax.random.PRNGKey(4), (9, 16))
    for ln in (eqx.nn.LayerNorm(16), eqx.nn.LayerNorm(16, use_weight=False, use_bias=False)):
        ln = eqx.tree_at(lambda m: m.weight, ln, 1.0 + jnp.arange(16.0)) if ln.use_weight else ln
        got = jax.vmap(lambda v: layer_norm(ln, v))(x)
        np.testing.assert_allclose(np.asarray(got), np.asarray(jax.vmap(ln)(x)), rtol=1e-5, atol=1e-5)


def test_layer_norm_and_silu_derivatives_match_autodiff():
    """The hand-written JVPs of layer_norm and silu give equinox's / jax.nn's autodiff derivatives:
    reverse mode (input and parameter gradients, under vmap as in training) and forward mode."""
    from ghostjax.nets import layer_norm
    from ghostjax.nets.layers import silu

    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(5), 3)
    x = 3.0 + 5.0 * jax.random.normal(k1, (9, 16))
    cot = jax.random.normal(k2, (9, 16))
    z = 4.0 * jax.random.normal(k3, (9, 16))
    ln = eqx.tree_at(lambda m: (m.weight, m.bias), eqx.nn.LayerNorm(16), (1.0 + jnp.arange(16.0), jnp.linspace(-1, 1, 16)))
    bare = eqx.nn.LayerNorm(16, use_weight=False, use_bias=False)

    @functools.partial(jax.jit, static_argnums=(0, 1))
    def derivatives(ln_f, act):
        def loss(m, v, zz):
            return jnp.sum(cot * (jax.vmap(lambda r: ln_f(m, r))(v) + jax.vmap(lambda r: ln_f(bare, r))(v) + act(zz)))

        grads = eqx.filter_grad(lambda ops: loss(*ops))((ln, x, z))
        tangent = jax.jvp(lambda v: ln_f(ln, v) + ln_f(bare, v) + act(v), (x[0],), (cot[0],))[1]
        return grads, tangent

    ours = derivatives(layer_norm, silu)
    ref = derivatives(lambda m, r: m(r), jax.nn.silu)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_aithal_t_proj():
    """t_proj=True: one Linear(E→E) + LeakyReLU(0.02) on the embedding before the blocks (Aithal et al.'s
    code); off by default, and the other layers' initial weights do not depend on it."""
    E = SMALL["embed_dim"]
    plain = _net("aithal")
    proj = _net("aithal", t_proj=True)
    assert plain.t_proj is None and proj.t_proj.weight.shape == (E, E)
    count = lambda m: sum(a.size for a in jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array)))  # noqa: E731
    assert count(proj) - count(plain) == E * E + E
    same = eqx.tree_at(lambda m: m.t_proj, proj, None)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(plain)))
    x = jax.random.normal(jax.random.PRNGKey(1), (D,))
    out_plain, out_proj = _call(plain, x, jnp.float32(0.5)), _call(proj, x, jnp.float32(0.5))
    assert out_proj.shape == (D,) and np.abs(np.asarray(out_proj - out_plain)).max() > 1e-4
    half = jnp.float32(0.5)
    emb, x_in = plain.embedding(0.25 * jnp.log(half)), plain.precond.inputs(x, half)
    want = plain.body(x_in, jax.nn.leaky_relu(proj.t_proj(emb), 0.02))
    np.testing.assert_allclose(np.asarray(proj.body(x_in, emb)), np.asarray(want), rtol=1e-5, atol=1e-6)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(jnp.stack([x, -x]), SIG[1:3]) ** 2)))(proj)
    g = grads.t_proj.weight
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(grads)) and np.abs(np.asarray(g)).max() > 0


def test_cos_sin_embedding_matches_float64():
    """The float32 embedding (one shared range reduction, `embedding.cos_sin`) equals [cos, sin] of the
    phases f·c to float32 rounding over every c_noise a float32 σ gives (|c| <= 26), as jnp.cos and
    jnp.sin do: within 1.5e-7 plus 4 ulps of the phase (the phase's own float32 roundings, which XLA may
    order differently when it fuses the frequencies' scale into the product: measured up to 2.1 ulps
    for FourierEmbedding); a frequency range beyond the reduction's exact range takes the
    jnp.cos/jnp.sin path."""
    c = jnp.linspace(-26.0, 26.0, 20001, dtype=jnp.float32)
    for emb in (SinusoidalEmbedding(128), FourierEmbedding(32, max_freq=60.0), SinusoidalEmbedding(16, max_freq=1e3)):
        got = np.asarray(jax.jit(jax.vmap(emb))(c))
        f = emb.frequencies()
        arg = np.asarray(f, np.float64)[None] * np.asarray(c, np.float64)[:, None]  # exact phases
        want = np.concatenate([np.cos(arg), np.sin(arg)], axis=1)
        tol = 1.5e-7 + 4 * np.spacing(np.abs(np.concatenate([arg, arg], axis=1)).astype(np.float32))
        plain = np.asarray(jax.jit(jax.vmap(lambda ci: jnp.concatenate([jnp.cos(f * ci), jnp.sin(f * ci)])))(c))
        assert np.all(np.abs(plain - want) <= tol)  # the bound holds for jnp.cos / jnp.sin
        assert np.all(np.abs(got - want) <= tol), (emb, np.abs(got - want).max())


def test_aithal_matches_plain_equinox_reference():
    """AithalMLP's output and parameter gradients (float32, vmapped as in training) equal those of the same
    network written with equinox's own layers and jnp.cos/jnp.sin, to float32 rounding."""
    net = make_net("aithal", 2, key=jax.random.PRNGKey(2), width=16, depth=2, embed_dim=16)
    act = lambda v: jax.nn.leaky_relu(v, 0.02)  # noqa: E731

    def reference(m, x, sigma):
        f = m.embedding.frequencies() * (0.25 * jnp.log(sigma))
        emb = jnp.concatenate([jnp.cos(f), jnp.sin(f)])
        h = m.inp(x / jnp.sqrt(1.0 + sigma**2))
        for b in m.blocks:
            u = b.lin1(act(b.norm1(h))) + b.temb(emb)
            h = h + b.lin2(act(b.norm2(u)))
        return -m.out(m.norm(h)) / sigma

    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    x = 2.0 * jax.random.normal(k1, (64, 2))
    sig = jnp.exp(-1.2 + 1.2 * jax.random.normal(k2, (64,)))

    @functools.partial(eqx.filter_jit)
    def value_and_grads(m, use_ref):
        def loss(mm):
            s = jax.vmap(lambda a, b: reference(mm, a, b) if use_ref else mm(a, b))(x, sig)
            return jnp.mean((sig[:, None] * s + x) ** 2), s
        return eqx.filter_value_and_grad(loss, has_aux=True)(m)

    (l1, s1), g1 = value_and_grads(net, False)
    (l2, s2), g2 = value_and_grads(net, True)
    np.testing.assert_allclose(np.asarray(s1), np.asarray(s2), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(l1), float(l2), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(eqx.filter(g1, eqx.is_inexact_array)), jax.tree.leaves(eqx.filter(g2, eqx.is_inexact_array))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * float(np.abs(np.asarray(b)).max()) + 1e-7)

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import models


def params_and_x(width=20, seed=0, n=17, dtype=jnp.float64):
    m = models.mlp(width, 3)
    p = m.init(jax.random.PRNGKey(seed), 2, dtype)
    # make the biases non-zero so the tests exercise them
    (w1, b1), _, (w2, b2) = p
    k = jax.random.PRNGKey(seed + 100)
    p = [(w1, 0.3 * jax.random.normal(k, b1.shape, dtype)), (), (w2, 0.1 * jnp.ones_like(b2))]
    x = jax.random.normal(jax.random.PRNGKey(seed + 1), (n, 2), dtype)
    return m, p, x


def test_init_is_standard_parameterisation():
    m = models.mlp(1000, 3)
    (w1, b1), empty, (w2, b2) = m.init(jax.random.PRNGKey(0), 2, jnp.float64)
    assert empty == ()
    assert w1.shape == (2, 1000) and w2.shape == (1000, 3)
    np.testing.assert_array_equal(b1, 0.0)
    np.testing.assert_array_equal(b2, 0.0)
    assert float(jnp.std(w1)) == pytest.approx(1 / np.sqrt(2), rel=0.05)
    assert float(jnp.std(w2)) == pytest.approx(1 / np.sqrt(1000), rel=0.05)


def test_fast_pullback_equals_autodiff():
    m, p, x = params_and_x()
    f_fast, vjp_fast = m.forward_vjp(p, x)
    f_ref, vjp_ref = jax.vjp(lambda q: m.apply(q, x), p)
    np.testing.assert_allclose(f_fast, f_ref, rtol=1e-12)
    delta = jax.random.normal(jax.random.PRNGKey(5), f_ref.shape, f_ref.dtype)
    for a, b in zip(jax.tree_util.tree_leaves(vjp_fast(delta)), jax.tree_util.tree_leaves(vjp_ref(delta))):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_closed_form_ntk_equals_jacobian_gram():
    m, p, x = params_and_x(width=30)
    np.testing.assert_allclose(m.ntk(p, x), models.ntk_from_jacobian(m.apply, p, x), rtol=1e-10)


def test_generic_model_without_fast_paths_uses_jax_vjp():
    m = models.mlp(10, 3, fast=False)
    assert m.forward_vjp is None and m.ntk is None
    p = m.init(jax.random.PRNGKey(0), 2, jnp.float64)
    x = jnp.ones((4, 2))
    f, vjp = m.pullback(p, x)
    assert f.shape == (4, 3) and len(vjp(jnp.ones_like(f))) == 1


def test_width_must_be_positive():
    with pytest.raises(ValueError, match="width"):
        models.mlp(0)


# --- against the reference implementation ---------------------------------------------------


@pytest.fixture(scope="module")
def nt():
    return pytest.importorskip("neural_tangents")


def nt_net(nt, width):
    stax = nt.stax
    return stax.serial(stax.Dense(width, parameterization="standard", b_std=0.0), stax.Relu(),
                       stax.Dense(3, parameterization="standard", b_std=0.0))


@pytest.mark.nt
def test_outputs_equal_neural_tangents_stax(nt):
    m, p, x = params_and_x(width=50)
    _, apply_nt, _ = nt_net(nt, 50)
    np.testing.assert_allclose(m.apply(p, x), apply_nt(p, x), rtol=1e-12)


@pytest.mark.nt
def test_init_equals_neural_tangents_for_same_key(nt):
    init_nt, _, _ = nt_net(nt, 100)
    for seed in (0, 7):
        _, p_nt = init_nt(jax.random.PRNGKey(seed), (-1, 2))
        p = models.mlp(100, 3).init(jax.random.PRNGKey(seed), 2, jnp.float64)
        for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(p_nt)):
            # neural-tangents keeps biases as (1, n); ours are (n,)
            np.testing.assert_array_equal(np.ravel(a), np.ravel(b))


@pytest.mark.nt
def test_ntk_equals_neural_tangents_empirical_ntk(nt):
    m, p, x = params_and_x(width=40, n=25)
    _, apply_nt, _ = nt_net(nt, 40)
    k_nt = nt.empirical_ntk_fn(apply_nt)(x, None, p)  # traced over outputs by default
    # neural-tangents' trace over the logit axis divides by its size: a mean over outputs
    np.testing.assert_allclose(m.ntk(p, x) / 3, k_nt, rtol=1e-9)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


# ------------------------------------------------------------------------------------------
# Myrtle5 (dynloss.models.myrtle)


def test_myrtle5_output_shape_any_image_size():
    model = models.myrtle5(channels=8)
    params = model.init(jax.random.PRNGKey(0), 3, jnp.float32)
    shapes = [tuple(a.shape) for a in jax.tree_util.tree_leaves(params)]
    assert shapes == [(3, 3, 3, 8), (1, 1, 1, 8), (3, 3, 8, 8), (1, 1, 1, 8), (3, 3, 8, 8),
                      (1, 1, 1, 8), (3, 3, 8, 8), (1, 1, 1, 8), (8, 10), (1, 10)]
    assert len(params) == len(models.MYRTLE5_LAYERS)
    for size in (32, 8):
        f = model.apply(params, jnp.ones((2, size, size, 3), jnp.float32))
        assert f.shape == (2, 10) and f.dtype == jnp.float32
    assert model.num_outputs == 10
    with pytest.raises(ValueError, match="channels"):
        models.myrtle5(channels=0)


def _nt_myrtle5(channels):
    stax = pytest.importorskip("neural_tangents").stax
    W_std, b_std = np.sqrt(2.0), 0.0
    make = {
        "conv": lambda: stax.Conv(channels, (3, 3), padding="SAME", W_std=W_std, b_std=b_std,
                                  parameterization="standard"),
        "relu": stax.Relu,
        "avgpool": lambda: stax.AvgPool((2, 2), strides=(2, 2)),
        "gap": stax.GlobalAvgPool,
        "dense": lambda: stax.Dense(10, W_std=W_std, b_std=b_std, parameterization="standard"),
    }
    return stax.serial(*[make[name]() for name in models.MYRTLE5_LAYERS])


@pytest.mark.nt
def test_myrtle5_matches_neural_tangents():
    channels, key = 6, jax.random.PRNGKey(7)
    nt_init, nt_apply, _ = _nt_myrtle5(channels)
    ours = models.myrtle5(channels)
    # same key -> same parameters (float64: the conftest enables x64, as neural-tangents' init
    # then draws float64)
    _, nt_params = nt_init(key, (1, 8, 8, 3))
    p64 = ours.init(key, 3, jnp.float64)
    assert jax.tree_util.tree_structure(nt_params) == jax.tree_util.tree_structure(p64)
    for a, b in zip(_leaves(nt_params), _leaves(p64)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    # same parameters -> same outputs, float32 and float64, on 32x32 and 9x9 (odd pools) images
    rng = np.random.RandomState(0)
    for size in (32, 9):
        x = rng.randn(4, size, size, 3)
        for dtype, atol in ((np.float32, 1e-5), (np.float64, 1e-12)):
            params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), p64)
            want = np.asarray(nt_apply(params, jnp.asarray(x, dtype)))
            got = np.asarray(ours.apply(params, jnp.asarray(x, dtype)))
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=0, atol=atol * max(1.0, np.abs(want).max()))


def test_conv_matmul_vjp_equals_autodiff():
    rng = np.random.RandomState(1)
    x = jnp.asarray(rng.randn(3, 7, 6, 4))
    w = jnp.asarray(rng.randn(3, 3, 4, 5))
    dy = jnp.asarray(rng.randn(3, 7, 6, 5))
    ref = jax.vjp(models.CONV_VJPS["xla"], x, w)
    ours = jax.vjp(models.conv_matmul_vjp, x, w)
    np.testing.assert_array_equal(ours[0], ref[0])
    for a, b in zip(ours[1](dy), ref[1](dy)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # through the whole network, float32
    model = models.myrtle5(channels=4)
    params = model.init(jax.random.PRNGKey(0), 3, jnp.float32)
    xs = jnp.asarray(rng.randn(5, 8, 8, 3), jnp.float32)

    def grads(conv):
        return jax.grad(lambda p: jnp.sum(models.myrtle5_apply(p, xs, conv) ** 2))(params)

    for a, b in zip(_leaves(grads(models.conv_matmul_vjp)), _leaves(grads(models.CONV_VJPS["xla"]))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())


def test_myrtle5_init_statistics_are_standard_parameterisation():
    params = models.myrtle5(channels=64).init(jax.random.PRNGKey(0), 3, jnp.float32)
    (w1, b1), (w2, _) = params[0], params[2]
    np.testing.assert_allclose(np.std(np.asarray(w1)), np.sqrt(2 / 27), rtol=0.1)
    np.testing.assert_allclose(np.std(np.asarray(w2)), np.sqrt(2 / (9 * 64)), rtol=0.05)
    assert not np.any(np.asarray(b1))  # b_std = 0: zero, trainable biases


def test_resolve_conv_vjp():
    assert models.resolve_conv_vjp("xla") == "xla" and models.resolve_conv_vjp("matmul") == "matmul"
    assert models.resolve_conv_vjp("auto") == ("matmul" if jax.default_backend() == "cpu" else "xla")


def test_package_reexports_what_models_py_exported():
    mlp_module = importlib.import_module("dynloss.models.mlp")  # ``models.mlp`` is the function

    for name in ("Model", "mlp", "ntk_from_jacobian", "PARAMETERIZATIONS", "Params"):
        assert getattr(models, name) is getattr(mlp_module, name)

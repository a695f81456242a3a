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

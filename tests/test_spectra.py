import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynloss import engine, models, spectra
from dynloss.engine.program import chunk_program
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec


def mid_training(loss="dce", A=10.0, T=40.0, lr=1.0, width=12, steps=200):
    """A problem and the parameters of one run after ``steps`` GD steps with A > 1 (the
    problem's run is twice as long, so step ``steps - 1`` is still oscillating)."""
    s = TrainSpec(loss=loss, width=width, steps=2 * steps, record_every=steps, chunk_steps=steps,
                        data_params=(("points_per_class", 15), ("test_seeds", (1,))))
    eng = engine.make_problem(s)
    b = RunBatch.make([0], A, T, lr)
    carry, _ = chunk_program(eng, steps, (), engine.batch_mode(s))(
        engine.initial_carry(eng, b), jnp.int32(0), engine.run_args(eng, b))
    params = jax.tree_util.tree_map(lambda a: a[0], carry.params)
    return eng, params, steps - 1


@pytest.fixture(scope="module", params=["dce", "dmse1", "dmse2"])
def state(request):
    lr = {"dce": 1.0, "dmse1": 0.05, "dmse2": 0.05}[request.param]
    return (request.param, *mid_training(loss=request.param, A=10.0 if request.param != "dmse2" else 4.0, lr=lr))


def dense_hessian(eng, params, t, A, T):
    fun, _ = spectra.loss_at(eng, t, A, T)
    flat, _ = ravel_pytree(params)
    return fun, flat, np.asarray(jax.hessian(fun)(flat))


def test_hvp_equals_dense_hessian_times_vector(state):
    name, eng, params, t = state
    fun, flat, H = dense_hessian(eng, params, t, 10.0, 40.0)
    v = jax.random.normal(jax.random.PRNGKey(3), flat.shape, flat.dtype)
    np.testing.assert_allclose(spectra.hvp(fun, flat)(v), H @ np.asarray(v), rtol=1e-9, atol=1e-12)


def test_hvp_through_the_fast_pullback_equals_dense_hessian(state):
    """The Hessian products training uses (forward mode through the MLP's hand-written pullback)."""
    name, eng, params, t = state
    _, flat, H = dense_hessian(eng, params, t, 10.0, 40.0)
    flat2, mv = spectra.hessian_hvp(eng, params, t, 10.0, 40.0)
    np.testing.assert_array_equal(flat2, flat)
    v = jax.random.normal(jax.random.PRNGKey(4), flat.shape, flat.dtype)
    np.testing.assert_allclose(mv(v), H @ np.asarray(v), rtol=1e-9, atol=1e-12)


def test_lanczos_top3_equal_dense_eigh_mid_training(state):
    name, eng, params, t = state
    fun, flat, H = dense_hessian(eng, params, t, 10.0, 40.0)
    want = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    v0 = jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)
    got = np.asarray(spectra.top_eigenvalues(spectra.hvp(fun, flat), v0, 40, 3))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the state is really mid-training with oscillating weights, not the initialisation
    assert eng.weights(t, 10.0, 40.0).max() > 1.0


def test_full_order_lanczos_recovers_the_whole_spectrum():
    eng, params, t = mid_training(width=4, steps=50)
    fun, flat, H = dense_hessian(eng, params, t, 10.0, 40.0)
    v0 = jax.random.normal(jax.random.PRNGKey(1), flat.shape, flat.dtype)
    vals, wts = spectra.ritz(*spectra.lanczos(spectra.hvp(fun, flat), v0, flat.shape[0]))
    np.testing.assert_allclose(np.sort(vals), np.sort(np.linalg.eigvalsh(H)), atol=1e-8)
    assert float(jnp.sum(wts)) == pytest.approx(1.0, abs=1e-10)


def test_density_integrates_to_one():
    eng, params, t = mid_training()
    fun, _ = spectra.loss_at(eng, t, 10.0, 40.0)
    flat, _ = ravel_pytree(params)
    v0 = jax.random.normal(jax.random.PRNGKey(2), flat.shape, flat.dtype)
    vals, wts = spectra.ritz(*spectra.lanczos(spectra.hvp(fun, flat), v0, 30))
    span = float(vals.max() - vals.min())
    grid = np.linspace(float(vals.min()) - span, float(vals.max()) + span, 4001)
    dens = spectra.density(np.asarray(vals), np.asarray(wts), grid, sigma=0.02 * span)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-3)
    assert np.all(dens >= 0)


def test_lanczos_rejects_order_above_dimension():
    with pytest.raises(ValueError, match="exceeds"):
        spectra.lanczos(lambda v: v, jnp.ones(3), 4)


# --- NTK -----------------------------------------------------------------------------------------


def explicit_jjt(model, params, x):
    flat, unravel = ravel_pytree(params)
    jac = np.asarray(jax.jacrev(lambda p: model.apply(unravel(p), x))(flat))  # (n, C, P)
    return sum(jac[:, k, :] @ jac[:, k, :].T for k in range(jac.shape[1]))


@pytest.mark.parametrize("method", ["eigh", "lanczos"])
@pytest.mark.parametrize("fast", [True, False])
def test_ntk_lmax_equals_eigh_of_explicit_jjt(method, fast):
    eng, params, _ = mid_training()
    model = models.mlp(12, 3, fast=fast)
    x = eng.x[:30]
    want = np.linalg.eigvalsh(explicit_jjt(model, params, x))[-1]
    got_sum = float(spectra.ntk_lmax(model, params, x, method=method, order=30, trace="sum"))
    got_mean = float(spectra.ntk_lmax(model, params, x, method=method, order=30, trace="mean"))
    assert got_sum == pytest.approx(want, rel=1e-9)
    assert got_mean == pytest.approx(want / 3, rel=1e-9)


@pytest.mark.nt
def test_ntk_lmax_matches_neural_tangents():
    nt = pytest.importorskip("neural_tangents")
    eng, params, _ = mid_training()
    stax = nt.stax
    _, apply_nt, _ = stax.serial(stax.Dense(12, parameterization="standard", b_std=0.0), stax.Relu(),
                                 stax.Dense(3, parameterization="standard", b_std=0.0))
    x = eng.x[:50]  # the thesis's X[:50]
    k = nt.empirical_ntk_fn(apply_nt)(x, None, params)
    want = np.linalg.eigvalsh(np.asarray(k))[-1]
    assert float(spectra.ntk_lmax(eng.model, params, x)) == pytest.approx(want, rel=1e-9)


# --- inside training -------------------------------------------------------------------------------


def spectra_spec(batch):
    return TrainSpec(loss="dce", width=10, steps=120, record_every=1, chunk_steps=60,
                           data_params=(("points_per_class", 12), ("test_seeds", (1,))), batch=batch,
                           spectra=SpectraSpec(hess_every=20, hess_order=12, ntk_every=10,
                                                     ntk_points=20, density_steps=(59, 119),
                                                     density_order=15, density_vectors=2))


@pytest.mark.parametrize("batch", ["vmap", "map"])
def test_spectra_in_a_batch_equal_per_run(batch):
    s = spectra_spec(batch)
    seeds, A, T, lr = [0, 1], [3.0, 8.0], [30.0, 40.0], [1.0, 0.5]
    both = engine.train(s, RunBatch.make(seeds, A, T, lr))
    assert both.spectra["hess_eig"].shape == (2, 6, 3)
    assert both.spectra["ntk_lmax"].shape == (2, 12)
    assert both.spectra["ritz_values"].shape == (2, 2, 2, 15)
    np.testing.assert_array_equal(both.spectra_steps["hess_eig"], [19, 39, 59, 79, 99, 119])
    for i in range(2):
        one = engine.train(s, RunBatch.make([seeds[i]], A[i], T[i], lr[i]))
        for k in both.spectra:
            np.testing.assert_allclose(both.spectra[k][i], one.spectra[k][0], rtol=1e-9, atol=1e-12)


def test_spectra_during_training_equal_direct_computation():
    """The Hessian recorded at step t is that of F(., t) at the parameters after update t."""
    s = spectra_spec("map")
    b = RunBatch.make([0], 3.0, 30.0, 1.0)
    r = engine.train(s, b)
    eng = engine.make_problem(s)
    carry, _ = chunk_program(eng, 60, (), engine.batch_mode(s))(  # replay 60 steps
        engine.initial_carry(eng, b), jnp.int32(0), engine.run_args(eng, b))
    params = jax.tree_util.tree_map(lambda a: a[0], carry.params)
    t = 59
    _, _, H = dense_hessian(eng, params, t, 3.0, 30.0)
    want = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    k = list(r.spectra_steps["hess_eig"]).index(t)
    np.testing.assert_allclose(r.spectra["hess_eig"][0, k], want, rtol=1e-6)
    ntk = np.linalg.eigvalsh(np.asarray(spectra.ntk_matrix(eng.model, params, eng.x[:20])))[-1]
    k = list(r.spectra_steps["ntk_lmax"]).index(t)
    np.testing.assert_allclose(r.spectra["ntk_lmax"][0, k], ntk, rtol=1e-9)


def ntk_lanczos_along_training(width, steps, A, T):
    """The default NTK eigenvalue (unrolled Lanczos, order 10) equals dense eigh at every 25th step
    of two dynamical-CE runs, on X[:50] and on all 300 points."""
    for n_pts in (50, None):
        sp = dict(ntk_every=25, ntk_points=n_pts)
        s = TrainSpec(loss="dce", width=width, steps=steps, record_every=25, chunk_steps=steps,
                            data_params=(("test_seeds", (1,)),), spectra=SpectraSpec(**sp))
        b = RunBatch.make([0, 1], A, T, 1.0)
        fast = engine.train(s, b).spectra["ntk_lmax"]
        s_exact = TrainSpec(**{**s.__dict__, "spectra": SpectraSpec(**sp, ntk_method="eigh")})
        exact = engine.train(s_exact, b).spectra["ntk_lmax"]
        np.testing.assert_allclose(fast, exact, rtol=1e-13)


def test_ntk_lanczos_matches_eigh_along_training():
    """Width 16, 400 steps, periods of 150 and 60 steps (the slow twin: the thesis's width)."""
    ntk_lanczos_along_training(16, 400, [70.0, 20.0], [150.0, 60.0])


@pytest.mark.slow
def test_ntk_lanczos_matches_eigh_along_training_at_width_100():
    """Width 100, a 1000-step run with bifurcations."""
    ntk_lanczos_along_training(100, 1000, [70.0, 20.0], [500.0, 200.0])


def test_plain_lanczos_top_value_equals_eigh_on_a_gram():
    """Without re-orthogonalisation the largest Ritz value still converges (NTK path)."""
    eng, params, _ = mid_training(width=100, steps=300)
    gram = spectra.ntk_matrix(eng.model, params, eng.x)
    want = np.linalg.eigvalsh(np.asarray(gram))[-1]
    got = spectra.top_eigenvalues(lambda v: gram @ v, jnp.ones(gram.shape[0]), 10, 1, unroll=True,
                                  reorthogonalize=False)[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="unrolled"):
        spectra.lanczos(lambda v: gram @ v, jnp.ones(gram.shape[0]), 10, reorthogonalize=False)

"""The infinite-width reference (dynloss.sensitivity.infinite): closed-form GD in the kernel regime against a
trained wide network, the learning-rate convention, the critical width, and the optional import."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import cli, losses, models
from dynloss.data import spiral as data
from dynloss.sensitivity import infinite

nt = pytest.importorskip("neural_tangents")
pytestmark = pytest.mark.nt


def _gd(width, lr, steps, x, y, x_test, seed=0):
    """Plain full-batch GD on our MSE (the thesis's normalisation): initial and final outputs."""
    m = models.mlp(width)
    p0 = m.init(jax.random.PRNGKey(seed), 2, jnp.float64)
    grad = jax.grad(lambda p: losses.get_loss("mse").fn(m.apply(p, x), y, None))

    def body(_, p):
        return jax.tree_util.tree_map(lambda a, g: a - lr * g, p, grad(p))

    p = jax.jit(lambda p: jax.lax.fori_loop(0, steps, body, p))(p0)
    return [np.asarray(m.apply(q, z)) for q in (p0, p) for z in (x, x_test)]


def test_wide_network_at_small_eta_follows_the_ntk_prediction():
    """Width 2048, eta 0.002 (eta (2/P) lambda_max ~ 0.3), 2000 steps: the trained network's outputs
    differ from the kernel-regime prediction by 1.1% of their change (measured 0.0105 train,
    0.0107 test); bound 0.03. Argmax agreement measured 0.95 train / 0.94 test; bound 0.9."""
    tr, te = data.spiral(), data.test_spirals((1,))[0]
    x, y, xt = jnp.asarray(tr.x), jnp.asarray(tr.onehot), jnp.asarray(te.x)
    lr, steps, width = 0.002, 2000, 2048
    f0, f0t, f, ft = _gd(width, lr, steps, x, y, xt)
    p, pt, lam = infinite.predict(infinite.Reference("w", width), tr.x, tr.onehot, te.x, lr, steps, f0, f0t)
    assert lr * 2 / len(tr) * lam < 1  # in the stable, near-lazy regime
    for net, pred, init in ((f, p, f0), (ft, pt, f0t)):
        assert np.linalg.norm(net - pred) / np.linalg.norm(net - init) < 0.03
        assert np.mean(net.argmax(1) == pred.argmax(1)) > 0.9


def test_learning_rate_convention_matches_our_gradient_flow():
    """gradient_descent_mse at 2 s C eta solves df/dt = -eta (2 s / P) Theta (f - Y), our loss's flow."""
    tr = data.spiral(points_per_class=20)
    ref = infinite.Reference("w", 100)
    _, theta = infinite.kernels(ref, tr.x)
    f0 = np.random.RandomState(0).randn(len(tr), 3) * 0.3
    lr, steps, s = 0.075, 700, 0.5
    lam, vec = np.linalg.eigh(theta)
    decay = vec @ np.diag(np.exp(-lr * 2 * s / len(tr) * lam * steps)) @ vec.T
    want = tr.onehot + decay @ (f0 - tr.onehot)
    got, _, lam_max = infinite.predict(ref, tr.x, tr.onehot, tr.x[:5], lr, steps, f0, f0[:5], factor=s)
    np.testing.assert_allclose(got, want, atol=1e-8)
    assert lam_max == pytest.approx(lam[-1])


def test_standard_ntk_grows_linearly_with_width_and_the_critical_width_is_where_gd_turns_unstable():
    tr = data.spiral(points_per_class=20)
    k = {n: infinite.kernels(infinite.Reference("w", n), tr.x)[1] for n in (10, 20, 40)}
    np.testing.assert_allclose(k[40] - k[20], 2 * (k[20] - k[10]), rtol=1e-10, atol=1e-12 * np.abs(k[40]).max())
    lr = 0.075
    n_c = infinite.critical_width(infinite.Reference("w", 1), tr.x, lr)

    def stability(n):
        return lr * 2 / len(tr) * np.linalg.eigvalsh(infinite.kernels(infinite.Reference("w", int(n)), tr.x)[1])[-1]

    assert stability(n_c) >= 2 > stability(n_c - 1)
    assert infinite.critical_width(infinite.Reference("w", 1, "ntk"), tr.x, lr) == np.inf
    # the NTK parameterisation's kernel does not depend on the width
    np.testing.assert_allclose(infinite.kernels(infinite.Reference("w", 10, "ntk"), tr.x)[1],
                               infinite.kernels(infinite.Reference("w", 1000, "ntk"), tr.x)[1], rtol=1e-12)


def test_evaluate_dataset():
    d = {"points_per_class": 20, "num_classes": 3, "noise": 0.2, "train_seed": 0, "test_seeds": [1, 2]}
    ds = infinite.evaluate(infinite.references_for([50]), 0.075, 1000, [0, 1], d)
    assert ds.sizes == {"reference": 2, "seed": 2}
    assert list(ds["parameterization"].values) == ["standard", "ntk"]
    assert np.all((ds["train_acc"] >= 0) & (ds["train_acc"] <= 1))
    np.testing.assert_allclose(ds["gd_stability"], 0.075 * 2 / 60 * ds["lambda_max"])


def test_missing_neural_tangents_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "neural_tangents", None)  # import now raises ImportError
    with pytest.raises(infinite.MissingNeuralTangents, match="optional extra.*pip install neural-tangents"):
        infinite.require()
    out = tmp_path / "inf.nc"
    assert cli.main(["infinite", "--widths", "100", "--lr", "0.075", "--steps", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "neural-tangents" in err[0] and not out.exists()

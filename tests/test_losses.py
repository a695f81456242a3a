import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import losses, schedules

F = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.1, 0.2, 3.0], [-1.0, 2.0, 0.3]])
LABELS = np.array([0, 1, 2, 1])
Y = np.eye(3)[LABELS]
W = np.array([1.5, 0.75, 0.75])  # a normalised Gamma (sums to 3)
G_RAW = np.array([4.0, 1.0, 1.0])


def log_softmax_true(f, labels):
    out = []
    for row, y in zip(f, labels):
        out.append(row[y] - np.log(np.sum(np.exp(row))))
    return np.array(out)


def hand(name):
    P = len(F)
    lp = log_softmax_true(F, LABELS)
    sq = np.array([sum((F[j, k] - Y[j, k]) ** 2 for k in range(3)) for j in range(P)])
    if name == "ce":
        return -lp.sum() / P
    if name == "dce":
        return -sum(W[LABELS[j]] * lp[j] for j in range(P)) / P
    if name == "mse":
        return sq.sum() / P
    if name == "dmse1":
        return sum(W[LABELS[j]] * sq[j] for j in range(P)) / P
    if name == "dmse2":
        tot = sum((F[j, k] - G_RAW[k] * Y[j, k]) ** 2 for j in range(P) for k in range(3))
        return (3 / np.sum(G_RAW ** 2)) * tot / P
    raise KeyError(name)


@pytest.mark.parametrize("name", ["ce", "mse", "dce", "dmse1", "dmse2"])
def test_loss_against_hand_computation(name):
    loss = losses.get_loss(name)
    w = G_RAW if loss.weights == "raw" else W
    got = float(loss.fn(jnp.asarray(F), jnp.asarray(Y), jnp.asarray(w)))
    assert got == pytest.approx(hand(name), rel=1e-12)


def test_dmse2_matches_thesis_code_normalisation_for_three_classes():
    # thesis: mean((f - w Y)^2) * C^2 / (2 + amp^2), amp the emphasised raw weight
    amp = 4.0
    thesis = np.mean((F - G_RAW * Y) ** 2) * 9 / (2 + amp ** 2)
    got = float(losses.get_loss("dmse2").fn(jnp.asarray(F), jnp.asarray(Y), jnp.asarray(G_RAW)))
    assert got == pytest.approx(thesis, rel=1e-12)


@pytest.mark.parametrize("name", ["dce", "dmse1", "dmse2"])
def test_dynamical_equals_static_at_A_one(name, rng):
    loss = losses.get_loss(name)
    static = losses.get_loss(loss.static)
    f = jnp.asarray(rng.randn(30, 3))
    y = jnp.asarray(np.eye(3)[rng.randint(0, 3, 30)])
    for t in (0, 17, 1250, 9999):
        w = loss.class_weights(t, 1.0, 2500.0, 3)
        assert float(loss.fn(f, y, w)) == pytest.approx(float(static.fn(f, y, w)), rel=1e-12)


@pytest.mark.parametrize("name", ["dce", "dmse1", "dmse2"])
def test_dynamical_differs_from_static_when_oscillating(name, rng):
    loss = losses.get_loss(name)
    f = jnp.asarray(rng.randn(30, 3))
    y = jnp.asarray(np.eye(3)[rng.randint(0, 3, 30)])
    w = loss.class_weights(1250, 10.0, 2500.0, 3)
    static = losses.get_loss(loss.static)
    assert abs(float(loss.fn(f, y, w)) - float(static.fn(f, y, w))) > 1e-3


def test_class_weights_kinds():
    assert losses.get_loss("dce").weights == "normalised"
    assert losses.get_loss("dmse1").weights == "normalised"
    assert losses.get_loss("dmse2").weights == "raw"
    np.testing.assert_allclose(np.asarray(losses.get_loss("dmse2").class_weights(1250, 5.0, 2500.0, 3)),
                               np.asarray(schedules.raw_weights(1250, 5.0, 2500.0, 3)))
    np.testing.assert_array_equal(np.asarray(losses.get_loss("ce").class_weights(1250, 5.0, 2500.0, 3)), 1.0)


def test_unknown_loss_names_the_allowed_ones():
    with pytest.raises(ValueError, match=f"allowed: {', '.join(losses.LOSSES)}$"):
        losses.get_loss("huber")


def test_register_adds_a_loss():
    @losses.register("_test_l1", weights="normalised", static="mse", description="test only")
    def l1(f, Y, w):
        return jnp.mean(jnp.sum(Y * w, -1) * jnp.sum(jnp.abs(f - Y), -1))

    try:
        assert losses.get_loss("_test_l1").fn is l1
        g = jax.grad(l1)(jnp.asarray(F), jnp.asarray(Y), jnp.asarray(W))
        assert g.shape == F.shape
    finally:
        losses.LOSSES.pop("_test_l1")


def test_accuracy():
    assert float(losses.accuracy(jnp.asarray(F), jnp.asarray(Y))) == pytest.approx(1.0)
    assert float(losses.accuracy(jnp.asarray(-F), jnp.asarray(Y))) == pytest.approx(0.0)


def test_the_registry_is_jax_free_and_the_only_table_of_static_twins():
    """The planner reads names, static twins and descriptions without JAX (jnp is imported on first use),
    and no module keeps a second table (tests/test_registries.py checks the package for copies)."""
    import subprocess
    import sys

    code = ("import sys\nfrom dynloss import losses\nassert losses.static_of('dmse2') == 'mse'\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    from dynloss import spec

    assert not hasattr(spec, "LOSS_STATIC")

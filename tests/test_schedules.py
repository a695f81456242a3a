import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import schedules

C = 3


def expected_g(frac, A):
    """Hand values of the triangle wave at t_T = frac * T."""
    return {0.0: 1.0, 0.25: 1 + (A - 1) / 2, 0.5: A, 0.75: 1 + (A - 1) / 2}[frac]


@pytest.mark.parametrize("A,T", [(10.0, 2500.0), (70.0, 5000.0), (2.5, 100.0)])
@pytest.mark.parametrize("rotation", range(2 * C))
@pytest.mark.parametrize("frac", [0.0, 0.25, 0.5, 0.75])
def test_raw_and_normalised_weights_match_formulas(A, T, rotation, frac):
    t = rotation * T + frac * T
    g = expected_g(frac, A)
    emph = rotation % C  # floor(t / T) mod C
    raw = np.asarray(schedules.raw_weights(t, A, T, C))
    want_raw = np.ones(C)
    want_raw[emph] = g
    np.testing.assert_allclose(raw, want_raw, rtol=1e-12)
    gamma = np.asarray(schedules.normalised_weights(t, A, T, C))
    want = C * want_raw / want_raw.sum()
    np.testing.assert_allclose(gamma, want, rtol=1e-12)
    assert gamma.sum() == pytest.approx(C, rel=1e-12)
    if frac > 0 and A > 1:
        assert gamma[emph] > 1 and np.all(np.delete(gamma, emph) < 1)


def test_triangle_endpoints_and_peak():
    A, T = 7.0, 1000.0
    t = jnp.arange(0, 1000)
    g = np.asarray(schedules.triangle(t, A, T))
    assert g[0] == 1.0 and g[500] == pytest.approx(A) and g.max() == pytest.approx(A)
    assert g[999] == pytest.approx(1 + 2 * (A - 1) / T)  # one step before the period ends


def test_amplitude_one_gives_ones_for_all_steps():
    t = jnp.arange(0, 20000, 37)
    for fn in (schedules.normalised_weights, schedules.raw_weights):
        np.testing.assert_array_equal(np.asarray(fn(t, 1.0, 2500.0, C)), 1.0)


def test_sum_is_C_everywhere_and_vectorised_over_A_T():
    t = jnp.arange(0, 5000, 13)[:, None]
    A = jnp.array([1.0, 3.0, 70.0])
    T = jnp.array([100.0, 2500.0, 333.0])
    gamma = np.asarray(schedules.normalised_weights(t, A, T, C))
    assert gamma.shape == (t.shape[0], 3, C)
    np.testing.assert_allclose(gamma.sum(-1), C, rtol=1e-12)
    # each column equals the scalar call
    for j in range(3):
        col = np.asarray(schedules.normalised_weights(t[:, 0], float(A[j]), float(T[j]), C))
        np.testing.assert_allclose(gamma[:, j], col, rtol=1e-12)


def test_last_period_has_amplitude_one():
    A, T, total = 10.0, 2500.0, 20000
    t = jnp.arange(total)
    gamma = np.asarray(schedules.normalised_weights(t, A, T, C, total_steps=total))
    np.testing.assert_array_equal(gamma[total - int(T):], 1.0)
    assert gamma[total - int(T) - 1250].max() == pytest.approx(C * A / (A + C - 1))
    raw = np.asarray(schedules.raw_weights(t, A, T, C, total_steps=total))
    np.testing.assert_array_equal(raw[total - int(T):], 1.0)


def test_raw_weights_for_mse_v2_are_not_normalised():
    raw = np.asarray(schedules.raw_weights(1250.0, 5.0, 2500.0, C))
    np.testing.assert_allclose(raw, [5.0, 1.0, 1.0])
    assert raw.sum() == pytest.approx(7.0)


def test_other_class_counts():
    t = 3 * 100 + 50  # fourth period: class 3 of C = 5
    raw = np.asarray(schedules.raw_weights(t, 4.0, 100.0, 5))
    np.testing.assert_allclose(raw, [1, 1, 1, 4, 1])


@pytest.mark.parametrize("A,T,match", [(0.5, 10, "A must"), (1.0, 0.0, "T must"), (2.0, -5, "T must"),
                                       (float("nan"), 10, "A must")])
def test_make_schedule_validates(A, T, match):
    with pytest.raises(ValueError, match=match):
        schedules.make_schedule(A, T, C)


def test_make_schedule_closure():
    w = schedules.make_schedule(10.0, 2500.0, C, kind="raw")
    np.testing.assert_allclose(np.asarray(w(1250)), [10.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="kind"):
        schedules.make_schedule(10.0, 2500.0, C, kind="nope")

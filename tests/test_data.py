import numpy as np
import pytest

from dynloss.data import spiral as data


def test_shapes_and_class_order():
    d = data.spiral(100, 3)
    assert d.x.shape == (300, 2) and d.onehot.shape == (300, 3) and len(d) == 300
    np.testing.assert_array_equal(d.labels, np.repeat([0, 1, 2], 100))
    np.testing.assert_array_equal(d.onehot.argmax(1), d.labels)


def test_radius_and_angle_follow_the_thesis_formula():
    n, c, seed = 100, 3, 0
    d = data.spiral(n, c, noise_seed=seed)
    noise = np.random.RandomState(seed).randn(c, n) * 0.2  # drawn class after class
    for j in range(c):
        pts = d.x[j * n:(j + 1) * n]
        np.testing.assert_allclose(np.hypot(pts[:, 0], pts[:, 1]), np.linspace(0, 1, n), atol=1e-12)
        theta = np.linspace(2 * np.pi * j / c, 2 * np.pi * j / c + 4 * np.pi, n) + noise[j]
        r = np.linspace(0, 1, n)
        np.testing.assert_allclose(pts, np.c_[r * np.cos(theta), r * np.sin(theta)], atol=1e-12)


def test_seeded_and_distinct():
    a, b = data.spiral(noise_seed=0), data.spiral(noise_seed=0)
    np.testing.assert_array_equal(a.x, b.x)
    tests = data.test_spirals()
    assert len(tests) == 5
    for t in tests:
        assert not np.allclose(t.x, a.x)
    assert not np.allclose(tests[0].x, tests[1].x)


def test_configurable_sizes():
    d = data.spiral(points_per_class=7, num_classes=5)
    assert d.x.shape == (35, 2) and d.num_classes == 5
    with pytest.raises(ValueError):
        data.spiral(points_per_class=0)

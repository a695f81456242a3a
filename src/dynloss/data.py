"""The seeded C-arm spiral (thesis sections 3.4.2 and 5.3, figure 3.3).

For class j: ``r = linspace(0, 1, N)``,
``theta = linspace(2 pi j / C, 2 pi j / C + revolutions * pi, N) + noise * n``,
``n ~ N(0, 1)`` drawn class after class from ``numpy.random.RandomState(noise_seed)`` (the thesis's
``np.random.seed(0)``), and ``x = (r cos theta, r sin theta)``. Points are ordered by class.
Training uses noise seed 0; "test accuracy" is the mean over the fresh spirals with seeds 1..5
(five evaluation spirals, as in the captions of thesis figures 4.2 and 4.6).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .spec import DEFAULT_TEST_SEEDS  # noqa: E402  (re-exported)


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` (P, D), integer ``labels`` (P,) and ``onehot`` targets (P, C)."""

    x: np.ndarray
    labels: np.ndarray
    onehot: np.ndarray

    @property
    def num_classes(self) -> int:
        """C, the number of columns of ``onehot``."""
        return self.onehot.shape[1]

    def __len__(self) -> int:
        return self.x.shape[0]


def spiral(points_per_class: int = 100, num_classes: int = 3, noise_seed: int = 0,
           noise: float = 0.2, revolutions: float = 4.0) -> Dataset:
    """The spiral data set; same seed, same points (float64).

    Args:
        points_per_class: N (>= 1).
        num_classes: C, the number of arms (>= 1).
        noise_seed: seed of the ``numpy.random.RandomState`` that draws the angle noise.
        noise: standard deviation of the angle noise (0.2 in the thesis).
        revolutions: angle swept by each arm, in units of pi (4: two turns).

    Returns:
        A :class:`Dataset` of ``N * C`` points ordered by class.

    Raises:
        ValueError: ``points_per_class`` or ``num_classes`` below 1.

    Example:

    >>> d = spiral(points_per_class=4)
    >>> d.x.shape, d.num_classes, d.labels.tolist()
    ((12, 2), 3, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> d.onehot[4].tolist()
    [0.0, 1.0, 0.0]
    >>> bool((spiral(noise_seed=1).x == spiral(noise_seed=1).x).all())
    True
    """
    if points_per_class < 1 or num_classes < 1:
        raise ValueError("points_per_class and num_classes must be >= 1 "
                         f"(got {points_per_class}, {num_classes})")
    rng = np.random.RandomState(noise_seed)
    n, c = points_per_class, num_classes
    x = np.zeros((n * c, 2))
    labels = np.repeat(np.arange(c), n)
    r = np.linspace(0.0, 1.0, n)
    for j in range(c):
        start = 2 * np.pi * j / c
        theta = np.linspace(start, start + revolutions * np.pi, n) + rng.randn(n) * noise
        x[j * n:(j + 1) * n] = np.c_[r * np.cos(theta), r * np.sin(theta)]
    onehot = np.eye(c)[labels]
    return Dataset(x, labels, onehot)


def test_spirals(seeds: Sequence[int] = DEFAULT_TEST_SEEDS, **kwargs) -> list[Dataset]:
    """Fresh spirals, one per noise seed (default 1..5), for the test accuracy.

    Args:
        seeds: noise seeds, one spiral each.
        **kwargs: the other arguments of :func:`spiral`.

    Returns:
        The spirals, in the order of ``seeds``.

    Example:

    >>> [len(d) for d in test_spirals(points_per_class=2)]
    [6, 6, 6, 6, 6]
    """
    return [spiral(noise_seed=int(s), **kwargs) for s in seeds]


test_spirals.__test__ = False  # not a pytest test despite its name

"""The seeded C-arm spiral (thesis sections 3.4.2 and 5.3, figure 3.3), the data set ``spiral``.

For class j: ``r = linspace(0, 1, N)``,
``theta = linspace(2 pi j / C, 2 pi j / C + revolutions * pi, N) + noise * n``,
``n ~ N(0, 1)`` drawn class after class from ``numpy.random.RandomState(noise_seed)`` (the thesis's
``np.random.seed(0)``), and ``x = (r cos theta, r sin theta)``. Points are ordered by class.
Training uses noise seed 0; "test accuracy" is the mean over the fresh spirals with seeds 1..5
(five evaluation spirals, as in the captions of thesis figures 4.2 and 4.6).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import SpecError
from . import DataSet, Dataset, Param, register

#: the test spirals' noise seeds (thesis: five test sets)
DEFAULT_TEST_SEEDS = (1, 2, 3, 4, 5)
#: largest noise seed (``numpy.random.RandomState`` takes 32 bits)
MAX_NOISE_SEED = 2 ** 32 - 1


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


@register
class Spiral(DataSet):
    """The thesis's data: a C-arm training spiral and fresh test spirals of other noise seeds."""

    name = "spiral"
    seed_param = "train_seed"
    description = "the seeded C-arm spiral of the thesis (section 5.3)"
    params = (
        Param("points_per_class", 100, "Points per spiral arm (N).", minimum=1),
        Param("num_classes", 3, "Number of arms / classes (C).", minimum=2, flag="classes"),
        Param("noise", 0.2, "Standard deviation of the angular noise.", kind="float", minimum=0),
        Param("train_seed", 0, "Noise seed of the training spiral (not one of test_seeds).", minimum=0,
              maximum=MAX_NOISE_SEED, flag="data-seed"),
        Param("test_seeds", DEFAULT_TEST_SEEDS, "Noise seeds of the test spirals; test accuracy is their mean.",
              kind="ints", minimum=0, maximum=MAX_NOISE_SEED),
    )

    def check(self, values: dict) -> None:
        if values["train_seed"] in values["test_seeds"]:
            raise SpecError("data.train_seed", f"train_seed {values['train_seed']} is also a test seed "
                            f"{list(values['test_seeds'])}: test accuracy would be measured on the training spiral")

    def num_classes(self, values: dict) -> int:
        return values["num_classes"]

    def input_dim(self, values: dict) -> int:
        return 2

    def train_size(self, values: dict) -> int:
        return values["points_per_class"] * values["num_classes"]

    def test_sets(self, values: dict) -> list:
        return list(values["test_seeds"])

    def load(self, values: dict) -> tuple[Dataset, list[Dataset]]:
        kw = {"points_per_class": values["points_per_class"], "num_classes": values["num_classes"],
              "noise": values["noise"]}
        return spiral(noise_seed=values["train_seed"], **kw), test_spirals(values["test_seeds"], **kw)

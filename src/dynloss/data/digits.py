"""The 8 x 8 handwritten digits of scikit-learn (``sklearn.datasets.load_digits``: 1797 images, 10
classes, pixel values 0-16; the data ship inside the scikit-learn wheel, so nothing is downloaded).

Rules (docs/verdicts.md, "Beyond the thesis", fixed before any run): each image is its 64 pixels / 16, so
every input lies in [0, 1] and no statistic of any split enters the features; the held-out part is a
stratified, seeded split (``sklearn.model_selection.train_test_split(stratify=labels,
test_size=test_fraction, random_state=split_seed)``), the rest is the training set of full-batch gradient
descent. The split's indices are recorded in every dataset made from it (:meth:`Digits.attributes`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import DataSet, Dataset, Param, register

#: images and classes of ``load_digits``
N_IMAGES, N_CLASSES, N_PIXELS = 1797, 10, 64


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64)


@functools.lru_cache(maxsize=16)
def split(split_seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out images: stratified by class, seeded, disjoint, together all
    1797, each sorted.

    >>> train, test = split(0)
    >>> len(train), len(test), len(set(train) & set(test))
    (1347, 450, 0)
    """
    from sklearn.model_selection import train_test_split

    _, labels = _raw()
    train, test = train_test_split(np.arange(labels.size), test_size=test_fraction, stratify=labels,
                                   random_state=split_seed)
    return np.sort(train), np.sort(test)


def digits(indices: np.ndarray) -> Dataset:
    """The images ``indices`` as a :class:`Dataset`: pixels / 16 and one-hot targets over the 10 digits.

    >>> d = digits(np.arange(3))
    >>> d.x.shape, float(d.x.max()) <= 1.0, d.labels.tolist(), d.num_classes
    ((3, 64), True, [0, 1, 2], 10)
    """
    x, labels = _raw()
    lab = labels[indices]
    return Dataset(x=x[indices] / 16.0, labels=lab, onehot=np.eye(N_CLASSES)[lab])


@register
class Digits(DataSet):
    """scikit-learn's 8 x 8 handwritten digits, a stratified seeded train / held-out split."""

    name = "digits"
    seed_param = "split_seed"
    description = "scikit-learn's 8 x 8 handwritten digits (1797 images, 10 classes), pixels / 16"
    params = (
        Param("split_seed", 0, "Seed of the stratified train / held-out split.", minimum=0, maximum=2**31 - 1),
        Param("test_fraction", 0.25, "Fraction of each class held out for the test accuracy.", kind="float",
              minimum=0.05, maximum=0.5),
    )

    def num_classes(self, values: dict) -> int:
        return N_CLASSES

    def input_dim(self, values: dict) -> int:
        return N_PIXELS

    def test_size(self, values: dict) -> int:
        """Held-out images: ceil(test_fraction x 1797), as ``train_test_split`` rounds (no import needed)."""
        return math.ceil(values["test_fraction"] * N_IMAGES)

    def train_size(self, values: dict) -> int:
        return N_IMAGES - self.test_size(values)

    def test_sets(self, values: dict) -> list:
        """One test set, labelled 0: the held-out part of the split (which split: the data attributes), so runs
        on several splits combine on one ``test_set``."""
        return [0]

    def load(self, values: dict) -> tuple[Dataset, list[Dataset]]:
        train, test = split(values["split_seed"], values["test_fraction"])
        return digits(train), [digits(test)]

    def attributes(self, values: dict) -> dict:
        train, test = split(values["split_seed"], values["test_fraction"])
        return {**super().attributes(values), "train_indices": train.tolist(), "test_indices": test.tolist()}

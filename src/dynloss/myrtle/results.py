"""The result of a Myrtle5 job (:class:`MyrtleResult`) and its labelled NetCDF dataset.

The dataset follows the package's conventions (:mod:`dynloss.netcdf`): CF attributes from
:func:`dynloss.netcdf.describe`, configuration and provenance from :func:`dynloss.netcdf.stamp`;
only the variables and their descriptions are Myrtle5's (per epoch, not per step).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec import spec_to_dict
from .spec import MyrtleSpec

#: the (seed, epoch) metrics of a run
METRICS = ("train_loss", "train_F", "train_acc", "test_acc")
#: descriptions of Myrtle5's variables (the spiral engine's are :data:`dynloss.netcdf.VARIABLE_DOCS`;
#: the names ``train_acc`` and ``test_acc`` mean other things there)
DESCRIPTIONS = {
    "train_loss": "static loss L, mean over the epoch's minibatches (before each update)",
    "train_F": "dynamical loss F, mean over the epoch's minibatches (before each update)",
    "train_acc": "accuracy on the training images after the epoch (NaN: not measured)",
    "test_acc": "accuracy on the test images after the epoch (NaN: not measured)",
    "lr": "learning rate of the epoch's first update",
    "final_train_acc": "training accuracy after the last epoch (NaN if diverged)",
    "final_test_acc": "test accuracy after the last epoch (NaN if diverged)",
    "diverged": "the training loss became NaN/inf",
    "diverged_epoch": "first epoch with a non-finite training loss (-1: never)",
    "epoch": "completed epochs (metrics after that epoch)",
}


@dataclass
class MyrtleResult:
    """Host-side arrays of a trained batch of seeds (S seeds, E epochs; NaN = not measured)."""

    spec: MyrtleSpec
    seeds: np.ndarray  # (S,)
    epochs_done: int
    train_loss: np.ndarray  # (S, E) static loss L, mean over the epoch's minibatches (pre-update)
    train_F: np.ndarray  # (S, E) dynamical loss F, same
    train_acc: np.ndarray  # (S, E) accuracy on the training images after the epoch
    test_acc: np.ndarray  # (S, E) accuracy on the test images after the epoch
    lr: np.ndarray  # (E,) learning rate of the epoch's first update
    steps_per_epoch: int
    num_train: int
    num_test: int
    params: Any = None  # final parameters, leading seed axis (numpy)
    timings: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.epochs_done == self.spec.epochs

    @property
    def diverged(self) -> np.ndarray:
        """(S,) the training loss became NaN/inf."""
        return ~np.all(np.isfinite(self.train_loss[:, :self.epochs_done]), axis=1)

    @property
    def diverged_epoch(self) -> np.ndarray:
        """(S,) first epoch (1-based, as the ``epoch`` coordinate) with a non-finite training
        loss; -1 if none."""
        bad = ~np.isfinite(self.train_loss[:, :self.epochs_done])
        return np.where(bad.any(axis=1), bad.argmax(axis=1) + 1, -1)

    def masked(self, name: str) -> np.ndarray:
        """(S, E) ``train_acc`` or ``test_acc`` with NaN from a seed's divergence epoch on (NaN
        parameters give the chance accuracy of argmax = class 0, not a number of the run)."""
        out = getattr(self, name).copy()
        first = self.diverged_epoch
        epochs = np.arange(1, out.shape[1] + 1)
        out[(first[:, None] > 0) & (epochs[None, :] >= first[:, None])] = np.nan
        return out

    def final(self, name: str) -> np.ndarray:
        """(S,) ``train_acc`` or ``test_acc`` after the last epoch (NaN if diverged or not done)."""
        out = getattr(self, name)[:, -1].copy()
        out[self.diverged] = np.nan
        return out


def result_to_dataset(result: MyrtleResult, config: dict | None = None):
    """The labelled dataset of a Myrtle5 job.

    Args:
        result: the trained job.
        config: extra entries of the ``config`` attribute (the command line, the study).

    Returns:
        An ``xarray.Dataset`` with dims ``(seed, epoch)``, scalar coordinates ``loss, A, T,
        channels``, CF attributes and provenance; write it with :func:`dynloss.netcdf.write_netcdf`.
    """
    import xarray as xr

    from .. import netcdf

    spec = result.spec
    dims = ("seed", "epoch")
    data = {k: (dims, result.masked(k) if k.endswith("_acc") else getattr(result, k)) for k in METRICS}
    data["lr"] = (("epoch",), result.lr)
    data["final_train_acc"] = (("seed",), result.final("train_acc"))
    data["final_test_acc"] = (("seed",), result.final("test_acc"))
    data["diverged"] = (("seed",), result.diverged)
    data["diverged_epoch"] = (("seed",), result.diverged_epoch)
    coords = {"seed": result.seeds, "epoch": np.arange(1, spec.epochs + 1),
              "loss": spec.loss, "A": float(spec.A), "T": float(spec.T), "channels": spec.channels}
    ds = xr.Dataset(data, coords=coords)
    for name, doc in DESCRIPTIONS.items():
        ds[name].attrs["description"] = doc
    netcdf.describe(ds)
    ds.attrs.update({"model": "myrtle5", "loss": spec.loss, "channels": spec.channels,
                     "epochs": spec.epochs, "epochs_done": result.epochs_done,
                     "steps_per_epoch": result.steps_per_epoch, "batch_size": spec.batch_size,
                     "num_train": result.num_train, "num_test": result.num_test,
                     "dtype": spec.dtype})
    for k, v in (result.timings or {}).items():
        ds.attrs[k] = float(v)
    cfg = {"myrtle_spec": spec_to_dict(spec), "seeds": result.seeds.tolist()}
    if config:
        cfg.update(config)
    return netcdf.stamp(ds, cfg)

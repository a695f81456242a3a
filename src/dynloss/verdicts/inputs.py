"""What the reproduction table reads: the datasets by role (:class:`Inputs`), and the runs of a claim's
protocol in them (:func:`grid`, :func:`static_runs`, the point a claim chooses: :func:`choose`).

Inputs are combined study datasets (contour, curves), ``confirm`` datasets (fresh seeds at a
chosen point, keyed by :func:`confirm_key`), dynamics datasets, thresholds datasets and those of a
study kind's own role; a claim reads every dataset with its protocol, not one study by name.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import xarray as xr

from .. import data as data_sets
from .. import losses
from .claims import Claim, Protocol


@dataclass
class Inputs:
    """Everything the table reads: datasets by name (studies), confirm datasets by key, dynamics
    and thresholds datasets by study name."""

    studies: Mapping[str, xr.Dataset] = field(default_factory=dict)
    confirm: Mapping[str, xr.Dataset] = field(default_factory=dict)
    dynamics: Mapping[str, xr.Dataset] = field(default_factory=dict)
    thresholds: Mapping[str, xr.Dataset] = field(default_factory=dict)
    primary: Mapping[str, str] = field(default_factory=dict)  # thresholds study -> primary definition
    #: the datasets of a study kind's own role (``StudyKind.verdict_input`` beyond :data:`ROLES`): role ->
    #: name -> dataset (``dynloss reproduction --input ROLE:NAME=PATH``)
    other: Mapping[str, Mapping[str, xr.Dataset]] = field(default_factory=dict)

    def role(self, name: str) -> Mapping[str, xr.Dataset]:
        """The datasets a study kind of ``verdict_input`` ``name`` gives the table."""
        return getattr(self, ROLES[name]) if name in ROLES else self.other.get(name, {})


#: the reproduction command's own flags: ``--<role> NAME=PATH`` -> the :class:`Inputs` field it fills
#: (any other role of a study kind comes with ``--input ROLE:NAME=PATH``)
ROLES = {"study": "studies", "dynamics": "dynamics", "thresholds": "thresholds", "confirm": "confirm"}


def study_steps(ds: xr.Dataset) -> Optional[int]:
    """The steps of a combined study dataset (its study config, else the jobs' attribute)."""
    try:
        return int(json.loads(ds.attrs["config"])["study_config"]["steps"])
    except (KeyError, ValueError, TypeError):
        return int(ds.attrs["steps"]) if "steps" in ds.attrs else None


def _loss(ds: xr.Dataset) -> str:
    return str(np.atleast_1d(ds["loss"].values).ravel()[0])


def data_set_of(ds: xr.Dataset) -> str:
    """The data set a dataset's runs trained on: its study's ``data`` block (``config`` attribute of a
    combined dataset) or its jobs' (``data`` attribute); a block without a name, or a file written before
    data sets were registered, is the default data set's (:data:`dynloss.data.DEFAULT`)."""
    for attr, key in (("config", "data"), ("data", None)):
        try:
            block = json.loads(ds.attrs[attr])
            block = block[key] if key else block
        except (KeyError, ValueError, TypeError):
            continue
        if isinstance(block, dict):
            return str(block.get("name", data_sets.DEFAULT))
    return data_sets.DEFAULT


def same_loss(loss: str, p: Protocol, static: bool) -> bool:
    """Whether runs of ``loss`` count for protocol ``p``: the same loss, or at A = 1 (``static``) any loss
    with the same static twin (:mod:`dynloss.losses`)."""
    if not static:
        return loss == p.loss
    return loss in losses.LOSSES and p.loss in losses.LOSSES and losses.static_of(loss) == losses.static_of(p.loss)


def matches(ds: xr.Dataset, p: Protocol, static: bool) -> bool:
    """Whether ``ds`` has runs of protocol ``p`` (at A = 1 any loss of the same static family), on its data set."""
    if "loss" not in ds.coords or "width" not in ds.coords or "lr" not in ds.coords:
        return False
    return (same_loss(_loss(ds), p, static) and data_set_of(ds) == p.data
            and p.width in np.atleast_1d(ds["width"].values)
            and math.isclose(float(np.atleast_1d(ds["lr"].values)[0]), p.lr) and study_steps(ds) == p.steps)


def grid(ds: xr.Dataset, quantity: str, width: int) -> xr.DataArray:
    """``quantity`` at ``width`` with dims (A, T, seed); diverged runs NaN."""
    da = ds[quantity]
    if "diverged" in ds:
        da = da.where(~ds["diverged"].astype(bool))
    if "width" in da.dims:
        da = da.sel(width=width)
    da = da.squeeze([d for d in da.dims if d not in ("A", "T", "seed") and da.sizes[d] == 1])
    for d in ("A", "T"):
        if d not in da.dims:
            da = da.expand_dims({d: [float(ds[d].values)] if d in ds.coords else [1.0]})
    return da.transpose("A", "T", "seed")


def static_runs(inputs: Inputs, p: Protocol, quantity: str) -> tuple[dict[int, float], list[str], int]:
    """A = 1 runs of protocol ``p``'s static family, one value per seed (a seed seen in several
    datasets, or at several T, is the same run: counted once), the datasets read and the number
    of diverged seeds."""
    values: dict[int, float] = {}
    diverged: set[int] = set()
    used = []
    for name, ds in inputs.studies.items():
        if not matches(ds, p, static=True) or "A" not in ds.coords or 1.0 not in np.atleast_1d(ds["A"].values):
            continue
        g = grid(ds, quantity, p.width).sel(A=1.0)
        t0 = ds.attrs.get("static_trained_T")
        cols = [g.sel(T=float(t0))] if t0 is not None else [g.isel(T=j) for j in range(g.sizes["T"])]
        before = len(values) + len(diverged)
        for col in cols:
            for s, v in zip(col["seed"].values, col.values):
                s = int(s)
                if s in values or s in diverged:
                    continue
                if np.isfinite(v):
                    values[s] = float(v)
                elif "diverged" in ds:
                    diverged.add(s)
        if len(values) + len(diverged) > before:
            used.append(name)
    return values, used, len(diverged)


def confirm_key(c: Claim) -> str:
    """The ``confirm`` job of a claim: claims that choose the same kind of point share it."""
    p = c.protocol
    pick = "worst" if c.where == "worst" else "best"
    data = "" if p.data == data_sets.DEFAULT else f"{p.data}_"
    return (f"{data}{p.loss}_w{p.width}_{'train' if c.quantity.endswith('train_acc') else 'test'}_{pick}"
            f"_A{c.A[0]:g}-{c.A[1]:g}_T{c.T[0]:g}-{c.T[1]:g}").replace("inf", "max").replace(".", "p")


def choose(c: Claim, inputs: Inputs) -> Optional[dict]:
    """The grid point a best/worst/gain claim is judged at, chosen on the study's seeds: the
    region point with the highest (lowest for ``worst``) mean of the claim's quantity.

    Returns:
        ``{"study", "A", "T", "mean", "n", "points", "seeds"}`` or ``None`` without data.
    """
    best = None
    for name, ds in inputs.studies.items():
        if not matches(ds, c.protocol, static=False) or "A" not in ds.coords:
            continue
        g = grid(ds, c.quantity, c.protocol.width)
        A, T = g["A"].values, g["T"].values
        # the width's own grid: another width's points are not "not run" (nor is A = 1, shared with every T)
        ran = np.isfinite(g.values).any(axis=-1) & (A != 1.0)[:, None]
        ina = (A >= c.A[0]) & (A <= c.A[1]) & (A != 1.0) & ran.any(axis=1)
        int_ = (T >= c.T[0]) & (T <= c.T[1]) & ran.any(axis=0)
        sub = g.values[np.ix_(ina, int_)]
        with warnings.catch_warnings():  # an all-NaN point (not run, or every seed diverged) is never picked
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(sub, axis=-1)
        if not np.isfinite(means).any():
            continue
        pick = np.nanargmin if c.where == "worst" else np.nanargmax
        i, j = np.unravel_index(pick(means), means.shape)
        cand = {"study": name, "A": float(A[ina][i]), "T": float(T[int_][j]), "mean": float(means[i, j]),
                "n": int(np.isfinite(sub[i, j]).sum()), "points": int(np.isfinite(means).sum()),
                "missing": int((~np.isfinite(means)).sum()), "seeds": g["seed"].values}
        if best is None or (cand["mean"] < best["mean"] if c.where == "worst" else cand["mean"] > best["mean"]):
            best = cand
    return best


def thresholds_of(inputs: Inputs, study: str, loss: str = "", width: int = 100,
                  data: str = data_sets.DEFAULT) -> Optional[tuple[str, xr.Dataset]]:
    """(study, dataset at ``width``) of a thresholds claim: ``study`` if it ran that width, else the first
    thresholds study of ``loss`` that did (a subset study, or a confirmatory one; docs/verdicts.md); only
    runs on data set ``data``."""
    names = [study] + sorted(n for n in inputs.thresholds if n != study)
    for n in names:
        ds = inputs.thresholds.get(n)
        if ds is None or (n != study and loss and loss not in np.atleast_1d(ds["loss"].values)):
            continue
        if data_set_of(ds) != data:
            continue
        if "width" not in ds.dims:
            if n == study and width == 100:
                return n, ds
            continue
        if width in ds["width"].values:
            return n, ds.sel(width=width)
    return None

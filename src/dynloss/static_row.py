"""A = 1 trained once: the combined contour dataset shares that run with every T of the grid."""
from __future__ import annotations

import numpy as np
import xarray as xr


def share_static_row(ds: xr.Dataset) -> xr.Dataset:
    """Give the A = 1 runs, trained at one T only (the static loss: every class weight is 1 for
    any T), to every T of the grid, and record that T in the attribute ``static_trained_T``.

    The copies are the same runs: :mod:`dynloss.verdicts` counts each seed once, at
    ``static_trained_T``. A dataset without an A = 1 row, or whose A = 1 row was trained at
    several T (a grid job, or jobs made before the plan trained it once), is returned as it is.
    """
    if "A" not in ds.dims or "T" not in ds.dims or 1.0 not in ds["A"].values:
        return ds
    probe = next((v for v in ds.data_vars.values() if {"A", "T"} <= set(v.dims) and v.dtype.kind == "f"), None)
    if probe is None:
        return ds
    row = probe.sel(A=1.0)
    has = row.notnull().any([d for d in row.dims if d != "T"]).values
    if has.sum() != 1 or ds.sizes["T"] == 1:
        return ds
    t0 = float(ds["T"].values[int(np.flatnonzero(has)[0])])
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if {"A", "T"} <= set(var.dims):
            static = var.sel(A=1.0, T=t0)
            filled = var.where(var["A"] != 1.0, static.broadcast_like(var).transpose(*var.dims))
            out[name] = filled.assign_attrs(var.attrs)
    out.attrs["static_trained_T"] = t0
    return out

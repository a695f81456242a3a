"""Hessian eigenvalue density of F at chosen steps (Gaussian-broadened Ritz values, Ghorbani et
al. 2019), one curve per step, log scale."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import legend_outside


def render(ds: xr.Dataset, title: str = ""):
    for d in ("seed", "run"):
        if d in ds.dims:
            ds = ds.isel({d: 0})
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    grid = ds["grid"].values
    for i, s in enumerate(ds["step_density"].values):
        dens = ds["density"].isel(step_density=i).values
        ax.plot(grid, np.maximum(dens, 1e-12), lw=1.2, label=f"t = {int(s)}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(1e-8, float(np.nanmax(ds["density"].values)) * 1e-7))
    ax.set_xlabel(r"eigenvalue $\lambda$ of the Hessian of $\mathcal{F}$")
    ax.set_ylabel("density")
    legend_outside(ax)
    ax.set_title(title or "Hessian eigenvalue density", fontsize=10)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title)

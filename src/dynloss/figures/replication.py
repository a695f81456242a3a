"""A replication study: each point's final train and test accuracy per training spiral, every seed a dot,
each spiral's mean a bar (the between-spiral spread next to the within-spiral one)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import legend_outside


def render(ds: xr.Dataset, title: str = ""):
    points = [(float(a), float(t)) for a in ds["A"].values for t in ds["T"].values
              if np.isfinite(ds["final_train_acc"].sel(A=a, T=t).values).any()]
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * len(points), 3.8), sharey=True, constrained_layout=True)
    spirals = ds["spiral"].values
    colours = plt.get_cmap("tab10")(np.arange(len(spirals)) % 10)
    for ax, var, name in zip(axes, ("final_train_acc", "test_acc"), ("train", "test")):
        for i, (a, t) in enumerate(points):
            da = ds[var].sel(A=a, T=t).squeeze(drop=True).transpose("spiral", "seed").values
            for k, row in enumerate(da):
                x = i + (k - (len(spirals) - 1) / 2) * 0.07
                ax.plot(np.full(row.size, x), row, ".", ms=3, color=colours[k], alpha=0.6,
                        label=f"spiral {int(spirals[k])}" if i == 0 else None)
                ax.plot([x - 0.03, x + 0.03], [np.nanmean(row)] * 2, "-", color=colours[k], lw=2)
        ax.set_xticks(range(len(points)), [f"A={a:g}" + (f"\nT={t:g}" if a != 1 else "") for a, t in points])
        ax.set_title(f"{name} accuracy", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("final accuracy")
    legend_outside(axes[1])
    fig.suptitle(title or "replication", fontsize=10)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title)

"""Loss and train accuracy against t per width (figure 4.1): panels (a, b) for the first width,
(c, d) for the next; every seed thin, their mean thick."""
from __future__ import annotations

import string

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import panel_label


def render(ds: xr.Dataset, title: str = ""):
    widths = list(np.atleast_1d(ds["width"].values))
    fig, axes = plt.subplots(len(widths), 2, figsize=(9.5, 3.2 * len(widths)), squeeze=False,
                             constrained_layout=True)
    letters = iter(string.ascii_lowercase)
    step = ds["step"].values
    for i, w in enumerate(widths):
        sub = ds.sel(width=w) if "width" in ds.dims else ds
        for j, (var, label) in enumerate((("L", "loss L(t)"), ("train_acc", "train accuracy"))):
            ax = axes[i, j]
            da = sub[var]
            da = da.squeeze([d for d in da.dims if d not in ("seed", "step") and da.sizes[d] == 1])
            vals = da.transpose("seed", "step").values
            for row in vals:
                ax.plot(step, row, lw=0.6, alpha=0.45, color="C0")
            ax.plot(step, np.nanmean(vals, axis=0), lw=1.6, color="C3", label=f"mean of {len(vals)} seeds")
            if var == "L":
                ax.set_yscale("log")
            ax.set_xlabel("step t")
            ax.set_ylabel(label)
            final = np.nanmean(vals[:, -1])
            ax.set_title(f"width {int(w)}: {label} (final mean {final:.3g})", fontsize=10)
            ax.legend(fontsize=8)
            panel_label(ax, next(letters))
    if title:
        fig.suptitle(title)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..io import open_dataset

    return render(open_dataset(inputs[0]), title=title)

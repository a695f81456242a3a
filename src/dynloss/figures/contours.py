"""Contours of final train and test accuracy over (T, A): figures 3.4, 4.2, 4.6 (and 3.2).

Panels come in pairs per width: (a) train, (b) test for the first width, (c), (d) for the next.
Each grid point is the mean over seeds; diverged runs are left out of the mean and counted in
the panel title when there are any. A width trained on part of the grid (config key ``grids``)
shows only its own A and T; a point of its grid without data is left blank (never interpolated
across) and marked with a red cross; the run points are white dots. A grid with one A or one T
value has no plane to contour: its panels are line plots of the accuracy against the parameter
that varies.
"""
from __future__ import annotations

import string

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import log_ticks_at, panel_label

LEVELS = np.linspace(0.0, 1.0, 21)


def mean_over_seeds(da: xr.DataArray) -> xr.DataArray:
    dims = [d for d in ("seed", "run") if d in da.dims]
    return da.mean(dims, skipna=True)


def _squeeze_scalar_dims(da: xr.DataArray, keep=("width", "channels", "A", "T")) -> xr.DataArray:
    for d in list(da.dims):
        if d not in keep and da.sizes[d] == 1:
            da = da.isel({d: 0}, drop=True)
    return da


def _line_panel(ax, z: xr.DataArray, label: str) -> None:
    """Accuracy against the one grid parameter that varies (T on log ticks, or A), the other fixed."""
    T, A = z["T"].values, z["A"].values
    if len(T) >= len(A):
        ax.plot(T, z.values[0, :], "o-", color="C0")
        if len(T) > 1:
            log_ticks_at(ax, T, "x")
        else:
            ax.set_xticks(T, [f"{t:g}" for t in T])
        ax.set_xlabel(f"period T (steps), at A = {A[0]:g}")
    else:
        ax.plot(A, z.values[:, 0], "o-", color="C0")
        ax.set_xticks(A, [f"{a:g}" for a in A])
        ax.set_xlabel(f"amplitude A, at T = {T[0]:g}")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"{label} (mean over seeds)")


def _own_grid(z: xr.DataArray) -> xr.DataArray:
    """``z`` (A, T) without the A rows and T columns that have no data at all (another width's
    grid points)."""
    ok = np.isfinite(z.values)
    if not ok.any():
        return z
    dynamic = ok[z["A"].values != 1.0]  # A = 1 is shared with every T of the combined grid: not a sign of a run
    cols = dynamic.any(axis=0) if dynamic.any() else ok.any(axis=0)
    return z.isel(A=np.flatnonzero(ok[:, cols].any(axis=1)), T=np.flatnonzero(cols))


def render(ds: xr.Dataset, title: str = "", train_var: str = "final_train_acc",
           test_var: str = "test_acc", width_dim: str = "width"):
    """Figure with a (train, test) pair of (T, A) contour panels per width (or channel count)."""
    if width_dim != "width":
        ds = ds.rename({width_dim: "width"})
    train = _squeeze_scalar_dims(mean_over_seeds(ds[train_var]))
    test = _squeeze_scalar_dims(mean_over_seeds(ds[test_var]))
    widths = list(np.atleast_1d(ds["width"].values))
    wname = "width" if width_dim == "width" else width_dim
    fig, axes = plt.subplots(len(widths), 2, figsize=(9.5, 3.8 * len(widths)), squeeze=False,
                             constrained_layout=True)
    letters = iter(string.ascii_lowercase)
    diverged = ds["diverged"] if "diverged" in ds else None
    for i, w in enumerate(widths):
        for j, (da, label) in enumerate(((train, "train accuracy"), (test, "test accuracy"))):
            ax = axes[i, j]
            z = da.sel(width=w) if "width" in da.dims else da
            z = _own_grid(z.transpose("A", "T"))
            T = z["T"].values
            A = z["A"].values
            if len(T) < 2 or len(A) < 2:
                _line_panel(ax, z, label)
                cs = None
            else:
                cs = ax.contourf(T, A, z.values, levels=LEVELS, cmap="viridis", extend="neither")
                tt, aa = np.meshgrid(T, A)
                ran = np.isfinite(z.values)
                ax.scatter(tt[ran], aa[ran], s=4, c="white", alpha=0.6, linewidths=0)
                if (~ran).any():
                    ax.scatter(tt[~ran], aa[~ran], s=18, marker="x", c="red", linewidths=1,
                               label=f"{int((~ran).sum())} point(s) not run")
                    ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
                log_ticks_at(ax, T, "x")  # the grid's own periods, not log decades
                ax.set_xlabel("period T (steps)")
                ax.set_ylabel("amplitude A")
            sub = f"{wname} {int(w)}: {label}"
            if diverged is not None:
                d = diverged.sel(width=w) if "width" in diverged.dims else diverged
                n_div = int(np.nansum(d.values))
                if n_div:
                    sub += f" ({n_div} diverged runs excluded)"
            ax.set_title(sub, fontsize=10)
            panel_label(ax, next(letters))
            if cs is not None:
                fig.colorbar(cs, ax=ax, ticks=np.linspace(0, 1, 6))
    if title:
        fig.suptitle(title)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title, train_var=options.get("train_var", "final_train_acc"),
                  test_var=options.get("test_var", "test_acc"), width_dim=options.get("width_dim", "width"))

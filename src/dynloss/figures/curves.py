"""Loss and train accuracy against t per width (figure 4.1): panels (a, b) for the first width,
(c, d) for the next; every seed thin, their mean thick.

Diverged runs (the ``diverged`` variable, or a non-finite loss) are drawn up to their divergence,
marked with a red cross there, left out of the mean, and counted in the panel title ("k of n runs
diverged"); a panel whose runs all diverged says so instead of printing a final value.
"""
from __future__ import annotations

import string

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import legend_outside, panel_label, plain_log_axis


def _runs(sub: xr.Dataset, var: str) -> np.ndarray:
    da = sub[var]
    da = da.squeeze([d for d in da.dims if d not in ("seed", "step") and da.sizes[d] == 1])
    return np.array(da.transpose("seed", "step").values, dtype=float)


def diverged_runs(sub: xr.Dataset, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(diverged, first step) per seed: from the ``diverged``/``diverged_step`` variables when
    present, else from the first non-finite loss.

    Args:
        sub: one width's dataset (dims ``seed, step`` and scalar ones).
        step: the recorded steps.

    Returns:
        A boolean array and an integer array (-1 where the run did not diverge), one entry per seed.
    """
    L = _runs(sub, "L")
    bad = ~np.isfinite(L)
    first = np.where(bad.any(axis=1), step[np.argmax(bad, axis=1)], -1)
    div = bad.any(axis=1)
    if "diverged" in sub:
        flag = np.asarray(sub["diverged"].squeeze([d for d in sub["diverged"].dims if d != "seed"]).values, bool)
        div = div | flag.reshape(div.shape)
        if "diverged_step" in sub:
            ds_ = np.asarray(sub["diverged_step"].squeeze(
                [d for d in sub["diverged_step"].dims if d != "seed"]).values).reshape(div.shape)
            first = np.where(flag.reshape(div.shape) & (ds_ >= 0), ds_, first)
    return div, first


def render(ds: xr.Dataset, title: str = ""):
    widths = list(np.atleast_1d(ds["width"].values))
    fig, axes = plt.subplots(len(widths), 2, figsize=(10.5, 3.2 * len(widths)), squeeze=False,
                             constrained_layout=True)
    letters = iter(string.ascii_lowercase)
    step = ds["step"].values
    for i, w in enumerate(widths):
        sub = ds.sel(width=w) if "width" in ds.dims else ds
        div, first = diverged_runs(sub, step)
        n, n_div = len(div), int(div.sum())
        for j, (var, label) in enumerate((("L", "loss L(t)"), ("train_acc", "train accuracy"))):
            ax = axes[i, j]
            vals = _runs(sub, var)
            for r in np.nonzero(div)[0]:  # nothing after divergence is a result (chance accuracy, NaN loss)
                if first[r] >= 0:
                    vals[r, step >= first[r]] = np.nan
            for r, row in enumerate(vals):
                ax.plot(step, row, lw=0.6, alpha=0.45, color="C0")
                ok = np.nonzero(np.isfinite(row))[0]
                if div[r] and ok.size:
                    ax.plot(step[ok[-1]], row[ok[-1]], "x", color="red", ms=6, mew=1.5)
            kept = vals[~div]
            if kept.size:
                ax.plot(step, np.nanmean(kept, axis=0), lw=1.6, color="C3", label=f"mean of {len(kept)} seeds")
            if div.any():
                ax.plot([], [], "x", color="red", label="divergence")
            if var == "L" and np.isfinite(vals).any():
                plain_log_axis(ax, "y")
            ax.set_xlabel("step t")
            ax.set_ylabel(label)
            if n_div == n:
                sub_title = f"width {int(w)}: {label} (all {n} runs diverged)"
            else:
                final = np.nanmean(kept[:, -1])
                sub_title = f"width {int(w)}: {label} (final mean {final:.3g}"
                sub_title += f"; {n_div} of {n} runs diverged, left out)" if n_div else ")"
            ax.set_title(sub_title, fontsize=10)
            if ax.get_legend_handles_labels()[0]:
                legend_outside(ax, fontsize=7)
            panel_label(ax, next(letters))
    if title:
        fig.suptitle(title)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title)

"""Sensitivity figures: final train/test accuracy against each factor's levels (one panel per
factor, the base level included, the thesis's value as a line, the infinite-width reference as
grey lines), and figure 4.1's curves with the infinite-width train accuracy beside each width."""
from __future__ import annotations

import math
import string

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import panel_label


def render(ds: xr.Dataset, infinite: xr.Dataset | None = None, title: str = ""):
    """One panel per factor (crossed pairs included) of a sensitivity dataset.

    Args:
        ds: the combined sensitivity dataset (dims case, seed).
        infinite: its infinite-width dataset, or None.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    factors = [f for f in dict.fromkeys(ds["factor"].values.tolist()) if f != "base"] or ["base"]
    ncol = min(4, max(1, len(factors)))
    nrow = max(1, math.ceil(len(factors) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow), squeeze=False, constrained_layout=True)
    base = int(np.flatnonzero(ds["factor"].values == "base")[0])
    goals = {"train": _attr(ds, "thesis_train"), "test": _attr(ds, "thesis_test")}
    letters = iter(string.ascii_lowercase)
    for ax, factor in zip(axes.flat, factors):
        idx = [base] + [i for i in range(ds.sizes["case"]) if ds["factor"].values[i] == factor != "base"]
        labels = ["base"] + [str(ds["level"].values[i]) for i in idx[1:]]
        x = np.arange(len(idx))
        for k, (var, name, colour) in enumerate((("final_train_acc", "train", "C0"), ("test_acc", "test", "C1"))):
            vals = ds[var].isel(case=idx).values  # (cases, seeds)
            off = (k - 0.5) * 0.12
            for j in range(vals.shape[1]):
                ax.plot(x + off, vals[:, j], ".", ms=3, color=colour, alpha=0.5)
            ax.plot(x + off, np.nanmean(vals, axis=1), "o-", color=colour, lw=1.2, ms=5, label=f"{name} (mean)")
            if not math.isnan(goals[name]):
                ax.axhline(goals[name], color=colour, ls="--", lw=1, label=f"thesis {name} ~{goals[name]:g}")
        if infinite is not None:
            for i, ref in enumerate(infinite["reference"].values):
                ax.axhline(float(infinite["train_acc"][i].mean()), color="0.45", ls=(0, (1 + i, 2)), lw=1,
                           label=f"inf. width train: {ref}")
        ax.set_xticks(x, labels, rotation=30, fontsize=8)
        ax.set_title(factor, fontsize=10)
        ax.set_ylabel("final accuracy")
        ax.set_ylim(0, 1.02)
        panel_label(ax, next(letters))
    for ax in list(axes.flat)[len(factors):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _attr(ds: xr.Dataset, name: str) -> float:
    try:
        return float(ds.attrs.get(name, ""))
    except (TypeError, ValueError):
        return math.nan


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), open_dataset(inputs[1]) if len(inputs) > 1 else None, title)


def curves_with_infinite(ds: xr.Dataset, infinite: xr.Dataset, title: str = ""):
    """Figure 4.1 (:mod:`.curves`) with the infinite-width train accuracy as a dashed line in each
    width's accuracy panel (the kernel regime at that width) and the NTK-parameterisation limit dotted.

    Args:
        ds: the curves dataset.
        infinite: the infinite-width dataset of the same study.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    from .curves import render as render_curves

    fig = render_curves(ds, title=title)
    widths = list(np.atleast_1d(ds["width"].values))
    acc_axes = [a for i, a in enumerate(fig.axes) if i % 2 == 1]
    for w, ax in zip(widths, acc_axes):
        for i, ref in enumerate(infinite["reference"].values):
            same = int(infinite["width"].values[i]) == int(w) and infinite["parameterization"].values[i] == "standard"
            ntk = infinite["parameterization"].values[i] == "ntk"
            if same or ntk:
                v = float(infinite["train_acc"][i].mean())
                ax.axhline(v, color="k", ls="--" if same else ":", lw=1.1, label=f"{ref}: {v:.2f}")
        ax.legend(fontsize=7)
    return fig


def curves_from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return curves_with_infinite(open_dataset(inputs[0]), open_dataset(inputs[1]), title)

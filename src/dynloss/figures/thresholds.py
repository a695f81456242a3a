"""Curvature threshold versus learning rate (figures 3.6, 4.4, 4.8), log-log: every run's
lambda_th faint, the mean and 95% CI per eta, the fitted law lambda_th = c eta^b with its 95%
confidence band, and 2/eta (the stability limit of GD on a quadratic) for reference."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .. import bifurcation, thresholds
from .common import panel_label


def render(ds: xr.Dataset, title: str = ""):
    widths = list(np.atleast_1d(ds["width"].values))
    fits = {r["width"]: r for r in thresholds.fit(ds)}
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * len(widths), 4.4), squeeze=False,
                             constrained_layout=True)
    for i, w in enumerate(widths):
        ax = axes[0, i]
        sub = ds.sel(width=w)
        lrs = np.atleast_1d(sub["lr"].values).astype(float)
        for lr in lrs:
            v = sub["lambda_th"].sel(lr=lr).values.ravel()
            v = v[np.isfinite(v)]
            ax.scatter(np.full(v.size, lr), v, s=8, color="0.6", alpha=0.5, linewidths=0)
        pts = thresholds.per_eta(ds, w)
        if pts:
            eta, m, lo, hi, n = map(np.asarray, zip(*pts))
            err = np.vstack([m - np.where(np.isfinite(lo), lo, m), np.where(np.isfinite(hi), hi, m) - m])
            ax.errorbar(eta, m, yerr=err, fmt="o", color="C0", capsize=3, label="mean, 95% CI")
        grid = np.geomspace(lrs.min() * 0.9, lrs.max() * 1.1, 50)
        ax.plot(grid, 2.0 / grid, ":", color="0.4", lw=1, label=r"$2/\eta$")
        row = fits.get(str(int(w)), {})
        if "slope" in row:
            f = bifurcation.fit_power_law(*_pairs(sub))  # the same fit as the CSV row
            lo_b, hi_b = f.band(grid)
            ax.fill_between(grid, lo_b, hi_b, color="C3", alpha=0.2, lw=0)
            ax.plot(grid, f.predict(grid), color="C3",
                    label=(rf"$\lambda_{{th}} = {f.prefactor:.3g}\,\eta^{{{f.slope:.3f}}}$" "\n"
                           rf"b in [{f.slope_ci[0]:.3f}, {f.slope_ci[1]:.3f}], $R^2$ = {f.r2:.3f}"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"learning rate $\eta$")
        ax.set_ylabel(r"$\lambda_{th}$ (top Hessian eigenvalue at the first bifurcation)")
        n_on = row.get("n_onset", 0)
        ax.set_title(f"width {int(w)}: onset in {n_on} of {row.get('n_runs', 0)} runs", fontsize=10)
        ax.legend(fontsize=7)
        panel_label(ax, "abcdefgh"[i])
    if title:
        fig.suptitle(title)
    return fig


def _pairs(sub: xr.Dataset):
    lam = sub["lambda_th"]
    eta = xr.broadcast(sub["lr"], lam)[0]
    return eta.values.ravel(), lam.values.ravel()


def from_files(inputs, options: dict, title: str):
    from ..io import open_dataset

    return render(open_dataset(inputs[0]), title=title)

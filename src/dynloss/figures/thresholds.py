"""Curvature threshold versus learning rate (figures 3.6, 4.4, 4.8), one row per width.

Left panel, log-log with ticks at the plotted eta: for every onset definition the study holds
(:mod:`dynloss.thresholds.onset`: ``visible``, ``growing``, ``mode``; its own marker and colour) every run's
lambda_th faint, the mean and 95% CI per eta (definitions side by side around each eta), the
fitted law lambda_th = c eta^b with its 95% confidence band, and 2/eta (the stability limit of GD
on a quadratic). Right panel: the distribution of eta * lambda_th per definition, with 1 and 2
marked (a mode flips sign above 1 and grows above 2). The lambda axis spans the 1st to 99th
percentile of every definition's runs (a few early onsets at tiny curvature would squash it); the
title counts the runs outside it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ..thresholds import bifurcation
from ..thresholds import law as threshold_law
from .common import log_ticks_at, panel_label, plain_log_axis

STYLE = {"visible": ("o", "C0"), "growing": ("s", "C1"), "mode": ("^", "C3"), "apparent": ("v", "C2"),
         "ceiling": ("D", "C5")}


def render(ds: xr.Dataset, title: str = ""):
    widths = list(np.atleast_1d(ds["width"].values))
    names = threshold_law.definitions(ds)
    rows = {(r["width"], r["onset"]): r for r in threshold_law.fit(ds)}
    # the legend under panel (a) has two lines per definition and one for 2/eta: room for it
    height = 3.6 + 0.17 * (2 * len(names) + 1)
    fig, axes = plt.subplots(len(widths), 2, figsize=(11.5, height * len(widths)), squeeze=False,
                             constrained_layout=True, gridspec_kw={"width_ratios": [1.35, 1]})
    for i, w in enumerate(widths):
        ax, hx = axes[i]
        sub = ds.sel(width=w)
        lrs = np.atleast_1d(sub["lr"].values).astype(float)
        grid = np.geomspace(lrs.min() * 0.9, lrs.max() * 1.1, 50)
        spread = np.exp(0.025 * (np.arange(len(names)) - 0.5 * (len(names) - 1)))  # side by side
        counts, shown = [], []
        for k, name in enumerate(names):
            marker, colour = STYLE.get(name, ("D", f"C{k + 4}"))
            eta, lam = _pairs(sub, name)
            use = np.isfinite(lam)
            shown.append(lam[use])
            ax.scatter(eta[use] * spread[k], lam[use], s=7, marker=marker, color=colour, alpha=0.25,
                       linewidths=0)
            pts = threshold_law.per_eta(ds, w, onset=name)
            if pts:
                e, m, lo, hi, _ = map(np.asarray, zip(*pts))
                err = np.vstack([m - np.where(np.isfinite(lo), lo, m), np.where(np.isfinite(hi), hi, m) - m])
                row = rows.get((str(int(w)), name), {})
                law = (f"; slope of log mean {row['law_slope']:.3f} [{row['law_lo']:.3f}, {row['law_hi']:.3f}]"
                       if np.isfinite(row.get("law_slope", np.nan)) else "")
                ax.errorbar(e * spread[k], m, yerr=err, fmt=marker, color=colour, capsize=3, ms=5,
                            label=f"{name}: mean, 95% CI{law}")
            row = rows.get((str(int(w)), name), {})
            counts.append(f"{name} {row.get('n_onset', 0)}")
            if "slope" in row:
                f = bifurcation.fit_power_law(eta, lam)  # the same fit as the CSV row
                lo_b, hi_b = f.band(grid)
                ax.fill_between(grid, lo_b, hi_b, color=colour, alpha=0.12, lw=0)
                ax.plot(grid, f.predict(grid), color=colour, lw=1.3,
                        label=(rf"{name}: ${f.prefactor:.3g}\,\eta^{{{f.slope:.3f}}}$, "
                               rf"b in [{f.slope_ci[0]:.3f}, {f.slope_ci[1]:.3f}], $R^2$ {f.r2:.2f}"))
            with np.errstate(invalid="ignore"):
                el = (eta * lam)[use]
            if el.size:
                hx.hist(el, bins=np.linspace(0, max(3.0, float(el.max()) * 1.05), 46), histtype="step",
                        color=colour, lw=1.4, label=f"{name} (median {np.median(el):.2f}, n {el.size})")
        ax.plot(grid, 2.0 / grid, ":", color="0.4", lw=1, label=r"$2/\eta$")
        log_ticks_at(ax, lrs, "x")
        outside = _limit_lambda_axis(ax, np.concatenate(shown + [2.0 / grid]))
        plain_log_axis(ax, "y")
        ax.set_xlabel(r"learning rate $\eta$")
        ax.set_ylabel(r"$\lambda_{th}$ (top Hessian eigenvalue at the onset)")
        n_runs = next((r["n_runs"] for (wl, _), r in rows.items() if wl == str(int(w))), 0)
        ax.set_title(f"width {int(w)}, {n_runs} runs; onsets: " + ", ".join(counts)
                     + (f"\n{outside} outside the axis" if outside else ""), fontsize=9)
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=1, frameon=False)
        panel_label(ax, "abcdefgh"[2 * i])
        for x in (1.0, 2.0):
            hx.axvline(x, color="0.4", ls=":", lw=1)
        hx.set_xlabel(r"$\eta\,\lambda_{th}$")
        hx.set_ylabel("runs")
        hx.set_title(r"$\eta\,\lambda_{th}$ per definition (1: flips sign, 2: grows)", fontsize=9)
        if hx.get_legend_handles_labels()[0]:
            hx.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
        else:
            hx.text(0.5, 0.5, "no onset found", ha="center", transform=hx.transAxes)
        panel_label(hx, "abcdefgh"[2 * i + 1])
    if title:
        fig.suptitle(title)
    return fig


def _limit_lambda_axis(ax, values: np.ndarray) -> int:
    """Log y limits from the 1st to 99th percentile of ``values`` (with a margin); the number of
    values outside them."""
    v = values[np.isfinite(values) & (values > 0)]
    if v.size < 10:
        return 0
    lo, hi = np.percentile(v, [1, 99])
    ax.set_ylim(lo / 1.15, hi * 1.15)
    return int(((v < lo / 1.15) | (v > hi * 1.15)).sum())


def _pairs(sub: xr.Dataset, name: str = "visible"):
    lam = sub[threshold_law.variables(sub, name)[0]]
    eta = xr.broadcast(sub["lr"], lam)[0]
    return eta.values.ravel(), lam.values.ravel()


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title)

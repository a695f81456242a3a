"""Training dynamics panels (figures 3.5, 4.3, 4.7): (a) Gamma_i(t), (b) F(t), (c) L(t),
(d) dL(t) = L(t) - L(t-1), (e) train accuracy, (f) the top Hessian eigenvalues with lambda_th
(the largest eigenvalue when the first bifurcation starts) as a red line, (g) the largest NTK
eigenvalue; (h-m) panels (b-g) zoomed on the first bifurcation.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .common import class_colour, panel_label

ROWS = [("gamma", r"$\Gamma_i(t)$"), ("F", r"$\mathcal{F}(t)$"), ("L", r"$\mathcal{L}(t)$"),
        ("dL", r"$\mathcal{L}(t)-\mathcal{L}(t-1)$"), ("train_acc", "train accuracy"),
        ("hess_eig", r"Hessian $\lambda_{1,2,3}$"), ("ntk_lmax", r"NTK $\lambda_{max}$")]


def _one_run(ds: xr.Dataset) -> xr.Dataset:
    for d in ("seed", "run"):
        if d in ds.dims:
            ds = ds.isel({d: 0})
    return ds


def zoom_window(ds: xr.Dataset, width: int) -> tuple[int, int, int | None]:
    """(start, stop, onset): a window of ``width`` steps around the first onset, or around the
    largest period-2 amplitude when no onset was detected."""
    steps = ds["step"].values
    onset = int(ds["onset_step"]) if "onset_step" in ds and int(ds["onset_step"]) >= 0 else None
    if onset is not None:
        centre = onset
    else:
        L = ds["L"].values
        e = np.abs(L[1:-1] - 0.5 * (L[:-2] + L[2:]))
        centre = int(steps[1 + int(np.nanargmax(e))]) if np.isfinite(e).any() else int(steps[len(steps) // 2])
    start = max(int(steps[0]), centre - width // 4)
    stop = min(int(steps[-1]), start + width)
    return start, stop, onset


def _draw(ax, ds: xr.Dataset, var: str, lo=None, hi=None, lam_th=None, lr=None):
    def sel(da, dim):
        if lo is None:
            return da
        return da.sel({dim: slice(lo, hi)})

    if var == "gamma":
        g = sel(ds["gamma"], "step")
        for k in range(g.sizes["class_index"]):
            ax.plot(g["step"], g.isel(class_index=k), color=class_colour(k), lw=1.0)
    elif var == "hess_eig":
        if "hess_eig" not in ds:
            ax.text(0.5, 0.5, "no Hessian spectra", ha="center", transform=ax.transAxes)
            return
        h = sel(ds["hess_eig"], "step_hess")
        for k in range(h.sizes["eig"]):
            ax.plot(h["step_hess"], h.isel(eig=k), lw=1.0, marker="." if lo is not None else None,
                    ms=3, label=rf"$\lambda_{k + 1}$")
        if lam_th is not None and np.isfinite(lam_th):
            ax.axhline(lam_th, color="red", lw=1.2, label=rf"$\lambda_{{th}}$ = {lam_th:.4g}")
        if lr:
            ax.axhline(2.0 / lr, color="0.5", lw=0.8, ls=":", label=r"$2/\eta$")
        ax.legend(fontsize=6, loc="upper right", ncol=2)
    elif var == "ntk_lmax":
        if "ntk_lmax" not in ds:
            ax.text(0.5, 0.5, "no NTK spectra", ha="center", transform=ax.transAxes)
            return
        n = sel(ds["ntk_lmax"], "step_ntk")
        ax.plot(n["step_ntk"], n, lw=1.0, color="C2")
    else:
        da = sel(ds[var], "step")
        ax.plot(da["step"], da, lw=0.7 if lo is None else 0.9, color="k")


def render(ds: xr.Dataset, title: str = "", zoom_steps: int = 400):
    ds = _one_run(ds)
    lr = float(ds["lr"]) if "lr" in ds.coords else None
    lam_th = float(ds["lambda_th"]) if "lambda_th" in ds else None
    lo, hi, onset = zoom_window(ds, zoom_steps)
    fig, axes = plt.subplots(len(ROWS), 2, figsize=(11, 14), constrained_layout=True,
                             gridspec_kw={"width_ratios": [2.2, 1]})
    letters = iter("abcdefg")
    zletters = iter("hijklm")
    for i, (var, label) in enumerate(ROWS):
        ax = axes[i, 0]
        _draw(ax, ds, var, lam_th=lam_th, lr=lr)
        ax.set_ylabel(label, fontsize=8)
        panel_label(ax, next(letters))
        ax.axvspan(lo, hi, color="orange", alpha=0.15, lw=0)
        zax = axes[i, 1]
        if var == "gamma":
            zax.axis("off")
            txt = (f"zoom (h-m): steps {lo}-{hi}\n"
                   + (f"first bifurcation at t = {onset}\n" if onset is not None else "no bifurcation detected\n")
                   + (rf"$\lambda_{{th}}$ = {lam_th:.5g}" if lam_th is not None and np.isfinite(lam_th) else "")
                   + (rf", $2/\eta$ = {2 / lr:.4g}" if lr else ""))
            zax.text(0.02, 0.5, txt, va="center", fontsize=9, transform=zax.transAxes)
            continue
        _draw(zax, ds, var, lo, hi, lam_th=lam_th, lr=lr)
        if onset is not None:
            zax.axvline(onset, color="red", lw=0.8, ls="--")
        panel_label(zax, next(zletters))
    for ax in axes[-1]:
        ax.set_xlabel("step t")
    if title:
        fig.suptitle(title)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..io import open_dataset

    return render(open_dataset(inputs[0]), title=title, zoom_steps=options.get("zoom_steps", 400))

"""Training dynamics panels (figures 3.5, 4.3, 4.7): (a) Gamma_i(t), (b) F(t), (c) L(t),
(d) dL(t) = L(t) - L(t-1), (e) train accuracy, (f) the top Hessian eigenvalues with lambda_th
(the largest eigenvalue when the first bifurcation starts) as a red line, (g) the largest NTK
eigenvalue; (h-m) panels (b-g) zoomed on the first bifurcation. The onsets of the stored
definitions (:mod:`dynloss.thresholds.onset`: ``visible`` red dashed, ``growing`` orange, ``mode`` purple)
are marked in every panel that shows them; panel (l) uses the Hessian at every step of the zoom
window (``hess_eig_zoom``, from a replay) when the dataset has it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ..thresholds.onset import zoom_window
from .common import class_colour, panel_label

ROWS = [("gamma", r"$\Gamma_i(t)$"), ("F", r"$\mathcal{F}(t)$"), ("L", r"$\mathcal{L}(t)$"),
        ("dL", r"$\mathcal{L}(t)-\mathcal{L}(t-1)$"), ("train_acc", "train accuracy"),
        ("hess_eig", r"Hessian $\lambda_{1,2,3}$"), ("ntk_lmax", r"NTK $\lambda_{max}$")]


def stop_step(ds: xr.Dataset) -> int | None:
    """The first step with A = 1 at the end of the run (the job's stop rule; ``None`` when the
    oscillations never stop or A is 1 throughout)."""
    import json

    try:
        rule = json.loads(ds.attrs["config"])["train_spec"].get("stop_rule", "last_T")
    except (KeyError, ValueError, TypeError, AttributeError):
        rule = "last_T"
    if rule == "never" or "T" not in ds.coords or float(ds["A"]) == 1.0:
        return None
    steps, T = int(ds["step"].values[-1]) + 1, float(ds["T"])
    start = np.floor((steps - 1) / T) * T if rule == "period" else steps - T
    return int(max(start, 0))


def _limit_before_stop(ax, da: xr.DataArray, stop: int) -> None:
    """y limits from the data before the stop when what follows it would set the scale (the weights
    jumping to 1 mid-period make a spike in F and L): the spike is annotated, not drawn to scale."""
    before, after = da.sel(step=slice(None, stop - 1)).values, da.sel(step=slice(stop, None)).values
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if not before.size or not after.size:
        return
    lo, hi = float(before.min()), float(before.max())
    pad = 0.05 * (hi - lo or abs(hi) or 1.0)
    if after.max() > hi + 5 * pad or after.min() < lo - 5 * pad:
        ax.set_ylim(lo - pad, hi + pad)
        peak = float(after[np.argmax(np.abs(after - 0.5 * (lo + hi)))])
        ax.annotate(f"after the stop: {peak:.3g} (off the axis)", xy=(stop, hi + pad), xytext=(-6, -10),
                    textcoords="offset points", ha="right", fontsize=6.5, color="0.3")


def _one_run(ds: xr.Dataset) -> xr.Dataset:
    for d in ("seed", "run"):
        if d in ds.dims:
            ds = ds.isel({d: 0})
    return ds


#: how each onset definition is marked (colour, line style)
ONSET_STYLE = {"visible": ("red", "--"), "growing": ("darkorange", "-."), "mode": ("purple", ":"),
               "apparent": ("green", "-"), "ceiling": ("saddlebrown", (0, (5, 1)))}


def onsets(ds: xr.Dataset) -> dict[str, tuple[int, float]]:
    """``{definition: (onset step, lambda_th)}`` for the definitions found in ``ds`` (one run)."""
    out = {}
    for name in ONSET_STYLE:
        var = f"onset_step_{name}" if f"onset_step_{name}" in ds else ("onset_step" if name == "visible" else None)
        if var is None or var not in ds or int(ds[var]) < 0:
            continue
        lam_var = var.replace("onset_step", "lambda_th")
        out[name] = (int(ds[var]), float(ds[lam_var]) if lam_var in ds else float("nan"))
    return out


def _legend_above(ax, ncol: int = 4) -> None:
    """Legend above the panel, outside the data."""
    ax.legend(fontsize=6, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol, frameon=False,
              borderaxespad=0.1, handlelength=1.5, columnspacing=0.8)


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
        zoom = lo is not None and "hess_eig_zoom" in ds
        h = sel(ds["hess_eig_zoom"], "step_zoom") if zoom else sel(ds["hess_eig"], "step_hess")
        x = h["step_zoom"] if zoom else h["step_hess"]
        for k in range(h.sizes["eig"]):
            ax.plot(x, h.isel(eig=k), lw=1.0, marker="." if lo is not None and not zoom else None,
                    ms=3, label=rf"$\lambda_{k + 1}$" + (" (every step)" if zoom and k == 0 else ""))
        for name, (_, lam) in onsets(ds).items():
            if np.isfinite(lam):
                colour, ls = ONSET_STYLE[name]
                ax.axhline(lam, color=colour, lw=1.1, ls=ls, label=rf"$\lambda_{{th}}$ {name} = {lam:.4g}")
        if lr:
            ax.axhline(2.0 / lr, color="0.5", lw=0.8, ls=":", label=r"$2/\eta$")
        _legend_above(ax, ncol=4 if lo is None else 2)
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
    marks = onsets(ds)
    stop = stop_step(ds)
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
        if stop is not None:
            ax.axvline(stop, color="0.35", lw=0.8, ls=(0, (2, 2)))
            if var == "gamma":
                ax.annotate(f"oscillations stop: t = {stop}", xy=(stop, 1.0), xytext=(-4, 4), ha="right",
                            textcoords="offset points", fontsize=7, color="0.3")
            elif var in ("F", "L", "dL"):
                _limit_before_stop(ax, ds[var], stop)
        if var != "gamma":
            for name, (t, _) in marks.items():
                colour, ls = ONSET_STYLE[name]
                ax.axvline(t, color=colour, lw=0.6, ls=ls, alpha=0.8)
        zax = axes[i, 1]
        if var == "gamma":
            zax.axis("off")
            zax.text(0.02, 0.5, zoom_text(lo, hi, onset, marks, lr), va="center", fontsize=9,
                     transform=zax.transAxes)
            continue
        _draw(zax, ds, var, lo, hi, lam_th=lam_th, lr=lr)
        for name, (t, _) in marks.items():
            if lo <= t <= hi:
                colour, ls = ONSET_STYLE[name]
                zax.axvline(t, color=colour, lw=0.9, ls=ls)
        panel_label(zax, next(zletters))
    for ax in axes[-1]:
        ax.set_xlabel("step t")
    if title:
        fig.suptitle(title)
    return fig


def zoom_text(lo: int, hi: int, onset, marks: dict, lr) -> str:
    """The zoom panel's caption: window, onsets per definition, lambda_th, 2/eta (parts that
    exist only, joined without stray separators)."""
    lines = [f"zoom (h-m): steps {lo}-{hi}"]
    if not marks:
        lines.append("no bifurcation detected" if onset is None else f"first bifurcation at t = {onset}")
    for name, (t, lam) in marks.items():
        lines.append(f"{name} onset t = {t}" + (rf", $\lambda_{{th}}$ = {lam:.5g}" if np.isfinite(lam) else ""))
    if lr:
        lines.append(rf"$2/\eta$ = {2 / lr:.4g}")
    return "\n".join(lines)


def from_files(inputs, options: dict, title: str):
    from ..netcdf import open_dataset

    return render(open_dataset(inputs[0]), title=title, zoom_steps=options.get("zoom_steps", 400))

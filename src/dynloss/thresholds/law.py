"""The law of lambda_th in eta per onset definition (thesis eq. 3.10): the per-run power-law fit
of :func:`fit` and the mean per eta of :func:`per_eta` (the verdict's estimand, the slope of the
log mean, is :mod:`dynloss.verdicts.law`)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import xarray as xr

from . import bifurcation
from . import onset as onset_mod


def definitions(ds: xr.Dataset) -> list[str]:
    """The onset definitions a thresholds dataset holds, in :data:`dynloss.thresholds.onset.NAMES` order
    (``["visible"]`` for a dataset with only the original ``onset_step``/``lambda_th``)."""
    have = [n for n in onset_mod.NAMES if f"lambda_th_{n}" in ds and f"onset_step_{n}" in ds]
    return have or ["visible"]


def variables(ds: xr.Dataset, name: str) -> tuple[str, str]:
    """(lambda, onset) variable names of definition ``name`` (the plain ones for ``visible``
    when the per-definition variables are absent: they are the same rule)."""
    if f"lambda_th_{name}" in ds:
        return f"lambda_th_{name}", f"onset_step_{name}"
    return "lambda_th", "onset_step"


def fit(ds: xr.Dataset, level: float = 0.95) -> list[dict]:
    """One power-law fit per (width, onset definition), and over all widths when there are several.

    ``ds`` is a combined thresholds study (dims ``width, lr, run``). Returns rows with the
    definition (``onset``), the per-run OLS slope, prefactor, their confidence intervals, R^2, the
    run counts (with and without an onset, and not analysed: a definition applied to a subset of
    the runs, :data:`dynloss.thresholds.onset.NOT_ANALYSED`), the verdict's estimand (``law_slope`` with its paired
    bootstrap interval and lack of fit ``lof``, :func:`dynloss.verdicts.law.law_estimate`; per width)
    and the median eta * lambda_th per eta.
    """
    from ..verdicts.law import law_estimate

    rows = []
    widths = list(np.atleast_1d(ds["width"].values))
    groups = [(str(int(w)), ds.sel(width=w)) for w in widths]
    if len(widths) > 1:
        groups.append(("all", ds))
    for label, sub in groups:
        for name in definitions(ds):
            lam_var, onset_var = variables(sub, name)
            lam = sub[lam_var]
            eta = xr.broadcast(sub["lr"], lam)[0]
            lam_v, eta_v = lam.values.ravel(), eta.values.ravel()
            steps = sub[onset_var].values.ravel()
            analysed = steps != onset_mod.NOT_ANALYSED
            onset = steps >= 0
            diverged = (sub["diverged"].values.ravel().astype(bool) if "diverged" in sub
                        else np.zeros_like(onset))
            row = {"loss": str(ds["loss"].values.ravel()[0]) if "loss" in ds.coords else "",
                   "width": label, "n_runs": int(analysed.sum()), "n_onset": int(onset.sum()),
                   "n_no_onset": int((analysed & ~onset).sum()), "n_not_analysed": int((~analysed).sum()),
                   "n_diverged": int(diverged.sum())}
            try:
                f = bifurcation.fit_power_law(eta_v, lam_v, level=level)
                row.update({"slope": f.slope, "slope_lo": f.slope_ci[0], "slope_hi": f.slope_ci[1],
                            "prefactor": f.prefactor, "prefactor_lo": f.prefactor_ci[0],
                            "prefactor_hi": f.prefactor_ci[1], "r2": f.r2, "n_fit": f.n, "level": level})
            except ValueError as exc:
                row.update({"note": str(exc)})
            with np.errstate(invalid="ignore"):
                el = eta_v * lam_v
            el = el[np.isfinite(el)]
            row["eta_lambda_median"] = float(np.median(el)) if el.size else float("nan")
            if label != "all":
                law = law_estimate(sub, name)
                row.update({"law_slope": law["slope"].value, "law_lo": law["slope"].lo, "law_hi": law["slope"].hi,
                            "lof": law["lof"].value})
                with np.errstate(invalid="ignore"):
                    med = [np.nanmedian(lr * sub[lam_var].sel(lr=lr).values) for lr in sub["lr"].values]
                row["eta_lambda_median_by_eta"] = " ".join(f"{float(lr):g}:{m:.3f}" for lr, m in
                                                           zip(sub["lr"].values, med))
            row["onset"] = name
            rows.append(row)
    return rows


def per_eta(ds: xr.Dataset, width: Optional[float] = None, level: float = 0.95,
            onset: str = "visible") -> list[tuple]:
    """(eta, mean, lo, hi, n) of lambda_th (definition ``onset``) over the runs with an onset, per eta."""
    sub = ds.sel(width=width) if width is not None and "width" in ds.dims else ds
    lam_var = variables(sub, onset)[0]
    out = []
    for lr in np.atleast_1d(sub["lr"].values):
        v = sub[lam_var].sel(lr=lr).values.ravel()
        v = v[np.isfinite(v)]
        if v.size:
            m, lo, hi = bifurcation.mean_ci(v, level)
            out.append((float(lr), m, lo, hi, int(v.size)))
    return out


def write_fit_csv(ds: xr.Dataset, path: str, level: float = 0.95) -> list[dict]:
    """The eta-law fits of a combined thresholds dataset (:func:`fit`) as a CSV (written atomically)."""
    import csv
    import io

    from .. import files

    rows = fit(ds, level)
    cols = sorted({k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    files.write_text(buf.getvalue(), path)
    return rows

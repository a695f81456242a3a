"""The eta law as the thesis estimates it: the slope of log(mean lambda_th) against log(eta),
with a bootstrap that resamples the (A, T) settings jointly across etas (docs/verdicts.md).

A thresholds study runs the same (A, T) settings at every eta (run index = setting), so the
design is paired: a setting that gives a high lambda_th at one eta tends to at every eta.
Resampling the settings jointly keeps that; resampling each eta on its own (:func:`slope_interval`
with ``paired=False``) treats them as independent, which widens the interval when the
settings differ much (their effect cancels in the slope only when kept paired).
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..thresholds.onset import NOT_ANALYSED
from . import stats


def _slope_and_lof(log_eta: np.ndarray, lam: np.ndarray) -> tuple[float, float]:
    """Slope of log(mean over settings of lam) vs log eta, and the rms residual about the line.

    ``lam``: (settings, etas), NaN where a setting has no onset at that eta.
    """
    n = np.isfinite(lam).sum(axis=0)
    m = np.where(n > 0, np.nansum(lam, axis=0) / np.maximum(n, 1), np.nan)  # nanmean without its warning
    ok = np.isfinite(m) & (m > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    y = np.log(m[ok])
    b, a = np.polyfit(log_eta[ok], y, 1)
    resid = y - (a + b * log_eta[ok])
    return float(b), float(np.sqrt(np.mean(resid ** 2)))


def slope_interval(eta: np.ndarray, lam: np.ndarray, settings: stats.Settings = stats.Settings(),
                   paired: bool = True) -> tuple[stats.Estimate, stats.Estimate]:
    """The slope and lack-of-fit estimates with percentile bootstrap intervals (seeded).

    Args:
        eta: (k,) learning rates.
        lam: (settings, k) lambda_th per (A, T) setting and eta (NaN: no onset).
        settings: resamples and seed.
        paired: resample the settings jointly across etas (the design); ``False`` resamples
            each eta's settings independently (for comparison only).

    Returns:
        ``(slope, lack_of_fit)``.
    """
    log_eta = np.log(np.asarray(eta, dtype=float))
    lam = np.asarray(lam, dtype=float)
    n, k = lam.shape
    rng = np.random.default_rng(settings.seed)
    boot = np.empty((settings.resamples, 2))
    for i in range(settings.resamples):
        if paired:
            sample = lam[rng.integers(0, n, n)]
        else:
            sample = np.stack([lam[rng.integers(0, n, n), j] for j in range(k)], axis=1)
        boot[i] = _slope_and_lof(log_eta, sample)
    b, lof = _slope_and_lof(log_eta, lam)
    out = []
    for j, value in enumerate((b, lof)):
        col = boot[:, j][np.isfinite(boot[:, j])]
        lo, hi = np.quantile(col, [0.025, 0.975]) if col.size else (math.nan, math.nan)
        out.append(stats.Estimate(value, float(lo), float(hi), n, "bootstrap (paired)" if paired else "bootstrap"))
    return out[0], out[1]


def law_estimate(ds: xr.Dataset, name: str, settings: stats.Settings = stats.Settings()) -> dict:
    """The eta law of one definition of a thresholds dataset (dims ``lr, run``; one width).

    Returns:
        ``{"slope", "lof"}`` (:class:`stats.Estimate`), ``n_settings``, ``n_eta``, ``n_runs``,
        ``n_onset`` and the mean lambda_th per eta (``means``).
    """
    var = f"lambda_th_{name}" if f"lambda_th_{name}" in ds else "lambda_th"

    def table(v: xr.DataArray) -> np.ndarray:  # (run, lr), other length-1 dims dropped
        return v.squeeze([d for d in v.dims if d not in ("run", "lr")]).transpose("run", "lr").values

    lam = table(ds[var]).astype(float)
    if "diverged" in ds:
        lam = np.where(table(ds["diverged"]).astype(bool), np.nan, lam)
    step_var = var.replace("lambda_th", "onset_step")
    if step_var in ds:  # settings a definition was not applied to (a subset of the runs) are not in its law
        lam = lam[~(table(ds[step_var]) == NOT_ANALYSED).all(axis=1)]
    eta = ds["lr"].values.astype(float)
    slope, lof = slope_interval(eta, lam, settings)
    with np.errstate(invalid="ignore"):
        means = np.nanmean(lam, axis=0)
    return {"slope": slope, "lof": lof, "n_settings": lam.shape[0], "n_eta": eta.size, "n_runs": lam.size,
            "n_onset": int(np.isfinite(lam).sum()), "means": dict(zip(eta.tolist(), means.tolist()))}

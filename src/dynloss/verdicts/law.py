"""The eta law as the thesis estimates it: the slope of log(mean lambda_th) against log(eta),
with a bootstrap that resamples the (A, T) settings jointly across etas (docs/verdicts.md).

A thresholds study runs the same (A, T) settings at every eta (run index = setting), so the
design is paired: a setting that gives a high lambda_th at one eta tends to at every eta.
Resampling the settings jointly keeps that; resampling each eta on its own (:func:`slope_interval`
with ``paired=False``) treats them as independent, which widens the interval when the
settings differ much (their effect cancels in the slope only when kept paired).

Rules of 2026-12-07 (docs/verdicts.md): a setting enters a law only with an onset at every eta (the
per-eta means then come from the same settings, and every resample has every eta: the bootstrap
refuses fewer); an onset before the burn-in (the first half of the run's first period, where the
thesis places no bifurcation) is not the thesis's bifurcation and counts as none.
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
    if lam.shape[0] == 0 or not np.isfinite(lam).all():  # every eta from the same settings, or no slope
        return math.nan, math.nan
    m = lam.mean(axis=0)
    if (m <= 0).any():
        return math.nan, math.nan
    y = np.log(m)
    b, a = np.polyfit(log_eta, y, 1)
    resid = y - (a + b * log_eta)
    return float(b), float(np.sqrt(np.mean(resid ** 2)))


def slope_interval(eta: np.ndarray, lam: np.ndarray, settings: stats.Settings = stats.Settings(),
                   paired: bool = True) -> tuple[stats.Estimate, stats.Estimate]:
    """The slope and lack-of-fit estimates with percentile bootstrap intervals (seeded).

    Args:
        eta: (k,) learning rates.
        lam: (settings, k) lambda_th per (A, T) setting and eta; a setting with a NaN (no onset at some
            eta) makes the slope NaN: pass the complete settings (:func:`complete`).
        settings: resamples and seed.
        paired: resample the settings jointly across etas (the design); ``False`` resamples
            each eta's settings independently (for comparison only).

    Returns:
        ``(slope, lack_of_fit)``.
    """
    log_eta = np.log(np.asarray(eta, dtype=float))
    lam = np.asarray(lam, dtype=float)
    n, k = lam.shape
    method = "bootstrap (paired)" if paired else "bootstrap"
    if n == 0:
        none = stats.Estimate(math.nan, math.nan, math.nan, 0, method)
        return none, none
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
        out.append(stats.Estimate(value, float(lo), float(hi), n, method))
    return out[0], out[1]


def complete(lam: np.ndarray) -> np.ndarray:
    """Which settings (rows) have an onset at every eta."""
    return np.isfinite(lam).all(axis=1)


def law_estimate(ds: xr.Dataset, name: str, settings: stats.Settings = stats.Settings()) -> dict:
    """The eta law of one definition of a thresholds dataset (dims ``lr, run``; one width).

    Runs that diverged, and onsets before the burn-in (``settings.burn_in`` of the run's period ``T``:
    step < burn_in * T), count as no onset; settings the definition was not applied to are left out;
    a setting enters the law only with an onset at every eta.

    Returns:
        ``{"slope", "lof"}`` (:class:`stats.Estimate` over the entered settings), ``n_settings`` (analysed),
        ``n_entered``, ``n_eta``, ``n_runs``, ``n_onset`` (after the burn-in), ``n_burn_in`` (onsets before
        it), the mean lambda_th per eta over the entered settings (``means``) and the onset steps per eta
        (``onset_steps``: eta -> the analysed runs' onset steps, -1 for none, before the burn-in rule).
    """
    var = f"lambda_th_{name}" if f"lambda_th_{name}" in ds else "lambda_th"

    def table(v: xr.DataArray) -> np.ndarray:  # (run, lr), other length-1 dims dropped
        return v.squeeze([d for d in v.dims if d not in ("run", "lr")]).transpose("run", "lr").values

    lam = table(ds[var]).astype(float)
    if "diverged" in ds:
        lam = np.where(table(ds["diverged"]).astype(bool), np.nan, lam)
    step_var = var.replace("lambda_th", "onset_step")
    steps = table(ds[step_var]).astype(float) if step_var in ds else np.full(lam.shape, np.nan)
    analysed = ~(steps == NOT_ANALYSED).all(axis=1)  # settings a definition was not applied to are not in its law
    lam, steps = lam[analysed], steps[analysed]
    period = (np.asarray(ds["T"].values, dtype=float)[analysed] if "T" in ds.coords and ds["T"].ndim == 1
              and ds["T"].dims[0] == "run" else np.full(lam.shape[0], np.nan))
    early = (steps >= 0) & (steps < settings.burn_in * period[:, None])
    n_early = int((early & np.isfinite(lam)).sum())
    lam = np.where(early, np.nan, lam)
    eta = ds["lr"].values.astype(float)
    full = complete(lam)
    slope, lof = slope_interval(eta, lam[full], settings)
    slope = stats.Estimate(slope.value, slope.lo, slope.hi, int(full.sum()), slope.method)
    means = lam[full].mean(axis=0) if full.any() else np.full(eta.size, np.nan)
    return {"slope": slope, "lof": lof, "n_settings": lam.shape[0], "n_entered": int(full.sum()),
            "n_eta": eta.size, "n_runs": lam.size, "n_onset": int(np.isfinite(lam).sum()), "n_burn_in": n_early,
            "means": dict(zip(eta.tolist(), means.tolist())),
            "onset_steps": {float(e): steps[:, j] for j, e in enumerate(eta)}}

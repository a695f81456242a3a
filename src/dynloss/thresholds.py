"""The curvature threshold lambda_th at the first bifurcation, per run, and its law in eta.

For a batch trained with the loss recorded at every step (:mod:`dynloss.train`):

1. the onset step ``t*`` of each run is found on its static-loss trace L(t) by
   :func:`dynloss.bifurcation.detect_onsets` (period-2 oscillation; parameters ``window``, ``floor``);
2. ``lambda_th`` is the largest Hessian eigenvalue of F(., t*) at the parameters after update
   ``t*``, computed exactly there: each run is replayed from its initialisation to ``t*`` with the
   training step function (:meth:`dynloss.train.Engine.replay`) and Lanczos is run on the replayed
   state. So ``lambda_th`` carries no error from the spectra cadence; its error is the Lanczos error
   (order 20: ~1e-15 relative, see :mod:`dynloss.spectra`) and the detector's localisation of
   ``t*`` (tested to a few steps on synthetic traces) times the drift of lambda per step. The
   cadence estimate (the last measurement at or before ``t*``) is stored beside it as
   ``lambda_th_cadence``; their difference bounds the cadence error the exact value removes.
3. :func:`fit` regresses ``log lambda_th = a + b log eta`` over the runs with an onset.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import bifurcation, spectra
from .train import Engine, RunBatch, TrainResult


def _hessian_at(engine: Engine, params, t: np.ndarray, batch: RunBatch, order: int, k: int) -> np.ndarray:
    """Top-``k`` Hessian eigenvalues of F(., t[r]) at ``params[r]`` for each run (batched)."""
    v0 = spectra.start_vector(engine, jax.random.PRNGKey(engine.spec.spectra.lanczos_seed))
    args = engine.args(batch)

    def single(p, t_r, a):
        A, T, _ = a
        return spectra.hessian_top(engine, p, t_r, A, T, order, k, v0)

    fn = jax.jit(engine.over_runs(single, (0, 0, 0)))
    return np.asarray(fn(params, jnp.asarray(t, jnp.int32), args))


def onset_analysis(engine: Engine, result: TrainResult, window: int = 20, floor: float = 1e-6,
                   start: int = 0) -> dict[str, np.ndarray]:
    """Onset step, exact ``lambda_th`` and the cadence estimate for every run of ``result``.

    Needs the loss at every step (``record_every == 1``). Runs without an onset get -1 and NaN.
    """
    if result.spec.record_every != 1:
        raise ValueError("onset analysis needs the loss at every step (record_every = 1)")
    R = len(result.batch)
    onsets = bifurcation.detect_onsets(result.loss, window=window, floor=floor, start=start)
    lam = np.full(R, np.nan)
    lam_cad = np.full(R, np.nan)
    hit = np.flatnonzero(onsets >= 0)
    if hit.size:
        b = result.batch
        sub = RunBatch(b.seeds[hit], b.A[hit], b.T[hit], b.lr[hit])
        params = engine.replay(sub, onsets[hit])
        order = max(engine.spec.spectra.hess_order, 20)
        lam[hit] = _hessian_at(engine, params, onsets[hit], sub, order, 1)[:, 0]
    if "hess_eig" in result.spectra:
        steps = result.spectra_steps["hess_eig"]
        for r in hit:
            lam_cad[r] = bifurcation.lambda_at_onset(steps, result.spectra["hess_eig"][r, :, 0], int(onsets[r]))
    return {"onset_step": onsets.astype(np.int64), "lambda_th": lam, "lambda_th_cadence": lam_cad}


ONSET_DOCS = {
    "onset_step": "first step of a period-2 oscillation of L (first bifurcation), -1 if none",
    "lambda_th": "largest Hessian eigenvalue of F at the onset step (exact: replayed state)",
    "lambda_th_cadence": "largest Hessian eigenvalue at the last spectra step <= onset",
}


def add_onsets(ds: xr.Dataset, onsets: dict[str, np.ndarray], window: int, floor: float) -> xr.Dataset:
    """Attach the onset variables along the dataset's run (or seed) dimension."""
    run = "seed" if "seed" in ds.dims else "run"
    for name, values in onsets.items():
        ds[name] = ((run,), values)
        ds[name].attrs["long_name"] = ONSET_DOCS[name]
    ds.attrs["onset_window"] = int(window)
    ds.attrs["onset_floor"] = float(floor)
    return ds


#: variables a traces file keeps at full resolution (what re-analysing the onsets needs)
TRACE_VARS = ("L", "diverged", "diverged_step", "hess_eig", "onset_step", "lambda_th", "lambda_th_cadence")


def traces_dataset(ds: xr.Dataset) -> xr.Dataset:
    """The per-step static loss of every run (all steps), its cadence spectra and the job's
    attributes: enough to re-run any onset definition, and to replay the runs, without training.

    Args:
        ds: a thresholds job's dataset before :func:`compact_dataset`.

    Returns:
        The subset of ``ds`` named in :data:`TRACE_VARS`, with the same coordinates and attributes.
    """
    return ds[[v for v in TRACE_VARS if v in ds]]


def compact_dataset(ds: xr.Dataset, trace_every: int) -> xr.Dataset:
    """Keep the per-run results and the spectra; thin the per-step traces to every
    ``trace_every``-th step (a thresholds job records all 70000 steps of 40 runs)."""
    keep_steps = ds["step"].values[trace_every - 1::trace_every]
    out = ds.sel(step=keep_steps)
    return out.drop_vars([v for v in ("dL",) if v in out])


# --------------------------------------------------------------------------------------------
# The law in eta


def fit(ds: xr.Dataset, level: float = 0.95) -> list[dict]:
    """One power-law fit per width (and over all widths when there are several).

    ``ds`` is a combined thresholds study (dims ``width, lr, run``). Returns rows with the slope,
    prefactor, their confidence intervals, R^2 and the run counts.
    """
    rows = []
    widths = list(np.atleast_1d(ds["width"].values))
    groups = [(str(int(w)), ds.sel(width=w)) for w in widths]
    if len(widths) > 1:
        groups.append(("all", ds))
    for label, sub in groups:
        lam = sub["lambda_th"]
        eta = xr.broadcast(sub["lr"], lam)[0]
        lam_v, eta_v = lam.values.ravel(), eta.values.ravel()
        onset = sub["onset_step"].values.ravel() >= 0
        diverged = sub["diverged"].values.ravel().astype(bool) if "diverged" in sub else np.zeros_like(onset)
        row = {"loss": str(ds["loss"].values.ravel()[0]) if "loss" in ds.coords else "",
               "width": label, "n_runs": int(onset.size), "n_onset": int(onset.sum()),
               "n_no_onset": int((~onset).sum()), "n_diverged": int(diverged.sum())}
        try:
            f = bifurcation.fit_power_law(eta_v, lam_v, level=level)
            row.update({"slope": f.slope, "slope_lo": f.slope_ci[0], "slope_hi": f.slope_ci[1],
                        "prefactor": f.prefactor, "prefactor_lo": f.prefactor_ci[0],
                        "prefactor_hi": f.prefactor_ci[1], "r2": f.r2, "n_fit": f.n, "level": level})
        except ValueError as exc:
            row.update({"note": str(exc)})
        rows.append(row)
    return rows


def per_eta(ds: xr.Dataset, width: Optional[float] = None, level: float = 0.95) -> list[tuple]:
    """(eta, mean, lo, hi, n) of lambda_th over the runs with an onset, per eta."""
    sub = ds.sel(width=width) if width is not None and "width" in ds.dims else ds
    out = []
    for lr in np.atleast_1d(sub["lr"].values):
        v = sub["lambda_th"].sel(lr=lr).values.ravel()
        v = v[np.isfinite(v)]
        if v.size:
            m, lo, hi = bifurcation.mean_ci(v, level)
            out.append((float(lr), m, lo, hi, int(v.size)))
    return out

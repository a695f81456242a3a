"""Running a job in this process: train, measure onsets, write the NetCDF (atomically).

The engine (JAX) is imported here, when a job runs, never by :mod:`dynloss.jobs` itself.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional

import numpy as np

from ..spec import RunBatch
from .definition import Job, MyrtleJob, ThresholdsJob, TrainJob, file_config

log = logging.getLogger("dynloss")


def run(job: Job, out: str, quiet: bool = False, config: Optional[dict] = None) -> None:
    """Train ``job`` and write its NetCDF to ``out`` atomically.

    Args:
        job: a :class:`TrainJob` or :class:`ThresholdsJob`.
        out: the output path.
        quiet: no progress lines.
        config: extra entries of the file's ``config`` attribute (the job's meta is always there).
    """
    if isinstance(job, ThresholdsJob):
        _run_thresholds(job, out, quiet, config)
    elif isinstance(job, MyrtleJob):
        from .myrtle import run_myrtle

        run_myrtle(job, out, quiet, config)
    else:
        _run_train(job, out, quiet, config)


def _run_train(job: TrainJob, out: str, quiet: bool, config: Optional[dict]) -> None:
    from .. import netcdf

    if len(job.all_widths()) > 1:  # a per-study job: one program per width, one file
        import xarray as xr

        parts = [_train_dataset(replace(job, spec=replace(job.spec, width=w), widths=()), quiet, config)
                 .expand_dims("width") for w in job.all_widths()]
        ds = xr.concat(parts, dim="width", combine_attrs="drop_conflicts")
        ds.attrs = dict(parts[0].attrs)
    else:
        ds = _train_dataset(job, quiet, config)
    netcdf.write_netcdf(ds, out)
    log.info("%swrote %s", job.label(), out)


def _train_dataset(job: TrainJob, quiet: bool, config: Optional[dict]):
    from .. import netcdf
    from ..engine import Replay

    batch = job.batch()
    label = job.label()
    parts = _memory_batches(job, len(batch))
    if len(parts) > 1:  # a grid too wide for the memory budget: train it in slices of runs
        log.info("%s%d runs in %d batches of at most %d (memory budget)", label, len(batch), len(parts),
                 max(len(p) for p in parts))
        import xarray as xr

        pieces = []
        for i, part in enumerate(parts, 1):
            sub = RunBatch(batch.seeds[part], batch.A[part], batch.T[part], batch.lr[part])
            _, result = _train_logged(job.spec, sub, f"{label}[{i}/{len(parts)}] ", quiet)
            pieces.append(as_runs(netcdf.result_to_dataset(result, file_config(job, config)), sub, part[0]))
        ds = xr.concat(pieces, dim="run", data_vars="minimal", coords="minimal", compat="override",
                       combine_attrs="override")
        return grid_dataset(ds, job)
    problem, result = _train_logged(job.spec, batch, label, quiet)
    replay = Replay(problem)
    ds = netcdf.result_to_dataset(result, file_config(job, config))
    if job.onsets is not None:
        _onsets(problem, replay, result, ds, job.onsets.window, job.onsets.floor, label)
        if job.onsets.names:
            _definitions(problem, replay, batch, result.loss, ds, job.onsets.names, job.onsets.window,
                         job.onsets.floor, label)
    if job.onsets is not None and job.onsets.primary:
        ds.attrs["primary_onset"] = job.onsets.primary
    if job.zoom_steps:
        _zoom_hessian(problem, replay, batch, ds, job.zoom_steps, job.spec.spectra.hess_k)
    return grid_dataset(ds, job) if job.grid else ds


def _memory_batches(job: TrainJob, runs: int) -> list:
    """Slices of the job's runs that each fit the memory budget (one slice when all fit; a job
    with onsets or a zoom replays its runs and is never sliced)."""
    from .. import budget
    from ..engine import batch_mode

    if not job.grid or job.onsets is not None or job.zoom_steps:
        return [slice(0, runs)]
    per = budget.runs_that_fit(job.spec, runs, budget.default_budget_gb(), batch_mode(job.spec))
    per = max(per, 1)
    return [np.arange(lo, min(lo + per, runs)) for lo in range(0, runs, per)]


def as_runs(ds, batch: RunBatch, first: int = 0, lr: Optional[float] = None):
    """``ds`` in the run layout (dims ``run, ...`` numbered from ``first``, with per-run seed, A, T),
    also when its batch happened to be uniform (one point: dims ``seed, ...``). ``lr``: one value for
    the whole job (a scalar coordinate, as a thresholds job combines over eta); ``None``: per run."""
    if "seed" in ds.dims:
        ds = ds.rename({"seed": "run"}).drop_vars(["A", "T", "lr"], errors="ignore")
        ds = ds.assign_coords(seed=("run", batch.seeds))
    return ds.assign_coords(run=np.arange(len(batch)) + first, A=("run", batch.A), T=("run", batch.T),
                            lr=("run", batch.lr) if lr is None else float(lr))


def grid_dataset(ds, job: TrainJob):
    """A grid job's dataset (a ``run`` dimension, A-major, then T, then seed) with dims
    ``(A, T, seed, ...)``: what the per-point jobs of the same grid combine into."""
    import xarray as xr

    nA, nT, nS = len(job.A), len(job.T), len(job.seeds)
    data = {}
    for name, var in ds.data_vars.items():
        if var.dims and var.dims[0] == "run":
            data[name] = (("A", "T", "seed") + var.dims[1:], var.values.reshape((nA, nT, nS) + var.shape[1:]),
                          var.attrs)
        else:
            data[name] = var
    coords = {k: v for k, v in ds.coords.items() if "run" not in v.dims}
    coords.update({"A": np.asarray(job.A, float), "T": np.asarray(job.T, float),
                   "seed": np.asarray(job.seeds, np.int64), "lr": float(job.lr)})
    return xr.Dataset(data, coords=coords, attrs=ds.attrs)


def _run_thresholds(job: ThresholdsJob, out: str, quiet: bool, config: Optional[dict]) -> None:
    from .. import netcdf
    from ..engine import Replay
    from ..thresholds import measure

    batch = job.batch()
    label = job.label()
    problem, result = _train_logged(job.spec, batch, label, quiet)
    replay = Replay(problem)
    # A, T, seed vary along run (also when the batch happens to be uniform); lr is one value per job,
    # a scalar coordinate to combine over
    ds = as_runs(netcdf.result_to_dataset(result, file_config(job, config)), batch, job.run_offset, lr=job.lr)
    _onsets(problem, replay, result, ds, job.onsets.window, job.onsets.floor, label)
    if job.onsets.names:
        _definitions(problem, replay, batch, result.loss, ds, job.onsets.names, job.onsets.window,
                     job.onsets.floor, label)
    if job.traces_out:
        netcdf.write_netcdf(measure.traces_dataset(ds), job.traces_out)
    ds = measure.compact_dataset(ds, job.trace_every)
    netcdf.write_netcdf(ds, out)
    log.info("%swrote %s", label, out)


def _train_logged(spec, batch, label: str, quiet: bool):
    from .. import engine
    from ..progress import progress_logger

    log.info("%straining %d run(s) x %d steps (%s)", label, len(batch), spec.steps, spec.dtype)
    problem = engine.make_problem(spec)
    progress = None if quiet else progress_logger(len(batch), label)
    result = engine.train(spec, batch, progress=progress, problem=problem)
    n_div = int(result.diverged.sum())
    log.info("%scompiled in %.1f s, trained in %.1f s (%.0f run-steps/s)%s", label,
             result.timings["compile_s"], result.timings["run_s"],
             len(batch) * spec.steps / max(result.timings["run_s"], 1e-9),
             f"; {n_div} run(s) diverged" if n_div else "")
    return problem, result


def _onsets(problem, replay, result, ds, window: int, floor: float, label: str) -> None:
    from ..thresholds import measure

    onsets = measure.onset_analysis(problem, result, window=window, floor=floor, replay=replay)
    measure.add_onsets(ds, onsets, window, floor)
    found = int((onsets["onset_step"] >= 0).sum())
    log.info("%sfirst bifurcation found in %d of %d run(s)", label, found, len(result.batch))


def _definitions(problem, replay, batch, loss, ds, names, window: int, floor: float, label: str) -> None:
    from ..thresholds import measure

    found = measure.analyse_dataset(problem, batch, loss, ds, names, window, floor, replay=replay)
    measure.add_definitions(ds, found, window, floor)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in names)
    log.info("%sonsets per definition of %d run(s): %s", label, len(batch), counts)


def _zoom_hessian(problem, replay, batch, ds, zoom_steps: int, k: int) -> None:
    from ..thresholds import measure
    from ..thresholds.onset import zoom_window

    run = "seed" if "seed" in ds.dims else "run"
    lo, hi, _ = zoom_window(ds.isel({run: 0}), zoom_steps)
    steps, eig = measure.hessian_window(problem, batch, lo, hi, k=k, replay=replay)
    ds.coords["step_zoom"] = steps
    ds["hess_eig_zoom"] = (("step_zoom", "eig"), eig)
    ds["hess_eig_zoom"].attrs["long_name"] = ("top Hessian eigenvalues at every step of the zoom window "
                                              "(replayed; first run)")

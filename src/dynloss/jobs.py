"""Training jobs as plain data, and running them.

A job is a request: :class:`TrainJob` (``dynloss train``: a batch of runs, optionally a whole grid
of (A, T) points, spectra, onsets) or :class:`ThresholdsJob` (``dynloss thresholds``: runs of
varied (A, T) at one eta, and the curvature at each run's first bifurcation). The planning layer
(:mod:`dynloss.plan`) builds them from the config; the command line parses its flags into the
same objects; :func:`run` executes one in this process. ``job.argv()`` is the command line of a
job (what a Snakemake rule runs) and the command line parses it back into an equal job, so both
routes train the same runs (``tests/test_plan.py`` checks it for every job of the paper plan).

This module is JAX-free at import: the engine is imported when a job runs.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence, Union

import numpy as np

from .spec import RunBatch, TrainSpec

log = logging.getLogger("dynloss")


def fmt(x: float) -> str:
    """Numbers in file names and command lines: ``1`` -> ``"1"``, ``0.075`` -> ``"0.075"``."""
    return np.format_float_positional(float(x), trim="-")


def seed_text(seeds: Sequence[int], as_range: bool = True) -> str:
    """``[0, 1, 2]`` -> ``"0-2"`` (``[4]`` -> ``"4-4"``; ``"4"`` with ``as_range=False``); a list
    that is not a contiguous range as a comma list (what ``--seeds`` parses)."""
    seeds = [int(s) for s in seeds]
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and (as_range or len(seeds) > 1):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


@dataclass(frozen=True)
class Onsets:
    """Onset detection of a job: the window and floor of ``visible``, the definitions to store."""

    window: int
    floor: float = 1e-6
    names: tuple[str, ...] = ()


def _data_argv(spec: TrainSpec) -> list[str]:
    return ["--points-per-class", str(spec.points_per_class), "--classes", str(spec.num_classes),
            "--noise", str(spec.noise), "--data-seed", str(spec.data_seed),
            "--test-seeds", ",".join(map(str, spec.test_seeds))]


def _protocol_argv(spec: TrainSpec) -> list[str]:
    """The protocol flags that differ from the thesis's defaults (the sensitivity factors)."""
    out = []
    if tuple(spec.W_std) != (1.0, 1.0):
        out += ["--w-std", ",".join(fmt(v) for v in spec.W_std)]
    if spec.b_std != 0.0:
        out += ["--b-std", fmt(spec.b_std)]
    if spec.parameterization != "standard":
        out += ["--parameterization", spec.parameterization]
    if spec.threefry_partitionable is not None:
        out += ["--threefry-partitionable", "true" if spec.threefry_partitionable else "false"]
    if spec.mse_norm != "listing":
        out += ["--mse-norm", spec.mse_norm]
    return out


@dataclass(frozen=True)
class TrainJob:
    """``dynloss train``: every seed at every (A, T) point of ``A x T`` (one point: a sweep's job;
    several: a whole-grid job), at one learning rate.

    Runs are ordered A-major, then T, then seed; a one-point job writes dims ``(seed, step)`` with
    scalar A and T, a grid job ``(A, T, seed, step)``. Either combines into the same study dataset.
    """

    spec: TrainSpec
    seeds: tuple[int, ...]
    lr: float
    A: tuple[float, ...] = (1.0,)
    T: tuple[float, ...] = (1000.0,)
    onsets: Optional[Onsets] = None
    zoom_steps: Optional[int] = None
    #: several widths (a per-study job): one program per width, written along a ``width`` dimension
    widths: tuple[int, ...] = ()
    #: write one seed as ``--seeds 4-4`` (a seed block) rather than ``--seeds 4``
    seed_range: bool = True
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    command = "train"

    @property
    def grid(self) -> bool:
        return len(self.A) * len(self.T) > 1

    def all_widths(self) -> tuple[int, ...]:
        return self.widths or (self.spec.width,)

    def runs(self) -> int:
        """Training runs of the job (over every width)."""
        return len(self.A) * len(self.T) * len(self.seeds) * len(self.all_widths())

    def batch(self) -> RunBatch:
        points = list(itertools.product(self.A, self.T))
        runs = [(a, t, s) for a, t in points for s in self.seeds]
        A, T, seeds = zip(*runs)
        if not self.grid:
            return RunBatch.make(list(seeds), self.A[0], self.T[0], self.lr)
        return RunBatch.make(list(seeds), np.asarray(A), np.asarray(T), self.lr)

    def argv(self) -> list[str]:
        """The ``dynloss train`` arguments of this job (without ``--out``, with ``--meta``)."""
        s, sp = self.spec, self.spec.spectra
        args = ["--loss", s.loss, "--width", ",".join(map(str, self.all_widths())), "--lr", fmt(self.lr),
                "--A", ",".join(fmt(a) for a in self.A), "--T", ",".join(fmt(t) for t in self.T),
                "--steps", str(s.steps), "--seeds", seed_text(self.seeds, self.seed_range), "--record-every", str(s.record_every),
                "--chunk-steps", str(s.chunk_steps), "--dtype", s.dtype]
        if sp.hess_every:
            args += ["--hess-every", str(sp.hess_every), "--hess-order", str(sp.hess_order), "--hess-k", str(sp.hess_k)]
        if sp.ntk_every:
            args += ["--ntk-every", str(sp.ntk_every)]
        if self.onsets is not None:
            args += ["--onset-window", str(self.onsets.window), "--onset-floor", str(self.onsets.floor)]
            if self.onsets.names:
                args += ["--onset", ",".join(self.onsets.names)]
        if self.zoom_steps:
            args += ["--zoom-steps", str(self.zoom_steps)]
        if sp.ntk_points:
            args += ["--ntk-points", str(sp.ntk_points)]
        if sp.density_steps:
            args += ["--density-steps", ",".join(map(str, sp.density_steps)), "--density-order",
                     str(sp.density_order), "--density-vectors", str(sp.density_vectors)]
        if not s.stop_last_period:
            args += ["--no-stop-last-period"]
        args += _protocol_argv(s) + _data_argv(s)
        return args + _meta_argv(self)

    def label(self) -> str:
        where = (f"A={fmt(self.A[0])} T={fmt(self.T[0])}" if not self.grid
                 else f"{len(self.A) * len(self.T)} (A, T) points")
        w = ",".join(map(str, self.all_widths()))
        return f"{self.spec.loss} w={w} lr={self.lr:g} {where} seeds={seed_text(self.seeds)}: "


@dataclass(frozen=True)
class ThresholdsJob:
    """``dynloss thresholds``: runs of given (A, T, seed) at one eta, with their first bifurcations."""

    spec: TrainSpec
    lr: float
    A: tuple[float, ...]
    T: tuple[float, ...]
    seeds: tuple[int, ...]
    onsets: Onsets
    run_offset: int = 0
    trace_every: int = 100
    traces_out: Optional[str] = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    command = "thresholds"

    def batch(self) -> RunBatch:
        return RunBatch.make(list(self.seeds), np.asarray(self.A), np.asarray(self.T), self.lr)

    def argv(self) -> list[str]:
        s = self.spec
        args = ["--loss", s.loss, "--width", str(s.width), "--lr", fmt(self.lr), "--steps", str(s.steps),
                "--A", ",".join(fmt(a) for a in self.A), "--T", ",".join(fmt(t) for t in self.T),
                "--seeds", ",".join(map(str, self.seeds)), "--run-offset", str(self.run_offset),
                "--hess-every", str(s.spectra.hess_every), "--hess-order", str(s.spectra.hess_order),
                "--onset-window", str(self.onsets.window), "--onset-floor", str(self.onsets.floor)]
        if self.onsets.names:
            args += ["--onset", ",".join(self.onsets.names)]
        args += ["--trace-every", str(self.trace_every), "--chunk-steps", str(s.chunk_steps),
                "--dtype", s.dtype] + _data_argv(s)
        if self.traces_out:
            args += ["--traces-out", self.traces_out]
        return args + _meta_argv(self)

    def label(self) -> str:
        return f"{self.spec.loss} w={self.spec.width} lr={self.lr:g} runs={len(self.seeds)}: "


Job = Union[TrainJob, ThresholdsJob]

#: arguments that do not determine a job's numbers (each takes one value)
NOT_HASHED = ("--out", "--meta", "--checkpoint", "--checkpoint-every")


def job_hash(command: str, args: Sequence[str]) -> str:
    """Content hash of one job: its command and every argument that determines its numbers.

    ``--out``, ``--meta``, ``--checkpoint`` and ``--checkpoint-every`` (where a result goes,
    labels, a resumable cache) are left out, so the hash changes exactly when the job's numbers
    can change. It is stored in the job file (``config`` attribute, key ``job_hash``) and compared
    before a file is reused.

    Args:
        command: the ``dynloss`` command (``train``, ``thresholds``, ``myrtle``).
        args: its arguments.

    Returns:
        16 hex digits of a SHA-256.
    """
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in NOT_HASHED:
            skip = True
            continue
        kept.append(a)
    return hashlib.sha256(json.dumps([command, *kept]).encode()).hexdigest()[:16]


def _meta_argv(job: Any) -> list[str]:
    """``--meta``: the job's labels (study, scale) and the hash of its arguments, nothing else, so
    a cosmetic config edit leaves every job's command line, and Snakemake's rerun decision,
    unchanged."""
    if not job.meta:
        return []
    args = replace(job, meta={}).argv()  # the arguments without --meta
    meta = {**job.meta, "job_hash": job_hash(job.command, args)}
    return ["--meta", json.dumps(meta, sort_keys=True)]


def with_meta(job: Job, **labels: Any) -> Job:
    """``job`` labelled (``study``, ``scale``): its ``--meta`` then carries the labels and its hash."""
    return replace(job, meta=dict(labels))


def hash_of(job: Any) -> str:
    """The :func:`job_hash` of a job object (any request with ``command`` and ``argv()``)."""
    return job_hash(job.command, job.argv())


# --------------------------------------------------------------------------------------------
# Running a job in this process (the engine is imported here, not at module import)


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
    else:
        _run_train(job, out, quiet, config)


def _file_config(job: Job, config: Optional[dict]) -> dict:
    meta = dict(job.meta)
    if meta:
        meta["job_hash"] = hash_of(replace(job, meta={}))
    return {"job": {"command": job.command, "argv": job.argv()}, **(config or {}), **meta}


def _run_train(job: TrainJob, out: str, quiet: bool, config: Optional[dict]) -> None:
    from . import netcdf

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
    from . import netcdf

    batch = job.batch()
    label = job.label()
    engine, result = _train_logged(job.spec, batch, label, quiet)
    ds = netcdf.result_to_dataset(result, _file_config(job, config))
    if job.onsets is not None:
        _onsets(engine, result, ds, job.onsets.window, job.onsets.floor, label)
        if job.onsets.names:
            _definitions(engine, batch, result.loss, ds, job.onsets.names, job.onsets.window,
                         job.onsets.floor, label)
    if job.zoom_steps:
        _zoom_hessian(engine, batch, ds, job.zoom_steps, job.spec.spectra.hess_k)
    return grid_dataset(ds, job) if job.grid else ds


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
    from . import netcdf, thresholds

    batch = job.batch()
    label = job.label()
    engine, result = _train_logged(job.spec, batch, label, quiet)
    ds = netcdf.result_to_dataset(result, _file_config(job, config))
    if "seed" in ds.dims:  # a batch that happens to be uniform: keep the run layout
        ds = ds.rename({"seed": "run"}).assign_coords(seed=("run", batch.seeds))
    # A, T, seed vary along run; lr is one value per job, so a scalar coordinate to combine over
    ds = ds.assign_coords(run=np.arange(len(batch)) + job.run_offset, lr=float(job.lr),
                          A=("run", batch.A), T=("run", batch.T))
    _onsets(engine, result, ds, job.onsets.window, job.onsets.floor, label)
    if job.onsets.names:
        _definitions(engine, batch, result.loss, ds, job.onsets.names, job.onsets.window, job.onsets.floor, label)
    if job.traces_out:
        netcdf.write_netcdf(thresholds.traces_dataset(ds), job.traces_out)
    ds = thresholds.compact_dataset(ds, job.trace_every)
    netcdf.write_netcdf(ds, out)
    log.info("%swrote %s", label, out)


def _train_logged(spec, batch, label: str, quiet: bool):
    from . import train

    log.info("%straining %d run(s) x %d steps (%s)", label, len(batch), spec.steps, spec.dtype)
    engine = train.Engine(spec)
    progress = None if quiet else train.progress_logger(len(batch), label)
    result = train.train(spec, batch, progress=progress, engine=engine)
    n_div = int(result.diverged.sum())
    log.info("%scompiled in %.1f s, trained in %.1f s (%.0f run-steps/s)%s", label,
             result.timings["compile_s"], result.timings["run_s"],
             len(batch) * spec.steps / max(result.timings["run_s"], 1e-9),
             f"; {n_div} run(s) diverged" if n_div else "")
    return engine, result


def _onsets(engine, result, ds, window: int, floor: float, label: str) -> None:
    from . import thresholds

    onsets = thresholds.onset_analysis(engine, result, window=window, floor=floor)
    thresholds.add_onsets(ds, onsets, window, floor)
    found = int((onsets["onset_step"] >= 0).sum())
    log.info("%sfirst bifurcation found in %d of %d run(s)", label, found, len(result.batch))


def _definitions(engine, batch, loss, ds, names, window: int, floor: float, label: str) -> None:
    from . import thresholds

    found = thresholds.analyse(engine, batch, loss, names, window=window, floor=floor)
    thresholds.add_definitions(ds, found, window, floor)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in names)
    log.info("%sonsets per definition of %d run(s): %s", label, len(batch), counts)


def _zoom_hessian(engine, batch, ds, zoom_steps: int, k: int) -> None:
    from . import thresholds
    from .figures.dynamics import zoom_window

    run = "seed" if "seed" in ds.dims else "run"
    lo, hi, _ = zoom_window(ds.isel({run: 0}), zoom_steps)
    steps, eig = thresholds.hessian_window(engine, batch, lo, hi, k=k)
    ds.coords["step_zoom"] = steps
    ds["hess_eig_zoom"] = (("step_zoom", "eig"), eig)
    ds["hess_eig_zoom"].attrs["long_name"] = "top Hessian eigenvalues at every step of the zoom window (replayed; first run)"

"""Onset definitions computed after training, from a thresholds job's kept traces (no retraining).

A thresholds job run with ``--traces-out`` keeps the loss of every run at every step, the spectra
cadence and the training spec; :func:`analyse_job` applies the definitions of :mod:`dynloss.thresholds.onset`
to them (replaying the runs where a definition needs the exact lambda_th or a tracked mode) and
writes the job file again with ``onset_step_<name>`` and ``lambda_th_<name>`` added.

A definition may be applied to the first ``runs`` runs of a job only (job order, not chosen by result:
``mode`` replays and tracks every run, too slow for whole jobs on a CPU); the other runs then hold
:data:`dynloss.thresholds.onset.NOT_ANALYSED` and NaN. The workflow computes one definition per file and
:func:`merge` joins them, so adding a definition computes only that one.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import Optional, Sequence


class OnsetsInputError(ValueError):
    """An input that cannot be analysed; ``field`` is ``job`` or ``traces``."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def analyse_job(job_path: str, traces_path: str, names: Sequence[str], out: str, replay_chunk: int = 500,
                runs: Optional[int] = None, burn_in: float = 0.0) -> dict:
    """Add the definitions ``names`` to the job file ``job_path`` from ``traces_path``; write ``out``.

    Args:
        job_path: the thresholds job's NetCDF.
        traces_path: its traces (``dynloss thresholds --traces-out``).
        names: onset definitions (:data:`dynloss.thresholds.onset.NAMES`).
        out: the output NetCDF (written atomically; may be ``job_path``).
        replay_chunk: steps per replay program (onsets are replayed to, not the whole run).
        runs: analyse the first ``runs`` runs only (job order); the others hold
            :data:`dynloss.thresholds.onset.NOT_ANALYSED` and NaN. ``None``: every run.
        burn_in: the loss-based definitions search from step ceil(burn_in x T) of each run (0: every step).

    Returns:
        The per-definition arrays (:func:`dynloss.thresholds.measure.analyse`).

    Raises:
        OnsetsInputError: a file that is not a thresholds job or its traces.
    """
    import numpy as np

    from .. import netcdf
    from ..engine import make_problem
    from ..spec import RunBatch, spec_from_dict
    from ..thresholds import measure, onset

    tr = netcdf.open_dataset(traces_path).load()
    if "L" not in tr or "run" not in tr.dims:
        raise OnsetsInputError("traces", f"{traces_path!r} is not a thresholds traces file (no L(run, step))")
    try:
        spec = spec_from_dict(json.loads(tr.attrs["config"])["train_spec"])
    except (KeyError, ValueError, TypeError) as exc:
        raise OnsetsInputError("traces", f"{traces_path!r} has no training spec in its config attribute "
                                         f"({exc})") from None
    if tr.sizes["step"] != spec.steps:
        raise OnsetsInputError("traces", f"{traces_path!r} has {tr.sizes['step']} steps, "
                                         f"not every step of {spec.steps}")
    job = netcdf.open_dataset(job_path).load()
    if not np.array_equal(job["run"].values, tr["run"].values):
        raise OnsetsInputError("job", f"runs of {job_path!r} differ from those of the traces {traces_path!r}")
    # a replay runs whole chunks (a fixed trip count): short chunks when the onsets come early
    problem = make_problem(dataclasses.replace(spec, chunk_steps=min(spec.chunk_steps, replay_chunk)))
    total = tr.sizes["run"]
    if runs is not None and runs < 1:
        raise OnsetsInputError("runs", f"{runs} is not an integer >= 1")
    n = total if runs is None else min(int(runs), total)
    sub = tr.isel(run=slice(0, n))
    batch = RunBatch.make(sub["seed"].values, sub["A"].values, sub["T"].values, float(sub["lr"].values))
    window, floor = int(tr.attrs.get("onset_window", 20)), float(tr.attrs.get("onset_floor", 1e-6))
    found = measure.analyse_dataset(problem, batch, sub["L"].values, sub, names, window, floor, burn_in=burn_in)
    if n < total:  # the runs not analysed: a marker of their own, not "no onset"
        found = {k: np.concatenate([v, np.full(total - n, onset.NOT_ANALYSED if k.startswith("onset_step")
                                                else np.nan, dtype=v.dtype)]) for k, v in found.items()}
    measure.add_definitions(job, found, window, floor)
    job.attrs["onset_runs"] = " ".join(f"{name}:{n}/{total}" for name in names)
    job.attrs["onset_burn_in"] = float(burn_in)
    netcdf.write_netcdf(job, out)
    counts = ", ".join(f"{name} {int((found[f'onset_step_{name}'] >= 0).sum())}" for name in names)
    logging.getLogger("dynloss").info("%s: onsets of %d of %d run(s): %s; wrote %s", job_path, n, total, counts, out)
    return found


def merge(job_path: str, parts: Sequence[str], out: str) -> None:
    """Join the per-definition files of one job (each :func:`analyse_job` output) into ``out``.

    Args:
        job_path: the thresholds job's NetCDF (the training's variables).
        parts: one file per definition, made from that job.
        out: the job dataset with every part's ``onset_step_<name>``/``lambda_th_<name>`` (written atomically).

    Raises:
        OnsetsInputError: a part made from another job (its runs or losses differ) or with no definition.
    """
    import numpy as np

    from .. import netcdf

    job = netcdf.open_dataset(job_path).load()
    names, runs, params = [], [], ""
    for path in parts:
        part = netcdf.open_dataset(path).load()
        defined = [d for d in part.attrs.get("onset_definitions", "").split(",") if d]
        if not defined:
            raise OnsetsInputError("parts", f"{path!r} holds no onset definition (not a `dynloss onsets` output)")
        if not (np.array_equal(part["run"].values, job["run"].values)
                and np.array_equal(part["onset_step"].values, job["onset_step"].values)):
            raise OnsetsInputError("parts", f"{path!r} was not made from {job_path!r} (its runs or onsets differ)")
        for var in part.data_vars:  # onset_step_<name>, lambda_th_<name> and what a definition adds
            if var not in job:  # (mode: lambda_track_mode)
                job[var] = part[var]
        names += defined
        runs.append(part.attrs.get("onset_runs", ""))
        params = part.attrs.get("onset_params", params)
    job.attrs["onset_definitions"] = ",".join(names)
    job.attrs["onset_params"] = params
    job.attrs["onset_runs"] = " ".join(r for r in runs if r)
    netcdf.write_netcdf(job, out)
    logging.getLogger("dynloss").info("%s: joined the onset definitions %s; wrote %s", job_path, ", ".join(names), out)

"""Onset definitions computed after training, from a thresholds job's kept traces (no retraining).

A thresholds job run with ``--traces-out`` keeps the loss of every run at every step, the spectra
cadence and the training spec; :func:`analyse_job` applies the definitions of :mod:`dynloss.onset`
to them (replaying the runs where a definition needs the exact lambda_th or a tracked mode) and
writes the job file again with ``onset_step_<name>`` and ``lambda_th_<name>`` added.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import Sequence


class OnsetsInputError(ValueError):
    """An input that cannot be analysed; ``field`` is ``job`` or ``traces``."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def analyse_job(job_path: str, traces_path: str, names: Sequence[str], out: str, replay_chunk: int = 500) -> dict:
    """Add the definitions ``names`` to the job file ``job_path`` from ``traces_path``; write ``out``.

    Args:
        job_path: the thresholds job's NetCDF.
        traces_path: its traces (``dynloss thresholds --traces-out``).
        names: onset definitions (:data:`dynloss.onset.NAMES`).
        out: the output NetCDF (written atomically; may be ``job_path``).
        replay_chunk: steps per replay program (onsets are replayed to, not the whole run).

    Returns:
        The per-definition arrays (:func:`dynloss.thresholds.analyse`).

    Raises:
        OnsetsInputError: a file that is not a thresholds job or its traces.
    """
    import numpy as np

    from .. import netcdf, thresholds
    from ..engine import make_problem
    from ..spec import RunBatch, spec_from_dict

    tr = netcdf.open_dataset(traces_path).load()
    if "L" not in tr or "run" not in tr.dims:
        raise OnsetsInputError("traces", f"{traces_path!r} is not a thresholds traces file (no L(run, step))")
    try:
        spec = spec_from_dict(json.loads(tr.attrs["config"])["train_spec"])
    except (KeyError, ValueError, TypeError) as exc:
        raise OnsetsInputError("traces", f"{traces_path!r} has no training spec in its config attribute ({exc})") from None
    if tr.sizes["step"] != spec.steps:
        raise OnsetsInputError("traces", f"{traces_path!r} has {tr.sizes['step']} steps, not every step of {spec.steps}")
    job = netcdf.open_dataset(job_path).load()
    if not np.array_equal(job["run"].values, tr["run"].values):
        raise OnsetsInputError("job", f"runs of {job_path!r} differ from those of the traces {traces_path!r}")
    # a replay runs whole chunks (a fixed trip count): short chunks when the onsets come early
    problem = make_problem(dataclasses.replace(spec, chunk_steps=min(spec.chunk_steps, replay_chunk)))
    batch = RunBatch.make(tr["seed"].values, tr["A"].values, tr["T"].values, float(tr["lr"].values))
    window, floor = int(tr.attrs.get("onset_window", 20)), float(tr.attrs.get("onset_floor", 1e-6))
    found = thresholds.analyse_dataset(problem, batch, tr["L"].values, tr, names, window, floor)
    thresholds.add_definitions(job, found, window, floor)
    netcdf.write_netcdf(job, out)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in names)
    logging.getLogger("dynloss").info("%s: onsets of %d run(s): %s; wrote %s", job_path, len(batch), counts, out)
    return found

"""``dynloss onsets``: re-run the onset definitions on a trained thresholds job, no retraining.

A thresholds job run with ``--traces-out`` keeps the loss of every run at every step and the
training spec; this command applies the definitions of :mod:`dynloss.onset` to those traces
(replaying the runs for ``mode`` and for the exact ``lambda_th``) and writes the job file again
with ``onset_step_<name>`` and ``lambda_th_<name>`` added (atomically; in place by default).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os


def add(sub) -> None:
    """Register the ``onsets`` subcommand on the CLI's subparsers."""
    from .args import onset_names

    p = sub.add_parser("onsets", help="apply onset definitions to a trained thresholds job "
                       "(from its --traces-out file), without retraining")
    p.add_argument("job", help="thresholds job NetCDF (dynloss thresholds --out)")
    p.add_argument("--traces", required=True, help="its full-resolution traces (dynloss thresholds --traces-out)")
    p.add_argument("--onset", type=onset_names, default=("visible", "growing", "mode"),
                   help="comma list of visible, growing, mode (default: all)")
    p.add_argument("--out", default=None, help="output NetCDF (default: the job file, rewritten)")
    p.add_argument("--replay-chunk", type=int, default=500,
                   help="steps per replay program (default 500: onsets are replayed to, not the whole run)")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    """Analyse the job's traces and write the job dataset with the per-definition variables."""
    import numpy as np

    from .. import netcdf, thresholds
    from ..engine import make_problem
    from ..spec import RunBatch, spec_from_dict
    from .args import CliError, check_out

    for flag, path in (("job", a.job), ("--traces", a.traces)):
        if not os.path.exists(path):
            raise CliError(f"{flag}: missing {path!r}")
    tr = netcdf.open_dataset(a.traces).load()
    if "L" not in tr or "run" not in tr.dims:
        raise CliError(f"--traces: {a.traces!r} is not a thresholds traces file (no L(run, step))")
    try:
        spec = spec_from_dict(json.loads(tr.attrs["config"])["train_spec"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CliError(f"--traces: {a.traces!r} has no training spec in its config attribute ({exc})") from None
    if tr.sizes["step"] != spec.steps:
        raise CliError(f"--traces: {a.traces!r} has {tr.sizes['step']} steps, not every step of {spec.steps}")
    job = netcdf.open_dataset(a.job).load()
    if not np.array_equal(job["run"].values, tr["run"].values):
        raise CliError(f"job: runs of {a.job!r} differ from those of --traces {a.traces!r}")
    out = a.out or a.job
    check_out(out)
    if a.replay_chunk < 1:
        raise CliError(f"--replay-chunk: {a.replay_chunk} is not an integer >= 1")
    # a replay runs whole chunks (a fixed trip count): short chunks when the onsets come early
    problem = make_problem(dataclasses.replace(spec, chunk_steps=min(spec.chunk_steps, a.replay_chunk)))
    batch = RunBatch.make(tr["seed"].values, tr["A"].values, tr["T"].values, float(tr["lr"].values))
    window, floor = int(tr.attrs.get("onset_window", 20)), float(tr.attrs.get("onset_floor", 1e-6))
    found = thresholds.analyse(problem, batch, tr["L"].values, a.onset, window=window, floor=floor)
    thresholds.add_definitions(job, found, window, floor)
    netcdf.write_netcdf(job, out)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in a.onset)
    logging.getLogger("dynloss").info("%s: onsets of %d run(s): %s; wrote %s", a.job, len(batch), counts, out)
    return 0

"""``dynloss onsets``: re-run the onset definitions on a trained thresholds job, no retraining.

A thresholds job run with ``--traces-out`` keeps the loss of every run at every step and the
training spec; this command applies the definitions of :mod:`dynloss.thresholds.onset` to those traces
(replaying the runs for ``mode`` and for the exact ``lambda_th``) and writes the job file again
with ``onset_step_<name>`` and ``lambda_th_<name>`` added (atomically; in place by default).
"""
from __future__ import annotations

import argparse
import os


def add(sub) -> None:
    """Register the ``onsets`` subcommand on the CLI's subparsers."""
    from .args import onset_names

    p = sub.add_parser("onsets", help="apply onset definitions to a trained thresholds job "
                       "(from its --traces-out file), without retraining")
    p.add_argument("job", help="thresholds job NetCDF (dynloss thresholds --out)")
    p.add_argument("--traces", required=True, help="its full-resolution traces (dynloss thresholds --traces-out)")
    p.add_argument("--onset", type=onset_names, default=("visible", "growing", "mode", "apparent", "ceiling"),
                   help="comma list of visible, growing, mode, apparent, ceiling (default: all)")
    p.add_argument("--out", default=None, help="output NetCDF (default: the job file, rewritten)")
    p.add_argument("--replay-chunk", type=int, default=500,
                   help="steps per replay program (default 500: onsets are replayed to, not the whole run)")
    p.add_argument("--runs", type=int, default=None,
                   help="analyse the first RUNS runs only, in job order (the others are marked not analysed, "
                   "onset_step -2); default: every run")
    p.add_argument("--burn-in", type=float, default=0.0,
                   help="the loss-based definitions search from step ceil(BURN_IN x T) of each run (0 <= BURN_IN < 1; "
                   "default 0: from the first step)")
    p.set_defaults(func=run)
    m = sub.add_parser("merge-onsets", help="join one thresholds job's per-definition onset files "
                       "(each a `dynloss onsets` output) into one")
    m.add_argument("job", help="thresholds job NetCDF (dynloss thresholds --out)")
    m.add_argument("parts", nargs="+", help="the per-definition files made from it")
    m.add_argument("--out", required=True, help="output NetCDF")
    m.set_defaults(func=run_merge)


def run(a: argparse.Namespace) -> int:
    """Analyse the job's traces and write the job dataset with the per-definition variables."""
    from ..jobs.onsets import OnsetsInputError, analyse_job
    from ..netcdf import CorruptFileError
    from .args import CliError, check_accelerator, check_out

    for flag, path in (("job", a.job), ("--traces", a.traces)):
        if not os.path.exists(path):
            raise CliError(f"{flag}: missing {path!r}")
    out = a.out or a.job
    check_out(out)
    if a.replay_chunk < 1:
        raise CliError(f"--replay-chunk: {a.replay_chunk} is not an integer >= 1")
    if a.runs is not None and a.runs < 1:
        raise CliError(f"--runs: {a.runs} is not an integer >= 1")
    if not 0 <= a.burn_in < 1:
        raise CliError(f"--burn-in: {a.burn_in} is not a number in [0, 1)")
    check_accelerator()  # the replays run on the accelerator (on a GPU, one of its own)
    try:
        analyse_job(a.job, a.traces, a.onset, out, a.replay_chunk, a.runs, burn_in=a.burn_in)
    except OnsetsInputError as exc:
        raise CliError(f"{'--traces' if exc.field == 'traces' else 'job'}: {exc}") from None
    except CorruptFileError as exc:
        raise CliError(f"{_flag_of(exc, [('job', a.job), ('--traces', a.traces)])}: {exc}") from None
    return 0


def _flag_of(exc: Exception, flags: list[tuple[str, str]]) -> str:
    """The argument whose file a :class:`dynloss.netcdf.CorruptFileError` names."""
    return next((flag for flag, path in flags if repr(path) in str(exc)), flags[0][0])


def run_merge(a: argparse.Namespace) -> int:
    """Join the per-definition onset files of one job."""
    from ..jobs.onsets import OnsetsInputError, merge
    from ..netcdf import CorruptFileError
    from .args import CliError, check_out

    for flag, path in [("job", a.job)] + [("parts", p) for p in a.parts]:
        if not os.path.exists(path):
            raise CliError(f"{flag}: missing {path!r}")
    check_out(a.out)
    try:
        merge(a.job, a.parts, a.out)
    except OnsetsInputError as exc:
        raise CliError(f"{exc.field}: {exc}") from None
    except CorruptFileError as exc:
        raise CliError(f"{_flag_of(exc, [('job', a.job)] + [('parts', p) for p in a.parts])}: {exc}") from None
    return 0

"""``dynloss job``: run one job of the workflow's plan, handed over by reference.

The training rules run ``dynloss job STUDY STEM --out PATH``: the job is looked up in the plan of
the config the workflow stored (:mod:`dynloss.plan.stored`, ``$DYNLOSS_PLAN``) and runs through
the same :func:`dynloss.jobs.run` as ``dynloss run-study``. The equivalent hand-written command
(``dynloss train ...``, ``thresholds ...``, ``myrtle ...``) is logged first.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex

from .args import CliError, check_accelerator, check_out


def add(sub) -> None:
    """Register the ``job`` subcommand on the CLI's subparsers."""
    from ..plan.stored import ENV

    p = sub.add_parser("job", help="run one job of the workflow's plan by its study and stem "
                       "(what the training rules run)")
    p.add_argument("study", help="study name")
    p.add_argument("stem", nargs="?", default=None,
                   help="job stem (the file name under runs/ without .nc); default: the study's only job")
    p.add_argument("--plan", default=None, help=f"the stored config (default: ${ENV}, set by the workflow)")
    p.add_argument("--out", required=True, help="output NetCDF: the job's planned output")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def planned(a: argparse.Namespace):
    """The planned job ``a`` names, from the stored config; every mismatch is a :class:`CliError`."""
    from ..errors import ConfigError
    from ..plan import Plan
    from ..plan.stored import ENV, load

    path = a.plan or os.environ.get(ENV)
    if not path:
        raise CliError(f"--plan: no stored config given (and ${ENV} is not set); the workflow sets it")
    try:
        cfg = load(path)
        plan = Plan(cfg)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise CliError(f"--plan: cannot read the stored config {path!r}: {exc}") from None
    if a.study not in plan.kinds:
        raise CliError(f"study: no study {a.study!r} in {path!r} (allowed: {', '.join(plan.kinds)})")
    jobs = plan.jobs(a.study)
    if a.stem is None:
        if len(jobs) != 1:
            raise CliError(f"stem: study {a.study!r} has {len(jobs)} jobs; name one")
        job = jobs[0]
    else:
        try:
            job = plan.job(a.study, a.stem)
        except KeyError as exc:
            raise CliError(f"stem: {exc.args[0]}") from None
    if os.path.abspath(a.out) != os.path.abspath(job.out):
        raise CliError(f"--out: {a.out!r} is not the planned output of job {a.study}/{job.stem} ({job.out!r})")
    return job


def run(a: argparse.Namespace) -> int:
    from .. import jobs
    from ..jobs import MyrtleJob

    job = planned(a)
    check_out(a.out)
    check_accelerator()
    logging.getLogger("dynloss").info("job %s/%s, by hand: python -m dynloss %s %s --out %s", a.study, job.stem,
                                      job.command, " ".join(shlex.quote(x) for x in job.argv()), shlex.quote(a.out))
    if isinstance(job.request, MyrtleJob):
        from .myrtle import run_request

        run_request(job.request, a.out, a.quiet)
    else:
        jobs.run(job.request, a.out, quiet=a.quiet)
    return 0

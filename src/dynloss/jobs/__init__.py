"""Training jobs as plain data, and running them.

A job is a request: :class:`TrainJob` (``dynloss train``: a batch of runs, optionally a whole grid
of (A, T) points, spectra, onsets) or :class:`ThresholdsJob` (``dynloss thresholds``: runs of
varied (A, T) at one eta, and the curvature at each run's first bifurcation). The planning layer
(:mod:`dynloss.plan`) builds them from the config; the command line parses its flags into the
same objects; :func:`run` executes one in this process (:mod:`dynloss.jobs.execute`).
``job.argv()`` is the command line of a job (what a Snakemake rule runs) and the command line
parses it back into an equal job, so both routes train the same runs (``tests/test_plan.py``
checks it for every job of the paper plan).

This module is JAX-free at import: the engine is imported when a job runs.
"""
from __future__ import annotations

from typing import Optional

from . import checks  # noqa: F401  (dynloss.jobs.checks: what a job refuses)
from .definition import (NOT_HASHED, Job, MyrtleJob, Onsets, ThresholdsJob, TrainJob, canonical_argv,  # noqa: F401
                       file_config, fmt, hash_of, job_hash, seed_text)


def run(job: Job, out: str, quiet: bool = False, config: Optional[dict] = None) -> None:
    """Run ``job`` in this process and write its NetCDF to ``out`` atomically
    (:func:`dynloss.jobs.execute.run`; the engine is imported there, not here)."""
    from .execute import run as execute

    execute(job, out, quiet=quiet, config=config)

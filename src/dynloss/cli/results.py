"""Commands on results: aggregate, fit-thresholds, figure, synthetic-cifar."""
from __future__ import annotations

import argparse
import json
import logging
import os

from .args import check_out, check_path, CliError, number, parse_meta


def add(sub) -> None:
    """Register ``aggregate``, ``fit-thresholds``, ``figure`` and ``synthetic-cifar``."""
    for register in (_add_aggregate, _add_fit, _add_figure, _add_synthetic_cifar):
        register(sub)


def _add_fit(sub) -> None:
    p = sub.add_parser("fit-thresholds", help="fit log lambda_th = a + b log eta (per width)")
    p.add_argument("input", help="combined thresholds study NetCDF")
    p.add_argument("--csv", required=True, help="output CSV of the fits")
    p.add_argument("--level", type=number(float, "--level", lambda v: 0 < v < 1, "a number in (0, 1)"), default=0.95)
    p.set_defaults(func=_run_fit)


def _run_fit(a: argparse.Namespace) -> int:
    from .. import netcdf

    if not os.path.exists(a.input):
        raise CliError(f"input: missing {a.input!r}; run its thresholds study first")
    from ..thresholds.law import write_fit_csv

    check_path("--csv", a.csv)
    try:
        ds = netcdf.open_dataset(a.input)
    except netcdf.CorruptFileError as exc:
        raise CliError(f"input: {exc}") from None
    for r in write_fit_csv(ds, a.csv, a.level):
        logging.getLogger("dynloss").info("fit %s", r)
    return 0


def _add_aggregate(sub) -> None:
    p = sub.add_parser("aggregate", help="combine job NetCDFs into one study dataset")
    p.add_argument("inputs", nargs="+", help="job NetCDF files")
    p.add_argument("--out", required=True, help="combined NetCDF (written atomically)")
    p.add_argument("--dims", default="loss,width,lr,A,T",
                   help="scalar coordinates that become dimensions (default loss,width,lr,A,T)")
    p.add_argument("--meta", default=None, help="JSON object stored in the config attribute")
    p.set_defaults(func=_run_aggregate)


def _run_aggregate(a: argparse.Namespace) -> int:
    from .. import netcdf

    missing = [p for p in a.inputs if not os.path.exists(p)]
    if missing:
        raise CliError(f"inputs: {len(missing)} file(s) missing, first {missing[0]!r}")
    folders = [p for p in a.inputs if not os.path.isfile(p)]
    if folders:
        raise CliError(f"inputs: {folders[0]!r} is not a file (allowed: job NetCDF files)")
    seen: set = set()
    for p in a.inputs:
        key = os.path.realpath(p)
        if key in seen:
            raise CliError(f"inputs: {p!r} is given twice (each job file once)")
        seen.add(key)
    check_out(a.out)
    meta = parse_meta(a.meta)
    _check_job_hashes(a.inputs, meta)
    dims = [d for d in a.dims.split(",") if d]
    try:
        ds = netcdf.combine(a.inputs, dims=dims, attrs=meta)
    except netcdf.CorruptFileError as exc:
        raise CliError(f"inputs: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:  # xarray: overlapping or unrelated jobs
        raise CliError(f"inputs: these {len(a.inputs)} files do not combine into one dataset over "
                       f"{','.join(dims)} (jobs of different studies, or two jobs of the same grid "
                       f"point?): {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    netcdf.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("combined %d job(s) into %s %s", len(a.inputs), a.out,
                                      dict(ds.sizes))
    return 0


def _check_job_hashes(inputs, meta: dict) -> None:
    """In the workflow (``$DYNLOSS_PLAN`` set, ``--meta`` naming the study), every job file of the study
    must have been written by the job the stored plan holds: a file whose stored job hash differs (a
    job trained from an edited plan, say) is refused, naming it."""
    from .. import netcdf
    from ..errors import ConfigError
    from ..plan import Plan
    from ..plan.stored import ENV, PlanError, load

    path, study = os.environ.get(ENV), meta.get("study")
    if not path or not isinstance(study, str):
        return
    try:
        plan = Plan(load(path))
        jobs = {os.path.abspath(j.out): j for j in plan.jobs(study)} if study in plan.kinds else {}
    except (PlanError, ConfigError, KeyError, TypeError) as exc:
        raise CliError(f"--meta: cannot check the job files against the stored plan ${ENV} ({exc})") from None
    for p in inputs:
        job = jobs.get(os.path.abspath(p))
        if job is None:
            continue
        stored = netcdf.stored_job_hash(p)
        if stored is not None and stored != job.hash:
            raise CliError(f"inputs: {p!r} was written by another job (job hash {stored}, the plan's {job.hash}); "
                           "delete it and rerun snakemake to train the planned job")


def _add_figure(sub) -> None:
    p = sub.add_parser("figure", help="render a figure from NetCDF data (PDF and PNG)")
    p.add_argument("kind", help="figure kind (contour, curves, dynamics, ...)")
    p.add_argument("inputs", nargs="*", help="input NetCDF files")
    p.add_argument("--pdf", required=True, help="output PDF")
    p.add_argument("--png", default=None, help="output PNG")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--options", default="{}", help="JSON object of figure options (the study config)")
    p.set_defaults(func=_run_figure)


#: figure kinds drawn from their options alone
NO_INPUT_FIGURES = ("schedule", "spiral")


def _check_figure_options(kind: str, options: dict) -> None:
    """The options a figure draws from without data (the schedule's A, T, steps)."""
    if kind != "schedule":
        return
    from .. import schedules

    for key in ("A", "T", "steps"):
        if key not in options:
            raise CliError(f"--options: a schedule figure needs key {key!r} (A, T, steps)")
    try:
        schedules.check_schedule_args(float(options["A"]), float(options["T"]))
    except (TypeError, ValueError) as exc:
        raise CliError(f"--options: {exc}") from None
    steps = options["steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise CliError(f"--options: steps must be an integer >= 1 (got {steps!r})")
    if "weights" in options and options["weights"] not in schedules.KINDS:
        raise CliError(f"--options: weights must be one of {', '.join(schedules.KINDS)} "
                       f"(got {options['weights']!r})")


def _run_figure(a: argparse.Namespace) -> int:
    from .. import netcdf
    from ..figures import renderer
    from ..figures.common import save

    try:
        render = renderer(a.kind)
    except ValueError as exc:
        raise CliError(f"kind: {exc}") from None
    missing = [p for p in a.inputs if not os.path.exists(p)]
    if missing:
        raise CliError(f"inputs: missing input file {missing[0]!r}; run its study first "
                       "(e.g. snakemake <figure target>)")
    if a.kind not in NO_INPUT_FIGURES and not a.inputs:
        raise CliError(f"inputs: a {a.kind} figure needs its study's NetCDF file(s)")
    try:
        options = json.loads(a.options)
    except json.JSONDecodeError as exc:
        raise CliError(f"--options: not valid JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise CliError(f"--options: must be a JSON object (got {type(options).__name__})")
    _check_figure_options(a.kind, options)
    for flag, path in (("--pdf", a.pdf), ("--png", a.png)):
        if path:
            check_path(flag, path)
    try:
        fig = render(a.inputs, options, a.title)
    except netcdf.CorruptFileError as exc:
        raise CliError(f"inputs: {exc}") from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise CliError(f"inputs: cannot draw a {a.kind} figure from {', '.join(a.inputs) or 'no input'} "
                       f"(the wrong kind for this data, or options missing a key?): {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    save(fig, *[p for p in (a.pdf, a.png) if p])
    logging.getLogger("dynloss").info("figure %s -> %s", a.kind, ", ".join(p for p in (a.pdf, a.png) if p))
    return 0


def _add_synthetic_cifar(sub) -> None:
    p = sub.add_parser("synthetic-cifar", help="write a small synthetic CIFAR-10-format folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--image-size", type=number(int, "--image-size", lambda v: v > 0, "an integer > 0"), default=8)
    p.add_argument("--num-train-per-batch", type=number(int, "--num-train-per-batch", lambda v: v > 0,
                                                         "an integer > 0"), default=100)
    p.add_argument("--num-test", type=number(int, "--num-test", lambda v: v > 0, "an integer > 0"), default=200)
    p.add_argument("--seed", type=number(int, "--seed", lambda v: v >= 0, "an integer >= 0"), default=0)
    p.set_defaults(func=_run_synthetic_cifar)


def _run_synthetic_cifar(a: argparse.Namespace) -> int:
    from ..data import cifar

    if os.path.exists(a.out) and not os.path.isdir(a.out):
        raise CliError(f"--out: {a.out!r} is a file (allowed: a new or existing folder)")

    cifar.write_synthetic_cifar(a.out, num_train_per_batch=a.num_train_per_batch, num_test=a.num_test,
                                image_size=a.image_size, seed=a.seed)
    logging.getLogger("dynloss").info("synthetic CIFAR-10 folder -> %s", a.out)
    return 0

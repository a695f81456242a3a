"""``dynloss train`` and ``dynloss thresholds``: training jobs, their onsets and their NetCDF."""
from __future__ import annotations

import argparse

from ..errors import SpecError
from ..fields import add_flag, parser_type
from ..jobs.definition import Onsets, ThresholdsJob, TrainJob
from ..spec import SpectraSpec, TrainSpec
from .args import (add_loss_arg, add_budget_arg, check_accelerator, add_onset_args, add_protocol_args, check_budget,
                   check_loss, check_out, CliError, default_record_every, flag_of, number, onset_names, parse_meta,
                   parse_seeds, protocol_kwargs)


#: every job parameter is described once, on its dataclass field (dynloss.fields.param: default, bounds,
#: help, flag): the flags below are made from it (tests/test_parameters.py holds the config schema's
#: defaults and bounds to it too)
TRAIN = TrainSpec(loss="dce", width=1, steps=1)


def add_data_args(p) -> None:
    """The data and execution flags of every training command (one definition: the defaults from
    :class:`dynloss.spec.TrainSpec`, the data sets' flags from their parameters, :class:`dynloss.data.Param`)."""
    from .. import data as data_sets

    add_flag(p, TrainSpec, "chunk_steps", int)
    add_flag(p, TrainSpec, "dtype")
    p.add_argument("--data", choices=data_sets.names(), default=TRAIN.data,
                   help=f"the data set (default {TRAIN.data}); its parameters are the flags below")
    seen = set()
    for ds in data_sets.DATASETS.values():
        for param in ds.params:
            if param.option in seen:
                continue
            seen.add(param.option)
            p.add_argument(param.option, type=_data_value(param), default=None, dest=_dest(param),
                           metavar=param.key.upper(),
                           help=f"{ds.name}: {param.help} (default {param.text(param.default)})")
    add_flag(p, TrainSpec, "stop_rule")


def _dest(param) -> str:
    return "data_" + param.option[2:].replace("-", "_")


def _data_value(param):
    """The argparse type of a data parameter: its value parsed and checked (:meth:`dynloss.data.Param.check`)."""
    def parse(text: str):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is empty (allowed: {param.allowed()})")
        try:
            return param.check(param.parse(text))
        except (ValueError, SpecError):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed ({param.allowed()})") from None
    return parse


def data_kwargs(a: argparse.Namespace) -> dict:
    """The :class:`dynloss.spec.TrainSpec` fields ``data`` and ``data_params`` of the data flags: every
    parameter of the chosen data set (a flag left out: its default); a flag of another data set is refused."""
    from .. import data as data_sets

    ds = data_sets.get(a.data)
    own = {_dest(p) for p in ds.params}
    other = sorted(k for k, v in vars(a).items() if k.startswith("data_") and v is not None and k not in own)
    if other:
        flag = "--" + other[0].removeprefix("data_").replace("_", "-")
        raise CliError(f"{flag}: not a parameter of data set {ds.name!r} (its flags: "
                       f"{', '.join(p.option for p in ds.params) or 'none'})")
    params = tuple((p.key, getattr(a, _dest(p))) for p in ds.params if getattr(a, _dest(p)) is not None)
    return {"data": ds.name, "data_params": params}


def add(sub) -> None:
    """Register ``train`` and ``thresholds``."""
    _add_train(sub)
    _add_thresholds(sub)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a batch of runs (vmapped over seeds) into one NetCDF",
                       description="Full-batch GD on a registered data set; seeds are vmapped in one program.")
    g = p.add_argument_group("run")
    add_loss_arg(g)
    add_flag(g, TrainSpec, "width", required=True, default=None, type=parser_type(TrainSpec, "width", int, many=True),
             help="hidden-layer width; a comma list trains each width in turn into one file")
    add_flag(g, TrainJob, "lr", float, required=True)
    add_flag(g, TrainJob, "A", float, many=True)
    add_flag(g, TrainJob, "T", float, many=True)
    add_flag(g, TrainSpec, "steps", int, required=True)
    add_flag(g, TrainJob, "seeds", required=True)
    g.add_argument("--out", required=True, help="output NetCDF path (written atomically)")
    o = p.add_argument_group("options")
    add_flag(o, TrainSpec, "record_every", int, default=None, help="record L, F, accuracy and Gamma every N steps "
             "(default: the largest divisor of --steps up to 100)")
    add_data_args(o)
    add_protocol_args(p)
    s = p.add_argument_group("spectra")
    for name in ("hess_every", "hess_order", "hess_k", "ntk_every", "ntk_points"):
        add_flag(s, SpectraSpec, name, int)
    add_flag(s, SpectraSpec, "density_steps", int, many=True)
    add_flag(s, SpectraSpec, "density_order", int)
    add_flag(s, SpectraSpec, "density_vectors", int)
    add_onset_args(p)
    add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_run_train)


def train_job(a: argparse.Namespace):
    """The :class:`dynloss.jobs.TrainJob` that ``dynloss train`` arguments describe."""
    from .. import jobs

    check_loss(a.loss)
    seeds = parse_seeds(a.seeds)
    meta = parse_meta(a.meta)
    spectra = SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order, hess_k=a.hess_k,
                          ntk_every=a.ntk_every, ntk_points=a.ntk_points,
                          density_steps=tuple(a.density_steps), density_order=a.density_order,
                          density_vectors=a.density_vectors)
    record_every = a.record_every or default_record_every(a.steps)
    spec = TrainSpec(loss=a.loss, width=a.width[0], steps=a.steps, record_every=record_every,
                     chunk_steps=a.chunk_steps, dtype=a.dtype, stop_rule=a.stop_rule, spectra=spectra,
                     **data_kwargs(a), **protocol_kwargs(a))
    if a.onset_primary and a.onset_primary not in (a.onset or ()):
        raise CliError(f"--onset-primary: {a.onset_primary!r} is not one of --onset "
                       f"({','.join(a.onset or ()) or 'none'})")
    onsets = (jobs.Onsets(a.onset_window, a.onset_floor, tuple(a.onset or ()), a.onset_primary)
              if a.onset_window else None)
    job = jobs.TrainJob(spec=spec, seeds=tuple(seeds), lr=a.lr, A=tuple(a.A), T=tuple(a.T), onsets=onsets,
                        zoom_steps=a.zoom_steps, widths=tuple(a.width) if len(a.width) > 1 else (),
                        seed_range="-" in a.seeds, meta=meta)
    return _checked(job)


def _checked(job):
    """``job`` once :func:`dynloss.jobs.checks.validate` (what the config runs on every planned
    job) accepts it; else the :class:`CliError` naming the flag."""
    from ..jobs import checks

    try:
        checks.validate(job)
    except SpecError as exc:
        raise CliError(f"--{flag_of(exc.field)}: {exc}") from None
    return job


def _run_train(a: argparse.Namespace) -> int:
    from .. import jobs

    job = train_job(a)
    check_out(a.out)
    check_accelerator()
    check_budget(a, job)
    jobs.run(job, a.out, quiet=a.quiet)
    return 0


def _add_thresholds(sub) -> None:
    p = sub.add_parser("thresholds", help="train runs of varied (A, T) at one eta and measure the "
                       "curvature threshold lambda_th at each run's first bifurcation")
    add_loss_arg(p)
    add_flag(p, TrainSpec, "width", int, required=True)
    add_flag(p, ThresholdsJob, "lr", float, required=True)
    add_flag(p, ThresholdsJob, "A", float, many=True, required=True)
    add_flag(p, ThresholdsJob, "T", float, many=True, required=True)
    add_flag(p, ThresholdsJob, "seeds", int, many=True, required=True)
    add_flag(p, ThresholdsJob, "run_offset", int)
    add_flag(p, TrainSpec, "steps", int, required=True)
    trace_every = ThresholdsJob.__dataclass_fields__["trace_every"].default
    add_flag(p, SpectraSpec, "hess_every", int, default=trace_every,
             type=number(int, "--hess-every", lambda v: v > 0, "an integer > 0"),
             help=f"Hessian top eigenvalue every N steps (default {trace_every}, the traces' stride)")
    add_flag(p, SpectraSpec, "hess_order", int)
    add_flag(p, ThresholdsJob, "trace_every", int)
    add_data_args(p)
    add_flag(p, Onsets, "window", int, help="the onset detector's window (steps)")
    add_flag(p, Onsets, "floor", float)
    p.add_argument("--out", required=True)
    add_flag(p, Onsets, "names", type=onset_names, default=None,
             help="onset definitions to store per run as onset_step_<name>, lambda_th_<name> (comma list of visible, "
             "growing, mode, apparent, ceiling; onset_step/lambda_th stay the visible ones)")
    add_flag(p, ThresholdsJob, "traces_out")
    add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the config attribute")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_run_thresholds)


def thresholds_job(a: argparse.Namespace):
    """The :class:`dynloss.jobs.ThresholdsJob` that ``dynloss thresholds`` arguments describe."""
    from .. import jobs

    check_loss(a.loss)
    meta = parse_meta(a.meta)
    spec = TrainSpec(loss=a.loss, width=a.width, steps=a.steps, record_every=1,
                     chunk_steps=a.chunk_steps, dtype=a.dtype, stop_rule=a.stop_rule, **data_kwargs(a),
                     spectra=SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order))
    job = jobs.ThresholdsJob(spec=spec, lr=a.lr, A=tuple(a.A), T=tuple(a.T), seeds=tuple(a.seeds),
                             onsets=jobs.Onsets(a.onset_window, a.onset_floor, tuple(a.onset or ())),
                             run_offset=a.run_offset, trace_every=a.trace_every, traces_out=a.traces_out,
                             meta=meta)
    return _checked(job)


def _run_thresholds(a: argparse.Namespace) -> int:
    from .. import jobs

    job = thresholds_job(a)
    check_out(a.out)
    if a.traces_out:
        check_out(a.traces_out)
    check_accelerator()
    check_budget(a, job)
    jobs.run(job, a.out, quiet=a.quiet)
    return 0

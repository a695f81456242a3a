"""``dynloss train`` and ``dynloss thresholds``: training jobs, their onsets and their NetCDF."""
from __future__ import annotations

import argparse

from ..errors import SpecError
from ..jobs.requests import Onsets, ThresholdsJob
from ..spec import DTYPES, STOP_RULES, SpectraSpec, TrainSpec
from .args import (add_loss_arg, number_list, add_budget_arg, check_accelerator, add_onset_args, add_protocol_args,
                   check_budget, check_loss, check_out, CliError, default_record_every, flag_of, float_list, int_list,
                   number, onset_names, parse_meta, parse_seeds, protocol_kwargs)


#: the defaults of every job parameter live on these dataclasses; the flags read them
#: (tests/test_parameters.py holds the config schema's defaults and bounds to them too)
TRAIN = TrainSpec(loss="dce", width=1, steps=1)
SPECTRA = SpectraSpec()
ONSETS = Onsets()


def add_data_args(p) -> None:
    """The data and execution flags of every training command (one definition: the defaults from
    :class:`dynloss.spec.TrainSpec`, the data sets' flags from their parameters, :class:`dynloss.data.Param`)."""
    from .. import data as data_sets

    p.add_argument("--chunk-steps", type=number(int, "--chunk-steps", lambda v: v > 0, "an integer > 0"),
                   default=TRAIN.chunk_steps, help="steps per compiled chunk between progress reports "
                   f"(default {TRAIN.chunk_steps}; every accepted length gives the same numbers)")
    p.add_argument("--dtype", choices=DTYPES, default=TRAIN.dtype,
                   help=f"floating point type (default {TRAIN.dtype}, as the thesis)")
    p.add_argument("--data", choices=data_sets.names(), default=TRAIN.data,
                   help=f"the data set (default {TRAIN.data}); its parameters are the flags below")
    seen = set()
    for ds in data_sets.DATASETS.values():
        for param in ds.params:
            if param.option in seen:
                continue
            seen.add(param.option)
            p.add_argument(param.option, type=_data_value(param), default=None, dest=_dest(param),
                           help=f"{ds.name}: {param.help} (default {param.text(param.default)})")
    p.add_argument("--stop-rule", choices=STOP_RULES, default=TRAIN.stop_rule,
                   help="when the oscillations stop: last_T (t >= steps - T, the default here), period (from the "
                   "start of the period holding the last step: the thesis's code, the workflow's default), never")


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
                       description="Full-batch GD on the spiral; seeds are vmapped in one program.")
    g = p.add_argument_group("run")
    add_loss_arg(g)
    g.add_argument("--width", required=True, type=number_list(int, "--width", lambda v: v > 0, "an integer > 0"),
                   help="hidden-layer width; a comma list trains each width in turn into one file")
    g.add_argument("--lr", required=True, type=number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"),
                   help="learning rate eta")
    g.add_argument("--A", type=number_list(float, "--A", lambda v: 1 <= v < float("inf"), "a number >= 1"),
                   default=(1.0,), help="amplitude A >= 1 (default 1: static); a comma list trains the grid "
                   "A x T (every seed at every point) in this one job")
    g.add_argument("--T", type=number_list(float, "--T", lambda v: 0 < v < float("inf"), "a number > 0"),
                   default=(1000.0,), help="period T in steps (default 1000); a comma list: see --A")
    g.add_argument("--steps", required=True, type=number(int, "--steps", lambda v: v > 0, "an integer > 0"),
                   help="number of GD steps")
    g.add_argument("--seeds", required=True, help="seed range: N, N-M (inclusive) or a comma list")
    g.add_argument("--out", required=True, help="output NetCDF path (written atomically)")
    o = p.add_argument_group("options")
    o.add_argument("--record-every", type=number(int, "--record-every", lambda v: v > 0, "an integer > 0"),
                   default=None, help="record L, F, accuracy and Gamma every N steps (default: the "
                   "largest divisor of --steps up to 100)")
    add_data_args(o)
    add_protocol_args(p)
    s = p.add_argument_group("spectra")
    s.add_argument("--hess-every", type=number(int, "--hess-every", lambda v: v >= 0, "an integer >= 0"),
                   default=SPECTRA.hess_every,
                   help="Hessian top eigenvalues every N steps (0: off)")
    s.add_argument("--hess-order", type=number(int, "--hess-order", lambda v: v > 0, "an integer > 0"),
                   default=SPECTRA.hess_order,
                   help=f"Lanczos order (default {SPECTRA.hess_order}: top 3 to ~1e-15 relative in float64)")
    s.add_argument("--hess-k", type=number(int, "--hess-k", lambda v: v > 0, "an integer > 0"), default=SPECTRA.hess_k)
    s.add_argument("--ntk-every", type=number(int, "--ntk-every", lambda v: v >= 0, "an integer >= 0"),
                   default=SPECTRA.ntk_every,
                   help="largest NTK eigenvalue every N steps (0: off)")
    s.add_argument("--ntk-points", type=number(int, "--ntk-points", lambda v: v > 0, "an integer > 0"),
                   default=SPECTRA.ntk_points, help="NTK on the first N training points (default: all)")
    s.add_argument("--density-steps", type=int_list("--density-steps", 0), default=SPECTRA.density_steps,
                   help="steps at which to store the Hessian eigenvalue density")
    s.add_argument("--density-order", type=number(int, "--density-order", lambda v: v > 1, "an integer > 1"),
                   default=SPECTRA.density_order,
                   help=f"Lanczos order of the density (default {SPECTRA.density_order})")
    s.add_argument("--density-vectors", type=number(int, "--density-vectors", lambda v: v > 0, "an integer > 0"),
                   default=SPECTRA.density_vectors,
                   help=f"random start vectors averaged in the density (default {SPECTRA.density_vectors})")
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
    p.add_argument("--loss", required=True, help="loss name")
    p.add_argument("--width", required=True, type=number(int, "--width", lambda v: v > 0, "an integer > 0"))
    p.add_argument("--lr", required=True, type=number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"))
    p.add_argument("--A", required=True, type=float_list("--A"), help="amplitude of each run (comma list)")
    p.add_argument("--T", required=True, type=float_list("--T"), help="period of each run (comma list)")
    p.add_argument("--seeds", required=True, type=int_list("--seeds", 0, False), help="seed of each run (comma list)")
    p.add_argument("--run-offset", type=number(int, "--run-offset", lambda v: v >= 0, "an integer >= 0"),
                   default=0, help="index of the first run in the study (for combining jobs)")
    p.add_argument("--steps", required=True, type=number(int, "--steps", lambda v: v > 0, "an integer > 0"))
    p.add_argument("--hess-every", type=number(int, "--hess-every", lambda v: v > 0, "an integer > 0"),
                   default=ThresholdsJob.trace_every, help="Hessian top eigenvalue every N steps (default "
                   f"{ThresholdsJob.trace_every}, the traces' stride)")
    p.add_argument("--hess-order", type=number(int, "--hess-order", lambda v: v > 0, "an integer > 0"),
                   default=SPECTRA.hess_order)
    p.add_argument("--trace-every", type=number(int, "--trace-every", lambda v: v > 0, "an integer > 0"),
                   default=ThresholdsJob.trace_every,
                   help=f"stride of the stored loss traces (default {ThresholdsJob.trace_every})")
    add_data_args(p)
    p.add_argument("--onset-window", type=number(int, "--onset-window", lambda v: v >= 3, "an integer >= 3"),
                   default=ONSETS.window)
    p.add_argument("--onset-floor", type=number(float, "--onset-floor", lambda v: v >= 0, "a number >= 0"),
                   default=ONSETS.floor)
    p.add_argument("--out", required=True)
    p.add_argument("--onset", type=onset_names, default=None,
                   help="onset definitions to store per run as onset_step_<name>, lambda_th_<name> "
                   "(comma list of visible, growing, mode, apparent, ceiling; "
                   "onset_step/lambda_th stay the visible ones)")
    p.add_argument("--traces-out", default=None,
                   help="also write the full-resolution loss traces here (for re-analysis without retraining)")
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

"""``dynloss train`` and ``dynloss thresholds``: training jobs, their onsets and their NetCDF."""
from __future__ import annotations

import argparse
import logging

from ..errors import SpecError
from .args import add_budget_arg, add_onset_args, add_protocol_args, check_budget, check_loss, check_out, CliError, default_record_every, flag_of, float_list, int_list, number, onset_names, parse_meta, parse_seeds, protocol_kwargs, vars_for_json


def _add_train(sub) -> None:
    from ..losses import LOSSES

    p = sub.add_parser("train", help="train a batch of runs (vmapped over seeds) into one NetCDF",
                       description="Full-batch GD on the spiral; seeds are vmapped in one program.")
    g = p.add_argument_group("run")
    g.add_argument("--loss", required=True, metavar="{" + ",".join(LOSSES) + "}",
                   help="loss name: " + "; ".join(f"{k}: {v.description}" for k, v in LOSSES.items()))
    g.add_argument("--width", required=True, type=number(int, "--width", lambda v: v > 0, "an integer > 0"),
                   help="hidden-layer width")
    g.add_argument("--lr", required=True, type=number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"),
                   help="learning rate eta")
    g.add_argument("--A", type=number(float, "--A", lambda v: 1 <= v < float("inf"), "a number >= 1"),
                   default=1.0, help="amplitude A >= 1 (default 1: static)")
    g.add_argument("--T", type=number(float, "--T", lambda v: 0 < v < float("inf"), "a number > 0"),
                   default=1000.0, help="period T in steps (default 1000)")
    g.add_argument("--steps", required=True, type=number(int, "--steps", lambda v: v > 0, "an integer > 0"),
                   help="number of GD steps")
    g.add_argument("--seeds", required=True, help="seed range: N, N-M (inclusive) or a comma list")
    g.add_argument("--out", required=True, help="output NetCDF path (written atomically)")
    o = p.add_argument_group("options")
    o.add_argument("--record-every", type=number(int, "--record-every", lambda v: v > 0, "an integer > 0"),
                   default=None, help="record L, F, accuracy and Gamma every N steps (default: the "
                   "largest divisor of --steps up to 100)")
    o.add_argument("--chunk-steps", type=number(int, "--chunk-steps", lambda v: v > 0, "an integer > 0"),
                   default=10000, help="steps per compiled chunk between progress reports")
    o.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating point type (default float64, as the thesis)")
    o.add_argument("--points-per-class", type=number(int, "--points-per-class", lambda v: v > 0, "an integer > 0"),
                   default=100)
    o.add_argument("--classes", type=number(int, "--classes", lambda v: v > 1, "an integer > 1"), default=3)
    o.add_argument("--test-seeds", type=int_list("--test-seeds", 0, False), default=(1, 2, 3, 4, 5),
                   help="noise seeds of the test spirals (default 1,2,3,4,5)")
    o.add_argument("--data-seed", type=number(int, "--data-seed", lambda v: v >= 0, "an integer >= 0"),
                   default=0, help="noise seed of the training spiral (default 0)")
    o.add_argument("--noise", type=number(float, "--noise", lambda v: 0 <= v < float("inf"), "a finite number >= 0"),
                   default=0.2, help="angular noise of the spiral (default 0.2)")
    o.add_argument("--no-stop-last-period", action="store_true",
                   help="keep oscillating in the last period (default: A = 1 there)")
    add_protocol_args(p)
    s = p.add_argument_group("spectra")
    s.add_argument("--hess-every", type=number(int, "--hess-every", lambda v: v >= 0, "an integer >= 0"), default=0,
                   help="Hessian top eigenvalues every N steps (0: off)")
    s.add_argument("--hess-order", type=number(int, "--hess-order", lambda v: v > 0, "an integer > 0"), default=20,
                   help="Lanczos order (default 20: top 3 to ~1e-15 relative in float64)")
    s.add_argument("--hess-k", type=number(int, "--hess-k", lambda v: v > 0, "an integer > 0"), default=3)
    s.add_argument("--ntk-every", type=number(int, "--ntk-every", lambda v: v >= 0, "an integer >= 0"), default=0,
                   help="largest NTK eigenvalue every N steps (0: off)")
    s.add_argument("--ntk-points", type=number(int, "--ntk-points", lambda v: v > 0, "an integer > 0"),
                   default=None, help="NTK on the first N training points (default: all)")
    s.add_argument("--density-steps", type=int_list("--density-steps", 0), default=(),
                   help="steps at which to store the Hessian eigenvalue density")
    s.add_argument("--density-order", type=number(int, "--density-order", lambda v: v > 1, "an integer > 1"),
                   default=80, help="Lanczos order of the density (default 80)")
    s.add_argument("--density-vectors", type=number(int, "--density-vectors", lambda v: v > 0, "an integer > 0"),
                   default=1, help="random start vectors averaged in the density (default 1)")
    add_onset_args(p)
    add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_run_train)


def _run_train(a: argparse.Namespace) -> int:
    from .. import netcdf
    from ..engine import Replay
    from ..spec import RunBatch, SpectraSpec, TrainSpec

    check_loss(a.loss)
    seeds = parse_seeds(a.seeds)
    meta = parse_meta(a.meta)
    spectra = SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order, hess_k=a.hess_k,
                          ntk_every=a.ntk_every, ntk_points=a.ntk_points,
                          density_steps=tuple(a.density_steps), density_order=a.density_order,
                          density_vectors=a.density_vectors)
    record_every = a.record_every or default_record_every(a.steps)
    spec = TrainSpec(loss=a.loss, width=a.width, steps=a.steps, record_every=record_every,
                     chunk_steps=a.chunk_steps, dtype=a.dtype, points_per_class=a.points_per_class,
                     num_classes=a.classes, test_seeds=tuple(a.test_seeds),
                     data_seed=a.data_seed, noise=a.noise,
                     stop_last_period=not a.no_stop_last_period, spectra=spectra,
                     **protocol_kwargs(a))
    try:
        spec.validate()
        batch = RunBatch.make(seeds, a.A, a.T, a.lr)
    except SpecError as exc:
        raise CliError(f"--{flag_of(exc.field)}: {exc}") from None
    check_out(a.out)
    check_budget(a, spec, len(batch))

    if a.onset_window and record_every != 1:
        raise CliError("--onset-window: needs --record-every 1 (the loss at every step)")

    label = f"{a.loss} w={a.width} lr={a.lr:g} A={a.A:g} T={a.T:g} seeds={a.seeds}: "
    problem, result = _train_logged(spec, batch, label, a.quiet)
    replay = Replay(problem)
    ds = netcdf.result_to_dataset(result, {"cli": vars_for_json(a), **meta})
    if a.onset_window:
        _onsets(problem, replay, result, ds, a.onset_window, a.onset_floor, label)
    if a.onset_window and a.onset:
        _definitions(problem, replay, batch, result.loss, ds, a.onset, a.onset_window, a.onset_floor, label)
    if a.zoom_steps:
        _zoom_hessian(problem, replay, batch, ds, a.zoom_steps, a.hess_k)
    netcdf.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("%swrote %s", label, a.out)
    return 0


def _train_logged(spec, batch, label: str, quiet: bool):
    from .. import engine
    from ..progress import progress_logger

    log = logging.getLogger("dynloss")
    log.info("%straining %d run(s) x %d steps (%s)", label, len(batch), spec.steps, spec.dtype)
    problem = engine.make_problem(spec)
    progress = None if quiet else progress_logger(len(batch), label)
    result = engine.train(spec, batch, progress=progress)
    n_div = int(result.diverged.sum())
    log.info("%scompiled in %.1f s, trained in %.1f s (%.0f run-steps/s)%s", label,
             result.timings["compile_s"], result.timings["run_s"],
             len(batch) * spec.steps / max(result.timings["run_s"], 1e-9),
             f"; {n_div} run(s) diverged" if n_div else "")
    return problem, result


def _onsets(problem, replay, result, ds, window: int, floor: float, label: str) -> None:
    from .. import thresholds

    onsets = thresholds.onset_analysis(problem, result, window=window, floor=floor, replay=replay)
    thresholds.add_onsets(ds, onsets, window, floor)
    found = int((onsets["onset_step"] >= 0).sum())
    logging.getLogger("dynloss").info("%sfirst bifurcation found in %d of %d run(s)", label, found,
                                      len(result.batch))


def _definitions(problem, replay, batch, loss, ds, names, window: int, floor: float, label: str) -> None:
    from .. import thresholds

    found = thresholds.analyse(problem, batch, loss, names, window=window, floor=floor, replay=replay)
    thresholds.add_definitions(ds, found, window, floor)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in names)
    logging.getLogger("dynloss").info("%sonsets per definition of %d run(s): %s", label, len(batch), counts)


def _zoom_hessian(problem, replay, batch, ds, zoom_steps: int, k: int) -> None:
    from .. import thresholds
    from ..figures.dynamics import zoom_window

    run = "seed" if "seed" in ds.dims else "run"
    lo, hi, _ = zoom_window(ds.isel({run: 0}), zoom_steps)
    steps, eig = thresholds.hessian_window(problem, batch, lo, hi, k=k, replay=replay)
    ds.coords["step_zoom"] = steps
    ds["hess_eig_zoom"] = (("step_zoom", "eig"), eig)
    ds["hess_eig_zoom"].attrs["long_name"] = "top Hessian eigenvalues at every step of the zoom window (replayed; first run)"


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
    p.add_argument("--hess-every", type=number(int, "--hess-every", lambda v: v > 0, "an integer > 0"), default=100)
    p.add_argument("--hess-order", type=number(int, "--hess-order", lambda v: v > 0, "an integer > 0"), default=20)
    p.add_argument("--trace-every", type=number(int, "--trace-every", lambda v: v > 0, "an integer > 0"),
                   default=100, help="stride of the stored loss traces (default 100)")
    p.add_argument("--chunk-steps", type=number(int, "--chunk-steps", lambda v: v > 0, "an integer > 0"), default=10000)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--points-per-class", type=number(int, "--points-per-class", lambda v: v > 0, "an integer > 0"), default=100)
    p.add_argument("--classes", type=number(int, "--classes", lambda v: v > 1, "an integer > 1"), default=3)
    p.add_argument("--noise", type=number(float, "--noise", lambda v: 0 <= v < float("inf"), "a finite number >= 0"), default=0.2)
    p.add_argument("--data-seed", type=number(int, "--data-seed", lambda v: v >= 0, "an integer >= 0"), default=0)
    p.add_argument("--test-seeds", type=int_list("--test-seeds", 0, False), default=(1, 2, 3, 4, 5))
    p.add_argument("--onset-window", type=number(int, "--onset-window", lambda v: v >= 3, "an integer >= 3"), default=20)
    p.add_argument("--onset-floor", type=number(float, "--onset-floor", lambda v: v >= 0, "a number >= 0"), default=1e-6)
    p.add_argument("--out", required=True)
    p.add_argument("--onset", type=onset_names, default=None,
                   help="onset definitions to store per run as onset_step_<name>, lambda_th_<name> "
                   "(comma list of visible, growing, mode; onset_step/lambda_th stay the visible ones)")
    p.add_argument("--traces-out", default=None,
                   help="also write the full-resolution loss traces here (for re-analysis without retraining)")
    add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the config attribute")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_run_thresholds)


def _run_thresholds(a: argparse.Namespace) -> int:
    import numpy as np

    from .. import netcdf, thresholds
    from ..engine import Replay
    from ..spec import RunBatch, SpectraSpec, TrainSpec

    check_loss(a.loss)
    if not (len(a.A) == len(a.T) == len(a.seeds)) or not a.A:
        raise CliError(f"--A, --T, --seeds: need one value per run, the same number of each "
                       f"(got {len(a.A)}, {len(a.T)}, {len(a.seeds)})")
    if a.steps % a.trace_every:
        raise CliError(f"--trace-every: {a.trace_every} does not divide --steps {a.steps}")
    meta = parse_meta(a.meta)
    spec = TrainSpec(loss=a.loss, width=a.width, steps=a.steps, record_every=1,
                     chunk_steps=a.chunk_steps, dtype=a.dtype, points_per_class=a.points_per_class,
                     num_classes=a.classes, noise=a.noise, data_seed=a.data_seed,
                     test_seeds=tuple(a.test_seeds),
                     spectra=SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order))
    try:
        spec.validate()
        batch = RunBatch.make(a.seeds, np.asarray(a.A), np.asarray(a.T), a.lr)
    except SpecError as exc:
        raise CliError(f"--{flag_of(exc.field)}: {exc}") from None
    check_out(a.out)
    if a.traces_out:
        check_out(a.traces_out)
    check_budget(a, spec, len(batch))
    label = f"{a.loss} w={a.width} lr={a.lr:g} runs={len(batch)}: "
    problem, result = _train_logged(spec, batch, label, a.quiet)
    replay = Replay(problem)
    ds = netcdf.result_to_dataset(result, {"cli": vars_for_json(a), **meta})
    if "seed" in ds.dims:  # a batch that happens to be uniform: keep the run layout
        ds = ds.rename({"seed": "run"}).assign_coords(seed=("run", batch.seeds))
    # A, T, seed vary along run; lr is one value per job, so a scalar coordinate to combine over
    ds = ds.assign_coords(run=np.arange(len(batch)) + a.run_offset, lr=float(a.lr),
                          A=("run", batch.A), T=("run", batch.T))
    _onsets(problem, replay, result, ds, a.onset_window, a.onset_floor, label)
    if a.onset:
        _definitions(problem, replay, batch, result.loss, ds, a.onset, a.onset_window, a.onset_floor, label)
    if a.traces_out:
        netcdf.write_netcdf(thresholds.traces_dataset(ds), a.traces_out)
    ds = thresholds.compact_dataset(ds, a.trace_every)
    netcdf.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("%swrote %s", label, a.out)
    return 0

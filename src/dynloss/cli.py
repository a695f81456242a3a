"""Command line: ``python -m dynloss <command> ...`` (also installed as ``dynloss``).

Commands:
  train      train a vmapped batch of runs and write one NetCDF
  thresholds runs of varied (A, T) at one eta: lambda_th at each first bifurcation
  myrtle     Myrtle5 on CIFAR-10 with a dynamical loss (SGD, Nesterov; checkpoints, resume)
  synthetic-cifar  a small synthetic folder in the CIFAR-10 python format
  run-study  one study end to end in this process, without Snakemake
  aggregate  combine job NetCDFs into one labelled study dataset
  fit-thresholds  the power law lambda_th = c eta^b with confidence intervals
  figure     render a figure (PDF and PNG) from NetCDF data
  reproduction  the thesis's claims beside the measured values, with verdicts (CSV, Markdown, HTML)
  publish    copy the table, fit tables and figure PNGs into docs/reproduction with a stamped index
  sensitivity-combine, infinite, sensitivity-report  the sensitivity study (dynloss.sensitivity_cli)

Every bad input ends with one line on stderr naming the argument and what is allowed, and exit
status 2; nothing is written in that case.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Callable, Sequence

LOG_FORMAT = "[dynloss %(asctime)s] %(message)s"
#: most seeds one job may train (a typo like 0-99999999999 is refused, not allocated)
MAX_SEEDS = 100_000


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise CliError(message)


def parse_seeds(text: str) -> list[int]:
    """``"0-2"`` -> [0, 1, 2]; ``"5"`` -> [5]; ``"0,3,7"`` or ``"0-1,5"`` -> the listed seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise CliError(f"--seeds: malformed seed range {text!r} "
                           "(use N, N-M with N <= M, or a comma-separated list of those)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise CliError(f"--seeds: malformed seed range {text!r} (N-M needs N <= M)")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS or hi >= 2 ** 31:
            raise CliError(f"--seeds: {text!r} names more than {MAX_SEEDS} seeds or a seed >= 2^31 "
                           f"(allowed: at most {MAX_SEEDS} seeds in 0..2147483647 per job)")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise CliError(f"--seeds: seed range {text!r} repeats a seed")
    return seeds


def check_loss(name: str) -> None:
    from .losses import LOSSES

    if name not in LOSSES:
        raise CliError(f"--loss: unknown loss {name!r} (allowed: {', '.join(LOSSES)})")


def parse_meta(text: str | None) -> dict:
    """``--meta``: a JSON object (or nothing)."""
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--meta: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise CliError("--meta: must be a JSON object")
    return meta


def check_out(path: str) -> None:
    from . import io

    try:
        io.check_writable(path)
    except OSError as exc:
        raise CliError(f"--out: cannot write {path!r}: {exc}") from None


def _number(kind: Callable, name: str, check: Callable[[float], bool], allowed: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number ({allowed})") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed ({allowed})")
        return value
    return parse


def _int_list(name: str, minimum: int | None = None, allow_empty: bool = True):
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
        allowed = "a comma-separated list of integers" + (f" >= {minimum}" if minimum is not None else "")
        if not values and not allow_empty:
            raise argparse.ArgumentTypeError(f"{text!r} is empty (allowed: {allowed})")
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed ({allowed})")
        return values
    return parse


def _add_train(sub) -> None:
    from .losses import LOSSES

    p = sub.add_parser("train", help="train a batch of runs (vmapped over seeds) into one NetCDF",
                       description="Full-batch GD on the spiral; seeds are vmapped in one program.")
    g = p.add_argument_group("run")
    g.add_argument("--loss", required=True, metavar="{" + ",".join(LOSSES) + "}",
                   help="loss name: " + "; ".join(f"{k}: {v.description}" for k, v in LOSSES.items()))
    g.add_argument("--width", required=True, type=_number(int, "--width", lambda v: v > 0, "an integer > 0"),
                   help="hidden-layer width")
    g.add_argument("--lr", required=True, type=_number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"),
                   help="learning rate eta")
    g.add_argument("--A", type=_number(float, "--A", lambda v: 1 <= v < float("inf"), "a number >= 1"),
                   default=1.0, help="amplitude A >= 1 (default 1: static)")
    g.add_argument("--T", type=_number(float, "--T", lambda v: 0 < v < float("inf"), "a number > 0"),
                   default=1000.0, help="period T in steps (default 1000)")
    g.add_argument("--steps", required=True, type=_number(int, "--steps", lambda v: v > 0, "an integer > 0"),
                   help="number of GD steps")
    g.add_argument("--seeds", required=True, help="seed range: N, N-M (inclusive) or a comma list")
    g.add_argument("--out", required=True, help="output NetCDF path (written atomically)")
    o = p.add_argument_group("options")
    o.add_argument("--record-every", type=_number(int, "--record-every", lambda v: v > 0, "an integer > 0"),
                   default=None, help="record L, F, accuracy and Gamma every N steps (default: the "
                   "largest divisor of --steps up to 100)")
    o.add_argument("--chunk-steps", type=_number(int, "--chunk-steps", lambda v: v > 0, "an integer > 0"),
                   default=10000, help="steps per compiled chunk between progress reports")
    o.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating point type (default float64, as the thesis)")
    o.add_argument("--points-per-class", type=_number(int, "--points-per-class", lambda v: v > 0, "an integer > 0"),
                   default=100)
    o.add_argument("--classes", type=_number(int, "--classes", lambda v: v > 1, "an integer > 1"), default=3)
    o.add_argument("--test-seeds", type=_int_list("--test-seeds", 0, False), default=(1, 2, 3, 4, 5),
                   help="noise seeds of the test spirals (default 1,2,3,4,5)")
    o.add_argument("--data-seed", type=_number(int, "--data-seed", lambda v: v >= 0, "an integer >= 0"),
                   default=0, help="noise seed of the training spiral (default 0)")
    o.add_argument("--noise", type=_number(float, "--noise", lambda v: 0 <= v < float("inf"), "a finite number >= 0"),
                   default=0.2, help="angular noise of the spiral (default 0.2)")
    o.add_argument("--no-stop-last-period", action="store_true",
                   help="keep oscillating in the last period (default: A = 1 there)")
    _add_protocol_args(p)
    s = p.add_argument_group("spectra")
    s.add_argument("--hess-every", type=_number(int, "--hess-every", lambda v: v >= 0, "an integer >= 0"), default=0,
                   help="Hessian top eigenvalues every N steps (0: off)")
    s.add_argument("--hess-order", type=_number(int, "--hess-order", lambda v: v > 0, "an integer > 0"), default=20,
                   help="Lanczos order (default 20: top 3 to ~1e-15 relative in float64)")
    s.add_argument("--hess-k", type=_number(int, "--hess-k", lambda v: v > 0, "an integer > 0"), default=3)
    s.add_argument("--ntk-every", type=_number(int, "--ntk-every", lambda v: v >= 0, "an integer >= 0"), default=0,
                   help="largest NTK eigenvalue every N steps (0: off)")
    s.add_argument("--ntk-points", type=_number(int, "--ntk-points", lambda v: v > 0, "an integer > 0"),
                   default=None, help="NTK on the first N training points (default: all)")
    s.add_argument("--density-steps", type=_int_list("--density-steps", 0), default=(),
                   help="steps at which to store the Hessian eigenvalue density")
    s.add_argument("--density-order", type=_number(int, "--density-order", lambda v: v > 1, "an integer > 1"),
                   default=80, help="Lanczos order of the density (default 80)")
    s.add_argument("--density-vectors", type=_number(int, "--density-vectors", lambda v: v > 0, "an integer > 0"),
                   default=1, help="random start vectors averaged in the density (default 1)")
    _add_onset_args(p)
    _add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_run_train)


def _add_protocol_args(p) -> None:
    from .losses import MSE_NORMS
    from .models import PARAMETERIZATIONS

    g = p.add_argument_group("protocol (the sensitivity study's factors; defaults: the thesis's)")
    g.add_argument("--w-std", type=_float_list("--w-std"), default=(1.0, 1.0),
                   help="weight scale W_std of each layer, W1_std,W2_std (default 1,1)")
    g.add_argument("--b-std", type=_number(float, "--b-std", lambda v: 0 <= v < float("inf"), "a number >= 0"),
                   default=0.0, help="bias scale b_std (default 0: zero-initialised trainable bias)")
    g.add_argument("--parameterization", choices=PARAMETERIZATIONS, default="standard",
                   help="as neural_tangents.stax.Dense defines it (default standard)")
    g.add_argument("--threefry-partitionable", choices=("default", "true", "false"), default="default",
                   help="JAX's jax_threefry_partitionable flag for this job (default: this JAX's default)")
    g.add_argument("--mse-norm", choices=MSE_NORMS, default="listing",
                   help="MSE normalisation: listing (1/P) sum_jk (default, the thesis code), mean "
                   "(1/(P C)) sum_jk, half (1/(2P)) sum_jk (eq. 3.11)")


def _protocol_kwargs(a: argparse.Namespace) -> dict:
    """TrainSpec fields of the protocol flags (see :func:`_add_protocol_args`)."""
    if len(a.w_std) != 2:
        raise CliError(f"--w-std: give two numbers W1_std,W2_std (got {','.join(map(str, a.w_std))!r})")
    return {"W_std": tuple(a.w_std), "b_std": a.b_std, "parameterization": a.parameterization,
            "threefry_partitionable": {"default": None, "true": True, "false": False}[a.threefry_partitionable],
            "mse_norm": a.mse_norm}


def _add_budget_arg(p) -> None:
    p.add_argument("--max-memory-gb", type=_number(float, "--max-memory-gb", lambda v: 0 < v < float("inf"),
                                                   "a number > 0"), default=None,
                   help="refuse the job, before compiling, if its estimated memory exceeds this many GB "
                   "(default: $DYNLOSS_MAX_MEMORY_GB, else 8)")


def _check_budget(a: argparse.Namespace, spec, runs: int) -> None:
    """Refuse a job whose estimated memory exceeds the budget (issue 12 item 12)."""
    import jax

    from . import budget

    try:
        limit = a.max_memory_gb if a.max_memory_gb is not None else budget.default_budget_gb()
        mode = spec.batch if spec.batch != "auto" else ("map" if jax.default_backend() == "cpu" else "vmap")
        budget.check(spec, runs, limit, mode)
    except budget.BudgetError as exc:
        raise CliError(f"--max-memory-gb: {exc}") from None


def _add_onset_args(p) -> None:
    g = p.add_argument_group("bifurcation onset (needs --record-every 1)")
    g.add_argument("--onset-window", type=_number(int, "--onset-window", lambda v: v >= 3, "an integer >= 3"),
                   default=None, help="detect the first bifurcation with this window (steps) and store "
                   "onset_step and the exact lambda_th")
    g.add_argument("--onset-floor", type=_number(float, "--onset-floor", lambda v: v >= 0, "a number >= 0"),
                   default=1e-6, help="relative amplitude floor of the onset detector (default 1e-6)")
    g.add_argument("--onset", type=_onset_names, default=None,
                   help="also store these onset definitions (comma list of visible, growing, mode)")
    g.add_argument("--zoom-steps", type=_number(int, "--zoom-steps", lambda v: v >= 10, "an integer >= 10"),
                   default=None, help="store the top Hessian eigenvalues at every step of the zoom window "
                   "(this many steps around the first onset) as hess_eig_zoom, from a replay")


def _run_train(a: argparse.Namespace) -> int:
    from . import io, train

    check_loss(a.loss)
    seeds = parse_seeds(a.seeds)
    meta = parse_meta(a.meta)
    spectra = train.SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order, hess_k=a.hess_k,
                                ntk_every=a.ntk_every, ntk_points=a.ntk_points,
                                density_steps=tuple(a.density_steps), density_order=a.density_order,
                                density_vectors=a.density_vectors)
    record_every = a.record_every or default_record_every(a.steps)
    spec = train.TrainSpec(loss=a.loss, width=a.width, steps=a.steps, record_every=record_every,
                           chunk_steps=a.chunk_steps, dtype=a.dtype, points_per_class=a.points_per_class,
                           num_classes=a.classes, test_seeds=tuple(a.test_seeds),
                           data_seed=a.data_seed, noise=a.noise,
                           stop_last_period=not a.no_stop_last_period, spectra=spectra,
                           **_protocol_kwargs(a))
    try:
        spec.validate()
        batch = train.RunBatch.make(seeds, a.A, a.T, a.lr)
    except ValueError as exc:
        raise CliError(f"--{_flag_of(str(exc))}: {exc}") from None
    check_out(a.out)
    _check_budget(a, spec, len(batch))

    if a.onset_window and record_every != 1:
        raise CliError("--onset-window: needs --record-every 1 (the loss at every step)")

    label = f"{a.loss} w={a.width} lr={a.lr:g} A={a.A:g} T={a.T:g} seeds={a.seeds}: "
    engine, result = _train_logged(spec, batch, label, a.quiet)
    ds = io.result_to_dataset(result, {"cli": vars_for_json(a), **meta})
    if a.onset_window:
        _onsets(engine, result, ds, a.onset_window, a.onset_floor, label)
    if a.onset_window and a.onset:
        _definitions(engine, batch, result.loss, ds, a.onset, a.onset_window, a.onset_floor, label)
    if a.zoom_steps:
        _zoom_hessian(engine, batch, ds, a.zoom_steps, a.hess_k)
    io.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("%swrote %s", label, a.out)
    return 0


def _train_logged(spec, batch, label: str, quiet: bool):
    from . import train

    log = logging.getLogger("dynloss")
    log.info("%straining %d run(s) x %d steps (%s)", label, len(batch), spec.steps, spec.dtype)
    engine = train.Engine(spec)
    progress = None if quiet else train.progress_logger(len(batch), label)
    result = train.train(spec, batch, progress=progress, engine=engine)
    n_div = int(result.diverged.sum())
    log.info("%scompiled in %.1f s, trained in %.1f s (%.0f run-steps/s)%s", label,
             result.timings["compile_s"], result.timings["run_s"],
             len(batch) * spec.steps / max(result.timings["run_s"], 1e-9),
             f"; {n_div} run(s) diverged" if n_div else "")
    return engine, result


def _onsets(engine, result, ds, window: int, floor: float, label: str) -> None:
    from . import thresholds

    onsets = thresholds.onset_analysis(engine, result, window=window, floor=floor)
    thresholds.add_onsets(ds, onsets, window, floor)
    found = int((onsets["onset_step"] >= 0).sum())
    logging.getLogger("dynloss").info("%sfirst bifurcation found in %d of %d run(s)", label, found,
                                      len(result.batch))


def _onset_names(text: str) -> tuple[str, ...]:
    from . import onset

    try:
        return onset.check_names([v.strip() for v in text.split(",") if v.strip()], "--onset")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def _definitions(engine, batch, loss, ds, names, window: int, floor: float, label: str) -> None:
    from . import thresholds

    found = thresholds.analyse(engine, batch, loss, names, window=window, floor=floor)
    thresholds.add_definitions(ds, found, window, floor)
    counts = ", ".join(f"{n} {int((found[f'onset_step_{n}'] >= 0).sum())}" for n in names)
    logging.getLogger("dynloss").info("%sonsets per definition of %d run(s): %s", label, len(batch), counts)


def _zoom_hessian(engine, batch, ds, zoom_steps: int, k: int) -> None:
    from . import thresholds
    from .figures.dynamics import zoom_window

    run = "seed" if "seed" in ds.dims else "run"
    lo, hi, _ = zoom_window(ds.isel({run: 0}), zoom_steps)
    steps, eig = thresholds.hessian_window(engine, batch, lo, hi, k=k)
    ds.coords["step_zoom"] = steps
    ds["hess_eig_zoom"] = (("step_zoom", "eig"), eig)
    ds["hess_eig_zoom"].attrs["long_name"] = "top Hessian eigenvalues at every step of the zoom window (replayed; first run)"


def default_record_every(steps: int, at_most: int = 100) -> int:
    """The largest divisor of ``steps`` that is at most ``at_most``."""
    return next(d for d in range(min(at_most, steps), 0, -1) if steps % d == 0)


def _flag_of(message: str) -> str:
    """Map a validation message that starts with a field name to its CLI flag."""
    field = re.match(r"[A-Za-z_]+", message)
    field = field.group(0) if field else "input"
    # messages about a quantity that is not itself a flag name the flag that sets it
    flags = {"num_classes": "classes", "density": "density_steps", "cadences": "hess_every",
             "seeds": "seeds", "W_std": "w_std"}
    return flags.get(field, field).replace("_", "-")


def vars_for_json(a: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(a).items() if k != "func"}


def _float_list(name: str):
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    return parse


def _add_thresholds(sub) -> None:
    p = sub.add_parser("thresholds", help="train runs of varied (A, T) at one eta and measure the "
                       "curvature threshold lambda_th at each run's first bifurcation")
    p.add_argument("--loss", required=True, help="loss name")
    p.add_argument("--width", required=True, type=_number(int, "--width", lambda v: v > 0, "an integer > 0"))
    p.add_argument("--lr", required=True, type=_number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"))
    p.add_argument("--A", required=True, type=_float_list("--A"), help="amplitude of each run (comma list)")
    p.add_argument("--T", required=True, type=_float_list("--T"), help="period of each run (comma list)")
    p.add_argument("--seeds", required=True, type=_int_list("--seeds", 0, False), help="seed of each run (comma list)")
    p.add_argument("--run-offset", type=_number(int, "--run-offset", lambda v: v >= 0, "an integer >= 0"),
                   default=0, help="index of the first run in the study (for combining jobs)")
    p.add_argument("--steps", required=True, type=_number(int, "--steps", lambda v: v > 0, "an integer > 0"))
    p.add_argument("--hess-every", type=_number(int, "--hess-every", lambda v: v > 0, "an integer > 0"), default=100)
    p.add_argument("--hess-order", type=_number(int, "--hess-order", lambda v: v > 0, "an integer > 0"), default=20)
    p.add_argument("--trace-every", type=_number(int, "--trace-every", lambda v: v > 0, "an integer > 0"),
                   default=100, help="stride of the stored loss traces (default 100)")
    p.add_argument("--chunk-steps", type=_number(int, "--chunk-steps", lambda v: v > 0, "an integer > 0"), default=10000)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--points-per-class", type=_number(int, "--points-per-class", lambda v: v > 0, "an integer > 0"), default=100)
    p.add_argument("--classes", type=_number(int, "--classes", lambda v: v > 1, "an integer > 1"), default=3)
    p.add_argument("--noise", type=_number(float, "--noise", lambda v: 0 <= v < float("inf"), "a finite number >= 0"), default=0.2)
    p.add_argument("--data-seed", type=_number(int, "--data-seed", lambda v: v >= 0, "an integer >= 0"), default=0)
    p.add_argument("--test-seeds", type=_int_list("--test-seeds", 0, False), default=(1, 2, 3, 4, 5))
    p.add_argument("--onset-window", type=_number(int, "--onset-window", lambda v: v >= 3, "an integer >= 3"), default=20)
    p.add_argument("--onset-floor", type=_number(float, "--onset-floor", lambda v: v >= 0, "a number >= 0"), default=1e-6)
    p.add_argument("--out", required=True)
    p.add_argument("--onset", type=_onset_names, default=None,
                   help="onset definitions to store per run as onset_step_<name>, lambda_th_<name> "
                   "(comma list of visible, growing, mode; onset_step/lambda_th stay the visible ones)")
    p.add_argument("--traces-out", default=None,
                   help="also write the full-resolution loss traces here (for re-analysis without retraining)")
    _add_budget_arg(p)
    p.add_argument("--meta", default=None, help="JSON object stored in the config attribute")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_run_thresholds)


def _run_thresholds(a: argparse.Namespace) -> int:
    import numpy as np

    from . import io, thresholds, train

    check_loss(a.loss)
    if not (len(a.A) == len(a.T) == len(a.seeds)) or not a.A:
        raise CliError(f"--A, --T, --seeds: need one value per run, the same number of each "
                       f"(got {len(a.A)}, {len(a.T)}, {len(a.seeds)})")
    if a.steps % a.trace_every:
        raise CliError(f"--trace-every: {a.trace_every} does not divide --steps {a.steps}")
    meta = parse_meta(a.meta)
    spec = train.TrainSpec(loss=a.loss, width=a.width, steps=a.steps, record_every=1,
                           chunk_steps=a.chunk_steps, dtype=a.dtype, points_per_class=a.points_per_class,
                           num_classes=a.classes, noise=a.noise, data_seed=a.data_seed,
                           test_seeds=tuple(a.test_seeds),
                           spectra=train.SpectraSpec(hess_every=a.hess_every, hess_order=a.hess_order))
    try:
        spec.validate()
        batch = train.RunBatch.make(a.seeds, np.asarray(a.A), np.asarray(a.T), a.lr)
    except ValueError as exc:
        raise CliError(f"--{_flag_of(str(exc))}: {exc}") from None
    check_out(a.out)
    if a.traces_out:
        check_out(a.traces_out)
    _check_budget(a, spec, len(batch))
    label = f"{a.loss} w={a.width} lr={a.lr:g} runs={len(batch)}: "
    engine, result = _train_logged(spec, batch, label, a.quiet)
    ds = io.result_to_dataset(result, {"cli": vars_for_json(a), **meta})
    if "seed" in ds.dims:  # a batch that happens to be uniform: keep the run layout
        ds = ds.rename({"seed": "run"}).assign_coords(seed=("run", batch.seeds))
    # A, T, seed vary along run; lr is one value per job, so a scalar coordinate to combine over
    ds = ds.assign_coords(run=np.arange(len(batch)) + a.run_offset, lr=float(a.lr),
                          A=("run", batch.A), T=("run", batch.T))
    _onsets(engine, result, ds, a.onset_window, a.onset_floor, label)
    if a.onset:
        _definitions(engine, batch, result.loss, ds, a.onset, a.onset_window, a.onset_floor, label)
    if a.traces_out:
        io.write_netcdf(thresholds.traces_dataset(ds), a.traces_out)
    ds = thresholds.compact_dataset(ds, a.trace_every)
    io.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("%swrote %s", label, a.out)
    return 0


def _add_fit(sub) -> None:
    p = sub.add_parser("fit-thresholds", help="fit log lambda_th = a + b log eta (per width)")
    p.add_argument("input", help="combined thresholds study NetCDF")
    p.add_argument("--csv", required=True, help="output CSV of the fits")
    p.add_argument("--level", type=_number(float, "--level", lambda v: 0 < v < 1, "a number in (0, 1)"), default=0.95)
    p.set_defaults(func=_run_fit)


def _run_fit(a: argparse.Namespace) -> int:
    import csv
    import io as _io

    from . import io, thresholds

    if not os.path.exists(a.input):
        raise CliError(f"input: missing {a.input!r}; run its thresholds study first")
    rows = thresholds.fit(io.open_dataset(a.input), a.level)
    cols = sorted({k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    io.write_text(buf.getvalue(), a.csv)
    for r in rows:
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
    from . import io

    missing = [p for p in a.inputs if not os.path.exists(p)]
    if missing:
        raise CliError(f"inputs: {len(missing)} file(s) missing, first {missing[0]!r}")
    seen: set = set()
    for p in a.inputs:
        key = os.path.realpath(p)
        if key in seen:
            raise CliError(f"inputs: {p!r} is given twice (each job file once)")
        seen.add(key)
    check_out(a.out)
    meta = parse_meta(a.meta)
    dims = [d for d in a.dims.split(",") if d]
    try:
        ds = io.combine(a.inputs, dims=dims, attrs=meta)
    except io.CorruptFileError as exc:
        raise CliError(f"inputs: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:  # xarray: overlapping or unrelated jobs
        raise CliError(f"inputs: these {len(a.inputs)} files do not combine into one dataset over "
                       f"{','.join(dims)} (jobs of different studies, or two jobs of the same grid "
                       f"point?): {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    io.write_netcdf(ds, a.out)
    logging.getLogger("dynloss").info("combined %d job(s) into %s %s", len(a.inputs), a.out,
                                      dict(ds.sizes))
    return 0


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
    from . import schedules

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


def _check_path(flag: str, path: str) -> None:
    """An output path that can be written (not a folder, its folder creatable)."""
    from . import io

    try:
        io.check_writable(path)
    except OSError as exc:
        raise CliError(f"{flag}: cannot write {path!r}: {exc}") from None


def _run_figure(a: argparse.Namespace) -> int:
    from . import io
    from .figures import renderer
    from .figures.common import save

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
            _check_path(flag, path)
    try:
        fig = render(a.inputs, options, a.title)
    except io.CorruptFileError as exc:
        raise CliError(f"inputs: {exc}") from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise CliError(f"inputs: cannot draw a {a.kind} figure from {', '.join(a.inputs) or 'no input'} "
                       f"(the wrong kind for this data, or options missing a key?): {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    save(fig, *[p for p in (a.pdf, a.png) if p])
    logging.getLogger("dynloss").info("figure %s -> %s", a.kind, ", ".join(p for p in (a.pdf, a.png) if p))
    return 0


def _add_reproduction(sub) -> None:
    p = sub.add_parser("reproduction", help="the table of thesis claims beside measured values")
    p.add_argument("datasets", nargs="*", help="study datasets as NAME=PATH (e.g. fig3_4=results/fig3_4/fig3_4.nc)")
    p.add_argument("--csv", required=True, help="output CSV")
    p.add_argument("--html", default=None, help="output HTML table (for the report)")
    p.add_argument("--md", default=None, help="output Markdown copy of the table")
    p.add_argument("--fit", action="append", default=[], metavar="NAME=PATH",
                   help="a thresholds study's fit CSV (eta-law rows); repeatable")
    p.add_argument("--scale", default="", help="scale label written in every row")
    p.set_defaults(func=_run_reproduction)


def name_path_pairs(items, what: str, exists=os.path.exists) -> list[tuple[str, str]]:
    """``NAME=PATH`` arguments as (name, path) pairs, each path checked with ``exists``.

    Args:
        items: the raw arguments.
        what: the argument's name in error messages.
        exists: the check a path must pass (``os.path.exists`` or ``os.path.isfile``).

    Returns:
        The pairs in argument order; a malformed item or a missing path raises :class:`CliError`.
    """
    pairs = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise CliError(f"{what}: {item!r} is not NAME=PATH")
        if not exists(path):
            raise CliError(f"{what}: missing {path!r}; run study {name!r} first")
        pairs.append((name, path))
    return pairs


def _run_reproduction(a: argparse.Namespace) -> int:
    from . import io, reproduction

    known = sorted({c.study for c in reproduction.CLAIMS})
    for flag, path in (("--csv", a.csv), ("--html", a.html), ("--md", a.md)):
        if path:
            _check_path(flag, path)
    datasets = {}
    for name, path in name_path_pairs(a.datasets, "datasets"):
        if name not in known:
            raise CliError(f"datasets: no claim uses a study {name!r} (allowed: {', '.join(known)})")
        try:
            datasets[name] = io.open_dataset(path)
        except io.CorruptFileError as exc:
            raise CliError(f"datasets: {exc}") from None
    fits = {name: reproduction.read_fit_csv(path)
            for name, path in name_path_pairs(a.fit, "--fit", exists=os.path.isfile)}
    rows = reproduction.table(datasets, a.scale, fits=fits)
    note = (f"scale: {a.scale}; measured = mean over the runs that did not diverge at the selected grid "
            "point (A = 1 rows pool every T), spread = standard deviation; eta-law rows: fitted slope")
    io.write_text(reproduction.to_csv(rows), a.csv)  # every output atomic: a failure keeps the old file
    if a.html:
        io.write_text(reproduction.to_html(rows, note), a.html)
    if a.md:
        io.write_text(reproduction.to_markdown(rows, note), a.md)
    logging.getLogger("dynloss").info("reproduction table: %d claims -> %s", len(rows), a.csv)
    return 0


def _add_myrtle(sub) -> None:
    from . import myrtle

    myrtle.add_cli(sub)


def _add_publish(sub) -> None:
    from . import publish

    publish.add_cli(sub)


def _add_synthetic_cifar(sub) -> None:
    p = sub.add_parser("synthetic-cifar", help="write a small synthetic CIFAR-10-format folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--image-size", type=_number(int, "--image-size", lambda v: v > 0, "an integer > 0"), default=8)
    p.add_argument("--num-train-per-batch", type=_number(int, "--num-train-per-batch", lambda v: v > 0,
                                                         "an integer > 0"), default=100)
    p.add_argument("--num-test", type=_number(int, "--num-test", lambda v: v > 0, "an integer > 0"), default=200)
    p.add_argument("--seed", type=_number(int, "--seed", lambda v: v >= 0, "an integer >= 0"), default=0)
    p.set_defaults(func=_run_synthetic_cifar)


def _run_synthetic_cifar(a: argparse.Namespace) -> int:
    from . import cifar

    if os.path.exists(a.out) and not os.path.isdir(a.out):
        raise CliError(f"--out: {a.out!r} is a file (allowed: a new or existing folder)")

    cifar.write_synthetic_cifar(a.out, num_train_per_batch=a.num_train_per_batch, num_test=a.num_test,
                                image_size=a.image_size, seed=a.seed)
    logging.getLogger("dynloss").info("synthetic CIFAR-10 folder -> %s", a.out)
    return 0


def _add_run_study(sub) -> None:
    p = sub.add_parser("run-study", help="run one study end to end in this process, without Snakemake "
                       "(its jobs one after another, then combine, fit and figure)")
    p.add_argument("name", help="study name (a key of studies in the config)")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--scale", default=None, help="scale (default: the config's)")
    p.add_argument("--results", default=None, help="results folder (default: the config's)")
    p.add_argument("--widths", type=_int_list("--widths"), default=None,
                   help="only the jobs of these widths (comma list)")
    p.set_defaults(func=_run_run_study)


def _run_run_study(a: argparse.Namespace) -> int:
    from pathlib import Path

    from . import config as cfgmod
    from . import io, studies
    from .figures import renderer
    from .figures.common import save

    overrides = {k: v for k, v in (("scale", a.scale), ("results", a.results)) if v is not None}
    try:
        cfg = cfgmod.load_config(Path(a.config) if a.config else cfgmod.CONFIG_PATH, **overrides)
    except cfgmod.ConfigError as exc:
        raise CliError(str(exc)) from None
    if a.name not in cfg["studies"]:
        raise CliError(f"name: no study {a.name!r} (allowed: {', '.join(cfg['studies'])})")
    st, name = cfg["studies"][a.name], a.name
    os.environ["DYNLOSS_MAX_MEMORY_GB"] = str(cfg["max_memory_gb"])
    kind = st["kind"]
    keep = (lambda w: True) if a.widths is None else (lambda w: int(w) in a.widths)
    jobs: list[tuple[str, list[str], str]] = []
    if kind in ("contour", "curves"):
        jobs = [("train", studies.point_args(cfg, j), j.path(cfg["results"]))
                for j in studies.point_jobs(cfg, name) if keep(j.width)]
    elif kind == "thresholds":
        jobs = [("thresholds", studies.threshold_args(cfg, j), j.path(cfg["results"]))
                for j in studies.threshold_jobs(cfg, name) if keep(j.width)]
    elif kind == "dynamics":
        jobs = [("train", studies.dynamics_args(cfg, name), studies.dataset_path(cfg, name))]
    elif kind == "myrtle":
        if not st["cifar_dir"]:
            raise CliError(f"name: study {name!r} needs studies.{name}.cifar_dir")
        if st["cifar_dir"] == "synthetic" and not Path(studies.cifar_folder(cfg, name)).is_dir():
            from . import cifar

            cifar.write_synthetic_cifar(studies.cifar_folder(cfg, name), **st["synthetic"])
        jobs = [("myrtle", studies.myrtle_args(cfg, j), j.path(cfg["results"])) for j in studies.point_jobs(cfg, name)]
    log = logging.getLogger("dynloss")
    for i, (cmd, args, out) in enumerate(jobs, 1):
        if os.path.exists(out):
            stored = io.stored_job_hash(out)
            if stored == studies.job_hash(cmd, args):
                log.info("%s: job %d/%d done already (%s)", name, i, len(jobs), out)
                continue
            log.info("%s: job %d/%d: %s was made by a different job spec (hash %s); rerunning it",
                     name, i, len(jobs), out, stored)
        log.info("%s: job %d/%d -> %s", name, i, len(jobs), out)
        if main([cmd, *args, "--out", out]) != 0:
            raise CliError(f"name: job {i} of study {name!r} failed ({out})")
    dataset = studies.dataset_path(cfg, name)
    if kind != "dynamics":
        ds = io.combine([out for _, _, out in jobs], dims=studies.AGGREGATE_DIMS[kind].split(","),
                        attrs=studies.aggregate_meta(cfg, name))
        io.write_netcdf(ds, dataset)
    if kind == "thresholds":
        main(["fit-thresholds", dataset, "--csv", f"{cfg['results']}/{name}/{name}_fit.csv"])
    options = {**st, **studies.FIGURE_OPTIONS.get(kind, {}), "data": cfg["data"], "scale": cfg["scale"]}
    fig = renderer(studies.STUDY_FIGURE[kind])([dataset], options, st.get("title") or name)
    save(fig, *studies.figure_files(cfg, name))
    log.info("%s: done: %s and %s", name, dataset, ", ".join(studies.figure_files(cfg, name)))
    return 0


def _add_sensitivity(sub) -> None:
    from . import sensitivity_cli

    sensitivity_cli.add_cli(sub)


def _add_onsets(sub) -> None:
    from .cli_onsets import add

    add(sub)


COMMANDS: list[Callable] = [_add_train, _add_thresholds, _add_myrtle, _add_aggregate, _add_fit, _add_figure,
                            _add_reproduction, _add_synthetic_cifar, _add_run_study, _add_publish,
                            _add_sensitivity, _add_onsets]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dynloss", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"dynloss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (not the one at creation), so a
    redirected or captured stderr still gets the log lines."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    log = logging.getLogger("dynloss")
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except CliError as exc:
        cmd = (list(argv) if argv is not None else sys.argv[1:])[:1]
        print(f"dynloss {' '.join(cmd)}: error: {exc}".replace("  ", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""What every command shares: argument types, checks, and the one-line error (:class:`CliError`)."""
from __future__ import annotations

import argparse
import json
import os
import re
from typing import Callable

from ..jobs.checks import MAX_SEED, MAX_SEEDS


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
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
        if len(seeds) + hi - lo + 1 > MAX_SEEDS or hi > MAX_SEED:
            raise CliError(f"--seeds: {text!r} names more than {MAX_SEEDS} seeds or a seed > {MAX_SEED} "
                           f"(allowed: at most {MAX_SEEDS} seeds in 0..{MAX_SEED} per job)")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise CliError(f"--seeds: seed range {text!r} repeats a seed")
    return seeds


def add_loss_arg(group) -> None:
    """``--loss`` (required), the registered names listed without importing JAX (:mod:`dynloss.losses`)."""
    from .. import losses

    group.add_argument("--loss", required=True, metavar="{" + ",".join(losses.LOSSES) + "}",
                       help="loss name: " + ", ".join(n if n == loss.static else f"{n} (dynamical {loss.static})"
                                                      for n, loss in losses.LOSSES.items())
                       + " (docs/spec.md has their formulas)")


def check_loss(name: str) -> None:
    from .. import losses

    if name not in losses.LOSSES:
        raise CliError(f"--loss: unknown loss {name!r} (allowed: {losses.allowed()})")


def json_object(text: str, flag: str) -> dict:
    """A flag's JSON object, or :class:`CliError` naming the flag."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise CliError(f"{flag}: must be a JSON object")
    return obj


def parse_meta(text: str | None) -> dict:
    """``--meta``: a JSON object (or nothing)."""
    return json_object(text, "--meta") if text else {}


def check_out(path: str) -> None:
    from .. import files

    try:
        files.check_writable(path)
    except OSError as exc:
        raise CliError(f"--out: cannot write {path!r}: {exc}") from None


def number(kind: Callable, name: str, check: Callable[[float], bool], allowed: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number ({allowed})") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed ({allowed})")
        return value
    return parse


def int_list(name: str, minimum: int | None = None, allow_empty: bool = True):
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


def number_list(kind: Callable, name: str, check: Callable[[float], bool], allowed: str):
    """A comma list of numbers, each parsed and checked like :func:`number` (the message names
    the first value that is not allowed)."""
    one = number(kind, name, check, allowed)

    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",") if t.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{text!r} is empty (allowed: {allowed})")
        return tuple(one(p) for p in parts)
    return parse


def float_list(name: str):
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    return parse


#: spec fields whose command-line flag has another name
_FLAGS = {"W_std": "w_std"}


def flag_of(field: str) -> str:
    """The command-line flag (without ``--``) that sets a spec field (``data.<key>``: the data set's flag
    for that parameter, :class:`dynloss.data.Param`)."""
    if field.startswith("data."):
        from .. import data as data_sets

        key = field.removeprefix("data.")
        if key == "name":
            return "data"
        flags = [p.option for ds in data_sets.DATASETS.values() for p in ds.params if p.key == key]
        return flags[0][2:] if flags else key.replace("_", "-")
    return _FLAGS.get(field, field).replace("_", "-")


def vars_for_json(a: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(a).items() if k != "func"}


def check_path(flag: str, path: str) -> None:
    """An output path that can be written (not a folder, its folder creatable)."""
    from .. import files

    try:
        files.check_writable(path)
    except OSError as exc:
        raise CliError(f"{flag}: cannot write {path!r}: {exc}") from None


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


def default_record_every(steps: int, at_most: int = 100) -> int:
    """The largest divisor of ``steps`` that is at most ``at_most``."""
    return next(d for d in range(min(at_most, steps), 0, -1) if steps % d == 0)


def add_protocol_args(p) -> None:
    from ..fields import add_flag, option  # JAX-free (building a parser imports no JAX)
    from ..spec import TrainSpec

    g = p.add_argument_group("protocol (the sensitivity study's factors; defaults: the thesis's)")
    add_flag(g, TrainSpec, "W_std", float, many=True)
    add_flag(g, TrainSpec, "b_std", float)
    add_flag(g, TrainSpec, "parameterization")
    g.add_argument(option(TrainSpec, "threefry_partitionable"), choices=("default", "true", "false"),
                   default="default", help=TrainSpec.__dataclass_fields__["threefry_partitionable"].metadata["help"])
    add_flag(g, TrainSpec, "mse_norm")


def protocol_kwargs(a: argparse.Namespace) -> dict:
    """TrainSpec fields of the protocol flags (see :func:`add_protocol_args`)."""
    if len(a.w_std) != 2:
        raise CliError(f"--w-std: give two numbers W1_std,W2_std (got {','.join(map(str, a.w_std))!r})")
    return {"W_std": tuple(a.w_std), "b_std": a.b_std, "parameterization": a.parameterization,
            "threefry_partitionable": {"default": None, "true": True, "false": False}[a.threefry_partitionable],
            "mse_norm": a.mse_norm}


def add_budget_arg(p) -> None:
    p.add_argument("--max-memory-gb", type=number(float, "--max-memory-gb", lambda v: 0 < v < float("inf"),
                                                   "a number > 0"), default=None,
                   help="refuse the job, before compiling, if its estimated memory exceeds this many GB "
                   "(default: $DYNLOSS_MAX_MEMORY_GB, else 8)")


def check_accelerator() -> None:
    """The backend check of a training job: the accelerator the workflow asked for
    (``$DYNLOSS_ACCELERATOR``, unset by hand) against the backend JAX gives; a mismatch is one line."""
    from .. import accelerator

    requested = os.environ.get(accelerator.ENV)
    if requested:
        try:
            accelerator.check_backend(requested)
        except accelerator.BackendError as exc:
            raise CliError(str(exc)) from None


def check_budget(a: argparse.Namespace, job) -> None:
    """Refuse a job whose estimated memory exceeds the budget
    (:func:`dynloss.jobs.checks.check_budget`, which the config runs too). ``--max-memory-gb``
    also becomes this process's budget (``$DYNLOSS_MAX_MEMORY_GB``), by which a grid job is sliced."""
    import os

    import jax

    from .. import budget
    from ..errors import SpecError
    from ..jobs import checks

    if a.max_memory_gb is not None:
        os.environ[budget.ENV] = repr(float(a.max_memory_gb))
    try:
        limit = a.max_memory_gb if a.max_memory_gb is not None else budget.default_budget_gb()
        mode = job.spec.batch if job.spec.batch != "auto" else ("map" if jax.default_backend() == "cpu" else "vmap")
        checks.check_budget(job, limit, mode)
    except (budget.BudgetError, SpecError) as exc:
        raise CliError(f"--max-memory-gb: {exc}") from None


def add_onset_args(p) -> None:
    from ..fields import add_flag
    from ..jobs.definition import Onsets, TrainJob

    g = p.add_argument_group("bifurcation onset (needs --record-every 1)")
    add_flag(g, Onsets, "window", int, default=None)
    add_flag(g, Onsets, "floor", float)
    add_flag(g, Onsets, "names", type=onset_names, default=None)
    add_flag(g, Onsets, "primary", metavar="NAME")
    add_flag(g, TrainJob, "zoom_steps", int)


def onset_names(text: str) -> tuple[str, ...]:
    from ..thresholds import onset

    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in onset.NAMES]
    if bad or not names:  # argparse prefixes the flag itself
        raise argparse.ArgumentTypeError(f"{', '.join(map(repr, bad)) or 'empty list'} is not an onset "
                                         f"definition (allowed: {', '.join(onset.NAMES)})")
    return onset.check_names(names, "--onset")

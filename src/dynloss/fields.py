"""A job parameter described once, on its dataclass field (JAX-free: numpy only).

The dataclasses that describe a job (:class:`dynloss.spec.TrainSpec`, :class:`~dynloss.spec.SpectraSpec`,
:class:`dynloss.jobs.Onsets`, :class:`~dynloss.jobs.TrainJob`, :class:`~dynloss.jobs.ThresholdsJob`) declare
each field with :func:`param`: its default, bounds or choices, help, command-line flag, how its value is
written, and whether it is an execution setting. From that one description come

- a job's command line: :func:`argv` writes the :class:`Arg` list of its class (the order of the flags and
  when each is written, so that every job keeps the command line, and the hash, it had);
- the flags of ``dynloss train`` and ``dynloss thresholds``: :func:`add_flag` (type, bounds, default, help);
- its identity: :func:`execution_flags` (an execution setting never changes a job's numbers, so it is left
  out of the hash, or kept at its default where jobs were hashed with it before).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import MISSING
from typing import Any, Optional, Sequence

import numpy as np

#: how an execution setting enters a job's hash: ``canonical``, at its default (the jobs hashed before it
#: became an execution setting keep their hash); ``dropped``, not at all
EXECUTION = ("canonical", "dropped")


def param(default: Any = MISSING, *, help: str = "", flag: str = "", minimum: Optional[float] = None,
          above: Optional[float] = None, choices: Sequence[str] = (), text: Optional[str] = None,
          execution: Optional[str] = None, default_factory: Any = MISSING) -> Any:
    """A dataclass field with its description.

    Args:
        default, default_factory: as :func:`dataclasses.field`.
        help: one line (the flag's help).
        flag: the command-line flag without ``--`` (default: the field's name with dashes).
        minimum, above: bounds of a number (``>= minimum``, ``> above``; numbers are finite).
        choices: the allowed strings.
        text: ``"str"`` to write a float with ``str`` rather than :func:`fmt` (as it always was).
        execution: ``None`` (the field determines the job's numbers) or one of :data:`EXECUTION`.
    """
    if execution not in (None, *EXECUTION):
        raise ValueError(f"execution must be None or one of {', '.join(EXECUTION)} (got {execution!r})")
    meta = {"help": help, "flag": flag, "minimum": minimum, "above": above, "choices": tuple(choices),
            "text": text, "execution": execution}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


def fmt(x: float) -> str:
    """Numbers in file names and command lines: ``1`` -> ``"1"``, ``0.075`` -> ``"0.075"``."""
    return np.format_float_positional(float(x), trim="-")


def field_of(cls: type, name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(cls)}[name]


def option(cls: type, name: str) -> str:
    """``--flag`` of field ``name`` of ``cls``."""
    return "--" + (field_of(cls, name).metadata.get("flag") or name.replace("_", "-"))


def default_of(cls: type, name: str) -> Any:
    """The field's default (``None`` for a field without one)."""
    f = field_of(cls, name)
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def write(value: Any, meta: Any = None) -> str:
    """A value on a command line: integers as they are, floats by :func:`fmt` (``str`` with ``text="str"``),
    booleans ``true``/``false``, sequences as comma lists."""
    meta = meta or {}
    if isinstance(value, (tuple, list)):
        return ",".join(write(v, meta) for v in value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)) or isinstance(value, str):
        return str(value)
    return str(value) if meta.get("text") == "str" else fmt(value)


@dataclasses.dataclass(frozen=True)
class Arg:
    """One flag of a job's command line: the value at ``path`` (attributes from the job, a method called),
    written when ``when`` holds: always (``""``), ``"set"`` (the value is truthy), ``"changed"`` (it is not the
    field's default) or ``"if:<path>"`` (the value at that path is truthy)."""

    path: str
    when: str = ""
    #: the flag of a method's value (a field's flag is its own, :func:`option`)
    flag_name: str = ""

    def locate(self, job: Any) -> tuple[Any, Optional[type], str]:
        """The value (``None`` below a ``None``), the dataclass that declares its field (``None`` for a
        method) and the field's name."""
        obj, *names = [job, *self.path.split(".")]
        for name in names[:-1]:
            obj = getattr(obj, name) if obj is not None else None
        name = names[-1]
        if obj is None:
            return None, None, name
        value = getattr(obj, name)
        if callable(value):
            return value(), None, name
        return value, type(obj), name

    def flag(self, job: Any) -> str:
        _, cls, name = self.locate(job)
        return self.flag_name if cls is None else option(cls, name)

    def holds(self, job: Any) -> bool:
        if not self.when:
            return True
        if self.when.startswith("if:"):
            return bool(Arg(self.when[3:]).locate(job)[0])
        value, cls, name = self.locate(job)
        if self.when == "set":
            return bool(value)
        if self.when == "changed":
            default = default_of(cls, name)
            return (tuple(value) if isinstance(value, list) else value) != default
        raise ValueError(f"{self.path}: when must be '', 'set', 'changed' or 'if:<path>' (got {self.when!r})")


def argv(job: Any, args: Sequence[Arg]) -> list[str]:
    """The command line of ``job``: each :class:`Arg` that holds, as its flag and written value."""
    out: list[str] = []
    for arg in args:
        if arg.holds(job):
            value, cls, name = arg.locate(job)
            out += [arg.flag(job), write(value, field_of(cls, name).metadata if cls else None)]
    return out


def execution_flags(*classes: type) -> dict[str, tuple[str, str]]:
    """``--flag -> (how, default text)`` of every execution setting of ``classes`` (:data:`EXECUTION`)."""
    out = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            how = f.metadata.get("execution")
            if how:
                out[option(cls, f.name)] = (how, write(default_of(cls, f.name), f.metadata))
    return out


def allowed(meta: Any, kind: type) -> str:
    """What a number flag accepts: ``"an integer > 0"``, ``"an integer >= 3"``, ``"a number > 0"``, ..."""
    what = "an integer" if kind is int else "a number"
    if meta.get("above") is not None:
        return f"{what} > {meta['above']:g}"
    lo = meta.get("minimum")
    if lo is None:
        return what
    return f"{what} > 0" if kind is int and lo == 1 else f"{what} >= {lo:g}"


def _accepts(meta: Any, v: float) -> bool:
    lo, above = meta.get("minimum"), meta.get("above")
    return math.isfinite(v) and (lo is None or v >= lo) and (above is None or v > above)


def parser_type(cls: type, name: str, kind: type, many: bool = False):
    """The argparse type of field ``name``: a number of ``kind`` (a comma list of them with ``many``) within
    the field's bounds; an error names what is allowed."""
    meta = field_of(cls, name).metadata
    text = allowed(meta, kind)

    def one(t: str):
        try:
            value = kind(t)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{t!r} is not a number ({text})") from None
        if not _accepts(meta, value):
            raise argparse.ArgumentTypeError(f"{t!r} is not allowed ({text})")
        return value

    def parse(t: str):
        if not many:
            return one(t)
        parts = [p.strip() for p in t.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{t!r} is empty (allowed: {text})")
        return tuple(one(p) for p in parts)
    return parse


def add_flag(group: Any, cls: type, name: str, kind: Optional[type] = None, many: bool = False,
             **overrides: Any) -> None:
    """Add field ``name`` of ``cls`` as its flag: type (``kind``, a comma list with ``many``; choices for a
    string field), bounds, default and help from the field; ``overrides`` replace what argparse gets."""
    meta = field_of(cls, name).metadata
    kw: dict[str, Any] = {"default": default_of(cls, name), "help": meta.get("help") or None}
    if meta.get("choices"):
        kw["choices"] = meta["choices"]
    elif kind is not None:
        kw["type"] = parser_type(cls, name, kind, many)
    if kw["help"] and kw["default"] not in (None, (), "") and "default" not in kw["help"]:
        kw["help"] += f" (default {write(kw['default'], meta)})"
    kw.update(overrides)
    group.add_argument(option(cls, name), **kw)

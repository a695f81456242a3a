"""The data-set registry: the one list of data sets, read by the config schema, the planner, the
command line, the job checks, the memory estimate and the engine (JAX-free: numpy only).

A data set is a class registered with :func:`register` (``data/spiral.py`` is the thesis's). It
declares its parameters once (:class:`Param`: config key, command-line flag, type, default, bounds,
help), from which the schema fragment, the flags and the checks are derived, and answers what the
rest of the package asks of it: the number of classes and the input dimension, the training-set size,
the labels of its test sets, the arrays (:meth:`DataSet.load`) and what a dataset records of it
(:meth:`DataSet.attributes`). Importing this package imports every module in it, so a data set in a
new module here is registered with no other file touched. (``data/cifar.py`` is the CIFAR-10 reader of the
Myrtle5 study, which trains by its own pipeline, :mod:`dynloss.myrtle`; it registers no data set.)

A job names its data set and parameters as ``(name, ((key, value), ...))``
(:attr:`dynloss.spec.TrainSpec.data`, :attr:`~dynloss.spec.TrainSpec.data_params`); the config's
``data:`` block (``name`` plus parameters) is the default of every study, and a study's own ``data:``
block overrides it (:func:`resolve`).
"""
from __future__ import annotations

import importlib
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Optional, Sequence

import numpy as np

from ..errors import SpecError

#: the data set of a job or config that names none (the thesis's)
DEFAULT = "spiral"


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` (P, D), integer ``labels`` (P,) and ``onehot`` targets (P, C)."""

    x: np.ndarray
    labels: np.ndarray
    onehot: np.ndarray

    @property
    def num_classes(self) -> int:
        """C, the number of columns of ``onehot``."""
        return self.onehot.shape[1]

    def __len__(self) -> int:
        return self.x.shape[0]


#: the value types of a parameter: an integer, a finite number, a non-empty list of distinct integers
KINDS = ("int", "float", "ints")


@dataclass(frozen=True)
class Param:
    """One parameter of a data set, defined once: the schema, the flag and the checks read it.

    Args:
        key: the config key (under ``data:``) and the name in the job's parameters.
        default: its value when neither the config nor the command line sets it.
        help: one line (the schema's description and the flag's help).
        kind: one of :data:`KINDS`.
        minimum, maximum: bounds (inclusive; of each item for ``ints``).
        flag: the command-line flag without ``--`` (default: ``key`` with dashes).
    """

    key: str
    default: Any
    help: str
    kind: str = "int"
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    flag: str = ""

    @property
    def option(self) -> str:
        return "--" + (self.flag or self.key.replace("_", "-"))

    def allowed(self) -> str:
        """``"an integer in 0..9"``, ``"a finite number >= 0"``, ``"a list of distinct integers >= 1"``."""
        what = {"int": "an integer", "float": "a finite number", "ints": "a list of distinct integers"}[self.kind]
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"{what} in {lo:g}..{hi:g}" if self.kind == "float" else f"{what} in {int(lo)}..{int(hi)}"
        if lo is not None:
            return f"{what} >= {lo:g}" if self.kind == "float" else f"{what} >= {int(lo)}"
        return f"{what} <= {hi:g}" if hi is not None else what

    def check(self, value: Any) -> Any:
        """``value`` in its canonical type, or :class:`SpecError` naming ``data.<key>``."""
        field = f"data.{self.key}"
        items = list(value) if self.kind == "ints" and isinstance(value, (list, tuple)) else [value]
        ok = bool(items) and all(self._one(v) for v in items)
        if self.kind == "ints" and ok:
            ok = len(set(items)) == len(items)
        if not ok:
            raise SpecError(field, f"{self.key} must be {self.allowed()} (got {value!r})")
        if self.kind == "ints":
            return tuple(int(v) for v in items)
        return int(value) if self.kind == "int" else float(value)

    def _one(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        if self.kind != "float" and not isinstance(v, numbers.Integral):
            return False
        return (math.isfinite(v) and (self.minimum is None or v >= self.minimum)
                and (self.maximum is None or v <= self.maximum))

    def text(self, value: Any) -> str:
        """The value on a command line (what :meth:`parse` reads back)."""
        return ",".join(map(str, value)) if self.kind == "ints" else str(value)

    def parse(self, text: str) -> Any:
        """A command-line value (``ValueError`` when it is not a number of the kind)."""
        if self.kind == "ints":
            return tuple(int(v) for v in text.split(",") if v.strip())
        return int(text) if self.kind == "int" else float(text)

    def schema(self, with_default: bool = True) -> dict:
        """The JSON schema of the key."""
        one = {"type": "number" if self.kind == "float" else "integer"}
        one.update({k: v for k, v in (("minimum", self.minimum), ("maximum", self.maximum)) if v is not None})
        out = ({"type": "array", "items": one, "minItems": 1, "uniqueItems": True} if self.kind == "ints" else one)
        out["description"] = self.help
        if with_default:
            out["default"] = list(self.default) if self.kind == "ints" else self.default
        return out


class DataSet:
    """A data set: override the class attributes and the methods that have no default."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: the parameter that draws a fresh training set (a spiral's noise seed, a split's seed): a claim whose
    #: unit is the (data set, seed) pair trains its fresh runs over values of it (``Claim.fresh_data``); empty:
    #: the data set has no such parameter
    seed_param: ClassVar[str] = ""

    def defaults(self) -> dict:
        return {p.key: p.default for p in self.params}

    def values(self, given: Mapping[str, Any] | Sequence[tuple[str, Any]] = ()) -> dict:
        """Every parameter, in declaration order: ``given`` (checked, canonical types) over the defaults.

        Raises:
            SpecError: an unknown key, or a value out of its bounds (``data.<key>``).
        """
        given = dict(given)
        unknown = set(given) - {p.key for p in self.params}
        if unknown:
            key = sorted(unknown)[0]
            raise SpecError(f"data.{key}", f"data set {self.name!r} has no parameter {key!r} "
                            f"(allowed: {', '.join(p.key for p in self.params) or 'none'})")
        out = {p.key: p.check(given.get(p.key, p.default)) for p in self.params}
        self.check(out)
        return out

    def check(self, values: dict) -> None:
        """Checks across parameters (:class:`SpecError` naming ``data.<key>``); none by default."""

    def num_classes(self, values: dict) -> int:
        raise NotImplementedError

    def input_dim(self, values: dict) -> int:
        raise NotImplementedError

    def train_size(self, values: dict) -> int:
        """P, the number of training points."""
        raise NotImplementedError

    def test_sets(self, values: dict) -> list:
        """A label per test set (the ``test_set`` coordinate of a job's file)."""
        raise NotImplementedError

    def test_size(self, values: dict) -> int:
        """Points of the largest test set (for the memory estimate)."""
        return self.train_size(values)

    def load(self, values: dict) -> tuple[Dataset, list[Dataset]]:
        """The training set and the test sets (in the order of :meth:`test_sets`), float64."""
        raise NotImplementedError

    def attributes(self, values: dict) -> dict:
        """What a dataset records of the data: its name and parameters."""
        return {"name": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}

    def schema(self, with_defaults: bool = True) -> dict:
        """The JSON schema of a ``data:`` block naming this data set."""
        props = {"name": {"const": self.name}}
        props.update({p.key: p.schema(with_defaults) for p in self.params})
        return {"properties": props, "additionalProperties": False}


#: name -> data set, in registration order
DATASETS: dict[str, DataSet] = {}


def register(cls: type[DataSet]) -> type[DataSet]:
    """Class decorator: make ``cls`` the data set named ``cls.name``."""
    if not cls.name.isidentifier():
        raise ValueError(f"data set name {cls.name!r} must be a word of letters, digits and underscores")
    flags = {p.option: p for ds in DATASETS.values() if ds.name != cls.name for p in ds.params}
    for p in cls.params:
        if p.kind not in KINDS:
            raise ValueError(f"data set {cls.name!r}: parameter {p.key!r} has kind {p.kind!r} "
                             f"(allowed: {', '.join(KINDS)})")
        other = flags.get(p.option)
        if other is not None and (other.key, other.kind) != (p.key, p.kind):
            raise ValueError(f"data set {cls.name!r}: flag {p.option} is another data set's "
                             f"{other.key!r} ({other.kind}); give the parameter another flag")
    DATASETS[cls.name] = cls()
    return cls


def names() -> list[str]:
    return list(DATASETS)


def get(name: str) -> DataSet:
    """The registered data set ``name``; :class:`SpecError` (``data.name``) listing the registered ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise SpecError("data.name", f"unknown data set {name!r} (allowed: {', '.join(DATASETS)})") from None


def resolve(default: Mapping[str, Any], override: Optional[Mapping[str, Any]] = None) -> dict:
    """A study's ``data:`` block: the config's ``default`` block with the study's ``override`` on top;
    an override naming another data set starts from that set's defaults instead.

    >>> resolve({"noise": 0.2, "train_seed": 0}, {"train_seed": 7})
    {'noise': 0.2, 'train_seed': 7}
    >>> resolve({"noise": 0.3}, {"name": "spiral"})
    {'noise': 0.3, 'name': 'spiral'}
    """
    default, override = dict(default), dict(override or {})
    if override.get("name", default.get("name", DEFAULT)) != default.get("name", DEFAULT):
        return override
    return {**default, **override}


def num_classes(block: Mapping[str, Any]) -> int:
    """C of a ``data:`` block (its data set's, with the block's parameters).

    >>> num_classes({"name": "spiral", "num_classes": 4}), num_classes({})
    (4, 3)
    """
    name, values = job_data(block)
    return get(name).num_classes(dict(values))


def job_data(block: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """A ``data:`` block as a job's ``(name, parameters)``: every parameter, checked.

    Raises:
        SpecError: unknown name or parameter, or a value it refuses (``data.<key>``).
    """
    block = dict(block)
    ds = get(block.pop("name", DEFAULT))
    return ds.name, tuple(ds.values(block).items())


def schema(with_defaults: bool = True) -> dict:
    """The JSON schema of a ``data:`` block: a registered name and that data set's parameters (with
    their defaults for the config's block; without for a study's, which inherits the config's)."""
    out: dict = {"type": "object", "description": "The data set and its parameters (dynloss.data).",
                 "properties": {"name": {"type": "string", "enum": names(),
                                         "description": "A registered data set: "
                                         + "; ".join(f"{n}: {d.description}" for n, d in DATASETS.items())}}}
    if with_defaults:
        out["default"] = {}
        out["properties"]["name"]["default"] = DEFAULT
        out["allOf"] = [{"if": {"properties": {"name": {"const": n}}, "required": ["name"]}, "then": d.schema()}
                        for n, d in DATASETS.items()]
    return out


def _register_every_module() -> None:
    """Import every module of this package, the thesis's data set first (so listings lead with it)."""
    import pkgutil

    for name in sorted((m.name for m in pkgutil.iter_modules(__path__)), key=lambda n: (n != DEFAULT, n)):
        importlib.import_module(f"{__name__}.{name}")


_register_every_module()

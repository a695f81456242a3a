"""The sensitivity study: which change of protocol moves the MSE results to the thesis's values?

A ``sensitivity`` study is a base configuration (loss, width, eta, steps, A, T, seeds) and a set
of *factors*, each varied one at a time around the base (and optionally crossed in pairs). Every
factor is a documented option of the engine (:class:`dynloss.spec.TrainSpec`); the base levels
are the thesis's protocol, so the base case is the reproduction itself.

Layout of the combined dataset (``factor``/``level`` rather than one dimension per factor: a
one-at-a-time design fills only the axes of a full grid, and the levels of different factors
have different types, so a dimension per factor would be mostly NaN)::

    dims      (case, seed)
    coords    case (the case's slug, e.g. "lr_scale=2"), factor (e.g. "lr_scale", "base",
              "lr_scale*steps_scale"), level (e.g. "2", "2*4"), seed
    vars      final_train_acc, test_acc, final_L, diverged  (case, seed)
    attrs     study, loss, width, lr, steps, A, T, thesis_train, thesis_test, provenance

:mod:`dynloss.sensitivity.report` turns it (with the infinite-width reference of
:mod:`dynloss.sensitivity.infinite`) into a table and writes the Markdown conclusion from those numbers alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..jobs import fmt


@dataclass(frozen=True)
class Factor:
    """One protocol option: its base level (the thesis's) and what it means."""

    name: str
    base: Any
    description: str


FACTORS: dict[str, Factor] = {f.name: f for f in (
    Factor("lr_scale", 1.0, "learning rate x level"),
    Factor("steps_scale", 1, "number of steps x level"),
    Factor("W1_std", 1.0, "hidden-layer weight scale W_std"),
    Factor("W2_std", 1.0, "output-layer weight scale W_std"),
    Factor("b_std", 0.0, "bias initialisation scale b_std"),
    Factor("parameterization", "standard", "standard or NTK parameterisation (neural-tangents)"),
    Factor("dtype", "float64", "floating-point type"),
    Factor("threefry_partitionable", True, "jax_threefry_partitionable (JAX >= 0.5: true; the thesis's JAX: false)"),
    Factor("mse_norm", "listing", "MSE normalisation: listing (1/P) sum, mean (1/(PC)) sum, half (1/(2P)) sum"),
    Factor("data_seed", 0, "noise seed of the training spiral"),
    Factor("stop_rule", "last_T", "when the oscillations stop: last_T (t >= steps - T), period (at a period boundary)"),
)}


def _level_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt(value)
    return str(value)


@dataclass(frozen=True)
class Case:
    """One training job of a sensitivity study: the factors that differ from the base."""

    changes: tuple[tuple[str, Any], ...] = ()

    @property
    def factor(self) -> str:
        return "*".join(n for n, _ in self.changes) or "base"

    @property
    def level(self) -> str:
        return "*".join(_level_text(v) for _, v in self.changes) or "base"

    @property
    def slug(self) -> str:
        """File-name form: ``base``, ``lr_scale-2``, ``lr_scale-2__steps_scale-4``."""
        return "__".join(f"{n}-{_level_text(v)}" for n, v in self.changes) or "base"

    def value(self, name: str) -> Any:
        return dict(self.changes).get(name, FACTORS[name].base)


def _is_base(name: str, value: Any) -> bool:
    base = FACTORS[name].base
    if isinstance(base, bool) or isinstance(value, bool):
        return value is base
    if isinstance(base, (int, float)) and isinstance(value, (int, float)):
        return float(value) == float(base)
    return value == base


def cases(st: dict) -> list[Case]:
    """The cases of a study config: the base, each factor's other levels, then the crossed pairs.

    Args:
        st: the study's config (``factors``: name -> levels; ``cross``: pairs of names, crossed over
            all their levels, or ``{name: levels, name: levels}`` for the listed levels only).

    Returns:
        Cases in job order, without duplicates (every factor's base level is the base case).
    """
    out = [Case()]
    seen = {Case()}
    for name, levels in st.get("factors", {}).items():
        check_factor(name)
        for v in levels:
            c = Case() if _is_base(name, v) else Case(((name, v),))
            if c not in seen:
                seen.add(c)
                out.append(c)
    for pair in st.get("cross", []) or []:
        # [a, b]: all levels of both factors; {a: [...], b: [...]}: the listed levels
        levels = dict(pair) if isinstance(pair, dict) else {f: st["factors"][f] for f in pair}
        (a, la), (b, lb) = levels.items()
        for va in la:
            for vb in lb:
                ch = tuple((n, v) for n, v in ((a, va), (b, vb)) if not _is_base(n, v))
                c = Case(ch)
                if c not in seen:
                    seen.add(c)
                    out.append(c)
    return out


def check_factor(name: str) -> None:
    if name not in FACTORS:
        raise ValueError(f"unknown factor {name!r} (allowed: {', '.join(FACTORS)})")


def combine(paths: Sequence[str], study_cases: Sequence[Case], attrs: dict, config: dict | None = None) -> xr.Dataset:
    """One ``(case, seed)`` dataset of final metrics from the case files, in the order of ``study_cases``.

    Each file is matched to its case by the case it records (``config["case"]``, written by the
    job from the plan (dynloss.plan.sensitivity_kind.Sensitivity)), or else by its file name
    (``<slug>.nc``), never by position.

    Args:
        paths: the job NetCDFs, one per case, in any order.
        study_cases: the cases.
        attrs: plain attributes (loss, width, lr, steps, A, T, thesis_train, thesis_test).
        config: stored as the ``config`` attribute (study, scale, study config, data).

    Returns:
        The stamped dataset.
    """
    from pathlib import Path

    from .. import netcdf

    if len(paths) != len(study_cases):
        raise ValueError(f"{len(paths)} files for {len(study_cases)} cases")
    by_case = {}
    for p in paths:
        ds = netcdf.open_dataset(p)
        slug = json.loads(ds.attrs.get("config", "{}")).get("case") or Path(p).name[:-len(".nc")]
        if slug in by_case:
            raise ValueError(f"{p}: case {slug!r} given twice")
        by_case[slug] = (p, ds)
    missing = [c.slug for c in study_cases if c.slug not in by_case]
    if missing:
        raise ValueError(f"no file for case(s) {', '.join(missing)} (files: {', '.join(sorted(by_case))})")
    rows = {k: [] for k in ("final_train_acc", "test_acc", "final_L", "diverged")}
    seeds = None
    for c in study_cases:
        p, ds = by_case[c.slug]
        if seeds is None:
            seeds = ds["seed"].values
        elif not np.array_equal(seeds, ds["seed"].values):
            raise ValueError(f"{p}: seeds {ds['seed'].values} differ from {seeds}")
        rows["final_train_acc"].append(ds["final_train_acc"].values)
        rows["test_acc"].append(ds["test_acc"].values)
        rows["final_L"].append(ds["L"].isel(step=-1).values)
        rows["diverged"].append(ds["diverged"].values)
    coords = {"case": [c.slug for c in study_cases], "seed": seeds,
              "factor": ("case", [c.factor for c in study_cases]),
              "level": ("case", [c.level for c in study_cases])}
    out = xr.Dataset({k: (("case", "seed"), np.stack(v)) for k, v in rows.items()}, coords=coords)
    out["final_L"].attrs["long_name"] = "static loss L after the last step (in the case's normalisation)"
    return netcdf.stamp(out, config or {}, sources=[str(by_case[c.slug][0]) for c in study_cases], **attrs)


def check_study(cfg: dict, name: str) -> None:
    """Checks of a sensitivity study a schema cannot express; ``ConfigError`` names the key."""
    from .. import losses
    from ..errors import ConfigError

    st = cfg["studies"][name]
    key = f"config key 'studies.{name}"
    for s in st["factors"].get("steps_scale", [1]):
        if (st["steps"] * s) % st["record_every"]:
            raise ConfigError(f"{key}.factors.steps_scale': steps x {s} is not a multiple of "
                              f"record_every={st['record_every']}")
    loss = losses.LOSSES.get(st["loss"])
    if loss is not None and not loss.mse_family and any(v != "listing" for v in st["factors"].get("mse_norm", [])):
        raise ConfigError(f"{key}.factors.mse_norm': applies to the MSE losses only (loss {st['loss']!r})")
    for pair in st["cross"]:
        if len(pair) != 2:
            raise ConfigError(f"{key}.cross': each entry names two factors (got {list(pair)})")
        for f in pair:
            if f not in st["factors"]:
                raise ConfigError(f"{key}.cross': {f!r} is not one of its factors ({', '.join(st['factors'])})")
    if st["infinite"] and not (loss is not None and loss.kernel_limit):
        limits = [n for n, v in losses.LOSSES.items() if v.kernel_limit]
        raise ConfigError(f"{key}.infinite': the infinite-width reference is for a loss with a closed-form "
                          f"infinite-width limit (loss {', '.join(map(repr, limits))}), not {st['loss']!r}")

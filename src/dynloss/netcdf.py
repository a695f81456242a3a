"""Labelled NetCDF: one file per training job, combined into study datasets.

Every file carries its provenance in attributes: the full run configuration (``config``, JSON),
package versions, the git commit of the code, the creation time and host (``provenance``, JSON,
with ``git_commit`` and ``created`` also as plain attributes). Files are written atomically: to a
temporary file beside the target, then renamed, so an interrupted write never leaves a file at
the target path. NetCDF goes through ``engine="netcdf4"`` explicitly.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import xarray as xr

from . import __version__
from . import origin
from .cf import CF_ATTRS, CF_DESCRIPTIONS, CONVENTIONS, VARIABLE_DOCS, describe  # noqa: F401
from .files import atomic_path
from .provenance import provenance

ENGINE = "netcdf4"

def stamp(ds: xr.Dataset, config: dict | None = None, **extra: Any) -> xr.Dataset:
    """Attach configuration and provenance attributes to ``ds`` (in place; returns it)."""
    prov = provenance()
    if config is not None:
        ds.attrs["config"] = json.dumps(config, sort_keys=True, default=_json_default)
    ds.attrs["provenance"] = json.dumps(prov, sort_keys=True)
    ds.attrs["git_commit"] = prov["git_commit"]
    ds.attrs["created"] = prov["created"]
    ds.attrs["dynloss_version"] = __version__
    ds.attrs["Conventions"] = CONVENTIONS
    for k, v in extra.items():
        ds.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v, default=_json_default)
    return ds


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


class CorruptFileError(ValueError):
    """A result file that cannot be read back (garbled bytes, a failed checksum, truncation)."""


#: HDF5 filters of every array written: the Fletcher-32 checksum, verified on every read
CHECKSUM = {"fletcher32": True}


def _encoding(ds: xr.Dataset, compress: bool = False) -> dict:
    """A Fletcher-32 checksum on every numeric array (HDF5 filters need chunked, non-scalar,
    fixed-size data: strings and scalars go without), and zlib level 9 with the shuffle filter
    when ``compress``."""
    out = {}
    for name, var in ds.variables.items():
        if var.ndim and var.dtype.kind in "biufc" and var.size:
            out[name] = dict(CHECKSUM, **({"zlib": True, "complevel": 9, "shuffle": True} if compress else {}))
    return out


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, compress: bool = False) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename), every
    numeric array with an HDF5 Fletcher-32 checksum, compressed (zlib) when ``compress``."""
    describe(ds)
    ds = ds.copy(deep=False)
    ds.attrs[SCALAR_CHECKSUM] = scalar_checksum(ds)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE, encoding=_encoding(ds, compress))
    return Path(path)


#: attribute holding the checksum of a file's scalar variables (HDF5 checksums arrays only)
SCALAR_CHECKSUM = "scalar_checksum"


def scalar_checksum(ds: xr.Dataset) -> str:
    """SHA-256 (16 hex digits) of every scalar variable of ``ds`` (a job's loss, width, lr, A, T):
    HDF5 cannot checksum a scalar, and one rewritten byte there would move a run to another grid
    point without any error."""
    values = {str(k): v.values.item() for k, v in ds.variables.items() if v.ndim == 0}
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_file(path: str | os.PathLike) -> None:
    if not Path(path).is_file():
        raise (CorruptFileError(f"{str(path)!r} is not a file (a NetCDF file is needed)") if Path(path).exists()
               else FileNotFoundError(f"no file {str(path)!r}"))


def _corrupt(path: str | os.PathLike, exc: BaseException) -> CorruptFileError:
    detail = str(exc).splitlines()[0] if str(exc) else "no detail"
    return CorruptFileError(f"{str(path)!r} is corrupt or unreadable ({type(exc).__name__}: {detail}); "
                            f"{origin.advice(path)}")


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open one NetCDF fully into memory (the file is closed on return): the checked reader every
    reader of this package goes through.

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError: not a file, or the file cannot be read or a checksum fails; the message
            names the file and says what to do by its origin: a result is deleted and remade by the
            job that wrote it (with the Snakemake command that does, even when the figures made
            from it are up to date), committed data are restored from git.
    """
    _check_file(path)
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
        stored = ds.attrs.get(SCALAR_CHECKSUM)  # files written before it carry none
        if stored is not None and stored != scalar_checksum(ds):
            raise ValueError("a scalar coordinate does not match its checksum")
        return ds
    except Exception as exc:  # noqa: BLE001 - HDF5 reports checksum failures as RuntimeError/OSError
        raise _corrupt(path, exc) from None


@contextlib.contextmanager
def open_header(path: str | os.PathLike) -> Iterator[xr.Dataset]:
    """Open one NetCDF lazily (its coordinates and attributes; arrays read on demand), checked like
    :func:`open_dataset`: a file that cannot be opened is a :class:`CorruptFileError` naming it."""
    _check_file(path)
    try:
        ds = xr.open_dataset(path, engine=ENGINE)
    except Exception as exc:  # noqa: BLE001 - as in open_dataset
        raise _corrupt(path, exc) from None
    with ds:
        yield ds


def stored_job_hash(path: str | os.PathLike) -> str | None:
    """The ``job_hash`` a job file was written with (see :func:`dynloss.jobs.job_hash`).

    Args:
        path: a job NetCDF.

    Returns:
        The hash, or ``None`` when the file is unreadable or carries none (then it is not reused).
    """
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            cfg = json.loads(ds.attrs.get("config", "{}"))
    except Exception:  # noqa: BLE001 - an unreadable file is simply not reused
        return None
    return cfg.get("job_hash") if isinstance(cfg, dict) else None


# --------------------------------------------------------------------------------------------
# TrainResult -> Dataset


def result_to_dataset(result, config: dict | None = None) -> xr.Dataset:
    """The labelled dataset of a trained batch (:class:`dynloss.engine.TrainResult`).

    A batch with one (A, T, lr) has dims ``(seed, step, ...)`` and scalar coordinates
    ``loss, width, lr, A, T``; a batch of varied (A, T, lr) has a ``run`` dimension with
    ``seed, A, T, lr`` as coordinates along it.
    """
    from .spec import spec_to_dict

    spec, batch = result.spec, result.batch
    run = "seed" if batch.uniform else "run"
    steps = result.steps
    cls = np.arange(spec.num_classes)
    data = {
        "L": ((run, "step"), result.loss),
        "F": ((run, "step"), result.dyn_loss),
        "train_acc": ((run, "step"), result.train_acc),
        "gamma": ((run, "step", "class_index"), result.gamma),
        "L_init": ((run,), result.loss_init),
        "final_train_acc": ((run,), result.final_train_acc),
        "test_acc": ((run,), result.test_acc),
        "test_acc_each": ((run, "test_set"), result.test_acc_each),
        "diverged": ((run,), result.diverged.astype(bool)),
        "diverged_step": ((run,), result.diverged_step),
    }
    if spec.record_every == 1:
        prev = np.concatenate([result.loss_init[:, None], result.loss[:, :-1]], axis=1)
        data["dL"] = ((run, "step"), result.loss - prev)
    data_set, data_values = spec.data_set(), spec.data_values()
    coords: dict[str, Any] = {"step": steps, "class_index": cls,
                              "test_set": np.asarray(data_set.test_sets(data_values))}
    for name, arr in result.spectra.items():
        sdim = {"hess_eig": "step_hess", "ntk_lmax": "step_ntk"}.get(name, "step_density")
        coords[sdim] = result.spectra_steps[name]
        if name == "hess_eig":
            data[name] = ((run, sdim, "eig"), arr)
            coords["eig"] = np.arange(arr.shape[-1])
        elif name == "ntk_lmax":
            data[name] = ((run, sdim), arr)
        else:
            data[name] = ((run, sdim, "vector", "lanczos"), arr)
    if "ritz_values" in result.spectra:
        grid, dens = density_on_grid(result.spectra["ritz_values"], result.spectra["ritz_weights"])
        coords["grid"] = ((run, "grid_index"), grid)
        data["density"] = ((run, "step_density", "grid_index"), dens)
    if run == "seed":
        coords["seed"] = batch.seeds
        scalars = {"A": batch.A[0], "T": batch.T[0], "lr": batch.lr[0]}
    else:
        coords["run"] = np.arange(len(batch))
        scalars = {}
        for name in ("seed", "A", "T", "lr"):
            coords[name] = ("run", getattr(batch, name if name != "seed" else "seeds"))
    coords.update({"loss": spec.loss, "width": spec.width, **scalars})
    ds = xr.Dataset(data, coords=coords)
    for name, doc in VARIABLE_DOCS.items():
        if name in ds:
            ds[name].attrs["description"] = doc
    describe(ds)
    ds.attrs.update({"loss": spec.loss, "width": spec.width, "steps": spec.steps, "dtype": spec.dtype,
                     "data": json.dumps(data_set.attributes(data_values), sort_keys=True),
                     "compile_s": result.timings.get("compile_s", np.nan),
                     "run_s": result.timings.get("run_s", np.nan)})
    cfg = {"train_spec": spec_to_dict(spec)}
    if config:
        cfg.update(config)
    return stamp(ds, cfg)


def density_on_grid(values: np.ndarray, weights: np.ndarray, n_grid: int = 512,
                    rel_sigma: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Each run's density, averaged over start vectors, on a grid of its own.

    A run's grid spans its own Ritz values (over all its density steps) and its broadening is
    ``rel_sigma`` times that span, so a run's density does not depend on the other runs of its
    job. A run without finite Ritz values (diverged) gets NaN.

    Args:
        values: Ritz values, shape (runs, steps, vectors, order).
        weights: their weights, same shape.
        n_grid: grid points per run.
        rel_sigma: broadening relative to the run's span.

    Returns:
        ``(grid (runs, n_grid), density (runs, steps, n_grid))``.
    """
    from .spectra import density

    values, weights = np.asarray(values), np.asarray(weights)
    grids = np.full((values.shape[0], n_grid), np.nan)
    dens = np.full((values.shape[0], values.shape[1], n_grid), np.nan)
    for r in range(values.shape[0]):
        finite = values[r][np.isfinite(values[r])]
        if not finite.size:
            continue
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1e-12)
        grids[r] = np.linspace(lo - 0.05 * span, hi + 0.05 * span, n_grid)
        dens[r] = density(values[r], weights[r], grids[r], rel_sigma * span).mean(axis=-2)
    return grids, dens


# --------------------------------------------------------------------------------------------
# Combining jobs


def _claim(held: dict[tuple, str], ds: xr.Dataset, dims: Sequence[str], path: str) -> None:
    """Record the runs of ``ds`` (one key per combination of its ``dims`` coordinates) in ``held``;
    ``ValueError`` naming both files when another file holds one of them already (which one
    would win depended on the order of the files)."""
    names = [d for d in dims if d in ds.dims]
    for key in itertools.product(*(ds[d].values.tolist() for d in names)):
        key = tuple(zip(names, key))
        other = held.setdefault(key, path)
        if other != path:
            where = ", ".join(f"{n}={v}" for n, v in key)
            raise ValueError(f"{other!r} and {path!r} both hold the run at {where}; delete the one "
                             "that should not be there")


#: combine dimensions a job file holds as a data parameter of its training spec (``config`` attribute)
#: rather than as a coordinate; ``data_seed`` is whichever parameter draws the data set's training set
#: (``DataSet.seed_param``: a spiral's noise seed, a split's seed)
SPEC_DIMS = {"spiral": "train_seed", "data_seed": None}


def combine(paths: Sequence[str | os.PathLike], dims: Iterable[str] = ("loss", "width", "lr", "A", "T"),
            attrs: dict | None = None) -> xr.Dataset:
    """Combine per-job datasets into one with the given scalar coordinates as dimensions.

    Each job's scalar coordinates in ``dims`` become length-1 dimensions, then the jobs are
    combined by coordinates (missing combinations are NaN).
    """
    parts = []
    sources = []
    created: list[str] = []  # when each job was made (its provenance), kept as the range
    held: dict[tuple, str] = {}
    for p in paths:
        ds = open_dataset(p)
        for d, key in SPEC_DIMS.items():  # e.g. a replication's training spiral
            if d in dims and d not in ds.coords:
                from .spec import spec_from_dict

                spec = spec_from_dict(json.loads(ds.attrs["config"])["train_spec"])
                ds = ds.assign_coords({d: int(spec.data_values()[key or spec.data_set().seed_param])})
        keep = [d for d in dims if d in ds.coords and ds[d].ndim == 0]
        ds = ds.expand_dims(keep)
        with contextlib.suppress(KeyError, ValueError, TypeError):
            created.append(json.loads(ds.attrs["provenance"])["created"])
        for k in ("config", "provenance", SCALAR_CHECKSUM):
            ds.attrs.pop(k, None)
        _claim(held, ds, [*dims, "seed", "run"], str(p))
        parts.append(ds)
        sources.append(str(p))
    if not parts:
        raise ValueError("no datasets to combine")
    # compat explicit: two jobs of one grid point must conflict, never silently override
    out = xr.combine_by_coords(parts, compat="no_conflicts", combine_attrs="drop_conflicts", join="outer")
    if isinstance(out, xr.DataArray):  # pragma: no cover - only with a single variable
        out = out.to_dataset()
    # the combined dims first, in the order asked (jobs over several widths or grid points have
    # some of them as dimensions already, in their own order)
    lead = [d for d in dims if d in out.dims]
    for name in list(out.data_vars):
        var = out[name]
        order = [d for d in lead if d in var.dims] + [d for d in var.dims if d not in lead]
        if list(var.dims) != order:
            out[name] = var.transpose(*order)
    from .static_row import share_static_row

    out = stamp(share_static_row(out), attrs or {}, sources=sources)
    if created:
        out.attrs["sources_created"] = json.dumps([min(created), max(created)])
    return out

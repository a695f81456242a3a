"""What a figure shows, in words taken from the data it plots: the parameter line under its title
(width, eta, A, T, steps, seeds, the data set) and its footer stamp (scale, git commit, date).

The config's ``title`` stays the figure's name (e.g. "Dynamical CE: training dynamics"); every
parameter value printed on a figure comes from the dataset's coordinates and attributes, so a
quick-scale figure cannot claim the paper's T, and synthetic images are labelled synthetic.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import xarray as xr

#: at most this many values are listed; longer grids are shown as a range and a count
MAX_LISTED = 5


def values_text(name: str, values: Sequence[float]) -> str:
    """``"A = 70"``, ``"A in {1, 10, 40}"`` or ``"A in [1, 70] (10 values)"``.

    Args:
        name: the parameter's printed name.
        values: its values (duplicates are ignored).

    Returns:
        The text.
    """
    vals = sorted({float(v) for v in np.atleast_1d(values) if np.isfinite(float(v))})
    if not vals:
        return ""
    if len(vals) == 1:
        return f"{name} = {vals[0]:g}"
    if len(vals) <= MAX_LISTED:
        return f"{name} in {{{', '.join(f'{v:g}' for v in vals)}}}"
    return f"{name} in [{vals[0]:g}, {vals[-1]:g}] ({len(vals)} values)"


def _attr_json(attrs: Mapping[str, Any], key: str) -> dict:
    try:
        v = json.loads(attrs.get(key, "") or "{}")
    except (TypeError, ValueError):
        return {}
    return v if isinstance(v, dict) else {}


def data_source_text(options: Mapping[str, Any]) -> str:
    """The data set of a study that reads CIFAR-10 (config key ``cifar_dir``: the folder, or the
    synthetic look-alike), else ``""``."""
    cifar = options.get("cifar_dir")
    if cifar is None:
        return ""
    if cifar == "synthetic":
        size = (options.get("synthetic") or {}).get("image_size")
        return ("SYNTHETIC data (random CIFAR-10-format images" + (f", {size}x{size}" if size else "")
                + "), not CIFAR-10")
    return "CIFAR-10"


def dataset_text(ds: xr.Dataset, options: Mapping[str, Any]) -> str:
    """The parameter line of a figure drawn from ``ds``: only values read from the dataset (and the
    data-set label, from the options that made it).

    Args:
        ds: the plotted dataset (opened lazily is enough: coordinates and attributes are read).
        options: the figure options (the study config).

    Returns:
        E.g. ``"width = 100, eta = 1, A = 70, T = 500; 3000 steps; seed 0"``.
    """
    parts = []
    static = "A" in ds.coords and bool(np.all(np.asarray(ds["A"].values, float) == 1.0))
    for coord, name in (("width", "width"), ("channels", "channels"), ("lr", "eta"), ("A", "A"), ("T", "T")):
        if coord == "T" and static:  # A = 1 is the static loss: its period is a placeholder
            continue
        if coord in ds.coords:
            parts.append(values_text(name, ds[coord].values))
    head = ", ".join(p for p in parts if p)
    extra = []
    if "step" in ds.coords and ds.sizes.get("step", 0):
        extra.append(f"{int(np.max(ds['step'].values)) + 1} steps")
    elif options.get("epochs"):
        extra.append(f"{options['epochs']} epochs")
    elif options.get("steps"):
        extra.append(f"{options['steps']} steps")
    if "seed" in ds.dims:
        n = ds.sizes["seed"]
        extra.append(f"seed {int(ds['seed'].values[0])}" if n == 1 else f"{n} seeds")
    elif "run" in ds.dims:
        extra.append(f"{ds.sizes['run']} runs of varied (A, T) per eta")
    src = data_source_text(options)
    if src:
        extra.append(src)
    return "; ".join([head] + extra if head else extra)


def _schedule_text(options: Mapping[str, Any]) -> str:
    from ..data import num_classes as classes_of

    return ", ".join([f"A = {float(options['A']):g}", f"T = {float(options['T']):g}",
                      f"C = {classes_of(options.get('data') or {})} classes",
                      f"{int(options['steps'])} steps"])


def _spiral_text(options: Mapping[str, Any]) -> str:
    data = options.get("data") or {}
    return (f"{data.get('num_classes', 3)} classes x {data.get('points_per_class', 100)} points, "
            f"noise {float(data.get('noise', 0.2)):g}, seed {data.get('train_seed', 0)}"
            + (f" (test seeds {', '.join(map(str, data['test_seeds']))} faint)" if data.get("test_seeds") else ""))


#: figure kind -> the parameter line of a figure drawn from its options alone
OPTION_TEXTS = {"schedule": _schedule_text, "spiral": _spiral_text}


def options_text(kind: str, options: Mapping[str, Any]) -> str:
    """The parameter line of a figure computed from its options alone (schedules, the spiral)."""
    text = OPTION_TEXTS.get(kind)
    return text(options) if text else ""


def stamp_text(attrs: Optional[Mapping[str, Any]], options: Mapping[str, Any]) -> str:
    """``"scale quick | commit 1a2b3c4 | 2026-11-27"``: from the dataset's provenance attributes
    (``scale``, ``git_commit``, ``created``) where present, else the config's scale and this
    checkout's commit and today's date (figures drawn from no data).

    Args:
        attrs: the plotted dataset's attributes, or ``None``.
        options: the figure options (may carry ``scale``).

    Returns:
        One line.
    """
    from ..provenance import git_commit

    attrs = attrs or {}
    cfg = _attr_json(attrs, "config")
    scale = attrs.get("scale") or cfg.get("scale") or options.get("scale") or "unknown"
    commit = str(attrs.get("git_commit") or (git_commit() if not attrs else "unknown"))
    sha, _, dirty = commit.partition("-")
    short = sha[:7] + (f"-{dirty}" if dirty else "")
    created = str(attrs.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat())[:10]
    return f"scale {scale} | commit {short} | {created}"


def title(prefix: str, params: str) -> str:
    """The figure's title: its name, then the parameter line."""
    if prefix and params:
        return f"{prefix}\n{params}"
    return prefix or params

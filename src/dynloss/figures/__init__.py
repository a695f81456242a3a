from __future__ import annotations

"""Figures: one module per figure type, each a ``render(...) -> matplotlib Figure`` of data.

They read the labelled NetCDF datasets (never re-run training) and are called by
``python -m dynloss figure`` from the Snakemake figure rules.
"""


import importlib
from typing import Callable

#: figure kind -> "module:function" taking (inputs, options, title) and returning a Figure
RENDERERS = {
    "contour": "contours:from_files",
    "curves": "curves:from_files",
    "schedule": "schedules:from_files",
    "spiral": "spiral:from_files",
    "dynamics": "dynamics:from_files",
    "density": "density:from_files",
    "thresholds": "thresholds:from_files",
    "sensitivity": "sensitivity:from_files",
    "curves_infinite": "sensitivity:curves_from_files",
}


def renderer(kind: str) -> Callable:
    """The render function of a figure kind; ``ValueError`` lists the known kinds."""
    try:
        target = RENDERERS[kind]
    except KeyError:
        raise ValueError(f"unknown figure kind {kind!r} (allowed: {', '.join(RENDERERS)})") from None
    module, func = target.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)

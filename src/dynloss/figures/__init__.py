"""Figures: one module per figure type, each a ``render(...) -> matplotlib Figure`` of data.

They read the labelled NetCDF datasets (never re-run training) and are called by
``python -m dynloss figure`` from the Snakemake figure rules. :func:`renderer` wraps every kind
alike: the title gets a parameter line read from the plotted data and the figure a footer stamp
(scale, commit, date), see :mod:`dynloss.figures.describe`.
"""

from __future__ import annotations

import functools
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
    "replication": "replication:from_files",
}


def renderer(kind: str) -> Callable:
    """The render function of a figure kind; ``ValueError`` lists the known kinds.

    The returned function takes ``(inputs, options, title)``; ``title`` is the figure's name, to
    which the parameters read from the first input (or from the options for figures drawn from no
    data) are added, and the returned figure carries the stamp that ``common.save`` draws.
    """
    try:
        target = RENDERERS[kind]
    except KeyError:
        raise ValueError(f"unknown figure kind {kind!r} (allowed: {', '.join(RENDERERS)})") from None
    module, func = target.split(":")
    fn = getattr(importlib.import_module(f"{__name__}.{module}"), func)

    @functools.wraps(fn)
    def render(inputs, options: dict, title: str):
        from . import common, describe

        attrs, params = None, describe.options_text(kind, options)
        if inputs:
            from ..netcdf import open_header

            with open_header(inputs[0]) as ds:  # lazily (coordinates and attributes), checked
                attrs, params = dict(ds.attrs), describe.dataset_text(ds, options)
        fig = fn(inputs, options, describe.title(title, params))
        common.set_stamp(fig, describe.stamp_text(attrs, options))
        return fig

    return render

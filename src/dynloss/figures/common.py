"""Shared figure helpers: headless backend, class colours, the footer stamp, log axes ticked at
the plotted values, legends outside the data, saving PDF and PNG atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

import matplotlib

matplotlib.use("Agg")  # headless: jobs run on clusters without a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator  # noqa: E402

#: the thesis's class colours (red, yellow, blue) and more for C > 3: ten distinct ones (the digits' C = 10)
CLASS_COLOURS = ["#d62728", "#e6b800", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#17becf", "#000000"]

#: attribute of a Figure that holds its footer stamp until :func:`save` draws it
STAMP_ATTR = "_dynloss_stamp"


def class_colour(k: int) -> str:
    return CLASS_COLOURS[k % len(CLASS_COLOURS)]


def panel_label(ax, letter: str) -> None:
    ax.text(0.01, 0.98, f"({letter})", transform=ax.transAxes, va="top", ha="left",
            fontsize=9, fontweight="bold")


def set_stamp(fig, text: str) -> None:
    """Attach a footer stamp (e.g. scale, commit, date) that :func:`save` draws under the figure.

    Args:
        fig: the figure.
        text: one short line.
    """
    setattr(fig, STAMP_ATTR, text)


def _draw_stamp(fig) -> None:
    text = getattr(fig, STAMP_ATTR, "")
    if text and not getattr(fig, "_dynloss_stamp_drawn", False):
        # below the figure's bottom edge: never over an axis; bbox_inches="tight" grows to include it
        fig.text(0.995, 0.0, text, ha="right", va="top", fontsize=6.5, color="0.35")
        fig._dynloss_stamp_drawn = True


def log_ticks_at(ax, values: Iterable[float], axis: str = "x") -> None:
    """Log scale on ``axis`` with ticks exactly at ``values`` (e.g. the plotted eta), labelled
    plainly ("0.5", not "5x10^-1"), and no minor ticks.

    Args:
        ax: the axes.
        values: the tick positions (positive).
        axis: ``"x"`` or ``"y"``.
    """
    vals = sorted({float(v) for v in values})
    getattr(ax, f"set_{axis}scale")("log")
    a = getattr(ax, f"{axis}axis")
    a.set_major_locator(FixedLocator(vals))
    # a tick closer than a tenth of the span (in log) to the last labelled one keeps its mark but no
    # label, so crowded values (5000, 7500, 10000, 12500 of a 100..12500 axis) do not overprint
    gap = np.log10(vals[-1] / vals[0]) / 10 if len(vals) > 1 else 0.0
    labelled, last = set(), None
    for v in vals:
        if last is None or np.log10(v / last) >= gap:
            labelled.add(v)
            last = v
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}" if float(v) in labelled else ""))
    a.set_minor_locator(NullLocator())


def plain_log_axis(ax, axis: str = "y") -> None:
    """Log scale on ``axis`` with plain number labels: decades and, over less than three decades,
    2x and 5x sub-ticks ("0.6", "2", never "6x10^-1"); over about one decade or less, also 1.5x, 3x, 4x
    and 7x (so a short axis has more than two labels).

    Args:
        ax: the axes (call after plotting, so the data limits are known).
        axis: ``"x"`` or ``"y"``.
    """
    import numpy as np

    getattr(ax, f"set_{axis}scale")("log")
    a = getattr(ax, f"{axis}axis")
    lo, hi = sorted(getattr(ax, f"get_{axis}lim")())
    decades = np.log10(hi / lo) if lo > 0 and hi > 0 else np.inf
    subs = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0) if decades < 1.2 else (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    a.set_major_locator(LogLocator(base=10.0, subs=subs))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_locator(LogLocator(base=10.0, subs=np.arange(2, 10) * 1.0))
    a.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, outside the data area (constrained layout makes room).

    Args:
        ax: the axes.
        **kwargs: passed to ``ax.legend`` (e.g. ``fontsize``).

    Returns:
        The legend.
    """
    kw = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8,
          "frameon": False}
    kw.update(kwargs)
    return ax.legend(**kw)


def save(fig, *paths: str | os.PathLike, dpi: int = 150) -> None:
    """Save ``fig`` to each path (format from the suffix), all or none, then close it.

    Every file is drawn to a temporary first; only when all are drawn do they replace their
    targets, so a failed write (a full disk) leaves the previous files as they were, never a new
    PDF beside an old or missing PNG. The figure's footer stamp (:func:`set_stamp`), if any, is
    drawn first.
    """
    import contextlib

    from ..files import atomic_path

    _draw_stamp(fig)
    stamp = getattr(fig, STAMP_ATTR, "")
    try:
        with contextlib.ExitStack() as stack:
            for path in paths:
                # the stamp also in the PNG's text chunk, where `dynloss publish` reads it
                meta = {"Comment": stamp} if stamp and Path(path).suffix == ".png" else None
                tmp = stack.enter_context(atomic_path(path, suffix=Path(path).suffix))  # the suffix picks the format
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=meta)
    finally:
        plt.close(fig)

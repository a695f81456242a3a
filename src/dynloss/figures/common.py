"""Shared figure helpers: headless backend, class colours, saving PDF and PNG atomically."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: jobs run on clusters without a display
import matplotlib.pyplot as plt  # noqa: E402

#: the thesis's class colours (red, yellow, blue) and more for C > 3
CLASS_COLOURS = ["#d62728", "#e6b800", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]


def class_colour(k: int) -> str:
    return CLASS_COLOURS[k % len(CLASS_COLOURS)]


def panel_label(ax, letter: str) -> None:
    ax.text(0.01, 0.98, f"({letter})", transform=ax.transAxes, va="top", ha="left",
            fontsize=9, fontweight="bold")


def save(fig, *paths: str | os.PathLike, dpi: int = 150) -> None:
    """Save ``fig`` to each path (format from the suffix), atomically, then close it."""
    from ..io import atomic_path

    for path in paths:
        with atomic_path(path, suffix=Path(path).suffix) as tmp:  # the suffix picks the format
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)

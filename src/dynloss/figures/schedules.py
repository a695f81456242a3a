"""Class weights over time: figure 3.1 (normalised Gamma_i, eq. 3.5) and 4.5 (raw G^_i, eq. 3.4)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import schedules
from .common import class_colour, legend_outside


def render(A: float, T: float, steps: int, num_classes: int = 3, weights: str = "normalised",
           title: str = "", stop_last_period: bool = False):
    t = np.arange(steps)
    fn = schedules.KINDS[weights]
    w = np.asarray(fn(t, A, T, num_classes, steps if stop_last_period else None))
    fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
    for k in range(num_classes):
        ax.plot(t, w[:, k], color=class_colour(k), lw=1.4, label=f"class {k}")
    name = r"$\Gamma_i(t)$" if weights == "normalised" else r"$\hat G_i(t)$"
    ax.set_xlabel("step t")
    ax.set_ylabel(name)
    ax.set_xlim(0, steps)
    legend_outside(ax)
    ax.set_title(title or f"{name}, A = {A:g}, T = {T:g}", fontsize=10)
    return fig


def from_files(inputs, options: dict, title: str):
    from ..data import num_classes as classes_of

    # the class count of the figure's data block (the config's, or the figure's own): C = 10 for the digits
    return render(options["A"], options["T"], options["steps"], classes_of(options.get("data") or {}),
                  options.get("weights", "normalised"), title)

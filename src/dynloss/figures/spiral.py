"""The training spiral coloured by class (figure 3.3), with the test spirals faint behind it."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..data.spiral import spiral
from .common import class_colour, legend_outside


def render(points_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int = 0,
           test_seeds=(), title: str = ""):
    fig, ax = plt.subplots(figsize=(4.6, 4.6), constrained_layout=True)
    for s in test_seeds:
        d = spiral(points_per_class, num_classes, s, noise)
        for k in range(num_classes):
            sel = d.labels == k
            ax.scatter(d.x[sel, 0], d.x[sel, 1], s=4, color=class_colour(k), alpha=0.12, linewidths=0)
    d = spiral(points_per_class, num_classes, seed, noise)
    for k in range(num_classes):
        sel = d.labels == k
        ax.scatter(d.x[sel, 0], d.x[sel, 1], s=14, color=class_colour(k), edgecolors="k",
                   linewidths=0.3, label=f"class {k}")
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    legend_outside(ax)
    ax.set_title(title or f"spiral: {num_classes} x {points_per_class} points, noise {noise:g}", fontsize=10)
    return fig


def from_files(inputs, options: dict, title: str):
    d = options.get("data", {})
    return render(d.get("points_per_class", 100), d.get("num_classes", 3), d.get("noise", 0.2),
                  d.get("train_seed", 0), d.get("test_seeds", ()), title)

"""Run batching: one compiled program over the R runs of a batch, ``vmap`` or ``lax.map``.

``vmap`` turns the runs into one wide computation, which fills an accelerator; on a CPU the
runs one after the other (``lax.map``) are faster, the working set of one run staying in cache
(see :data:`dynloss.spec.BATCH_MODES`; the measurements are in ``benchmarks/RESULTS.md``).
"""
from __future__ import annotations

from typing import Callable

import jax

from ..spec import TrainSpec


def batch_mode(spec: TrainSpec) -> str:
    """``"vmap"`` or ``"map"``: the spec's choice, or for ``"auto"`` the one for this backend."""
    if spec.batch != "auto":
        return spec.batch
    return "map" if jax.default_backend() == "cpu" else "vmap"


def over_runs(single: Callable, in_axes: tuple, mode: str) -> Callable:
    """``single`` over the run axis of the arguments whose ``in_axes`` entry is 0 (those with
    ``None`` are shared): ``vmap`` (``mode="vmap"``), or ``lax.map`` one run after the other."""
    if mode == "vmap":
        return jax.vmap(single, in_axes=in_axes)

    def mapped(*args):
        def one(per_run):
            it = iter(per_run)
            return single(*(next(it) if ax == 0 else a for a, ax in zip(args, in_axes)))
        return jax.lax.map(one, tuple(a for a, ax in zip(args, in_axes) if ax == 0))
    return mapped

"""Chunk lengths of a run: how the steps are cut into compiled programs."""
from __future__ import annotations

import math
from typing import Sequence

from .problem import Problem

#: most bytes of parameter snapshots a chunk may hold for its deferred measurements; longer
#: chunks are cut (see :func:`plan`)
SNAPSHOT_BYTES = 256 * 2 ** 20
#: with measurements, a run is cut into at least this many chunks (see :func:`plan`)
PIPELINE_CHUNKS = 8


def snapshot_bytes_per_step(problem: Problem, snap_cadences: Sequence[int], runs: int) -> float:
    """Average bytes of parameter snapshots per training step (0 without measurements)."""
    if not snap_cadences:
        return 0.0
    return runs * problem.param_bytes() * sum(1.0 / c for c in snap_cadences)


def plan(problem: Problem, snap_cadences: Sequence[int] = (), runs: int = 1) -> list[int]:
    """Chunk lengths, each a multiple of the top cadence: ~chunk_steps, cut at density steps.

    With measurements (``snap_cadences``), chunks are also short enough that the parameter
    snapshots of ``runs`` runs fit :data:`SNAPSHOT_BYTES`, there are at least
    :data:`PIPELINE_CHUNKS` of them, and the last one is one top cadence long: chunk ``k`` is
    measured while ``k + 1`` trains, so only the last chunk's measurements are not hidden.
    """
    spec = problem.spec
    steps, c_top = spec.steps, spec.cadences()[-1]
    size = max(c_top, (spec.chunk_steps // c_top) * c_top)
    per_step = snapshot_bytes_per_step(problem, snap_cadences, runs)
    if per_step:
        size = min(size, max(c_top, int(SNAPSHOT_BYTES // (per_step * c_top)) * c_top),
                   max(c_top, math.ceil(steps / PIPELINE_CHUNKS / c_top) * c_top))
    cuts = set(range(0, steps, size)) | {s + 1 for s in spec.spectra.density_steps}
    if per_step:
        cuts.add(steps - c_top)
    cuts = sorted(c for c in cuts if 0 <= c < steps) + [steps]
    return [b - a for a, b in zip(cuts, cuts[1:])]

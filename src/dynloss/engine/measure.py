"""The measurement pipeline: the spectra of each chunk's parameter snapshots, measured on a
second thread while the next chunk trains.

The training program (:func:`dynloss.engine.program.chunk_fn`) emits a snapshot of the
parameters at each measurement step; the programs here measure a chunk's snapshots, in vmapped
groups of :data:`MEASURE_GROUP` snapshots inside a ``lax.map``. On a CPU the two programs use
both cores; on an accelerator a chunk's NTKs and Lanczos runs become a few wide batches instead
of one small program per step. A measurement "at step t" uses the parameters after update ``t``
and the class weights of step ``t``, like the metrics, so the numbers are those of measuring
inside the training loop; only the schedule differs.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .. import spectra
from .batching import over_runs
from .cache import compiled
from .problem import Data, Problem, RunArgs

#: snapshots per vmapped group of a measurement program, by batch mode: small on CPU (larger
#: groups were slower), wide on accelerators yet bounded in memory (an NTK Gram of 300 points is
#: 0.7 MB in float64); the measurements are in benchmarks/RESULTS.md ("engine")
MEASURE_GROUP = {"map": 4, "vmap": 256}


def measure_cadences(measures: Mapping[str, spectra.Measurement]) -> list[int]:
    """The distinct cadences of ``measures``, ascending."""
    return sorted({m.cadence for m in measures.values()})


def measure_fn(problem: Problem, cadence: int, mode: str) -> Callable:
    """``(params snapshots (R, n, ...), steps (n,), args, data) -> {name: (R, n, ...)}``: the
    measurements (:func:`dynloss.spectra.measurements`) of that cadence at each snapshot."""
    mine = {k: m for k, m in spectra.measurements(problem).items() if m.cadence == cadence}

    def single(params, steps, args, data):
        p = problem.with_data(data)

        def one(ps):
            return {k: m.fn(p, ps[0], ps[1], args) for k, m in mine.items()}
        return jax.lax.map(one, (params, steps), batch_size=MEASURE_GROUP[mode])

    return over_runs(single, (0, None, 0, None), mode)


def compile_measures(problem: Problem, lengths, params, args: RunArgs, mode: str) -> dict:
    """``{(chunk length, cadence): compiled measurement (snapshots, steps, args, data)}`` for every
    chunk length of the plan and every cadence of the problem's measurements (cached), ``params``
    being the batch's parameters (for the shapes)."""
    out = {}
    for c in measure_cadences(spectra.measurements(problem.structure())):
        for n in sorted(set(lengths)):
            snaps = jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct(a.shape[:1] + (n // c,) + a.shape[1:], a.dtype), params)
            out[n, c] = compiled("measure", (("cadence", c), ("steps", n), ("mode", mode)), problem,
                                 lambda p, c=c: measure_fn(p, c, mode),
                                 (snaps, jax.ShapeDtypeStruct((n // c,), jnp.int32), args))
    return out


def density_fn(problem: Problem, mode: str) -> Callable:
    """``(params, t, args, data) -> {ritz_values, ritz_weights}`` of shape
    (R, density_vectors, order), the eigenvalue density's Lanczos runs at step ``t``."""
    single = spectra.density_measurement(problem)
    return over_runs(lambda params, t, args, data: single(problem.with_data(data), params, t, args),
                     (0, None, 0, None), mode)


def compiled_density(problem: Problem, mode: str, params, args: RunArgs):
    """Compiled :func:`density_fn` for arguments of these shapes (cached)."""
    return compiled("density", (("mode", mode),), problem, lambda p: density_fn(p, mode), (params, jnp.int32(0), args))


class Pipeline:
    """Measures chunks' snapshots on one worker thread, in submission order.

    Use as a context manager; :meth:`submit` returns at once, :meth:`result` waits.
    """

    def __init__(self, compiled: Mapping, args: RunArgs, data: Data):
        self._compiled = compiled
        self._args = args
        self._data = data
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynloss-measure")

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True)

    def _measure(self, n: int, t0: int, snaps: dict) -> dict:
        out = {}
        for c, params in snaps.items():
            steps = jnp.asarray(t0 - 1 + c * np.arange(n // c), jnp.int32)
            out.update(jax.device_get(self._compiled[n, c](params, steps, self._args, self._data)))
        return out

    def submit(self, n: int, t0: int, snaps: dict) -> Future:
        """Measure the snapshots ``{cadence: params (R, n // cadence, ...)}`` of the chunk of
        ``n`` steps from ``t0``; the future's result is ``{name: (R, n // cadence, ...)}``."""
        return self._pool.submit(self._measure, n, t0, snaps)

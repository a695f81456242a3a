"""The training engine: pure builders of compiled programs around an immutable :class:`Problem`,
compiled once per program structure.

- :mod:`.problem`  :class:`Problem` (model, losses, data, class weights) from a TrainSpec, its
  :class:`Data` and its structure key; :class:`RunArgs`, :class:`StepArgs`, :class:`Carry`
- :mod:`.program`  the GD step and the nested scans: chunk and final programs
- :mod:`.batching` the runs of a batch in one program: ``vmap`` or ``lax.map``
- :mod:`.cache`    the compiled programs of this process, by program structure (:data:`PROGRAMS`)
- :mod:`.plan`     chunk lengths
- :mod:`.measure`  spectra of parameter snapshots, measured beside the training
- :mod:`.replay`   parameters after given steps, recomputed with the training step
- :mod:`.loop`     :func:`train`, the loop over chunks, and :class:`TrainResult`

The data and the per-run values (seed, A, T, eta) are arguments of the compiled programs, never
constants compiled into them; a second job of the same structure in a process compiles nothing.
"""
from .batching import batch_mode, over_runs
from .cache import PROGRAMS
from .problem import Carry, Data, Problem, RunArgs, StepArgs, initial_carry, make_problem, run_args
from .replay import Replay
from .loop import TrainResult, train

__all__ = ["Carry", "Data", "PROGRAMS", "Problem", "Replay", "RunArgs", "StepArgs", "TrainResult", "batch_mode",
           "initial_carry", "make_problem", "over_runs", "run_args", "train"]

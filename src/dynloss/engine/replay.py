"""Replay: the parameters of given runs after given steps, recomputed with the training step.

Exact measurements off the spectra cadence (the Hessian at an onset step, a zoom window) start
from these parameters; they are those of training because the replay runs the same step
function (:func:`dynloss.engine.program.step`) on the same class-weight table.
"""
from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import RunBatch
from .batching import batch_mode, over_runs
from .cache import compiled
from .problem import Problem, initial_carry, run_args
from .program import step, step_args


def replay_fn(problem: Problem, mode: str) -> Callable:
    """``(carry, t0, target (R,), args, data) -> carry``: ``chunk_steps`` training steps from
    ``t0`` on ``data`` that stop (hold) each run after update ``target[r]``.

    A fixed trip count on purpose: a ``fori_loop(0, target + 1)`` per run inside ``lax.map``
    returned the initial parameters when its executable came from JAX's persistent compilation
    cache on CPU (tests/test_engine.py::test_replay_survives_the_cache; benchmarks/RESULTS.md,
    "engine", has the version and what is known)."""
    n = problem.spec.chunk_steps

    def single(carry, t0, target, args, data):
        p = problem.with_data(data)
        args = step_args(p, args, t0, n)

        def body(cr, t):
            new = step(p, cr, t, args, emit=False)[0]
            keep = t > target
            return jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), cr, new), None
        return jax.lax.scan(body, carry, t0 + jnp.arange(n, dtype=jnp.int32))[0]

    return over_runs(single, (0, None, 0, 0, None), mode)


class Replay:
    """``replay(batch, targets)``: parameters after update ``targets[r]`` for each run of
    ``batch``, replayed from the initialisation. Its program is compiled once per program
    structure (:mod:`dynloss.engine.cache`), so every replay of a job, and of any job of the same
    structure in this process, shares it."""

    def __init__(self, problem: Problem, mode: Optional[str] = None):
        self.problem = problem
        self.mode = mode or batch_mode(problem.spec)

    def __call__(self, batch: RunBatch, targets: np.ndarray):
        """Parameters (a pytree with a leading run axis) after update ``targets[r]`` (0-based,
        ``0 <= targets[r] < steps``) of run ``r``."""
        steps = self.problem.steps
        targets = np.asarray(targets)
        if targets.shape != (len(batch),) or np.any(targets < 0) or np.any(targets >= steps):
            raise ValueError(f"targets must be {len(batch)} steps in 0..{steps - 1}")
        carry, args = initial_carry(self.problem, batch), run_args(self.problem, batch)
        tg = jnp.asarray(targets, jnp.int32)
        mode = self.mode
        program = compiled("replay", (("mode", mode),), self.problem, lambda p: replay_fn(p, mode),
                           (carry, jnp.int32(0), tg, args))
        data = self.problem.data
        for t0 in range(0, int(targets.max()) + 1, self.problem.spec.chunk_steps):
            carry = program(carry, jnp.int32(t0), tg, args, data)
        return carry.params

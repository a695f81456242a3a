"""The compiled training programs: the GD step and the nested scans over it.

Indexing (thesis eq. 2.8 with the loss of eq. 3.1 and the class weights of eqs. 3.2-3.5): the
update at step ``t = 0, 1, ...`` is ``W <- W - eta grad F(W; t)`` with the class weights of step
``t``; the metrics *at step t* are taken after that update: static loss ``L``, dynamical loss
``F`` with the weights of step ``t``, train accuracy and the weights themselves. They are
recorded at the steps ``t`` with ``(t + 1) % record_every == 0``, so the last step is always
recorded. The metrics of step ``t - 1`` are read off the forward pass that step ``t`` needs for
its gradient (one forward per step, not two).

Measurements with a cadence: the cadences, sorted, each divide the next (e.g. record 1, NTK 10,
Hessian 100) and the scan is nested accordingly, one level per cadence. A level whose cadence
has measurements emits a snapshot of the parameters (after update ``t0 - 1``), which
:mod:`dynloss.engine.measure` measures outside this program.

A run whose loss becomes non-finite keeps NaN parameters from there on and records the step in
:attr:`Carry.div_step`; the other runs of the batch are unaffected.

The builders (:func:`chunk_fn`, :func:`final_fn`) are pure functions of a :class:`Problem` and
static choices (cadences, chunk length, batch mode); the functions they return take the job's
:class:`Data` as their last argument and bind it into the problem while tracing, so no data value
is compiled in. :func:`compiled_chunk` and :func:`compiled_final` compile them once per program
structure (:mod:`dynloss.engine.cache`); :func:`chunk_program` runs a cached chunk on a problem's
own data.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from .. import losses as losses_mod
from .. import spectra
from .batching import over_runs
from .cache import compiled
from .problem import Carry, Problem, RunArgs, StepArgs


def snap_key(cadence: int) -> str:
    """Output name of the parameter snapshots taken every ``cadence`` steps."""
    return f"params@{cadence}"


def step_args(problem: Problem, args: RunArgs, t0, n_steps: int) -> StepArgs:
    """``args`` plus the class-weight table of steps ``t0 - 1 .. t0 + n_steps - 1`` (the record
    of step ``t0 - 1`` needs its weights too), which :func:`step` reads. One table per program
    rather than the schedule inside each step, which was much slower on XLA:CPU
    (benchmarks/RESULTS.md, "engine")."""
    first = t0 - 1
    table = problem.weights(first + jnp.arange(n_steps + 1, dtype=jnp.int32), args.A, args.T)
    return StepArgs(args.A, args.T, args.lr, table, first)


def weights_at(t, args: StepArgs) -> jnp.ndarray:
    """Class weights of step ``t`` from the table of :func:`step_args`."""
    return jax.lax.dynamic_index_in_dim(args.table, t - args.first, keepdims=False)


def record(problem: Problem, f, w) -> dict:
    """Metrics of a step from the outputs ``f`` after its update and its class weights ``w``."""
    return {
        "loss": problem.static_loss.fn(f, problem.y, w),
        "dyn_loss": problem.loss.fn(f, problem.y, w),
        "train_acc": losses_mod.accuracy(f, problem.y),
        "gamma": w,
    }


def step(problem: Problem, carry: Carry, t, args: StepArgs, emit: bool):
    """One GD update at step ``t``; with ``emit``, also the record of step ``t - 1``."""
    params, div_step = carry
    f, pullback = problem.model.pullback(params, problem.x)
    F, dF = jax.value_and_grad(problem.loss.fn)(f, problem.y, weights_at(t, args))
    (grads,) = pullback(dF)
    # F is the loss after update t-1: non-finite means the run diverged at step t-1.
    bad = ~jnp.isfinite(F) | (div_step >= 0)
    div_step = jnp.where((div_step < 0) & bad, jnp.maximum(t - 1, 0).astype(div_step.dtype), div_step)
    nan = jnp.asarray(jnp.nan, problem.dtype)
    params = jax.tree_util.tree_map(lambda p, g: jnp.where(bad, nan, p - args.lr * g), params, grads)
    rec = record(problem, f, weights_at(t - 1, args)) if emit else None
    return Carry(params, div_step), rec


def _level(problem: Problem, cadences: tuple[int, ...], snap: frozenset, i: int) -> Callable:
    """Scan body running ``cadences[i]`` steps from ``t0``; level 0 is the record block (one
    emitting step, then plain steps). A level whose cadence is in ``snap`` first emits a
    snapshot of the parameters (after update ``t0 - 1``)."""
    c = cadences[i]
    snaps = c in snap
    if i == 0:
        def block(carry, t0, args):
            params = carry.params
            carry, rec = step(problem, carry, t0, args, emit=True)
            carry = jax.lax.fori_loop(
                1, c, lambda j, cr: step(problem, cr, t0 + j, args, emit=False)[0], carry)
            return carry, ({**rec, snap_key(c): params} if snaps else rec)
        return block

    sub = _level(problem, cadences, snap, i - 1)
    c_sub = cadences[i - 1]

    def block(carry, t0, args):
        meas = {snap_key(c): carry.params} if snaps else {}
        carry, out = jax.lax.scan(lambda cr, k: sub(cr, t0 + k * c_sub, args),
                                  carry, jnp.arange(c // c_sub, dtype=jnp.int32))
        return carry, (meas, out)
    return block


def _flatten(out, depth: int) -> dict:
    """Nested per-level outputs -> {name: (R, n, ...)} in step order (snapshots: pytrees)."""
    flat = {}
    for level in range(depth - 1, -1, -1):
        if level == 0:
            meas = out
        else:
            meas, out = out
        lead = depth - level  # stacked axes after the run axis
        for k, v in meas.items():
            flat[k] = jax.tree_util.tree_map(
                lambda a: a.reshape(a.shape[:1] + (-1,) + a.shape[1 + lead:]), v)
    return flat


def chunk_fn(problem: Problem, n_steps: int, snap_cadences, mode: str) -> Callable:
    """``(carry, t0, args, data) -> (carry, {name: (R, n, ...)})``: ``n_steps`` steps from ``t0``
    of every run on ``data``, the records and the parameter snapshots of ``snap_cadences``."""
    cadences = tuple(problem.spec.cadences())
    snap = frozenset(snap_cadences)
    c_top = cadences[-1]

    def single(carry, t0, args, data):
        p = problem.with_data(data)
        top = _level(p, cadences, snap, len(cadences) - 1)
        args = step_args(p, args, t0, n_steps)
        return jax.lax.scan(lambda cr, k: top(cr, t0 + k * c_top, args),
                            carry, jnp.arange(n_steps // c_top, dtype=jnp.int32))

    batched = over_runs(single, (0, None, 0, None), mode)

    def chunk(carry, t0, args, data):
        carry, out = batched(carry, t0, args, data)
        return carry, _flatten(out, len(cadences))

    return chunk


def compiled_chunk(problem: Problem, n_steps: int, snap_cadences, mode: str, carry: Carry,
                   args: RunArgs):
    """Compiled :func:`chunk_fn` for a carry and args of these shapes (cached); the carry is donated."""
    snaps = tuple(sorted(snap_cadences))
    return compiled("chunk", (("steps", n_steps), ("snapshots", snaps), ("mode", mode)), problem,
                    lambda p: chunk_fn(p, n_steps, snaps, mode), (carry, jnp.int32(0), args), donate=(0,))


def chunk_program(problem: Problem, n_steps: int, snap_cadences, mode: str) -> Callable:
    """``(carry, t0, args) -> (carry, {name: (R, n, ...)})``: the compiled chunk
    (:func:`compiled_chunk`) on ``problem``'s data. The carry is donated."""
    def run(carry, t0, args):
        program = compiled_chunk(problem, n_steps, snap_cadences, mode, carry, args)
        return program(carry, jnp.asarray(t0, jnp.int32), args, problem.data)
    return run


def final_fn(problem: Problem, mode: str) -> Callable:
    """``(carry, args, data) -> {name: (R, ...)}``: the metrics and the cadenced spectra
    (:func:`dynloss.spectra.measurements`) of the last step, and the accuracy on each test spiral."""
    last = problem.steps - 1
    measures = spectra.measurements(problem) if problem.spec.spectra.enabled else {}

    def single(carry, args, data):
        p = problem.with_data(data)
        params = carry.params
        f = p.model.apply(params, p.x)
        out = record(p, f, p.weights(last, args.A, args.T))
        out.update({k: m.fn(p, params, last, args) for k, m in measures.items()})
        f_test = jax.vmap(p.model.apply, in_axes=(None, 0))(params, p.x_test)
        out["test_acc_each"] = jax.vmap(losses_mod.accuracy)(f_test, p.y_test)
        return out

    return over_runs(single, (0, 0, None), mode)


def compiled_final(problem: Problem, mode: str, carry: Carry, args: RunArgs):
    """Compiled :func:`final_fn` ``(carry, args, data)`` for arguments of these shapes (cached)."""
    return compiled("final", (("mode", mode),), problem, lambda p: final_fn(p, mode), (carry, args))

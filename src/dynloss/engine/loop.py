"""Full-batch gradient descent on the spiral: :func:`train` a batch of runs, get a :class:`TrainResult`.

One call trains R runs that share loss, width, step count and dtype (static), each with its own
seed, amplitude A, period T and learning rate eta (array arguments of one compiled program; see
:mod:`dynloss.engine.batching`). Steps run as ``lax.scan`` over chunks
(:mod:`dynloss.engine.plan`); a Python loop over chunks reports progress and ETA and never goes
back to the host inside a chunk. Indexing and divergence: :mod:`dynloss.engine.program`.

The data and the per-run values are arguments of the compiled programs, which are kept by program
structure (:mod:`dynloss.engine.cache`): a second job of the same structure in a process (another
data seed, A, T, eta or seeds, the same widths, cadences, chunk lengths and run count) compiles
nothing, and ``timings["compile_s"]`` is then about zero.

A diverged run's recorded accuracy is NaN from its divergence step on (not the chance level
that the argmax of NaN outputs gives).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import spectra
from ..progress import ProgressFn
from ..spec import RunBatch, TrainSpec
from .batching import batch_mode
from .measure import Pipeline, compile_measures, compiled_density, measure_cadences
from .plan import plan
from .problem import Problem, initial_carry, make_problem, run_args
from .program import compiled_chunk, compiled_final, snap_key


@dataclass
class TrainResult:
    """Host-side arrays of a trained batch (R runs). See :mod:`dynloss.netcdf` for the NetCDF form."""

    spec: TrainSpec
    batch: RunBatch
    steps: np.ndarray  # (n_rec,) recorded step indices
    loss: np.ndarray  # (R, n_rec) static loss L
    dyn_loss: np.ndarray  # (R, n_rec) dynamical loss F
    train_acc: np.ndarray  # (R, n_rec)
    gamma: np.ndarray  # (R, n_rec, C) class weights used at each recorded step
    loss_init: np.ndarray  # (R,) L at initialisation (for dL at step 0)
    final_train_acc: np.ndarray  # (R,)
    test_acc_each: np.ndarray  # (R, n_test)
    diverged: np.ndarray  # (R,) bool
    diverged_step: np.ndarray  # (R,) first step with a non-finite loss, -1 if none
    spectra: dict[str, np.ndarray] = field(default_factory=dict)
    spectra_steps: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def test_acc(self) -> np.ndarray:
        return self.test_acc_each.mean(axis=1)


def train(spec: TrainSpec, batch: RunBatch, progress: Optional[ProgressFn] = None,
          problem: Optional[Problem] = None) -> TrainResult:
    """Train the batch; ``progress(step_done, steps, elapsed_s)`` is called after every chunk.
    ``problem``: the job's :func:`make_problem` of ``spec`` when the caller has built it already (the
    replays of its onsets use the same one).

    Cadenced measurements (the spectra of ``spec.spectra``) run beside the training: each chunk
    emits parameter snapshots, and a second thread measures chunk ``k`` while chunk ``k + 1``
    trains (:mod:`dynloss.engine.measure`). Density measurements run at chunk boundaries.
    """
    if problem is None:
        problem = make_problem(spec)
    elif problem.spec != spec:
        raise ValueError("train: the problem was built from another spec")
    mode = batch_mode(spec)
    measures = spectra.measurements(problem.structure()) if spec.spectra.enabled else {}
    cadences = measure_cadences(measures)
    carry = initial_carry(problem, batch)
    args = run_args(problem, batch)
    data = problem.data
    lengths = plan(problem, cadences, len(batch))

    t_compile = time.perf_counter()
    compiled = {n: compiled_chunk(problem, n, cadences, mode, carry, args) for n in sorted(set(lengths))}
    measure = compile_measures(problem, lengths, carry.params, args, mode)
    final = compiled_final(problem, mode, carry, args)
    density = compiled_density(problem, mode, carry.params, args) if spec.spectra.density_steps else None
    compile_s = time.perf_counter() - t_compile

    outs: list[dict] = []
    pending: list = []
    dens: list[Any] = []
    t0, start = 0, time.perf_counter()
    with Pipeline(measure, args, data) as pipeline:
        for n in lengths:
            carry, out = compiled[n](carry, jnp.int32(t0), args, data)
            snaps = {c: out.pop(snap_key(c)) for c in cadences}
            outs.append(jax.device_get(out))
            if snaps:
                pending.append(pipeline.submit(n, t0, snaps))
            t0 += n
            if density is not None and (t0 - 1) in spec.spectra.density_steps:
                dens.append(jax.device_get(density(carry.params, jnp.int32(t0 - 1), args, data)))
            if progress is not None:
                jax.block_until_ready(carry)
                progress(t0, spec.steps, time.perf_counter() - start)
        last = jax.device_get(final(carry, args, data))
        for o, fut in zip(outs, pending):
            o.update(fut.result())
    jax.block_until_ready(carry)
    run_s = time.perf_counter() - start
    div_step = np.array(jax.device_get(carry.div_step))
    return _assemble(problem, measures, batch, outs, last, dens, div_step,
                     {"compile_s": compile_s, "run_s": run_s})


def _assemble(problem: Problem, measures, batch: RunBatch, outs, last, dens, div_step, timings) -> TrainResult:
    spec = problem.spec
    cat = {k: np.concatenate([o[k] for o in outs], axis=1) for k in outs[0]}

    def with_last(name):  # drop the initial record (step -1), append the final one
        return np.concatenate([cat[name][:, 1:], np.asarray(last[name])[:, None]], axis=1)

    rec_steps = np.arange(spec.record_every - 1, spec.steps, spec.record_every)
    diverged = div_step >= 0
    test_each = np.array(last["test_acc_each"], dtype=np.float64)
    test_each[diverged] = np.nan
    train_acc = with_last("train_acc")
    # a diverged run's outputs are NaN and its argmax is class 0: chance accuracy, not a number
    # of the run; from its divergence step on, its accuracy is NaN
    train_acc[diverged[:, None] & (rec_steps[None, :] >= div_step[:, None])] = np.nan
    final_acc = train_acc[:, -1].copy()
    final_acc[diverged] = np.nan
    spectra_out, spectra_steps = {}, {}
    for k, m in measures.items():
        spectra_out[k] = with_last(k)
        spectra_steps[k] = np.arange(m.cadence - 1, spec.steps, m.cadence)
    if dens:
        for k in dens[0]:
            spectra_out[k] = np.stack([d[k] for d in dens], axis=1)
            spectra_steps[k] = np.asarray(spec.spectra.density_steps)
    return TrainResult(
        spec=spec, batch=batch, steps=rec_steps,
        loss=with_last("loss"), dyn_loss=with_last("dyn_loss"), train_acc=train_acc,
        gamma=with_last("gamma"), loss_init=cat["loss"][:, 0], final_train_acc=final_acc,
        test_acc_each=test_each, diverged=diverged, diverged_step=div_step.astype(np.int64),
        spectra=spectra_out, spectra_steps=spectra_steps, timings=timings)

"""Full-batch gradient descent on the spiral, a vmapped batch of runs per compiled program.

One call of :func:`train` trains R runs that share loss, width, step count and dtype (static),
each with its own seed, amplitude A, period T and learning rate eta (array arguments of one
compiled program: ``vmap`` on accelerators, ``lax.map`` on CPUs; see :data:`BATCH_MODES`).
Steps run as ``lax.scan`` over chunks of ``chunk_steps``; a Python loop over chunks reports
progress and ETA and never goes back to the host inside a chunk.

Indexing (SPEC "Training"): the update at step ``t = 0, 1, ...`` is ``W <- W - eta grad F(W; t)``
with the class weights of step ``t``; the metrics *at step t* are taken after that update: static
loss ``L``, dynamical loss ``F`` with the weights of step ``t``, train accuracy and the weights
themselves. They are recorded at the steps ``t`` with ``(t + 1) % record_every == 0``, so the last
step is always recorded. The metrics of step ``t - 1`` are read off the forward pass that step
``t`` needs for its gradient (one forward per step, not two).

Measurements with a cadence (the spectra of :mod:`dynloss.spectra`): the cadences, sorted, must
each divide the next (e.g. record 1, NTK 10, Hessian 100), and the scan is nested accordingly.
The training program emits a snapshot of the parameters at each measurement step; a second
compiled program measures a chunk's snapshots on a second thread while the next chunk trains
(on a CPU the two use both cores, on an accelerator the snapshots are measured in wide
batches). A measurement "at step t" uses the parameters after update ``t`` and the class
weights of step ``t``, like the metrics.

A run whose loss becomes NaN/inf is flagged ``diverged`` (with the step) and its parameters are
NaN from there on; its recorded accuracy is NaN from that step on (not the chance level that
the argmax of NaN outputs gives); the other runs of the batch are unaffected.
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import data as data_mod
from . import losses as losses_mod
from . import models as models_mod
from . import schedules
from .spec import BATCH_MODES, DTYPES, RunBatch, SpectraSpec, TrainSpec, spec_to_dict  # noqa: F401

log = logging.getLogger("dynloss")

#: ``jax_threefry_partitionable`` as this process started (what ``threefry_partitionable=None`` means)
_THREEFRY_DEFAULT = bool(jax.config.jax_threefry_partitionable)


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


# --------------------------------------------------------------------------------------------
# The compiled program


def _snap_key(cadence: int) -> str:
    """Output name of the parameter snapshots taken every ``cadence`` steps."""
    return f"params@{cadence}"


#: most bytes of parameter snapshots a chunk may hold for its deferred measurements; longer
#: chunks are cut (see :meth:`Engine.plan`)
SNAPSHOT_BYTES = 256 * 2 ** 20
#: with measurements, a run is cut into at least this many chunks (see :meth:`Engine.plan`)
PIPELINE_CHUNKS = 8
#: the measurements of a chunk's snapshots run ``lax.map`` over them in vmapped groups of this
#: size, by batch mode: on CPU 4 (measured ~15% faster than 1 for the NTK of 50 points, larger
#: is slower), on accelerators wide groups that still bound the memory (an NTK Gram of 300 points
#: is 0.7 MB in float64)
MEASURE_GROUP = {"map": 4, "vmap": 256}


class Engine:
    """Everything static about a job: model, loss, data and the compiled chunk functions."""

    def __init__(self, spec: TrainSpec):
        spec.validate()
        if spec.dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # the thesis ran float64
        # process-global, part of JAX's jit cache key: set before any key is used
        threefry = _THREEFRY_DEFAULT if spec.threefry_partitionable is None else spec.threefry_partitionable
        if bool(jax.config.jax_threefry_partitionable) != threefry:
            jax.config.update("jax_threefry_partitionable", threefry)
        self.spec = spec
        self.dtype = jnp.dtype(spec.dtype)
        self.loss = losses_mod.with_mse_norm(losses_mod.get_loss(spec.loss), spec.mse_norm, spec.num_classes)
        self.static_loss = losses_mod.with_mse_norm(losses_mod.get_loss(self.loss.static), spec.mse_norm,
                                                    spec.num_classes)
        self.model = models_mod.mlp(spec.width, spec.num_classes, W_std=tuple(spec.W_std), b_std=spec.b_std,
                                    parameterization=spec.parameterization)
        train = data_mod.spiral(spec.points_per_class, spec.num_classes, spec.data_seed, spec.noise)
        tests = data_mod.test_spirals(spec.test_seeds, points_per_class=spec.points_per_class,
                                      num_classes=spec.num_classes, noise=spec.noise)
        self.x = jnp.asarray(train.x, self.dtype)
        self.y = jnp.asarray(train.onehot, self.dtype)
        self.x_test = jnp.asarray(np.stack([d.x for d in tests]), self.dtype)
        self.y_test = jnp.asarray(np.stack([d.onehot for d in tests]), self.dtype)
        self.total = spec.steps if spec.stop_last_period else None
        self.cadences = spec.cadences()
        from . import spectra  # local: spectra imports this module's SpectraSpec

        self.measures = spectra.measurements(self) if spec.spectra.enabled else {}
        self._chunks: dict[int, Callable] = {}
        self._measure: dict[int, Callable] = {}
        self._final = None
        self._replay = None

    # -- per-run pieces (vmapped below) ---------------------------------------------------

    def weights(self, t, A, T):
        return self.loss.class_weights(t, A, T, self.spec.num_classes, self.total)

    def init_params(self, seed):
        return self.model.init(jax.random.PRNGKey(seed), self.x.shape[1], self.dtype)

    def _with_weights(self, args, t0, n_steps: int):
        """``args`` plus the class-weight table of steps ``t0 - 1 .. t0 + n_steps - 1`` (the
        record of step ``t0 - 1`` needs its weights too), which :meth:`_step` reads. One table
        per program rather than the schedule inside each step: computing it there cost ~20 us
        per recorded step on XLA:CPU (jax 0.5.3; measured, cause inside XLA not isolated), the
        lookup ~1 us."""
        A, T, _ = args
        first = t0 - 1
        return (*args, self.weights(first + jnp.arange(n_steps + 1, dtype=jnp.int32), A, T), first)

    def _weights_at(self, t, args):
        """Class weights of step ``t`` from the table of :meth:`_with_weights`."""
        table, first = args[3], args[4]
        return jax.lax.dynamic_index_in_dim(table, t - first, keepdims=False)

    def _record(self, f, w):
        """Metrics of a step from the outputs ``f`` after its update and its class weights ``w``."""
        return {
            "loss": self.static_loss.fn(f, self.y, w),
            "dyn_loss": self.loss.fn(f, self.y, w),
            "train_acc": losses_mod.accuracy(f, self.y),
            "gamma": w,
        }

    def _step(self, carry, t, args, emit: bool):
        """One GD update at step ``t``; optionally the record of step ``t - 1``."""
        params, div_step = carry
        lr = args[2]
        f, pullback = self.model.pullback(params, self.x)
        F, dF = jax.value_and_grad(self.loss.fn)(f, self.y, self._weights_at(t, args))
        (grads,) = pullback(dF)
        # F is the loss after update t-1: non-finite means the run diverged at step t-1.
        bad = ~jnp.isfinite(F) | (div_step >= 0)
        div_step = jnp.where((div_step < 0) & bad, jnp.maximum(t - 1, 0).astype(div_step.dtype), div_step)
        nan = jnp.asarray(jnp.nan, self.dtype)
        params = jax.tree_util.tree_map(lambda p, g: jnp.where(bad, nan, p - lr * g), params, grads)
        rec = self._record(f, self._weights_at(t - 1, args)) if emit else None
        return (params, div_step), rec

    def _level(self, i: int):
        """Scan body running ``cadences[i]`` steps from ``t0``; level 0 is the record block (one
        emitting step, then plain steps). A level whose cadence has measurements first emits a
        snapshot of the parameters (after update ``t0 - 1``), measured later by
        :meth:`measure_fn` outside this program (see :func:`train`)."""
        c = self.cadences[i]
        snap = c in self.measure_cadences
        if i == 0:
            def block(carry, t0, args):
                params = carry[0]
                carry, rec = self._step(carry, t0, args, emit=True)
                carry = jax.lax.fori_loop(
                    1, c, lambda j, cr: self._step(cr, t0 + j, args, emit=False)[0], carry)
                return carry, ({**rec, _snap_key(c): params} if snap else rec)
            return block

        sub = self._level(i - 1)
        c_sub = self.cadences[i - 1]

        def block(carry, t0, args):
            meas = {_snap_key(c): carry[0]} if snap else {}
            carry, out = jax.lax.scan(lambda cr, k: sub(cr, t0 + k * c_sub, args),
                                      carry, jnp.arange(c // c_sub, dtype=jnp.int32))
            return carry, (meas, out)
        return block

    def _flatten(self, out):
        """Nested per-level outputs -> {name: (R, n, ...)} in step order (snapshots: pytrees)."""
        flat = {}
        depth = len(self.cadences)
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

    @property
    def measure_cadences(self) -> list[int]:
        return sorted({m.cadence for m in self.measures.values()})

    def measure_fn(self, cadence: int) -> Callable:
        """Compiled: (params snapshots (R, n, ...), steps (n,), args) -> {name: (R, n, ...)}, the
        measurements of that cadence at each snapshot, in vmapped groups of snapshots
        (:data:`MEASURE_GROUP`: small on CPU, wide on accelerators, where a chunk's NTKs and
        Lanczos runs become a few wide batches instead of one small program per step)."""
        if cadence not in self._measure:
            mine = {k: m for k, m in self.measures.items() if m.cadence == cadence}

            def single(params, steps, args):
                def one(ps):
                    return {k: m.fn(ps[0], ps[1], args) for k, m in mine.items()}
                return jax.lax.map(one, (params, steps), batch_size=MEASURE_GROUP[self.batch_mode])

            self._measure[cadence] = jax.jit(self.over_runs(single, (0, None, 0)))
        return self._measure[cadence]

    def chunk_fn(self, n_steps: int) -> Callable:
        """Compiled: (carry, t0, args) -> (carry, {name: (R, n, ...)}) for ``n_steps`` steps."""
        if n_steps not in self._chunks:
            top = self._level(len(self.cadences) - 1)
            c_top = self.cadences[-1]

            def single(carry, t0, args):
                args = self._with_weights(args, t0, n_steps)
                return jax.lax.scan(lambda cr, k: top(cr, t0 + k * c_top, args),
                                    carry, jnp.arange(n_steps // c_top, dtype=jnp.int32))

            batched = self.over_runs(single, (0, None, 0))

            def chunk(carry, t0, args):
                carry, out = batched(carry, t0, args)
                return carry, self._flatten(out)

            self._chunks[n_steps] = jax.jit(chunk, donate_argnums=0)
        return self._chunks[n_steps]

    def final_fn(self) -> Callable:
        """Compiled: metrics and measurements of the last step, and the test accuracy."""
        if self._final is None:
            last = self.spec.steps - 1

            def single(carry, args):
                params, _ = carry
                A, T, _lr = args
                f = self.model.apply(params, self.x)
                out = self._record(f, self.weights(last, A, T))
                out.update({k: m.fn(params, last, args) for k, m in self.measures.items()})
                f_test = jax.vmap(self.model.apply, in_axes=(None, 0))(params, self.x_test)
                out["test_acc_each"] = jax.vmap(losses_mod.accuracy)(f_test, self.y_test)
                return out

            self._final = jax.jit(self.over_runs(single, (0, 0)))
        return self._final

    @property
    def batch_mode(self) -> str:
        if self.spec.batch != "auto":
            return self.spec.batch
        return "map" if jax.default_backend() == "cpu" else "vmap"

    def over_runs(self, single: Callable, in_axes: tuple) -> Callable:
        """``single`` over the run axis of the arguments whose ``in_axes`` entry is 0 (those with
        ``None`` are shared): ``vmap``, or ``lax.map`` one run after the other (see BATCH_MODES)."""
        if self.batch_mode == "vmap":
            return jax.vmap(single, in_axes=in_axes)

        def mapped(*args):
            def one(per_run):
                it = iter(per_run)
                return single(*(next(it) if ax == 0 else a for a, ax in zip(args, in_axes)))
            return jax.lax.map(one, tuple(a for a, ax in zip(args, in_axes) if ax == 0))
        return mapped

    def replay_chunk_fn(self) -> Callable:
        """Compiled: ``chunk_steps`` training steps from ``t0`` that stop (hold) each run after
        update ``target[r]``. A fixed trip count on purpose: an earlier version, a
        ``fori_loop(0, target + 1)`` per run inside ``lax.map``, returned the initial parameters
        when its executable came from JAX 0.5.3's persistent compilation cache on CPU
        (reproduced, cause not isolated; tests/test_train.py::test_replay_survives_the_cache)."""
        if self._replay is None:
            n = self.spec.chunk_steps

            def single(carry, t0, target, args):
                args = self._with_weights(args, t0, n)

                def body(cr, t):
                    new = self._step(cr, t, args, emit=False)[0]
                    keep = t > target
                    return jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), cr, new), None
                return jax.lax.scan(body, carry, t0 + jnp.arange(n, dtype=jnp.int32))[0]

            self._replay = jax.jit(self.over_runs(single, (0, None, 0, 0)))
        return self._replay

    def replay(self, batch: RunBatch, targets: np.ndarray):
        """Parameters after update ``targets[r]`` (>= 0) for each run of ``batch``, replayed from
        the initialisation with the training step (for exact measurements off the cadence)."""
        targets = np.asarray(targets)
        if targets.shape != (len(batch),) or np.any(targets < 0) or np.any(targets >= self.spec.steps):
            raise ValueError(f"targets must be {len(batch)} steps in 0..{self.spec.steps - 1}")
        carry, args = self.initial_carry(batch), self.args(batch)
        tg = jnp.asarray(targets, jnp.int32)
        fn = self.replay_chunk_fn()
        for t0 in range(0, int(targets.max()) + 1, self.spec.chunk_steps):
            carry = fn(carry, jnp.int32(t0), tg, args)
        return carry[0]

    def initial_carry(self, batch: RunBatch):
        params = jax.vmap(self.init_params)(jnp.asarray(batch.seeds))
        return params, jnp.full(len(batch), -1, jnp.int32)

    def args(self, batch: RunBatch):
        return tuple(jnp.asarray(v, self.dtype) for v in (batch.A, batch.T, batch.lr))

    def plan(self, runs: int = 1) -> list[int]:
        """Chunk lengths, each a multiple of the top cadence: ~chunk_steps, cut at density steps.
        With measurements, chunks are also short enough that the parameter snapshots of ``runs``
        runs fit :data:`SNAPSHOT_BYTES`, there are at least :data:`PIPELINE_CHUNKS` of them, and
        the last one is one top cadence long: chunk ``k`` is measured while ``k + 1`` trains, so
        only the last chunk's measurements are not hidden."""
        steps, c_top = self.spec.steps, self.cadences[-1]
        size = max(c_top, (self.spec.chunk_steps // c_top) * c_top)
        per_step = self.snapshot_bytes_per_step(runs)
        if per_step:
            size = min(size, max(c_top, int(SNAPSHOT_BYTES // (per_step * c_top)) * c_top),
                       max(c_top, math.ceil(steps / PIPELINE_CHUNKS / c_top) * c_top))
        cuts = set(range(0, steps, size)) | {s + 1 for s in self.spec.spectra.density_steps}
        if per_step:
            cuts.add(steps - c_top)
        cuts = sorted(c for c in cuts if 0 <= c < steps) + [steps]
        return [b - a for a, b in zip(cuts, cuts[1:])]

    def snapshot_bytes_per_step(self, runs: int) -> float:
        """Average bytes of parameter snapshots per training step (0 without measurements)."""
        leaves = jax.tree_util.tree_leaves(jax.eval_shape(self.init_params, 0))
        one = sum(math.prod(v.shape) for v in leaves) * self.dtype.itemsize
        return runs * one * sum(1.0 / c for c in self.measure_cadences)


ProgressFn = Callable[[int, int, float], None]


def train(spec: TrainSpec, batch: RunBatch, progress: Optional[ProgressFn] = None,
          engine: Optional[Engine] = None) -> TrainResult:
    """Train the batch; ``progress(step_done, steps, elapsed_s)`` is called after every chunk.

    Cadenced measurements (the spectra) run beside the training: each chunk emits parameter
    snapshots, and a second thread measures chunk ``k`` while chunk ``k + 1`` trains (on a CPU,
    the second core; on an accelerator, a batched program over the chunk's snapshots). The
    numbers are those of measuring inside the training loop; only the schedule differs.
    """
    eng = engine or Engine(spec)
    spec = eng.spec
    carry = eng.initial_carry(batch)
    args = eng.args(batch)
    lengths = eng.plan(len(batch))

    t_compile = time.perf_counter()
    compiled, measure = {}, {}
    for n in sorted(set(lengths)):
        compiled[n] = eng.chunk_fn(n).lower(carry, jnp.int32(0), args).compile()
        for c in eng.measure_cadences:
            snaps = jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct(a.shape[:1] + (n // c,) + a.shape[1:], a.dtype), carry[0])
            measure[n, c] = eng.measure_fn(c).lower(snaps, jnp.zeros(n // c, jnp.int32), args).compile()
    final = eng.final_fn().lower(carry, args).compile()
    compile_s = time.perf_counter() - t_compile

    from . import spectra  # density measurements at chunk boundaries

    density = spectra.density_fn(eng) if spec.spectra.density_steps else None

    def measure_chunk(n, t0, snaps):
        out = {}
        for c, params in snaps.items():
            steps = jnp.asarray(t0 - 1 + c * np.arange(n // c), jnp.int32)
            out.update(jax.device_get(measure[n, c](params, steps, args)))
        return out

    outs: list[dict] = []
    pending: list = []
    dens: list[Any] = []
    t0, start = 0, time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynloss-measure") as pool:
        for n in lengths:
            carry, out = compiled[n](carry, jnp.int32(t0), args)
            snaps = {c: out.pop(_snap_key(c)) for c in eng.measure_cadences}
            outs.append(jax.device_get(out))
            if snaps:
                pending.append(pool.submit(measure_chunk, n, t0, snaps))
            t0 += n
            if density is not None and (t0 - 1) in spec.spectra.density_steps:
                dens.append(jax.device_get(density(carry[0], jnp.int32(t0 - 1), args)))
            if progress is not None:
                jax.block_until_ready(carry)
                progress(t0, spec.steps, time.perf_counter() - start)
        last = jax.device_get(final(carry, args))
        for o, fut in zip(outs, pending):
            o.update(fut.result())
    jax.block_until_ready(carry)
    run_s = time.perf_counter() - start
    div_step = np.array(jax.device_get(carry[1]))
    return _assemble(eng, batch, outs, last, dens, div_step,
                     {"compile_s": compile_s, "run_s": run_s})


def _assemble(eng: Engine, batch: RunBatch, outs, last, dens, div_step, timings) -> TrainResult:
    spec = eng.spec
    cat = {k: np.concatenate([o[k] for o in outs], axis=1) for k in outs[0]}

    def with_last(name):  # drop the initial record (step -1), append the final one
        return np.concatenate([cat[name][:, 1:], np.asarray(last[name])[:, None]], axis=1)

    rec_steps = np.arange(spec.record_every - 1, spec.steps, spec.record_every)
    diverged = div_step >= 0
    test_each = np.array(last["test_acc_each"], dtype=np.float64)
    test_each[diverged] = np.nan
    train_acc = with_last("train_acc")
    # a diverged run's outputs are NaN and its argmax is class 0: chance accuracy, not a number
    # of the run (issue 12 item 2); from its divergence step on, its accuracy is NaN
    train_acc[diverged[:, None] & (rec_steps[None, :] >= div_step[:, None])] = np.nan
    final_acc = train_acc[:, -1].copy()
    final_acc[diverged] = np.nan
    spectra, spectra_steps = {}, {}
    for k, m in eng.measures.items():
        spectra[k] = with_last(k)
        spectra_steps[k] = np.arange(m.cadence - 1, spec.steps, m.cadence)
    if dens:
        for k in dens[0]:
            spectra[k] = np.stack([d[k] for d in dens], axis=1)
            spectra_steps[k] = np.asarray(spec.spectra.density_steps)
    return TrainResult(
        spec=spec, batch=batch, steps=rec_steps,
        loss=with_last("loss"), dyn_loss=with_last("dyn_loss"), train_acc=train_acc,
        gamma=with_last("gamma"), loss_init=cat["loss"][:, 0], final_train_acc=final_acc,
        test_acc_each=test_each, diverged=diverged, diverged_step=div_step.astype(np.int64),
        spectra=spectra, spectra_steps=spectra_steps, timings=timings)


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


def progress_logger(n_runs: int, label: str = "", emit: Callable[[str], None] | None = None,
                    min_interval: float = 2.0, unit: str = "step",
                    rate_text: Callable[[float], str] | None = None) -> ProgressFn:
    """A progress callback that logs ``unit``s done, the rate and the ETA (at most every
    ``min_interval`` seconds, and always at the end). ``rate_text(units_per_s)`` words the rate;
    the default is run-steps/s."""
    emit = emit or log.info
    rate_text = rate_text or (lambda rate: f"{rate * n_runs:,.0f} run-steps/s")
    last = [-math.inf]

    def report(done: int, total: int, elapsed: float) -> None:
        if done < total and elapsed - last[0] < min_interval:
            return
        last[0] = elapsed
        rate = done / elapsed if elapsed > 0 else float("nan")
        eta = (total - done) / rate if rate and rate > 0 else float("inf")
        emit(f"{label}{unit} {done}/{total} ({100.0 * done / total:.0f}%)  {rate_text(rate)}  "
             f"elapsed {format_eta(elapsed)}  ETA {format_eta(eta)}")

    return report

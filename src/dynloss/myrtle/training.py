"""Minibatch SGD of Myrtle5 on CIFAR-10 with a dynamical loss (thesis section 3.4.1, figure 3.2).

Training (thesis section 3.4.1, figure 3.2): SGD with Nesterov momentum 0.9
(:func:`optax.sgd`), batch 512, the learning rate piecewise linear in the epoch
``e = t / steps_per_epoch``: 0 at e = 0, ``peak_lr`` at ``peak_epoch``, ``final_lr`` at ``epochs``
(:func:`make_lr_schedule`, optax's linear schedules). ``steps_per_epoch = floor(num_train /
batch_size)``: the last incomplete batch is dropped. The class weights of the dynamical losses
follow :mod:`dynloss.schedules` with the period ``T`` counted in SGD steps and amplitude 1 from
epoch ``stop_epoch`` on; each sample is weighted by its class (the losses of
:mod:`dynloss.losses` applied to the minibatch).

Each seed ``s`` initialises from ``PRNGKey(s)`` (as the spiral runs do) and shuffles with its own
key ``fold_in(PRNGKey(s), 1)``; epoch ``e`` uses the permutation of ``fold_in(that key, e)``, so
the data order of any epoch is known without replaying earlier ones (what makes resuming exact).
Seeds run one after the other inside one compiled program (``lax.map``; ``vmap`` on request, see
:func:`dynloss.myrtle.spec.resolve_batch`); one epoch is a ``lax.scan`` over its minibatches and a
Python loop over epochs reports progress, evaluates and checkpoints (:mod:`.checkpoints`).
"""
from __future__ import annotations

import functools
import logging
import math
import os
import time
from dataclasses import replace
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import losses as losses_mod
from ..errors import SpecError
from ..models.myrtle import CONV_VJPS, myrtle5, myrtle5_apply, resolve_conv_vjp
from ..spec import spec_to_dict
from .checkpoints import CheckpointError, data_fingerprint, load_checkpoint, save_checkpoint
from .results import METRICS, MyrtleResult
from .spec import NUM_CLASSES, MyrtleSpec, resolve_batch

log = logging.getLogger("dynloss")
ProgressFn = Callable[[int, int, float], None]


def make_lr_schedule(peak_lr: float, peak_epoch: float, final_lr: float, epochs: float,
                     steps_per_epoch: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """The learning rate of figure 3.2 at SGD step ``t``: linear from 0 at epoch 0 to ``peak_lr``
    at ``peak_epoch``, then linear to ``final_lr`` at ``epochs`` (epoch = ``t / steps_per_epoch``).

    Two :func:`optax.linear_schedule` segments joined by :func:`optax.join_schedules`, in steps.

    Args:
        peak_lr, peak_epoch, final_lr, epochs: the schedule's corners.
        steps_per_epoch: SGD steps per epoch.

    Returns:
        ``lr(t)`` with the float dtype of ``t`` (int steps give the default float); beyond
        ``epochs`` it stays at ``final_lr`` (never reached in training).
    """
    if steps_per_epoch < 1:
        raise SpecError("steps_per_epoch", f"steps_per_epoch must be >= 1 (got {steps_per_epoch})")
    if not 0 < peak_epoch <= epochs:
        raise SpecError("peak_epoch", f"peak_epoch must be in (0, epochs={epochs}] (got {peak_epoch})")
    peak_step = float(peak_epoch) * steps_per_epoch
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, peak_lr, peak_step),
         optax.linear_schedule(peak_lr, final_lr, (float(epochs) - float(peak_epoch)) * steps_per_epoch)],
        [peak_step])

    def lr(t: jnp.ndarray) -> jnp.ndarray:
        t = jnp.asarray(t)
        return schedule(t if jnp.issubdtype(t.dtype, jnp.floating) else t.astype(float))

    return lr


def make_optimizer(spec: MyrtleSpec, steps_per_epoch: int) -> optax.GradientTransformation:
    """The spec's SGD: ``optax.sgd`` with its (Nesterov) momentum and :func:`make_lr_schedule`.

    optax's convention: ``m <- g + mu m``; ``p <- p - lr (g + mu m)`` (Nesterov) or ``p - lr m``.
    The schedule is evaluated in the spec's dtype (optax counts steps in int32), so the learning
    rate does not depend on whether JAX runs with 64-bit floats enabled.

    Args:
        spec: the job.
        steps_per_epoch: SGD steps per epoch.

    Returns:
        The optax transformation; its state is the momentum buffers and the step count.
    """
    lr = make_lr_schedule(spec.peak_lr, spec.peak_epoch, spec.final_lr, spec.epochs, steps_per_epoch)
    dtype = jnp.dtype(spec.dtype)
    return optax.sgd(learning_rate=lambda count: lr(jnp.asarray(count).astype(dtype)),
                     momentum=spec.momentum, nesterov=spec.nesterov)


def make_class_weights(loss: str, A: Any, T: Any, num_classes: int,
                       stop_step: Optional[int]) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``w(t)``: the loss's class weights at SGD step ``t`` (period ``T`` in steps), with
    amplitude 1 from ``stop_step`` on (figure 3.2: "A = 1 from epoch 600")."""
    spec = losses_mod.get_loss(loss)

    def weights(t: jnp.ndarray) -> jnp.ndarray:
        amp = A if stop_step is None else jnp.where(t >= stop_step, jnp.ones_like(A), A)
        return spec.class_weights(t, amp, T, num_classes)

    return weights


class _Programs(NamedTuple):
    epoch: Callable  # (params, opt_state, keys, epoch, A, T, x, y) -> (params, opt_state, L (S,), F (S,))
    correct: Callable  # (params, x, y) -> (S,) number of correctly classified images
    init: Callable  # (init keys (S, 2)) -> (params, opt_state), stacked over seeds


@functools.lru_cache(maxsize=8)
def _programs(spec: MyrtleSpec, steps_per_epoch: int, num_classes: int, in_dim: int, mode: str,
              conv_vjp: str, optimizer: Optional[optax.GradientTransformation]) -> _Programs:
    """Compiled epoch / evaluation / init functions for the static part of ``spec``."""
    dtype = jnp.dtype(spec.dtype)
    model = myrtle5(spec.channels, num_classes, spec.W_std, spec.b_std)
    loss = losses_mod.get_loss(spec.loss)
    static = losses_mod.get_loss(loss.static)
    opt = optimizer if optimizer is not None else make_optimizer(spec, steps_per_epoch)
    stop = spec.stop_step(steps_per_epoch)
    B, spe = spec.batch_size, steps_per_epoch
    apply_train = functools.partial(myrtle5_apply, conv=CONV_VJPS[conv_vjp])

    def one_epoch(params, opt_state, key, epoch, A, T, x, y):
        n = x.shape[0]
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        batches = perm[:spe * B].reshape(spe, B)  # drop the last incomplete batch
        steps = epoch * spe + jnp.arange(spe, dtype=jnp.int32)
        weights = make_class_weights(spec.loss, A, T, num_classes, stop)

        def step(carry, inp):
            params, opt_state = carry
            idx, t = inp
            xb = x[idx]
            Y = jax.nn.one_hot(y[idx], num_classes, dtype=dtype)
            w = weights(t)

            def objective(p):
                f = apply_train(p, xb)
                return loss.fn(f, Y, w), f

            (F, f), grads = jax.value_and_grad(objective, has_aux=True)(params)
            L = static.fn(f, Y, w)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (L, F)

        (params, opt_state), (L, F) = jax.lax.scan(step, (params, opt_state), (batches, steps))
        return params, opt_state, jnp.mean(L), jnp.mean(F)

    def correct(params, x, y):
        n = x.shape[0]
        eb = min(spec.eval_batch_size, n)
        nb = -(-n // eb)
        idx = jnp.arange(nb * eb, dtype=jnp.int32).reshape(nb, eb)

        def body(count, ib):
            pred = jnp.argmax(model.apply(params, x[jnp.minimum(ib, n - 1)]), axis=-1)
            ok = (pred == y[jnp.minimum(ib, n - 1)]) & (ib < n)  # padded tail does not count
            return count + jnp.sum(ok, dtype=jnp.int32), None

        return jax.lax.scan(body, jnp.zeros((), jnp.int32), idx)[0]

    if mode == "vmap":
        epoch_b = jax.vmap(one_epoch, in_axes=(0, 0, 0, None, None, None, None, None))
        correct_b = jax.vmap(correct, in_axes=(0, None, None))
    else:
        def epoch_b(params, opt_state, keys, epoch, A, T, x, y):
            return jax.lax.map(lambda s: one_epoch(*s, epoch, A, T, x, y), (params, opt_state, keys))

        def correct_b(params, x, y):
            return jax.lax.map(lambda p: correct(p, x, y), params)

    def init_b(keys):
        # Seed by seed, op by op: XLA takes seconds to compile a jitted (let alone vmapped)
        # threefry init on CPU, while the eager ops compile in a fraction of that and are
        # cached; the numbers are the same.
        per_seed = [model.init(k, in_dim, dtype) for k in keys]
        params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *per_seed)
        return params, jax.vmap(opt.init)(params)

    # donate the state on accelerators (halves its memory); CPU donation only warns
    donate = (0, 1) if jax.default_backend() != "cpu" else ()
    return _Programs(jax.jit(epoch_b, donate_argnums=donate), jax.jit(correct_b), init_b)


def epoch_progress_logger(n_runs: int, images_per_epoch: int, label: str = "",
                          emit: Callable[[str], None] | None = None,
                          min_interval: float = 2.0) -> ProgressFn:
    """``progress(epochs_done, epochs, elapsed_s)`` logging epochs/s, images/s and the ETA
    in the format of :func:`dynloss.progress.progress_logger`."""
    from ..progress import progress_logger

    return progress_logger(n_runs, label, emit or log.info, min_interval, unit="epoch",
                           rate_text=lambda rate: f"{rate:.3g} epochs/s  "
                                                  f"{rate * n_runs * images_per_epoch:,.0f} run-images/s")


def _check_inputs(spec: MyrtleSpec, seeds: Sequence[int], data, checkpoint, checkpoint_every: int):
    spec.validate()
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
    if seeds.ndim != 1 or seeds.size == 0:
        raise SpecError("seeds", "seeds must be a non-empty list of integers")
    if len(set(seeds.tolist())) != seeds.size or np.any(seeds < 0):
        raise SpecError("seeds", f"seeds must be distinct integers >= 0 (got {seeds.tolist()})")
    if checkpoint is not None and checkpoint_every < 1:
        raise SpecError("checkpoint_every", f"checkpoint_every must be a positive integer "
                        f"(got {checkpoint_every!r})")
    x_train, y_train, x_test, y_test = data
    if x_train.ndim != 4 or x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"images must be NHWC arrays of one size (got {x_train.shape}, {x_test.shape})")
    for name, y in (("y_train", y_train), ("y_test", y_test)):
        if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise ValueError(f"{name}: labels must be in 0..{NUM_CLASSES - 1}")
    return seeds


def train_myrtle(spec: MyrtleSpec, seeds: Sequence[int],
                 data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], *,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = True, interrupt_after: Optional[int] = None,
                 progress: Optional[ProgressFn] = None,
                 optimizer: Optional[optax.GradientTransformation] = None) -> MyrtleResult:
    """Train Myrtle5 on CIFAR-10 for every seed (thesis figure 3.2).

    Args:
        spec: the job (validated here).
        seeds: distinct seeds >= 0; seed ``s`` initialises from ``PRNGKey(s)``.
        data: ``(x_train, y_train, x_test, y_test)``, NHWC images and labels 0..9
            (:func:`dynloss.data.cifar.load_cifar10`).
        checkpoint: a ``.npz`` path: the state is saved every ``checkpoint_every`` epochs and
            after the last; an existing checkpoint of the same run is resumed (``resume=True``),
            giving the same numbers as an uninterrupted run.
        checkpoint_every: epochs between checkpoints.
        resume: resume from ``checkpoint`` if it exists (False: start over).
        interrupt_after: simulate an interruption: return the partial result once this many
            epochs (counted from the start of the run) are complete, without writing a checkpoint
            beyond the periodic ones.
        progress: ``progress(done, epochs, elapsed_s)``, called after every epoch.
        optimizer: an optax transformation replacing :func:`make_optimizer` (for comparisons;
            the recorded ``lr`` stays the spec's schedule).

    Returns:
        The :class:`~dynloss.myrtle.results.MyrtleResult`.

    Raises:
        SpecError: a bad field of ``spec``, bad seeds or ``checkpoint_every``.
        CheckpointError: the checkpoint cannot be resumed.
    """
    seeds = _check_inputs(spec, seeds, data, checkpoint, checkpoint_every)
    x_train, y_train, x_test, y_test = data
    spe = spec.steps_per_epoch(len(y_train))
    if spec.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(spec.dtype)
    mode, conv_vjp = resolve_batch(spec.batch), resolve_conv_vjp(spec.conv_vjp)
    progs = _programs(replace(spec, A=1.0, T=1.0), spe, NUM_CLASSES, x_train.shape[-1], mode,
                      conv_vjp, optimizer)

    identity = {"spec": spec_to_dict(spec), "seeds": seeds.tolist(), "mode": mode, "conv_vjp": conv_vjp,
                "optimizer": "optax.sgd" if optimizer is None else "custom",
                "data": data_fingerprint(x_train, y_train, x_test, y_test)}
    S, E = seeds.size, spec.epochs
    init_keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    keys = np.asarray(jax.vmap(lambda k: jax.random.fold_in(k, 1))(init_keys))
    lr_fn = make_lr_schedule(spec.peak_lr, spec.peak_epoch, spec.final_lr, spec.epochs, spe)
    lr_epochs = np.asarray(lr_fn(jnp.arange(E, dtype=dtype) * spe), np.float64)
    eval_at = set(spec.eval_epochs().tolist())

    params = opt_state = None
    start_epoch = 0
    metrics = {k: np.full((S, E), np.nan) for k in METRICS}
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        template = jax.eval_shape(progs.init, init_keys)
        start_epoch, params, opt_state, saved_keys, saved = load_checkpoint(checkpoint, identity, template)
        if not np.array_equal(saved_keys, keys):
            raise CheckpointError(f"checkpoint {str(checkpoint)!r}: shuffle keys differ")
        for k in METRICS:
            metrics[k] = np.array(saved[k], np.float64)
        params, opt_state = jax.tree_util.tree_map(jnp.asarray, (params, opt_state))
        log.info("resumed %s at epoch %d/%d", checkpoint, start_epoch, E)
    if params is None:
        params, opt_state = progs.init(init_keys)

    x_tr, y_tr = jnp.asarray(x_train, dtype), jnp.asarray(y_train, jnp.int32)
    x_te, y_te = jnp.asarray(x_test, dtype), jnp.asarray(y_test, jnp.int32)
    A, T = jnp.asarray(spec.A, dtype), jnp.asarray(spec.T, dtype)
    jkeys = jnp.asarray(keys)
    timings = {"first_epoch_s": math.nan, "train_s": 0.0, "eval_s": 0.0, "checkpoint_s": 0.0}
    t_start = time.perf_counter()
    done = start_epoch
    for epoch in range(start_epoch, E):
        if interrupt_after is not None and epoch >= interrupt_after:
            break
        t0 = time.perf_counter()
        params, opt_state, L, F = progs.epoch(params, opt_state, jkeys, jnp.int32(epoch), A, T, x_tr, y_tr)
        L, F = np.asarray(L, np.float64), np.asarray(F, np.float64)  # waits for the epoch
        dt = time.perf_counter() - t0
        timings["train_s"] += dt
        if epoch == start_epoch:
            timings["first_epoch_s"] = dt  # includes compilation
        done = epoch + 1
        metrics["train_loss"][:, epoch], metrics["train_F"][:, epoch] = L, F
        if done in eval_at:
            t0 = time.perf_counter()
            metrics["train_acc"][:, epoch] = np.asarray(progs.correct(params, x_tr, y_tr)) / len(y_train)
            metrics["test_acc"][:, epoch] = np.asarray(progs.correct(params, x_te, y_te)) / len(y_test)
            timings["eval_s"] += time.perf_counter() - t0
        if checkpoint is not None and (done % checkpoint_every == 0 or done == E):
            t0 = time.perf_counter()
            save_checkpoint(checkpoint, identity, done, params, opt_state, keys, metrics)
            timings["checkpoint_s"] += time.perf_counter() - t0
        if progress is not None:
            progress(done, E, time.perf_counter() - t_start)
    timings["run_s"] = time.perf_counter() - t_start
    return MyrtleResult(spec=spec, seeds=seeds, epochs_done=done, lr=lr_epochs,
                        steps_per_epoch=spe, num_train=len(y_train), num_test=len(y_test),
                        params=jax.device_get(params), timings=timings, **metrics)

"""Myrtle5 on CIFAR-10 with dynamical losses (thesis section 3.4.1, figure 3.2).

The network (Shankar et al. 2020, "Neural Kernels Without Tangents") is
conv3x3-ReLU, conv3x3-ReLU, avg-pool 2, conv3x3-ReLU, avg-pool 2, conv3x3-ReLU, global average
pool, dense(10), NHWC with "SAME" padding, in plain JAX. Its parameters are laid out, keyed and
initialised exactly as ``neural_tangents.stax.serial`` of the layers in :data:`MYRTLE5_LAYERS`
with ``parameterization="standard"``, ``W_std = sqrt(2)`` and ``b_std = 0`` (the tests compare
both the initial parameters and the outputs with neural-tangents):

- standard parameterisation, ``W ~ N(0, W_std^2 / fan_in)`` with ``fan_in = 9 C_in`` for a conv
  and ``C_in`` for the dense layer, because training is plain SGD with the thesis's learning
  rates (in the NTK parameterisation the same rates would mean a different step);
- ``W_std = sqrt(2)`` on every layer (He initialisation: each ReLU halves the second moment) as in
  the neural-tangents Myrtle of Shankar et al.; the read-out uses it too, like theirs;
- ``b_std = 0``: zero, trainable biases, the project's pin for the spiral MLP (SPEC "Model").
- Shankar et al. end with three 2x2 average pools and a flatten, which on 32x32 inputs is exactly
  a global average over the final 8x8 map; the global pool used here is the same on CIFAR and
  makes the network size-agnostic (tests train it on 8x8 images).

Training (SPEC figure 3.2 row): minibatch SGD with Nesterov momentum 0.9 (optax's ``sgd``
convention, checked against optax in the tests), batch 512, the learning rate piecewise linear in
the epoch ``e = t / steps_per_epoch``: 0 at e = 0, ``peak_lr`` at ``peak_epoch``, ``final_lr`` at
``epochs``. ``steps_per_epoch = floor(num_train / batch_size)``: the last incomplete batch is
dropped, so an epoch is exactly that many updates and "epoch e" of the schedule is the start of
epoch e. The class weights of the dynamical losses follow :mod:`dynloss.schedules` with the period
``T`` counted in SGD steps and amplitude 1 from epoch ``stop_epoch`` on; each sample is weighted
by its class (the losses of :mod:`dynloss.losses` applied to the minibatch).

Each seed ``s`` initialises from ``PRNGKey(s)`` (as the spiral runs do) and shuffles with its own
key ``fold_in(PRNGKey(s), 1)``; epoch ``e`` uses the permutation of ``fold_in(that key, e)``, so
the data order of any epoch is known without replaying earlier ones (what makes resuming exact).
Seeds run one after the other inside one compiled program (``lax.map``; ``vmap`` is available
but slower, see :data:`BATCH_MODES`); one epoch is a ``lax.scan`` over its minibatches and a Python loop over
epochs reports progress on stderr, evaluates and checkpoints. On CPUs the convolutions are
differentiated by :func:`conv_matmul_vjp` because XLA:CPU's own filter gradient is ~200x slower
inside a scan (:data:`CONV_VJP_MODES`).

Checkpoints are ``.npz`` files (no pickle) written atomically: parameters, momentum buffers,
completed epochs, shuffle keys, the metrics so far and a JSON description of the run, which must
match on resume. CPU runs resume bit for bit; on GPUs that needs
``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` (cuDNN may otherwise pick non-deterministic
convolution algorithms), which the ``myrtle`` command sets unless XLA_FLAGS already names it; with
it an H200 resumed bit for bit and was also faster (measured 30k against 9k images/s, one seed).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import files
from . import losses as losses_mod
from . import models as models_mod

log = logging.getLogger("dynloss")

SQRT2 = math.sqrt(2.0)
NUM_CLASSES = 10  # CIFAR-10: ten outputs even when a small subset lacks a class
#: the layers of Myrtle5 in ``stax.serial`` order (ReLU and pools own empty parameter tuples)
MYRTLE5_LAYERS = ("conv", "relu", "conv", "relu", "avgpool",
                  "conv", "relu", "avgpool", "conv", "relu", "gap", "dense")
_DIMS = ("NHWC", "HWIO", "NHWC")
DTYPES = ("float32", "float64")
#: ``map``: one seed after the other inside the compiled program; ``vmap``: seeds side by side,
#: which turns every convolution into a grouped one. ``auto`` is ``map``: measured on an H200
#: (64 channels, batch 512, 32x32, float32) 136k images/s for 8 seeds mapped against 22k vmapped
#: (206k for 30 seeds mapped), and on CPUs a mapped run is also bitwise equal to single-seed runs.
BATCH_MODES = ("auto", "vmap", "map")
#: how training differentiates the convolutions: ``xla`` (autodiff; cuDNN on GPUs), ``matmul``
#: (:func:`conv_matmul_vjp`, fast inside ``lax.scan`` on CPUs), ``auto`` picks by backend.
CONV_VJP_MODES = ("auto", "xla", "matmul")

Params = Any


# --------------------------------------------------------------------------------------------
# The network


def myrtle5(channels: int = 64, num_classes: int = 10, W_std: float = SQRT2,
            b_std: float = 0.0) -> models_mod.Model:
    """Myrtle5 (Shankar et al. 2020) with ``channels`` channels in every conv layer.

    ``init(key, in_dim=3, dtype)`` takes the number of input channels; the image size is free
    (the global pool removes it). Parameters are the ``stax.serial`` list
    ``[(W (3,3,C_in,C), b (1,1,1,C)), (), ..., (W (C, classes), b (1, classes))]``.
    """
    if not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"channels must be a positive integer (got {channels!r})")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer (got {num_classes!r})")

    def init(key, in_dim: int = 3, dtype=jnp.float32) -> Params:
        params: list = []
        c_in = in_dim
        for name, k in zip(MYRTLE5_LAYERS, models_mod._serial_keys(key, len(MYRTLE5_LAYERS))):
            if name in ("conv", "dense"):
                # stax: split the layer key into W and b keys; W ~ N(0, 1) * W_std / sqrt(fan_in)
                # (the same float expression as neural-tangents, so float64 inits agree bitwise).
                c_out = channels if name == "conv" else num_classes
                w_shape = (3, 3, c_in, c_out) if name == "conv" else (c_in, c_out)
                b_shape = (1, 1, 1, c_out) if name == "conv" else (1, c_out)
                fan_in = 9 * c_in if name == "conv" else c_in
                k_w, k_b = jax.random.split(k)
                w = jax.random.normal(k_w, w_shape, dtype) * (W_std / float(fan_in) ** 0.5)
                b = jax.random.normal(k_b, b_shape, dtype) * b_std
                params.append((w, b))
                c_in = c_out
            else:
                params.append(())
        return params

    return models_mod.Model(f"myrtle5c{channels}", init, myrtle5_apply, num_classes)


def _conv(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DIMS)


@jax.custom_vjp
def conv_matmul_vjp(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    """The stride-1 "SAME" convolution of Myrtle5 with a hand-written pullback.

    Why: on XLA:CPU (JAX 0.5, thunk runtime) the filter-gradient convolution that autodiff emits
    runs ~200x slower inside a ``lax.scan`` than outside it (measured: 18.7 s vs 0.1 s for two
    64-channel 32x32 batches of 64), which made a scanned epoch unusable. Here the input gradient
    is a forward convolution of ``dy`` with the flipped kernel (in/out channels swapped) and the
    filter gradient is a matmul over the N*H*W positions per kernel row, both fast in loops
    (still ~1.5x slower than XLA's own filter gradient outside loops). Same values as autodiff up
    to float rounding (tests compare).
    """
    return _conv(x, w)


def _conv_fwd(x, w):
    return _conv(x, w), (x, w)


def _conv_bwd(res, dy):
    x, w = res
    kh, kw, c_in, _ = w.shape
    if kh % 2 == 0 or kw % 2 == 0:  # pragma: no cover - Myrtle uses 3x3 only
        raise NotImplementedError("conv_matmul_vjp needs odd kernel sizes")
    # SAME with stride 1 and an odd kernel pads (k - 1) / 2 on each side, so the transpose is the
    # correlation of dy with the kernel flipped in space (exact, borders included).
    dx = _conv(dy, jnp.flip(w, (0, 1)).swapaxes(2, 3))
    n, h, wd, _ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dy2 = dy.reshape(-1, dy.shape[-1])
    # the kw horizontal shifts side by side: kh matmuls with kw * C_in rows (measured ~20%
    # faster than kh * kw thin ones)
    xw = jnp.concatenate([xp[:, :, j:j + wd, :] for j in range(kw)], axis=-1)
    dw = jnp.stack([(xw[:, i:i + h].reshape(-1, kw * c_in).T @ dy2).reshape(kw, c_in, -1)
                    for i in range(kh)])
    return dx, dw.astype(w.dtype)


conv_matmul_vjp.defvjp(_conv_fwd, _conv_bwd)
CONV_VJPS = {"xla": _conv, "matmul": conv_matmul_vjp}


def myrtle5_apply(params: Params, x: jnp.ndarray, conv: Callable = _conv) -> jnp.ndarray:
    """Outputs (N, classes) of Myrtle5 on NHWC images ``x`` (N, H, W, C_in).

    ``conv(x, w)`` is the stride-1 "SAME" convolution: plain XLA (default) or
    :func:`conv_matmul_vjp` (same forward, a pullback that is fast inside loops on CPU).
    """
    h = x
    for name, p in zip(MYRTLE5_LAYERS, params):
        if name == "conv":
            w, b = p
            h = conv(h, w) + b
        elif name == "relu":
            h = jax.nn.relu(h)
        elif name == "avgpool":
            # 2x2 windows, stride 2, VALID: stax.AvgPool((2, 2), strides=(2, 2))
            h = jax.lax.reduce_window(h, np.zeros((), h.dtype), jax.lax.add,
                                      (1, 2, 2, 1), (1, 2, 2, 1), "VALID") * 0.25
        elif name == "gap":
            h = jnp.mean(h, axis=(1, 2))
        else:
            w, b = p
            h = h @ w + b
    return h


# --------------------------------------------------------------------------------------------
# Configuration and schedules


@dataclass(frozen=True)
class MyrtleSpec:
    """One figure-3.2 job: everything but the seeds and the data (defaults: the thesis)."""

    loss: str = "dce"
    A: float = 1.0
    T: float = 100.0
    channels: int = 64
    epochs: int = 700
    batch_size: int = 512
    peak_lr: float = 0.02
    peak_epoch: float = 300.0
    final_lr: float = 0.002
    momentum: float = 0.9
    nesterov: bool = True
    stop_epoch: Optional[float] = 600.0  # A = 1 from this epoch on (None: never)
    eval_every: int = 10  # accuracies every N epochs (0: only after the last epoch)
    eval_batch_size: int = 1000
    dtype: str = "float32"
    W_std: float = SQRT2
    b_std: float = 0.0
    batch: str = "auto"
    conv_vjp: str = "auto"  # pullback of the convolutions in training (see CONV_VJP_MODES)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and what is allowed."""
        losses_mod.get_loss(self.loss)
        for name in ("channels", "epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer (got {v!r})")
        if not isinstance(self.eval_every, (int, np.integer)) or self.eval_every < 0:
            raise ValueError(f"eval_every must be an integer >= 0 (got {self.eval_every!r})")
        if not (math.isfinite(self.A) and self.A >= 1):
            raise ValueError(f"A must be a finite number >= 1 (got {self.A!r})")
        if not (math.isfinite(self.T) and self.T > 0):
            raise ValueError(f"T must be a finite number > 0 (got {self.T!r})")
        if not 0 < self.peak_epoch <= self.epochs:
            raise ValueError(f"peak_epoch must be in (0, epochs={self.epochs}] (got {self.peak_epoch!r})")
        if not (math.isfinite(self.peak_lr) and self.peak_lr > 0):  # 0 would never move the weights
            raise ValueError(f"peak_lr must be a finite number > 0 (got {self.peak_lr!r})")
        if not (math.isfinite(self.final_lr) and self.final_lr >= 0):
            raise ValueError(f"final_lr must be a finite number >= 0 (got {self.final_lr!r})")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1) (got {self.momentum!r})")
        if self.stop_epoch is not None and not self.stop_epoch >= 0:
            raise ValueError(f"stop_epoch must be >= 0 or None (got {self.stop_epoch!r})")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        if self.batch not in BATCH_MODES:
            raise ValueError(f"batch must be one of {', '.join(BATCH_MODES)} (got {self.batch!r})")
        if self.conv_vjp not in CONV_VJP_MODES:
            raise ValueError(f"conv_vjp must be one of {', '.join(CONV_VJP_MODES)} "
                             f"(got {self.conv_vjp!r})")

    def steps_per_epoch(self, num_train: int) -> int:
        """``floor(num_train / batch_size)``: the incomplete last batch is dropped."""
        if num_train < self.batch_size:
            raise ValueError(f"batch_size must be at most the number of training images "
                             f"{num_train} (got {self.batch_size})")
        return num_train // self.batch_size

    def stop_step(self, steps_per_epoch: int) -> Optional[int]:
        """First step with A = 1, or ``None`` when the oscillations never stop."""
        if self.stop_epoch is None:
            return None
        return int(math.ceil(self.stop_epoch * steps_per_epoch))

    def eval_epochs(self) -> np.ndarray:
        """Completed-epoch counts (1..epochs) after which accuracies are measured."""
        e = np.arange(1, self.epochs + 1)
        keep = (e == self.epochs) if self.eval_every == 0 else (e % self.eval_every == 0)
        return e[keep | (e == self.epochs)]


def make_lr_schedule(peak_lr: float, peak_epoch: float, final_lr: float, epochs: float,
                     steps_per_epoch: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``lr(t)``: linear from 0 at epoch 0 to ``peak_lr`` at ``peak_epoch``, then linear to
    ``final_lr`` at ``epochs``, with epoch ``t / steps_per_epoch`` (t = SGD step; thesis 3.4.1).

    The result has the float dtype of ``t`` (int steps give the default float). Beyond
    ``epochs`` the last segment is extrapolated (never reached in training).
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1 (got {steps_per_epoch})")
    if not 0 < peak_epoch <= epochs:
        raise ValueError(f"peak_epoch must be in (0, epochs={epochs}] (got {peak_epoch})")
    up = peak_lr / float(peak_epoch)
    down = (final_lr - peak_lr) / max(float(epochs - peak_epoch), 1e-12)
    spe = float(steps_per_epoch)

    def lr(t: jnp.ndarray) -> jnp.ndarray:
        t = jnp.asarray(t)
        e = (t if jnp.issubdtype(t.dtype, jnp.floating) else t.astype(float)) / spe
        return jnp.where(e <= peak_epoch, up * e, peak_lr + down * (e - peak_epoch))

    return lr


def make_class_weights(loss: str, A: Any, T: Any, num_classes: int,
                       stop_step: Optional[int]) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``w(t)``: the loss's class weights at SGD step ``t`` (period ``T`` in steps), with
    amplitude 1 from ``stop_step`` on (figure 3.2: "A = 1 from epoch 600")."""
    spec = losses_mod.get_loss(loss)

    def weights(t: jnp.ndarray) -> jnp.ndarray:
        amp = A if stop_step is None else jnp.where(t >= stop_step, jnp.ones_like(A), A)
        return spec.class_weights(t, amp, T, num_classes)

    return weights


def nesterov_update(params: Params, mom: Params, grads: Params, lr: jnp.ndarray,
                    momentum: float, nesterov: bool = True) -> tuple[Params, Params]:
    """One SGD step with (Nesterov) momentum, optax ``sgd`` convention:
    ``m <- g + mu m``; ``p <- p - lr (g + mu m)`` (Nesterov) or ``p - lr m``."""
    mom = jax.tree_util.tree_map(lambda m, g: g + momentum * m, mom, grads)
    if nesterov:
        step = jax.tree_util.tree_map(lambda m, g: g + momentum * m, mom, grads)
    else:
        step = mom
    params = jax.tree_util.tree_map(lambda p, s: p - lr * s, params, step)
    return params, mom


# --------------------------------------------------------------------------------------------
# The compiled programs


class _Programs(NamedTuple):
    epoch: Callable  # (params, mom, keys, epoch, A, T, x, y) -> (params, mom, L (S,), F (S,))
    correct: Callable  # (params, x, y) -> (S,) number of correctly classified images
    init: Callable  # (init keys (S, 2)) -> params, stacked over seeds


@functools.lru_cache(maxsize=8)
def _programs(spec: MyrtleSpec, steps_per_epoch: int, num_classes: int, in_dim: int,
              mode: str, conv_vjp: str) -> _Programs:
    """Compiled epoch / evaluation / init functions for the static part of ``spec``."""
    dtype = jnp.dtype(spec.dtype)
    model = myrtle5(spec.channels, num_classes, spec.W_std, spec.b_std)
    loss = losses_mod.get_loss(spec.loss)
    static = losses_mod.get_loss(loss.static)
    lr_fn = make_lr_schedule(spec.peak_lr, spec.peak_epoch, spec.final_lr, spec.epochs,
                             steps_per_epoch)
    stop = spec.stop_step(steps_per_epoch)
    B, spe = spec.batch_size, steps_per_epoch
    apply_train = functools.partial(myrtle5_apply, conv=CONV_VJPS[conv_vjp])

    def one_epoch(params, mom, key, epoch, A, T, x, y):
        n = x.shape[0]
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        batches = perm[:spe * B].reshape(spe, B)  # drop the last incomplete batch
        steps = epoch * spe + jnp.arange(spe, dtype=jnp.int32)
        weights = make_class_weights(spec.loss, A, T, num_classes, stop)

        def step(carry, inp):
            params, mom = carry
            idx, t = inp
            xb = x[idx]
            Y = jax.nn.one_hot(y[idx], num_classes, dtype=dtype)
            w = weights(t)

            def objective(p):
                f = apply_train(p, xb)
                return loss.fn(f, Y, w), f

            (F, f), grads = jax.value_and_grad(objective, has_aux=True)(params)
            L = static.fn(f, Y, w)
            lr = lr_fn(t.astype(dtype))
            params, mom = nesterov_update(params, mom, grads, lr, spec.momentum, spec.nesterov)
            return (params, mom), (L, F)

        (params, mom), (L, F) = jax.lax.scan(step, (params, mom), (batches, steps))
        return params, mom, jnp.mean(L), jnp.mean(F)

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
        def epoch_b(params, mom, keys, epoch, A, T, x, y):
            return jax.lax.map(lambda s: one_epoch(*s, epoch, A, T, x, y), (params, mom, keys))

        def correct_b(params, x, y):
            return jax.lax.map(lambda p: correct(p, x, y), params)

    def init_b(keys):
        # Seed by seed, op by op: XLA takes seconds to compile a jitted (let alone vmapped)
        # threefry init on CPU, while the eager ops compile in a fraction of that and are
        # cached; the numbers are the same.
        per_seed = [model.init(k, in_dim, dtype) for k in keys]
        return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *per_seed)

    # donate the state on accelerators (halves its memory); CPU donation only warns
    donate = (0, 1) if jax.default_backend() != "cpu" else ()
    return _Programs(jax.jit(epoch_b, donate_argnums=donate), jax.jit(correct_b), init_b)


def batch_mode(spec: MyrtleSpec) -> str:
    """``spec.batch``, with ``auto`` resolved to ``map`` (faster on GPUs and CPUs alike)."""
    return "map" if spec.batch == "auto" else spec.batch


def conv_vjp_mode(spec: MyrtleSpec) -> str:
    """``spec.conv_vjp``, with ``auto`` resolved by backend (``matmul`` on CPU, else ``xla``)."""
    if spec.conv_vjp != "auto":
        return spec.conv_vjp
    return "matmul" if jax.default_backend() == "cpu" else "xla"


# --------------------------------------------------------------------------------------------
# Results and checkpoints


@dataclass
class MyrtleResult:
    """Host-side arrays of a trained batch of seeds (S seeds, E epochs; NaN = not measured)."""

    spec: MyrtleSpec
    seeds: np.ndarray  # (S,)
    epochs_done: int
    train_loss: np.ndarray  # (S, E) static loss L, mean over the epoch's minibatches (pre-update)
    train_F: np.ndarray  # (S, E) dynamical loss F, same
    train_acc: np.ndarray  # (S, E) accuracy on the training images after the epoch
    test_acc: np.ndarray  # (S, E) accuracy on the test images after the epoch
    lr: np.ndarray  # (E,) learning rate of the epoch's first update
    steps_per_epoch: int
    num_train: int
    num_test: int
    params: Params = None  # final parameters, leading seed axis (numpy)
    timings: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.epochs_done == self.spec.epochs

    @property
    def diverged(self) -> np.ndarray:
        """(S,) the training loss became NaN/inf."""
        return ~np.all(np.isfinite(self.train_loss[:, :self.epochs_done]), axis=1)

    @property
    def diverged_epoch(self) -> np.ndarray:
        """(S,) first epoch (1-based, as the ``epoch`` coordinate) with a non-finite training
        loss; -1 if none."""
        bad = ~np.isfinite(self.train_loss[:, :self.epochs_done])
        return np.where(bad.any(axis=1), bad.argmax(axis=1) + 1, -1)

    def masked(self, name: str) -> np.ndarray:
        """(S, E) ``train_acc`` or ``test_acc`` with NaN from a seed's divergence epoch on (NaN
        parameters give the chance accuracy of argmax = class 0, not a number of the run)."""
        out = getattr(self, name).copy()
        first = self.diverged_epoch
        epochs = np.arange(1, out.shape[1] + 1)
        out[(first[:, None] > 0) & (epochs[None, :] >= first[:, None])] = np.nan
        return out

    def final(self, name: str) -> np.ndarray:
        """(S,) ``train_acc`` or ``test_acc`` after the last epoch (NaN if diverged or not done)."""
        out = getattr(self, name)[:, -1].copy()
        out[self.diverged] = np.nan
        return out


METRICS = ("train_loss", "train_F", "train_acc", "test_acc")
VARIABLE_DOCS = {
    "train_loss": "static loss L, mean over the epoch's minibatches (before each update)",
    "train_F": "dynamical loss F, mean over the epoch's minibatches (before each update)",
    "train_acc": "accuracy on the training images after the epoch (NaN: not measured)",
    "test_acc": "accuracy on the test images after the epoch (NaN: not measured)",
    "lr": "learning rate of the epoch's first update",
    "final_train_acc": "training accuracy after the last epoch (NaN if diverged)",
    "final_test_acc": "test accuracy after the last epoch (NaN if diverged)",
    "diverged": "the training loss became NaN/inf",
    "diverged_epoch": "first epoch with a non-finite training loss (-1: never)",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (unreadable, or written for a different run)."""


def spec_to_dict(spec: MyrtleSpec) -> dict:
    """Plain-dict form of a spec (NetCDF attributes, checkpoint identity)."""
    return asdict(spec)


def data_fingerprint(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray) -> dict:
    """Shapes and a hash of the data, so that a checkpoint only resumes on the same data."""
    h = hashlib.sha256()
    for a in (x_train, y_train, x_test, y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return {"train": list(x_train.shape), "test": list(x_test.shape), "sha256": h.hexdigest()}


def save_checkpoint(path: str | os.PathLike, identity: dict, epoch: int, params: Params,
                    mom: Params, keys: np.ndarray, metrics: dict[str, np.ndarray]) -> Path:
    """Write a ``.npz`` checkpoint atomically (temporary file beside it, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"identity": np.asarray(json.dumps(identity, sort_keys=True)),
              "epoch": np.asarray(epoch, np.int64), "keys": np.asarray(keys)}
    for prefix, tree in (("params", params), ("mom", mom)):
        for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
            arrays[f"{prefix}_{i}"] = np.asarray(leaf)
    arrays.update({f"metric_{k}": np.asarray(v) for k, v in metrics.items()})
    with files.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_checkpoint(path: str | os.PathLike, identity: dict, template: Params
                    ) -> tuple[int, Params, Params, np.ndarray, dict[str, np.ndarray]]:
    """``(epoch, params, mom, keys, metrics)`` from a checkpoint written for ``identity``.

    ``template`` gives the parameter tree structure, shapes and dtypes. Raises
    :class:`CheckpointError` naming the path and the first differing setting otherwise.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} ({type(exc).__name__}: "
                              f"{exc}); delete it to start over") from None
    try:
        found = json.loads(str(arrays["identity"]))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint {str(path)!r} has no run description; delete it to "
                              "start over") from None
    want = json.loads(json.dumps(identity, sort_keys=True))
    if found != want:
        diff = _first_difference(found, want)
        raise CheckpointError(f"checkpoint {str(path)!r} belongs to a different run ({diff}); "
                              "delete it or choose another checkpoint path")
    leaves, treedef = jax.tree_util.tree_flatten(template)

    def tree(prefix):
        out = []
        for i, ref in enumerate(leaves):
            a = arrays.get(f"{prefix}_{i}")
            if a is None or a.shape != ref.shape or a.dtype != ref.dtype:
                raise CheckpointError(f"checkpoint {str(path)!r}: {prefix} leaf {i} does not match "
                                      f"the model ({None if a is None else a.shape} vs {ref.shape})")
            out.append(a)
        return jax.tree_util.tree_unflatten(treedef, out)

    metrics = {k[len("metric_"):]: v for k, v in arrays.items() if k.startswith("metric_")}
    return int(arrays["epoch"]), tree("params"), tree("mom"), arrays["keys"], metrics


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
    return f"{where or 'value'}: checkpoint has {a!r}, this run {b!r}"


# --------------------------------------------------------------------------------------------
# Training


ProgressFn = Callable[[int, int, float], None]


def epoch_progress_logger(n_runs: int, images_per_epoch: int, label: str = "",
                          emit: Callable[[str], None] | None = None,
                          min_interval: float = 2.0) -> ProgressFn:
    """``progress(epochs_done, epochs, elapsed_s)`` logging epochs/s, images/s and the ETA
    in the format of :func:`dynloss.train.progress_logger`."""
    from .train import progress_logger

    return progress_logger(n_runs, label, emit or log.info, min_interval, unit="epoch",
                           rate_text=lambda rate: f"{rate:.3g} epochs/s  "
                                                  f"{rate * n_runs * images_per_epoch:,.0f} run-images/s")


def train_myrtle(spec: MyrtleSpec, seeds: Sequence[int],
                 data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], *,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = True, interrupt_after: Optional[int] = None,
                 progress: Optional[ProgressFn] = None) -> MyrtleResult:
    """Train Myrtle5 on ``data = (x_train, y_train, x_test, y_test)`` for every seed.

    With ``checkpoint`` the state is saved every ``checkpoint_every`` epochs and after the last;
    an existing checkpoint of the same run is resumed (``resume=True``), giving the same numbers
    as an uninterrupted run. ``interrupt_after=k`` simulates an interruption: training returns
    the partial result once ``k`` epochs (counted from the start of the run) are complete,
    without writing a checkpoint beyond the periodic ones. ``progress(done, epochs, elapsed)``
    is called after every epoch.
    """
    spec.validate()
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError("seeds must be a non-empty list of integers")
    if len(set(seeds.tolist())) != seeds.size or np.any(seeds < 0):
        raise ValueError(f"seeds must be distinct integers >= 0 (got {seeds.tolist()})")
    if checkpoint is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer (got {checkpoint_every!r})")
    x_train, y_train, x_test, y_test = data
    if x_train.ndim != 4 or x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"images must be NHWC arrays of one size (got {x_train.shape}, {x_test.shape})")
    num_classes = NUM_CLASSES
    for name, y in (("y_train", y_train), ("y_test", y_test)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name}: labels must be in 0..{num_classes - 1}")
    spe = spec.steps_per_epoch(len(y_train))
    if spec.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(spec.dtype)
    mode, conv_vjp = batch_mode(spec), conv_vjp_mode(spec)
    progs = _programs(replace(spec, A=1.0, T=1.0), spe, num_classes, x_train.shape[-1], mode,
                      conv_vjp)

    identity = {"spec": spec_to_dict(spec), "seeds": seeds.tolist(), "mode": mode,
                "conv_vjp": conv_vjp,
                "data": data_fingerprint(x_train, y_train, x_test, y_test)}
    S, E = seeds.size, spec.epochs
    init_keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    keys = np.asarray(jax.vmap(lambda k: jax.random.fold_in(k, 1))(init_keys))
    lr_fn = make_lr_schedule(spec.peak_lr, spec.peak_epoch, spec.final_lr, spec.epochs, spe)
    lr_epochs = np.asarray(lr_fn(jnp.arange(E, dtype=dtype) * spe), np.float64)
    eval_at = set(spec.eval_epochs().tolist())

    params = mom = None
    start_epoch = 0
    metrics = {k: np.full((S, E), np.nan) for k in METRICS}
    if checkpoint is not None and resume and Path(checkpoint).exists():
        template = jax.eval_shape(progs.init, init_keys)
        start_epoch, params, mom, saved_keys, saved = load_checkpoint(checkpoint, identity, template)
        if not np.array_equal(saved_keys, keys):
            raise CheckpointError(f"checkpoint {str(checkpoint)!r}: shuffle keys differ")
        for k in METRICS:
            metrics[k] = np.array(saved[k], np.float64)
        params = jax.tree_util.tree_map(jnp.asarray, params)
        mom = jax.tree_util.tree_map(jnp.asarray, mom)
        log.info("resumed %s at epoch %d/%d", checkpoint, start_epoch, E)
    if params is None:
        params = progs.init(init_keys)
        mom = jax.tree_util.tree_map(jnp.zeros_like, params)

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
        params, mom, L, F = progs.epoch(params, mom, jkeys, jnp.int32(epoch), A, T, x_tr, y_tr)
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
            save_checkpoint(checkpoint, identity, done, params, mom, keys, metrics)
            timings["checkpoint_s"] += time.perf_counter() - t0
        if progress is not None:
            progress(done, E, time.perf_counter() - t_start)
    timings["run_s"] = time.perf_counter() - t_start
    return MyrtleResult(spec=spec, seeds=seeds, epochs_done=done, lr=lr_epochs,
                        steps_per_epoch=spe, num_train=len(y_train), num_test=len(y_test),
                        params=jax.device_get(params), timings=timings, **metrics)


def result_to_dataset(result: MyrtleResult, config: dict | None = None):
    """The labelled dataset of a Myrtle5 job: dims ``(seed, epoch)``, scalar coordinates
    ``loss, A, T, channels``, provenance via :func:`dynloss.netcdf.stamp`."""
    import xarray as xr

    from . import netcdf

    spec = result.spec
    dims = ("seed", "epoch")
    data = {k: (dims, result.masked(k) if k.endswith("_acc") else getattr(result, k)) for k in METRICS}
    data["lr"] = (("epoch",), result.lr)
    data["final_train_acc"] = (("seed",), result.final("train_acc"))
    data["final_test_acc"] = (("seed",), result.final("test_acc"))
    data["diverged"] = (("seed",), result.diverged)
    data["diverged_epoch"] = (("seed",), result.diverged_epoch)
    coords = {"seed": result.seeds, "epoch": np.arange(1, spec.epochs + 1),
              "loss": spec.loss, "A": float(spec.A), "T": float(spec.T), "channels": spec.channels}
    ds = xr.Dataset(data, coords=coords)
    for name, doc in VARIABLE_DOCS.items():
        ds[name].attrs["long_name"] = doc
    ds["epoch"].attrs["long_name"] = "completed epochs (metrics after that epoch)"
    ds["T"].attrs["units"] = "SGD steps"
    ds.attrs.update({"model": "myrtle5", "loss": spec.loss, "channels": spec.channels,
                     "epochs": spec.epochs, "epochs_done": result.epochs_done,
                     "steps_per_epoch": result.steps_per_epoch, "batch_size": spec.batch_size,
                     "num_train": result.num_train, "num_test": result.num_test,
                     "dtype": spec.dtype})
    for k, v in (result.timings or {}).items():
        ds.attrs[k] = float(v)
    cfg = {"myrtle_spec": spec_to_dict(spec), "seeds": result.seeds.tolist()}
    if config:
        cfg.update(config)
    return netcdf.stamp(ds, cfg)


# --------------------------------------------------------------------------------------------
# Command line


def add_cli(sub) -> None:
    """Register the ``myrtle`` subcommand on an ``argparse`` subparsers object."""
    from .cli.args import number
    from .losses import LOSSES

    pos_int = lambda name: number(int, name, lambda v: v > 0, "an integer > 0")  # noqa: E731
    nonneg = lambda name: number(float, name, lambda v: 0 <= v < float("inf"), "a number >= 0")  # noqa: E731
    p = sub.add_parser("myrtle", help="train Myrtle5 on CIFAR-10 (vmapped over seeds) into one NetCDF",
                       description="Minibatch SGD with Nesterov momentum on CIFAR-10 (figure 3.2).")
    g = p.add_argument_group("run")
    g.add_argument("--cifar-dir", required=True,
                   help="the CIFAR-10 python version folder (data_batch_1..5, test_batch)")
    g.add_argument("--loss", required=True, metavar="{" + ",".join(LOSSES) + "}",
                   help="loss name: " + "; ".join(f"{k}: {v.description}" for k, v in LOSSES.items()))
    g.add_argument("--A", type=number(float, "--A", lambda v: 1 <= v < float("inf"), "a number >= 1"),
                   default=1.0, help="amplitude A >= 1 (default 1: static)")
    g.add_argument("--T", type=number(float, "--T", lambda v: 0 < v < float("inf"), "a number > 0"),
                   default=100.0, help="period T in SGD steps (default 100)")
    g.add_argument("--seeds", default="0", help="seeds: N, N-M or a comma-separated list (default 0)")
    g.add_argument("--out", required=True, help="output NetCDF (written atomically)")
    o = p.add_argument_group("model and optimiser (defaults: the thesis)")
    o.add_argument("--channels", type=pos_int("--channels"), default=64)
    o.add_argument("--epochs", type=pos_int("--epochs"), default=700)
    o.add_argument("--batch-size", type=pos_int("--batch-size"), default=512)
    o.add_argument("--peak-lr", type=nonneg("--peak-lr"), default=0.02)
    o.add_argument("--peak-epoch", type=number(float, "--peak-epoch", lambda v: 0 < v < float("inf"),
                                                "a number > 0"), default=300.0)
    o.add_argument("--final-lr", type=nonneg("--final-lr"), default=0.002)
    o.add_argument("--momentum", default=0.9, help="Nesterov momentum (default 0.9)",
                   type=number(float, "--momentum", lambda v: 0 <= v < 1, "a number in [0, 1)"))
    o.add_argument("--stop-epoch", type=nonneg("--stop-epoch"), default=600.0,
                   help="A = 1 from this epoch on (default 600)")
    o.add_argument("--num-train", type=pos_int("--num-train"), default=None,
                   help="use the first N training images (default: all 50000)")
    o.add_argument("--dtype", choices=DTYPES, default="float32")
    o.add_argument("--batch", choices=BATCH_MODES, default="auto",
                   help="how seeds share the program: vmap (GPU), map (CPU), auto (by backend)")
    e = p.add_argument_group("evaluation and checkpoints")
    e.add_argument("--eval-every", type=number(int, "--eval-every", lambda v: v >= 0, "an integer >= 0"),
                   default=10, help="train/test accuracy every N epochs (0: only at the end)")
    e.add_argument("--eval-batch-size", type=pos_int("--eval-batch-size"), default=1000)
    e.add_argument("--checkpoint", default=None, help="checkpoint file (.npz); resumed if it exists")
    e.add_argument("--checkpoint-every", type=pos_int("--checkpoint-every"), default=10,
                   help="epochs between checkpoints (default 10)")
    e.add_argument("--no-resume", action="store_true", help="start over even if --checkpoint exists")
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run_cli)


DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def ensure_deterministic_xla() -> bool:
    """Add :data:`DETERMINISTIC_FLAG` to ``XLA_FLAGS`` unless it names the option already.

    Only effective before JAX starts its backends (the first computation); returns whether the
    flag is in force for this process.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" in flags:
        return DETERMINISTIC_FLAG in flags.split()
    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API: assume the worst
        started = True
    if started:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()
    return True


def run_cli(a: argparse.Namespace) -> int:
    """The ``myrtle`` subcommand: validate, load CIFAR-10, train, write the NetCDF."""
    from . import cifar, files, netcdf
    from .cli.args import CliError, check_loss, flag_of, parse_meta, parse_seeds, vars_for_json

    deterministic = ensure_deterministic_xla()  # first: bitwise resume on GPUs (and faster there)
    check_loss(a.loss)
    seeds = parse_seeds(a.seeds)
    meta = parse_meta(a.meta)
    spec = MyrtleSpec(loss=a.loss, A=a.A, T=a.T, channels=a.channels, epochs=a.epochs,
                      batch_size=a.batch_size, peak_lr=a.peak_lr, peak_epoch=a.peak_epoch,
                      final_lr=a.final_lr, momentum=a.momentum, stop_epoch=a.stop_epoch,
                      eval_every=a.eval_every, eval_batch_size=a.eval_batch_size, dtype=a.dtype,
                      batch=a.batch)
    try:
        spec.validate()
    except ValueError as exc:
        field = getattr(exc, "field", str(exc).split(" ", 1)[0])
        raise CliError(f"--{flag_of(field)}: {exc}") from None
    for flag, path in (("--out", a.out), ("--checkpoint", a.checkpoint)):
        if path is None:
            continue
        try:
            files.check_writable(path)
        except OSError as exc:
            raise CliError(f"{flag}: cannot write {path!r}: {exc}") from None
    try:
        data = cifar.load_cifar10(a.cifar_dir, num_train=a.num_train)
    except cifar.CifarError as exc:
        raise CliError(f"--cifar-dir: {exc}") from None
    except ValueError as exc:  # num_train beyond the images in the folder
        raise CliError(f"--num-train: {exc}") from None
    if spec.batch_size > len(data[1]):
        raise CliError(f"--batch-size: {spec.batch_size} is more than the {len(data[1])} "
                       "training images (allowed: 1..number of training images)")

    label = f"myrtle5 c={a.channels} {a.loss} A={a.A:g} T={a.T:g} seeds={a.seeds}: "
    log.info("%straining %d seed(s) x %d epochs on %d images (%s, %s%s)", label, len(seeds),
             a.epochs, len(data[1]), a.dtype, batch_mode(spec),
             "" if deterministic or jax.default_backend() == "cpu"
             else f"; without {DETERMINISTIC_FLAG} in XLA_FLAGS a resumed run may differ")
    progress = None if a.quiet else epoch_progress_logger(len(seeds), len(data[1]), label)
    try:
        result = train_myrtle(spec, seeds, data, checkpoint=a.checkpoint,
                              checkpoint_every=a.checkpoint_every, resume=not a.no_resume,
                              progress=progress)
    except CheckpointError as exc:
        raise CliError(f"--checkpoint: {exc}") from None
    log.info("%sfinal test accuracy %s (first epoch %.1f s incl. compile, %.1f s total)", label,
             np.array2string(result.final("test_acc"), precision=4),
             result.timings["first_epoch_s"], result.timings["run_s"])
    ds = result_to_dataset(result, {"cli": vars_for_json(a), **meta})
    netcdf.write_netcdf(ds, a.out)
    log.info("%swrote %s", label, a.out)
    return 0

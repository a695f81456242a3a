"""One figure-3.2 job as plain data: :class:`MyrtleSpec` (thesis section 3.4.1, figure 3.2).

The dtype and batch-mode names are :mod:`dynloss.spec`'s (the meaning of ``auto`` is Myrtle5's own:
:func:`resolve_batch`), the convolution pullbacks :mod:`dynloss.models.myrtle`'s. Every validation error is a :class:`dynloss.errors.SpecError` carrying the field's name, so the command
line names the flag without reading the message.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import SpecError
from ..models.myrtle import CONV_VJP_MODES, SQRT2
from ..spec import BATCH_MODES, DTYPES, positive_int

#: CIFAR-10: ten outputs even when a small subset lacks a class
NUM_CLASSES = 10


@dataclass(frozen=True)
class MyrtleSpec:
    """One figure-3.2 job: everything but the seeds and the data (defaults: the thesis).

    The learning rate is piecewise linear in the epoch ``e = t / steps_per_epoch``: 0 at e = 0,
    ``peak_lr`` at ``peak_epoch``, ``final_lr`` at ``epochs``; SGD with (Nesterov) ``momentum``;
    the class weights oscillate with amplitude ``A`` and period ``T`` (SGD steps) until
    ``stop_epoch``, amplitude 1 from then on.
    """

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
    batch: str = "auto"  # how seeds share the program: dynloss.spec.BATCH_MODES, see resolve_batch
    conv_vjp: str = "auto"  # pullback of the convolutions in training (models.CONV_VJP_MODES)

    def validate(self) -> None:
        """Raise :class:`SpecError` naming the field and what is allowed."""
        from .. import losses as losses_mod  # the registry: the one check that needs JAX

        if self.loss not in losses_mod.LOSSES:
            raise SpecError("loss", f"unknown loss {self.loss!r}; allowed: {', '.join(losses_mod.LOSSES)}")
        for name in ("channels", "epochs", "batch_size", "eval_batch_size"):
            positive_int(name, getattr(self, name))
        if not isinstance(self.eval_every, (int, np.integer)) or self.eval_every < 0:
            raise SpecError("eval_every", f"eval_every must be an integer >= 0 (got {self.eval_every!r})")
        if not (math.isfinite(self.A) and self.A >= 1):
            raise SpecError("A", f"A must be a finite number >= 1 (got {self.A!r})")
        if not (math.isfinite(self.T) and self.T > 0):
            raise SpecError("T", f"T must be a finite number > 0 (got {self.T!r})")
        if not 0 < self.peak_epoch <= self.epochs:
            raise SpecError("peak_epoch", f"peak_epoch must be in (0, epochs={self.epochs}] "
                            f"(got {self.peak_epoch!r})")
        if not (math.isfinite(self.peak_lr) and self.peak_lr > 0):  # 0 would never move the weights
            raise SpecError("peak_lr", f"peak_lr must be a finite number > 0 (got {self.peak_lr!r})")
        if not (math.isfinite(self.final_lr) and self.final_lr >= 0):
            raise SpecError("final_lr", f"final_lr must be a finite number >= 0 (got {self.final_lr!r})")
        if not 0 <= self.momentum < 1:
            raise SpecError("momentum", f"momentum must be in [0, 1) (got {self.momentum!r})")
        if self.stop_epoch is not None and not self.stop_epoch >= 0:
            raise SpecError("stop_epoch", f"stop_epoch must be >= 0 or None (got {self.stop_epoch!r})")
        if self.dtype not in DTYPES:
            raise SpecError("dtype", f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        if self.batch not in BATCH_MODES:
            raise SpecError("batch", f"batch must be one of {', '.join(BATCH_MODES)} (got {self.batch!r})")
        if self.conv_vjp not in CONV_VJP_MODES:
            raise SpecError("conv_vjp", f"conv_vjp must be one of {', '.join(CONV_VJP_MODES)} "
                            f"(got {self.conv_vjp!r})")

    def steps_per_epoch(self, num_train: int) -> int:
        """``floor(num_train / batch_size)``: the incomplete last batch is dropped, so an epoch is
        exactly that many updates and "epoch e" of the schedule is the start of epoch e.

        Raises:
            SpecError: ``batch_size`` exceeds ``num_train``.
        """
        if num_train < self.batch_size:
            raise SpecError("batch_size", f"batch_size must be at most the number of training images "
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


def resolve_batch(mode: str) -> str:
    """How Myrtle5 runs its seeds, for a :data:`dynloss.spec.BATCH_MODES` entry.

    Unlike the spiral engine, whose ``auto`` picks ``vmap`` on accelerators, Myrtle5's ``auto`` is
    ``map`` on every backend: vmapping seeds turns every convolution into a grouped one, which is
    much slower on GPUs too (benchmarks/RESULTS.md, "Myrtle5"), and on CPUs a mapped run is bitwise
    equal to single-seed runs.

    Args:
        mode: ``auto``, ``vmap`` or ``map``.

    Returns:
        ``vmap`` or ``map``.
    """
    return "map" if mode == "auto" else mode

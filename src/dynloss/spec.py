"""What a training job is, as plain data: :class:`TrainSpec`, :class:`SpectraSpec`, :class:`RunBatch`.

JAX-free (numpy only), so the planning layer, the command line and the config checks describe and
validate jobs without starting JAX. Every validation error is a :class:`dynloss.errors.SpecError`
that carries the field's name.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from . import data as data_sets
from .errors import SpecError
from .fields import param

DTYPES = ("float64", "float32")
#: how a program runs its R runs: ``vmap`` (one wide program: accelerators), ``map`` (one run
#: after the other inside the program: CPUs, where the per-run arrays stay in cache), ``auto``
#: picks by backend (benchmarks/RESULTS.md has the measurements)
BATCH_MODES = ("auto", "vmap", "map")
#: as ``neural_tangents.stax.Dense`` defines them
PARAMETERIZATIONS = ("standard", "ntk")
#: normalisations of the MSE losses (:func:`dynloss.losses.mse_norm_factor`)
MSE_NORMS = ("listing", "mean", "half")
#: when the oscillations stop (A = 1) at the end of a run (:func:`dynloss.schedules.effective_amplitude`):
#: ``last_T`` for ``t >= steps - T`` (the reading of the thesis's "in the last period"; mid-period when
#: ``steps`` is not a multiple of ``T``), ``period`` from the start of the period that holds the last
#: step (always at a period boundary, where every weight is 1), ``never``
STOP_RULES = ("last_T", "period", "never")

@dataclass(frozen=True)
class SpectraSpec:
    """What spectra to measure during training (all off by default; 0 = never).

    - ``hess_every``: Hessian top-``hess_k`` eigenvalues of F by Lanczos of ``hess_order``;
    - ``ntk_every``: largest eigenvalue of the empirical NTK on the first ``ntk_points``
      training points (``None``: all of them), traced over outputs as neural-tangents does
      (``ntk_trace="mean"``; ``"sum"`` is C times larger);
    - ``density_steps``: steps at which to store the Hessian eigenvalue density (Ritz values and
      weights of ``density_vectors`` Lanczos runs of order ``density_order``).
    """

    hess_every: int = param(0, minimum=0, help="Hessian top eigenvalues every N steps (0: off)")
    hess_order: int = param(20, minimum=1, help="Lanczos order (top 3 to ~1e-15 relative in float64: "
                            "benchmarks/lanczos_accuracy.py)")
    hess_k: int = param(3, minimum=1, help="Hessian eigenvalues tracked (the top k)")
    ntk_every: int = param(0, minimum=0, help="largest NTK eigenvalue every N steps (0: off)")
    ntk_points: Optional[int] = param(None, minimum=1, help="NTK on the first N training points (default: all)")
    ntk_method: str = "lanczos"
    ntk_order: int = 10
    ntk_trace: str = "mean"
    density_steps: tuple[int, ...] = param((), minimum=0, help="steps at which to store the Hessian eigenvalue "
                                           "density")
    density_order: int = param(80, minimum=2, help="Lanczos order of the density")
    density_vectors: int = param(3, minimum=1, help="random start vectors averaged in the density")
    lanczos_seed: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.hess_every or self.ntk_every or self.density_steps)


@dataclass(frozen=True)
class TrainSpec:
    """Static choices of a training job (one compiled program)."""

    loss: str = param(help="loss name (dynloss.losses)")
    width: int = param(minimum=1, help="hidden-layer width")
    steps: int = param(minimum=1, help="number of GD steps")
    record_every: int = param(100, minimum=1, help="record L, F, accuracy and Gamma every N steps")
    #: an execution setting: every accepted length trains the same bits (dynloss.jobs.checks), so the
    #: hash keeps it at its default, which jobs were hashed with before
    chunk_steps: int = param(10000, minimum=1, execution="canonical", help="steps per compiled chunk between "
                             "progress reports (every accepted length gives the same numbers)")
    dtype: str = param("float64", choices=DTYPES, help="floating point type (as the thesis)")
    #: the data set (a name of :data:`dynloss.data.DATASETS`) and its parameters as ``((key, value), ...)``;
    #: a parameter left out takes its default (:meth:`data_values`)
    data: str = data_sets.DEFAULT
    data_params: tuple[tuple[str, Any], ...] = ()
    stop_rule: str = param("last_T", choices=STOP_RULES, help="when the oscillations stop: last_T (t >= steps - "
                           "T, the default here), period (from the start of the period holding the last step: the "
                           "thesis's code, the workflow's default), never")
    batch: str = param("auto", choices=BATCH_MODES)
    spectra: SpectraSpec = field(default_factory=SpectraSpec)
    #: protocol options (the sensitivity study's factors; the defaults are the thesis's network):
    #: weight scale of each layer ``(W1_std, W2_std)`` and bias scale (``models.mlp``)
    W_std: tuple[float, float] = param((1.0, 1.0), flag="w-std", above=0,
                                       help="weight scale W_std of each layer, W1_std,W2_std")
    b_std: float = param(0.0, minimum=0, help="bias scale b_std (0: zero-initialised trainable bias)")
    #: ``"standard"`` (the thesis's) or ``"ntk"``, as ``neural_tangents.stax.Dense`` defines them
    parameterization: str = param("standard", choices=PARAMETERIZATIONS,
                                  help="as neural_tangents.stax.Dense defines it")
    #: JAX's ``jax_threefry_partitionable`` flag (``None``: this JAX's default, True since 0.5.0;
    #: the thesis's JAX of 2021 had False). Process-global: the engine sets it before any key
    #: use, so one job (one process, or one engine at a time) gets the streams it names.
    threefry_partitionable: Optional[bool] = param(None, help="JAX's jax_threefry_partitionable flag for this "
                                                   "job (default: this JAX's default)")
    #: normalisation of the MSE losses (:data:`MSE_NORMS`): ``"listing"`` (1/P) sum_jk, the thesis
    #: code's ``mean(...) * C``, eq. 4.1; ``"mean"`` (1/(P C)) sum_jk; ``"half"`` (1/(2P)) sum_jk, eq. 3.11
    mse_norm: str = param("listing", choices=MSE_NORMS, help="MSE normalisation: listing (1/P) sum_jk (the thesis "
                          "code), mean (1/(P C)) sum_jk, half (1/(2P)) sum_jk (eq. 3.11)")

    def data_set(self) -> data_sets.DataSet:
        """The registered data set (:class:`SpecError` ``data.name`` for an unknown one)."""
        return data_sets.get(self.data)

    def data_values(self) -> dict:
        """Every parameter of the data set, checked, the defaults filled in."""
        return self.data_set().values(self.data_params)

    @property
    def num_classes(self) -> int:
        """C, the data set's number of classes (the network's outputs)."""
        return self.data_set().num_classes(self.data_values())

    def cadences(self) -> list[int]:
        c = {self.record_every}
        c.update(x for x in (self.spectra.hess_every, self.spectra.ntk_every) if x)
        return sorted(c)

    def validate(self) -> None:
        """Raise :class:`SpecError` naming the field and what is allowed: every field but the loss,
        which :func:`dynloss.jobs.checks.validate` checks against the loss registry."""
        for name in ("width", "steps", "record_every", "chunk_steps"):
            positive_int(name, getattr(self, name))
        values = self.data_values()
        if self.batch not in BATCH_MODES:
            raise SpecError("batch", f"batch must be one of {', '.join(BATCH_MODES)} (got {self.batch!r})")
        if self.dtype not in DTYPES:
            raise SpecError("dtype", f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        _check_protocol(self)
        sp = self.spectra
        for name in ("hess_every", "ntk_every"):
            v = getattr(sp, name)
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise SpecError(name, f"{name} must be an integer >= 0 (got {v!r})")
        if sp.hess_every and not 1 <= sp.hess_k <= sp.hess_order:
            raise SpecError("hess_k", f"hess_k must be in 1..hess_order={sp.hess_order} (got {sp.hess_k})")
        if sp.ntk_trace not in ("mean", "sum"):
            raise SpecError("ntk_trace", f"ntk_trace must be 'mean' or 'sum' (got {sp.ntk_trace!r})")
        if sp.ntk_method not in ("eigh", "lanczos"):
            raise SpecError("ntk_method", f"ntk_method must be 'eigh' or 'lanczos' (got {sp.ntk_method!r})")
        points = self.data_set().train_size(values)
        if sp.ntk_points is not None and not 1 <= sp.ntk_points <= points:
            raise SpecError("ntk_points", f"ntk_points must be in 1..{points} or None (got {sp.ntk_points})")
        check_cadences(self.steps, self.record_every, sp.hess_every, sp.ntk_every, sp.density_steps)


def check_cadences(steps: int, record_every: int, hess_every: int = 0, ntk_every: int = 0,
                   density_steps: Sequence[int] = ()) -> None:
    """The cadences, sorted, must each divide the next and the step count; density steps must
    fall on the largest cadence.

    Args:
        steps: training steps.
        record_every, hess_every, ntk_every: the cadences (0: off).
        density_steps: steps at which the Hessian density is stored.

    Raises:
        SpecError: naming ``hess_every``, ``steps`` or ``density_steps``.
    """
    cad = sorted({record_every} | {x for x in (hess_every, ntk_every) if x})
    for small, big in zip(cad, cad[1:]):
        if big % small:
            raise SpecError("hess_every", f"cadences must each divide the next: record_every={record_every}, "
                            f"ntk_every={ntk_every}, hess_every={hess_every}")
    if steps % cad[-1]:
        raise SpecError("steps", f"steps={steps} must be a multiple of the largest cadence {cad[-1]} "
                        "(record_every / ntk_every / hess_every)")
    for s in density_steps:
        if not 0 <= s < steps or (s + 1) % cad[-1]:
            raise SpecError("density_steps", f"density step {s} must be in 0..steps-1 with (step + 1) a "
                            f"multiple of {cad[-1]}")


def _check_protocol(spec: TrainSpec) -> None:
    """The protocol options of a spec (W_std, b_std, parameterization, threefry, mse_norm)."""
    w = tuple(spec.W_std) if isinstance(spec.W_std, (tuple, list)) else ()
    if len(w) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in w):
        raise SpecError("W_std", f"W_std must be two numbers > 0, (W1_std, W2_std) (got {spec.W_std!r})")
    if not isinstance(spec.b_std, (int, float)) or not math.isfinite(spec.b_std) or spec.b_std < 0:
        raise SpecError("b_std", f"b_std must be a number >= 0 (got {spec.b_std!r})")
    if spec.parameterization not in PARAMETERIZATIONS:
        raise SpecError("parameterization", f"parameterization must be one of {', '.join(PARAMETERIZATIONS)} "
                        f"(got {spec.parameterization!r})")
    if spec.threefry_partitionable not in (None, True, False):
        raise SpecError("threefry_partitionable", "threefry_partitionable must be true, false or null "
                        f"(got {spec.threefry_partitionable!r})")
    if spec.stop_rule not in STOP_RULES:
        raise SpecError("stop_rule", f"stop_rule must be one of {', '.join(STOP_RULES)} (got {spec.stop_rule!r})")
    if spec.mse_norm not in MSE_NORMS:
        raise SpecError("mse_norm", f"mse_norm must be one of {', '.join(MSE_NORMS)} (got {spec.mse_norm!r})")


def positive_int(name: str, value: Any) -> None:
    """Raise :class:`SpecError` for ``name`` unless ``value`` is an integer > 0 (not a bool)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise SpecError(name, f"{name} must be a positive integer (got {value!r})")


def check_schedule_args(A: float | np.ndarray, T: float | np.ndarray) -> None:
    """Raise :class:`SpecError` naming the argument when ``A < 1`` or ``T <= 0`` (or not finite)."""
    A_arr, T_arr = np.asarray(A, dtype=float), np.asarray(T, dtype=float)
    if not np.all(np.isfinite(A_arr)) or np.any(A_arr < 1):
        raise SpecError("A", f"A must be a finite number >= 1 (got {A!r})")
    if not np.all(np.isfinite(T_arr)) or np.any(T_arr <= 0):
        raise SpecError("T", f"T must be a finite number > 0 (got {T!r})")


@dataclass(frozen=True)
class RunBatch:
    """Per-run hyper-parameters; scalars broadcast to the batch size."""

    seeds: np.ndarray
    A: np.ndarray
    T: np.ndarray
    lr: np.ndarray

    @classmethod
    def make(cls, seeds: Sequence[int], A: Any = 1.0, T: Any = 1.0, lr: Any = 1.0) -> "RunBatch":
        seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
        n = seeds.shape[0]
        if n == 0:
            raise SpecError("seeds", "seeds must not be empty")
        out = {}
        for name, v in (("A", A), ("T", T), ("lr", lr)):
            arr = np.asarray(v, dtype=np.float64)
            if arr.ndim == 0:
                arr = np.full(n, float(arr))
            if arr.shape != (n,):
                raise SpecError(name, f"{name} must be a scalar or have one value per seed ({n}), "
                                f"got shape {arr.shape}")
            out[name] = arr
        check_schedule_args(out["A"], out["T"])
        if not np.all(np.isfinite(out["lr"])) or np.any(out["lr"] <= 0):
            raise SpecError("lr", f"lr must be a finite number > 0 (got {lr!r})")
        return cls(seeds, out["A"], out["T"], out["lr"])

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    @property
    def uniform(self) -> bool:
        """True when every run has the same A, T and lr (a per-point job of a sweep)."""
        return all(np.all(v == v[0]) for v in (self.A, self.T, self.lr))


def spec_to_dict(spec: Any) -> dict:
    """Plain-dict form of a spec dataclass (for NetCDF attributes and logs); tuples become lists."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v
    return plain(asdict(spec))


#: the spiral's fields of a training spec before data sets were registered -> their parameter
#: (files written then hold them in ``train_spec``)
_SPIRAL_FIELDS = {"points_per_class": "points_per_class", "num_classes": "num_classes", "noise": "noise",
                  "data_seed": "train_seed", "test_seeds": "test_seeds"}


def spec_from_dict(d: dict) -> TrainSpec:
    """The :class:`TrainSpec` of :func:`spec_to_dict`'s form (a job file's ``train_spec``)."""
    d = dict(d)
    sp = dict(d.pop("spectra", {}) or {})
    sp["density_steps"] = tuple(sp.get("density_steps", ()))
    params = list(d.pop("data_params", []))
    params += [(key, d.pop(f)) for f, key in _SPIRAL_FIELDS.items() if f in d]
    d["data_params"] = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params)
    if "W_std" in d:
        d["W_std"] = tuple(d["W_std"])
    if "stop_last_period" in d:  # files written before the stop rule had three values
        d["stop_rule"] = "last_T" if d.pop("stop_last_period") else "never"
    return TrainSpec(spectra=SpectraSpec(**sp), **d)


# --------------------------------------------------------------------------------------------
# Myrtle5 on CIFAR-10 (thesis section 3.4.1, figure 3.2); trained by dynloss.myrtle

SQRT2 = math.sqrt(2.0)
#: how Myrtle5's training differentiates its convolutions (dynloss.models.myrtle): ``xla``
#: (autodiff; cuDNN on GPUs), ``matmul`` (fast inside ``lax.scan`` on CPUs), ``auto`` by backend
CONV_VJP_MODES = ("auto", "xla", "matmul")
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
        """Raise :class:`SpecError` naming the field and what is allowed (the loss: see
        :func:`dynloss.jobs.checks.validate`)."""
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

"""A training job as one immutable :class:`Problem`, its :class:`Data`, and the per-run state.

A :class:`Problem` holds the model, the dynamical loss and its static counterpart, the training and
test data, the class-weight schedule and the dtype. It is built from a
:class:`dynloss.spec.TrainSpec` by :func:`make_problem` and is what :mod:`dynloss.spectra` and
:mod:`dynloss.thresholds.measure` receive.

The compiled programs close over the problem's *structure* only (:meth:`Problem.structure`: the
data replaced by their shapes); the data are an argument of every program, a :class:`Data`, bound
back in with :meth:`Problem.with_data` while tracing. :meth:`Problem.key` names the structure, by
which :mod:`dynloss.engine.cache` keeps the compiled programs. What varies across a batch (seed, A,
T, eta) lives in :class:`RunArgs` and the parameters in :class:`Carry`, both pytrees.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import losses as losses_mod
from .. import models as models_mod
from ..spec import RunBatch, TrainSpec

#: ``jax_threefry_partitionable`` as this process started (what ``threefry_partitionable=None`` means)
_THREEFRY_DEFAULT = bool(jax.config.jax_threefry_partitionable)


class RunArgs(NamedTuple):
    """Per-run hyper-parameters as arrays (one value per run, or one run's scalars)."""

    A: jnp.ndarray
    T: jnp.ndarray
    lr: jnp.ndarray


class StepArgs(NamedTuple):
    """:class:`RunArgs` plus the class weights of steps ``first .. first + len(table) - 1``,
    looked up by the training step (see :func:`dynloss.engine.program.step_args`)."""

    A: jnp.ndarray
    T: jnp.ndarray
    lr: jnp.ndarray
    table: jnp.ndarray  # (n, C) class weights
    first: jnp.ndarray  # step of table[0]


class Data(NamedTuple):
    """The training and test data of a job: an argument of the compiled programs, never constants
    compiled into them, so one program serves every data set of the same shapes."""

    x: jnp.ndarray  # (P, d) training inputs
    y: jnp.ndarray  # (P, C) one-hot training targets
    x_test: jnp.ndarray  # (n_test, P, d) one spiral per test seed
    y_test: jnp.ndarray  # (n_test, P, C)


#: spec fields that choose the data's values only: the data set's parameters (what they change of the program,
#: the arrays' shapes, is in :meth:`Problem.key`; the data set's name stays in the key)
DATA_FIELDS = frozenset({"data_params"})


def _hashable(v):
    """``v`` (a spec field's value) as a hashable value that compares equal when ``v`` does."""
    if dataclasses.is_dataclass(v):
        return (type(v).__name__,) + tuple((f.name, _hashable(getattr(v, f.name))) for f in dataclasses.fields(v))
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    return v


class Carry(NamedTuple):
    """The state a training program carries from step to step."""

    params: object  # the model's parameter pytree
    div_step: jnp.ndarray  # first step with a non-finite loss, -1 while finite


@dataclass(frozen=True, eq=False)
class Problem:
    """Model, losses, data, class weights and dtype of a job (immutable; see :func:`make_problem`)."""

    spec: TrainSpec
    model: models_mod.Model
    loss: losses_mod.Loss  # the dynamical loss F that training descends
    static_loss: losses_mod.Loss  # its static counterpart L (the recorded loss)
    x: jnp.ndarray  # (P, d) training inputs
    y: jnp.ndarray  # (P, C) one-hot training targets
    x_test: jnp.ndarray  # (n_test, P, d) one spiral per test seed
    y_test: jnp.ndarray  # (n_test, P, C)
    dtype: jnp.dtype
    total: Optional[int]  # steps of the run when the last period stops oscillating, else None

    @property
    def steps(self) -> int:
        return self.spec.steps

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def data(self) -> Data:
        """The training and test data, the last argument of every compiled program."""
        return Data(self.x, self.y, self.x_test, self.y_test)

    def with_data(self, data: Data) -> "Problem":
        """This problem with ``data`` of the same shapes; while tracing a program, its data argument."""
        return dataclasses.replace(self, x=data.x, y=data.y, x_test=data.x_test, y_test=data.y_test)

    def structure(self) -> "Problem":
        """This problem with its data replaced by their shapes and dtypes: what a compiled program
        closes over. A builder that read a data value from it instead of from its argument fails to
        trace rather than compiling the value in."""
        return self.with_data(Data(*(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in self.data)))

    def key(self) -> tuple:
        """The program structure of this problem (hashable): every spec field but the
        :data:`DATA_FIELDS`, and the data's shapes and dtypes (and the class, should a subclass
        change behaviour). Problems of equal keys have the same compiled programs."""
        spec = tuple((f.name, _hashable(getattr(self.spec, f.name))) for f in dataclasses.fields(self.spec)
                     if f.name not in DATA_FIELDS)
        return (type(self), type(self.spec).__name__, spec, tuple((a.shape, str(a.dtype)) for a in self.data))

    def weights(self, t, A, T) -> jnp.ndarray:
        """Class weights Gamma(t) of step(s) ``t`` (thesis eqs. 3.2-3.5; raw weights for dmse2)."""
        return self.loss.class_weights(t, A, T, self.spec.num_classes, self.total, self.spec.stop_rule == "period")

    def init_params(self, seed):
        """Initial parameters of a run from ``PRNGKey(seed)``."""
        return self.model.init(jax.random.PRNGKey(seed), self.x.shape[1], self.dtype)

    def param_bytes(self) -> int:
        """Bytes of one run's parameters."""
        leaves = jax.tree_util.tree_leaves(jax.eval_shape(self.init_params, 0))
        return sum(math.prod(v.shape) for v in leaves) * self.dtype.itemsize


def make_problem(spec: TrainSpec) -> Problem:
    """Validate ``spec``, set the process-global JAX flags it names and build its :class:`Problem`.

    ``jax_enable_x64`` is switched on for float64 (the thesis ran float64);
    ``jax_threefry_partitionable`` is part of JAX's jit cache key and so is set before any key is
    used, to the spec's value or this process's starting default.
    """
    spec.validate()
    if spec.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    threefry = _THREEFRY_DEFAULT if spec.threefry_partitionable is None else spec.threefry_partitionable
    if bool(jax.config.jax_threefry_partitionable) != threefry:
        jax.config.update("jax_threefry_partitionable", threefry)
    dtype = jnp.dtype(spec.dtype)
    loss = losses_mod.with_mse_norm(losses_mod.get_loss(spec.loss), spec.mse_norm, spec.num_classes)
    static_loss = losses_mod.with_mse_norm(losses_mod.get_loss(loss.static), spec.mse_norm, spec.num_classes)
    model = models_mod.mlp(spec.width, spec.num_classes, W_std=tuple(spec.W_std), b_std=spec.b_std,
                           parameterization=spec.parameterization)
    train, tests = spec.data_set().load(spec.data_values())
    return Problem(
        spec=spec, model=model, loss=loss, static_loss=static_loss,
        x=jnp.asarray(train.x, dtype), y=jnp.asarray(train.onehot, dtype),
        x_test=jnp.asarray(np.stack([d.x for d in tests]), dtype),
        y_test=jnp.asarray(np.stack([d.onehot for d in tests]), dtype),
        dtype=dtype, total=spec.steps if spec.stop_rule != "never" else None)


def run_args(problem: Problem, batch: RunBatch) -> RunArgs:
    """The batch's (A, T, eta) as arrays of the problem's dtype, one value per run."""
    return RunArgs(*(jnp.asarray(v, problem.dtype) for v in (batch.A, batch.T, batch.lr)))


def initial_carry(problem: Problem, batch: RunBatch) -> Carry:
    """Initial parameters of every run of ``batch`` (from its seeds), none diverged."""
    params = jax.vmap(problem.init_params)(jnp.asarray(batch.seeds))
    return Carry(params, jnp.full(len(batch), -1, jnp.int32))

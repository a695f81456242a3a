"""The loss registry: the one list of losses, read by the config schema, the planner, the verdicts
and the engine (thesis eqs. 3.1, 4.1, 4.2, 4.5 in :mod:`.thesis`).

Every loss is a pure function ``fn(f, Y, w) -> scalar`` of the outputs ``f`` (P, C), the one-hot
targets ``Y`` (P, C) and the class-weight vector ``w`` (C,) at the current step (ignored by static
losses), registered with which class weights it takes and its static twin (the loss ``L`` recorded
beside ``F``). Importing this package imports every module in it and starts no JAX: ``jnp`` and
``jax_nn`` below are imported when a loss first computes, so the planner reads the names, static twins
and descriptions without JAX. Adding a loss is one module in this package (or any module that runs
before the config is read) with one decorated function::

    from dynloss.losses import jnp, register

    @register("hinge", weights="none", static="hinge", description="multi-class hinge")
    def hinge(f, Y, w): ...
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..spec import MSE_NORMS

Array = Any  # a jax.numpy array (not imported here: the registry is JAX-free)
LossFn = Callable[[Array, Array, Array], Array]
#: the class weights a loss takes (:data:`dynloss.schedules.KINDS` and ``none``)
WEIGHTS = ("none", "normalised", "raw")


class _OnFirstUse:
    """A module imported when one of its names is first read, so that a loss module can write
    ``jnp.mean`` while the registry stays importable without JAX."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


jnp = _OnFirstUse("jax.numpy")
jax_nn = _OnFirstUse("jax.nn")


@dataclass(frozen=True)
class Loss:
    """A registered loss: its function, which class weights it takes, and its static twin."""

    name: str
    fn: LossFn
    weights: str  # one of WEIGHTS
    static: str  # name of the static loss L reported beside F
    description: str
    #: whether gradient descent on it has a closed-form infinite-width limit (kernel regression with
    #: the NTK, :mod:`dynloss.sensitivity.infinite`): the static MSE
    kernel_limit: bool = False

    @property
    def dynamical(self) -> bool:
        """True when the loss takes class weights (``weights != "none"``)."""
        return self.weights != "none"

    @property
    def mse_family(self) -> bool:
        """True for the losses whose static twin is the MSE (they take an MSE normalisation, ``mse_norm``)."""
        return self.static == "mse"

    def class_weights(self, t: Array, A: Array, T: Array, num_classes: int,
                      total_steps: int | None = None, aligned: bool = False) -> Array:
        """Class weights at step ``t``: Gamma (normalised), G^ (raw) or ones (static).

        Args:
            t, A, T, num_classes, total_steps, aligned: as in :func:`dynloss.schedules.raw_weights`.

        Returns:
            Array of shape ``broadcast(t, A, T).shape + (C,)``; all ones for a static loss.

        Example:

        >>> get_loss("ce").class_weights(0, 3.0, 4.0, 3).tolist()
        [1.0, 1.0, 1.0]
        """
        if self.weights == "none":
            shape = jnp.broadcast_shapes(jnp.shape(t), jnp.shape(A), jnp.shape(T))
            dtype = jnp.result_type(jnp.asarray(A).dtype, float)
            return jnp.ones(shape + (num_classes,), dtype)
        from .. import schedules

        return schedules.KINDS[self.weights](t, A, T, num_classes, total_steps, aligned)


#: name -> loss, in registration order (the order of every "allowed: ..." list and of the schema's enum)
LOSSES: dict[str, Loss] = {}


def register(name: str, *, weights: str, static: str, description: str,
             kernel_limit: bool = False) -> Callable[[LossFn], LossFn]:
    """Decorator adding ``fn`` to :data:`LOSSES` under ``name``.

    Args:
        name: registry key (the config's ``loss``).
        weights: ``"none"`` (static), ``"normalised"`` (Gamma) or ``"raw"`` (G^).
        static: name of the static loss reported beside this one (``name`` itself for a static loss).
        description: one line for listings.
        kernel_limit: whether GD on it has a closed-form infinite-width limit (:attr:`Loss.kernel_limit`).

    Returns:
        The decorator; it registers ``fn`` and returns it unchanged.

    Raises:
        ValueError: ``weights`` is not one of :data:`WEIGHTS`, or a static loss names another twin.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r})")
    if weights == "none" and static != name:
        raise ValueError(f"static loss {name!r}: its static twin is itself (got {static!r})")

    def deco(fn: LossFn) -> LossFn:
        LOSSES[name] = Loss(name, fn, weights, static, description, kernel_limit)
        return fn

    return deco


def names() -> list[str]:
    """The registered losses' names (the schema's enum)."""
    return list(LOSSES)


def allowed() -> str:
    """``"ce, mse, ..."``: the registered names, for error messages."""
    return ", ".join(LOSSES)


def get_loss(name: str) -> Loss:
    """The registered loss ``name``.

    Args:
        name: a key of :data:`LOSSES`.

    Returns:
        The :class:`Loss`.

    Raises:
        ValueError: unknown ``name``; the message lists the registered names.

    Example:

    >>> loss = get_loss("dmse1")
    >>> loss.weights, loss.static, loss.dynamical
    ('normalised', 'mse', True)
    >>> get_loss("no_such_loss")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unknown loss 'no_such_loss'; allowed: ce, mse, dce, dmse1, dmse2...
    """
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; allowed: {allowed()}") from None


def static_of(name: str) -> str:
    """The static twin of loss ``name`` (``KeyError`` for an unknown loss)."""
    return LOSSES[name].static


def mse_norm_factor(norm: str, num_classes: int) -> float:
    """The factor of ``norm`` (:data:`MSE_NORMS`) on the registered MSE normalisation ``(1/P) sum_jk``
    (the listing's ``mean(...) * C``): ``mean`` over samples and classes is 1/C of it, eq. 3.11's
    ``1/(2N)`` half of it. For gradient descent a factor on the loss is the same factor on eta.

    Args:
        norm: ``"listing"`` (1), ``"mean"`` (1/C) or ``"half"`` (1/2).
        num_classes: C.

    Returns:
        The factor.

    Raises:
        ValueError: ``norm`` is not one of :data:`MSE_NORMS`.

    Example:

    >>> mse_norm_factor("listing", 4), mse_norm_factor("mean", 4), mse_norm_factor("half", 4)
    (1.0, 0.25, 0.5)
    """
    factors = {"listing": 1.0, "mean": 1.0 / num_classes, "half": 0.5}
    if norm not in factors:
        raise ValueError(f"mse_norm must be one of {', '.join(MSE_NORMS)} (got {norm!r})")
    return factors[norm]


def with_mse_norm(loss: Loss, norm: str, num_classes: int) -> Loss:
    """``loss`` with the MSE normalisation ``norm``; the same object for ``"listing"`` or a non-MSE loss.

    Args:
        loss: a registered loss.
        norm: one of :data:`MSE_NORMS`.
        num_classes: C.

    Returns:
        The loss, its function multiplied by :func:`mse_norm_factor` for the MSE family.

    Raises:
        ValueError: ``norm`` is not one of :data:`MSE_NORMS`.

    Example (half of the ``mse`` example's 0.5):

    >>> import jax.numpy as jnp
    >>> half = with_mse_norm(get_loss("mse"), "half", 2)
    >>> round(float(half.fn(jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.eye(2), jnp.ones(2))), 6)
    0.25
    """
    factor = mse_norm_factor(norm, num_classes)
    if norm == "listing" or not loss.mse_family:
        return loss
    fn = loss.fn
    return Loss(loss.name, lambda f, Y, w: factor * fn(f, Y, w), loss.weights, loss.static,
                f"{loss.description}, normalisation {norm}", loss.kernel_limit)


def accuracy(f: Array, Y: Array) -> Array:
    """mean(argmax f == argmax Y), in the dtype of ``f``.

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).

    Returns:
        The fraction of samples whose largest output is the target class (a scalar).

    Example (two of three right):

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    >>> round(float(accuracy(f, jnp.array([[1.0, 0.0]] * 3))), 6)
    0.666667
    """
    return jnp.mean((jnp.argmax(f, axis=-1) == jnp.argmax(Y, axis=-1)).astype(f.dtype))


def _register_every_module() -> None:
    """Import every module of this package: a loss in a new module here registers itself (the thesis's
    losses first, so listings lead with them)."""
    import pkgutil

    for name in sorted((m.name for m in pkgutil.iter_modules(__path__)), key=lambda n: (n != "thesis", n)):
        importlib.import_module(f"{__name__}.{name}")


_register_every_module()

"""The loss registry: static and dynamical losses on network outputs (thesis eqs. 3.1, 4.1, 4.2, 4.5).

Every loss is a pure function ``fn(f, Y, w) -> scalar`` of the outputs ``f`` (P, C), the one-hot
targets ``Y`` (P, C) and the class-weight vector ``w`` (C,) at the current step (ignored by static
losses). The normalisations are those of the thesis code (section 5.6), which produced the figures:

======== ============================================================== =============
name     formula                                                        weights
======== ============================================================== =============
``ce``   -(1/P) sum_j log softmax(f_j)_{y_j}                            none
``mse``  (1/P) sum_j sum_k (f_jk - Y_jk)^2                  (eq. 4.1)   none
``dce``  -(1/P) sum_j Gamma_{y_j} log softmax(f_j)_{y_j}     (eq. 3.1)   normalised
``dmse1`` (1/P) sum_j Gamma_{y_j} sum_k (f_jk - Y_jk)^2      (eq. 4.2)   normalised
``dmse2`` (1/P) (C / sum_k G^_k^2) sum_jk (f_jk - G^_k Y_jk)^2 (eq. 4.5) raw
======== ============================================================== =============

Adding a loss is one decorated function::

    @register("myloss", weights="normalised", static="ce", description="...")
    def myloss(f, Y, w): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from . import schedules
from .spec import LOSS_STATIC

Array = jnp.ndarray
LossFn = Callable[[Array, Array, Array], Array]


@dataclass(frozen=True)
class Loss:
    """A registered loss: its function, which class weights it takes, and its static twin."""

    name: str
    fn: LossFn
    weights: str  # "none" | "normalised" | "raw"
    static: str  # name of the static loss L reported beside F
    description: str

    @property
    def dynamical(self) -> bool:
        """True when the loss takes class weights (``weights != "none"``)."""
        return self.weights != "none"

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
        return schedules.KINDS[self.weights](t, A, T, num_classes, total_steps, aligned)


LOSSES: dict[str, Loss] = {}


def register(name: str, *, weights: str, static: str, description: str) -> Callable[[LossFn], LossFn]:
    """Decorator adding ``fn`` to :data:`LOSSES` under ``name``.

    Args:
        name: registry key (the config's ``loss``).
        weights: ``"none"`` (static), ``"normalised"`` (Gamma) or ``"raw"`` (G^).
        static: name of the static loss reported beside this one.
        description: one line for listings.

    Returns:
        The decorator; it registers ``fn`` and returns it unchanged.

    Raises:
        ValueError: ``weights`` is not one of the three kinds.
    """
    if weights not in ("none", "normalised", "raw"):
        raise ValueError(f"weights must be 'none', 'normalised' or 'raw' (got {weights!r})")

    def deco(fn: LossFn) -> LossFn:
        LOSSES[name] = Loss(name, fn, weights, static, description)
        LOSS_STATIC[name] = static  # the JAX-free table the spec checks read
        return fn

    return deco


def get_loss(name: str) -> Loss:
    """The registered loss ``name``.

    Args:
        name: a key of :data:`LOSSES`.

    Returns:
        The :class:`Loss`.

    Raises:
        ValueError: unknown ``name``; the message lists the allowed names.

    Example:

    >>> loss = get_loss("dmse1")
    >>> loss.weights, loss.static, loss.dynamical
    ('normalised', 'mse', True)
    >>> get_loss("hinge")
    Traceback (most recent call last):
        ...
    ValueError: unknown loss 'hinge'; allowed: ce, mse, dce, dmse1, dmse2
    """
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(LOSSES)}") from None


def _log_p_true(f: Array, Y: Array) -> Array:
    return jnp.sum(jax.nn.log_softmax(f, axis=-1) * Y, axis=-1)


@register("ce", weights="none", static="ce", description="static cross-entropy")
def cross_entropy(f: Array, Y: Array, w: Array) -> Array:
    """L_CE = -(1/P) sum_j log softmax(f(x_j))_{y_j} (the static loss of eq. 3.1, all Gamma = 1).

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).
        w: class weights, shape (C,) (ignored).

    Returns:
        The scalar loss.

    Example (equal outputs: ``log 2`` per sample):

    >>> import jax.numpy as jnp
    >>> round(float(cross_entropy(jnp.zeros((2, 2)), jnp.eye(2), jnp.ones(2))), 6)
    0.693147
    """
    return -jnp.mean(_log_p_true(f, Y))


@register("mse", weights="none", static="mse", description="static mean squared error (eq. 4.1)")
def mean_squared_error(f: Array, Y: Array, w: Array) -> Array:
    """L_MSE = (1/P) sum_j sum_k (f_k(x_j) - Y_jk)^2 (eq. 4.1).

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).
        w: class weights, shape (C,) (ignored).

    Returns:
        The scalar loss.

    Example (one sample exact, the other off by 1 in one class: ``(0 + 1) / 2``):

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[1.0, 0.0], [0.0, 0.0]])
    >>> round(float(mean_squared_error(f, jnp.eye(2), jnp.ones(2))), 6)
    0.5
    """
    return jnp.mean(jnp.sum((f - Y) ** 2, axis=-1))


@register("dce", weights="normalised", static="ce", description="dynamical cross-entropy (eq. 3.1)")
def dynamical_cross_entropy(f: Array, Y: Array, w: Array) -> Array:
    """F_CE = -(1/P) sum_j Gamma_{y_j}(t) log softmax(f(x_j))_{y_j} (eq. 3.1).

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).
        w: class weights, shape (C,): Gamma(t).

    Returns:
        The scalar loss.

    Example (one sample of class 0 with Gamma_0 = 1.5: ``1.5 log 2``):

    >>> import jax.numpy as jnp
    >>> f, Y = jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]])
    >>> round(float(dynamical_cross_entropy(f, Y, jnp.array([1.5, 0.5]))), 6)
    1.039721
    """
    return -jnp.mean(jnp.sum(Y * w, axis=-1) * _log_p_true(f, Y))


@register("dmse1", weights="normalised", static="mse",
          description="dynamical MSE v1: per-sample weight of its class (eq. 4.2)")
def dynamical_mse_v1(f: Array, Y: Array, w: Array) -> Array:
    """F_1 = (1/P) sum_j Gamma_{y_j}(t) sum_k (f_k(x_j) - Y_jk)^2 (eq. 4.2).

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).
        w: class weights, shape (C,): Gamma(t).

    Returns:
        The scalar loss.

    Example (as for ``mse``, the wrong sample is of class 1, weight 0.5: ``(0 + 0.5 * 1) / 2``):

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[1.0, 0.0], [0.0, 0.0]])
    >>> round(float(dynamical_mse_v1(f, jnp.eye(2), jnp.array([1.5, 0.5]))), 6)
    0.25
    """
    return jnp.mean(jnp.sum(Y * w, axis=-1) * jnp.sum((f - Y) ** 2, axis=-1))


@register("dmse2", weights="raw", static="mse",
          description="dynamical MSE v2: raw weights scale the target (eq. 4.5)")
def dynamical_mse_v2(f: Array, Y: Array, w: Array) -> Array:
    """F_2 = (1/P) (C / sum_k G^_k^2) sum_j sum_k (f_k(x_j) - G^_k Y_jk)^2 (eq. 4.5).

    ``C / sum_k G^_k^2`` is the thesis code's ``C^2 / (2 + amp^2)`` for any C; it makes F_2 = L_MSE
    at A = 1. The correct-class target is ``G^_{y_j}``, the other targets stay 0.

    Args:
        f: network outputs, shape (P, C).
        Y: one-hot targets, shape (P, C).
        w: class weights, shape (C,): the raw G^(t).

    Returns:
        The scalar loss.

    Example (target 2 for class 0, output 1, factor ``2 / (2^2 + 1^2)``: ``0.4 * 1``):

    >>> import jax.numpy as jnp
    >>> f, Y = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]])
    >>> round(float(dynamical_mse_v2(f, Y, jnp.array([2.0, 1.0]))), 6)
    0.4
    """
    num_classes = f.shape[-1]
    scale = num_classes / jnp.sum(w ** 2, axis=-1)
    return scale * jnp.mean(jnp.sum((f - w * Y) ** 2, axis=-1))


#: normalisations of the MSE losses, as a factor on the registered (thesis-code) normalisation
#: ``(1/P) sum_jk`` (the listing's ``mean(...) * C``): ``mean`` over samples and classes is 1/C of it,
#: eq. 3.11's ``1/(2N)`` half of it. For gradient descent a factor on the loss is the same factor on eta.
from .spec import MSE_NORMS  # noqa: E402  (re-exported)


def mse_norm_factor(norm: str, num_classes: int) -> float:
    """The factor of ``norm`` (:data:`MSE_NORMS`) on the registered MSE normalisation.

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
    if norm == "listing" or loss.static != "mse":
        return loss
    fn = loss.fn
    return Loss(loss.name, lambda f, Y, w: factor * fn(f, Y, w), loss.weights, loss.static,
                f"{loss.description}, normalisation {norm}")


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

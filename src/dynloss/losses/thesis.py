"""The thesis's five losses (eqs. 3.1, 4.1, 4.2, 4.5), registered under their config names.

The normalisations are those of the thesis code (section 5.6), which produced the figures:

======== ============================================================== =============
name     formula                                                        weights
======== ============================================================== =============
``ce``   -(1/P) sum_j log softmax(f_j)_{y_j}                            none
``mse``  (1/P) sum_j sum_k (f_jk - Y_jk)^2                  (eq. 4.1)   none
``dce``  -(1/P) sum_j Gamma_{y_j} log softmax(f_j)_{y_j}     (eq. 3.1)   normalised
``dmse1`` (1/P) sum_j Gamma_{y_j} sum_k (f_jk - Y_jk)^2      (eq. 4.2)   normalised
``dmse2`` (1/P) (C / sum_k G^_k^2) sum_jk (f_jk - G^_k Y_jk)^2 (eq. 4.5) raw
======== ============================================================== =============
"""
from __future__ import annotations

from . import Array, jax_nn, jnp, register


def _log_p_true(f: Array, Y: Array) -> Array:
    return jnp.sum(jax_nn.log_softmax(f, axis=-1) * Y, axis=-1)


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


@register("mse", weights="none", static="mse", description="static mean squared error (eq. 4.1)", kernel_limit=True)
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

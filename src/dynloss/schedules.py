"""Class-weight schedules of the dynamical losses (thesis eqs. 3.2-3.5, SPEC "Class weights").

Time is the gradient-descent step ``t = 0, 1, ...``. Within a period of ``T`` steps the
emphasised class ``i(t) = floor(t / T) mod C`` gets the triangle-wave weight ``g(t mod T)``
(1 at the start of the period, ``A`` at ``T/2``, back to 1 at ``T``); every other class gets 1.

- :func:`raw_weights` are the un-normalised ``G^_k(t)`` (used by the dynamical MSE v2, eq. 4.5);
- :func:`normalised_weights` are ``Gamma_k = C G^_k / sum_j G^_j`` (eq. 3.5; dynamical CE and
  MSE v1), so ``sum_k Gamma_k = C`` and ``A = 1`` gives all ones.

``A`` and ``T`` are array arguments (one compiled program serves a whole sweep); the number of
classes is static. With ``total_steps`` given, the oscillations stop in the last period: for
``t >= total_steps - T`` the amplitude is 1 (SPEC).

Difference from the thesis code: its listing restarts its period clock when ``t > T``, so its
periods last ``T + 1`` steps; here the period is exactly ``t mod T`` (SPEC).
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from .spec import check_schedule_args  # noqa: F401  (re-exported)

Array = jnp.ndarray


def triangle(t_mod: Array, A: Array, T: Array) -> Array:
    """Triangle wave g(t_T) of eq. 3.3: ``1 + m t_T`` for ``t_T < T/2``, else ``2A - m t_T - 1``,
    with slope ``m = 2 (A - 1) / T``."""
    m = 2.0 * (A - 1.0) / T
    return jnp.where(t_mod < T / 2.0, 1.0 + m * t_mod, 2.0 * A - m * t_mod - 1.0)


def effective_amplitude(t: Array, A: Array, T: Array, total_steps: int | None) -> Array:
    """``A``, or 1 in the last period (``t >= total_steps - T``) when ``total_steps`` is given."""
    if total_steps is None:
        return A
    return jnp.where(t >= total_steps - T, jnp.ones_like(A), A)


def raw_weights(t: Array, A: Array, T: Array, num_classes: int,
                total_steps: int | None = None) -> Array:
    """Raw weights ``G^_k(t)`` (eq. 3.4), shape ``broadcast(t, A, T).shape + (C,)``.

    ``t`` may be an integer or float array; ``A``, ``T`` broadcast against it.
    """
    A = jnp.asarray(A)
    dtype = jnp.result_type(A.dtype, jnp.asarray(T).dtype, float)
    t = jnp.asarray(t).astype(dtype)
    A = A.astype(dtype)
    T = jnp.asarray(T).astype(dtype)
    amp = effective_amplitude(t, A, T, total_steps)
    t_mod = jnp.mod(t, T)
    cls = jnp.mod(jnp.floor(t / T), num_classes).astype(jnp.int32)
    g = triangle(t_mod, amp, T)
    onehot = (cls[..., None] == jnp.arange(num_classes)).astype(dtype)
    return 1.0 + (g[..., None] - 1.0) * onehot


def normalised_weights(t: Array, A: Array, T: Array, num_classes: int,
                       total_steps: int | None = None) -> Array:
    """Normalised weights ``Gamma_k(t) = C G^_k / sum_j G^_j`` (eq. 3.5); they sum to C."""
    g = raw_weights(t, A, T, num_classes, total_steps)
    return num_classes * g / jnp.sum(g, axis=-1, keepdims=True)


KINDS = {"normalised": normalised_weights, "raw": raw_weights}


def make_schedule(A: float, T: float, num_classes: int, total_steps: int | None = None,
                  kind: str = "normalised") -> Callable[[Array], Array]:
    """Return ``weights(t)`` for fixed ``A``, ``T`` (validated here, only ``jnp`` inside).

    ``kind`` is ``"normalised"`` (Gamma, eq. 3.5) or ``"raw"`` (G^, eq. 3.4).
    """
    check_schedule_args(A, T)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)} (got {kind!r})")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1 (got {num_classes})")
    fn = KINDS[kind]

    def weights(t: Array) -> Array:
        return fn(t, A, T, num_classes, total_steps)

    return weights

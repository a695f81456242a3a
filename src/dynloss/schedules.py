"""Class-weight schedules of the dynamical losses (thesis section 3.3, eqs. 3.2-3.5).

Time is the gradient-descent step ``t = 0, 1, ...``. Within a period of ``T`` steps the
emphasised class ``i(t) = floor(t / T) mod C`` gets the triangle-wave weight ``g(t mod T)``
(1 at the start of the period, ``A`` at ``T/2``, back to 1 at ``T``); every other class gets 1.

- :func:`raw_weights` are the un-normalised ``G^_k(t)`` (used by the dynamical MSE v2, eq. 4.5);
- :func:`normalised_weights` are ``Gamma_k = C G^_k / sum_j G^_j`` (eq. 3.5; dynamical CE and
  MSE v1), so ``sum_k Gamma_k = C`` and ``A = 1`` gives all ones.

``A`` and ``T`` are array arguments (one compiled program serves a whole sweep); the number of
classes is static. With ``total_steps`` given, the oscillations stop in the last period: for
``t >= total_steps - T`` the amplitude is 1 (thesis section 3.4.2, text of figure 3.4: "se han
parado las oscilaciones (A = 1) en el ultimo periodo"). When ``total_steps`` is not a multiple of
``T`` that step falls inside a period, where the weights jump to 1; ``aligned=True`` stops instead
at the start of the period that holds the last step, a period boundary where every weight is 1
already (the ``period`` stop rule, :data:`dynloss.spec.STOP_RULES`).

Difference from the thesis code: its training loop (thesis section 5.10) restarts its period clock
when ``t > T``, so its periods last ``T + 1`` steps; here the period is exactly ``t mod T``, as in
eq. 3.2.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from .spec import check_schedule_args  # noqa: F401  (re-exported)

Array = jnp.ndarray


def triangle(t_mod: Array, A: Array, T: Array) -> Array:
    """Triangle wave g(t_T) of eq. 3.3: ``1 + m t_T`` for ``t_T < T/2``, else ``2A - m t_T - 1``,
    with slope ``m = 2 (A - 1) / T``.

    Args:
        t_mod: time within the period, ``t_T = t mod T`` (eq. 3.2).
        A: amplitude (the peak value, reached at ``t_T = T/2``).
        T: period in steps.

    Returns:
        ``g(t_T)``, broadcast over the arguments.

    Example (``A = 3``, ``T = 4``, so ``m = 1``):

    >>> import jax.numpy as jnp
    >>> [round(float(g), 6) for g in triangle(jnp.arange(4.0), 3.0, 4.0)]
    [1.0, 2.0, 3.0, 2.0]
    """
    m = 2.0 * (A - 1.0) / T
    return jnp.where(t_mod < T / 2.0, 1.0 + m * t_mod, 2.0 * A - m * t_mod - 1.0)


def effective_amplitude(t: Array, A: Array, T: Array, total_steps: int | None, aligned: bool = False) -> Array:
    """``A``, or 1 in the last period when ``total_steps`` is given: ``t >= total_steps - T``, or
    with ``aligned`` ``t >= T floor((total_steps - 1) / T)`` (the start of the period holding the
    last step).

    Args:
        t: step(s).
        A: amplitude(s).
        T: period(s) in steps.
        total_steps: number of steps of the run, or ``None`` for oscillations to the end.
        aligned: stop at a period boundary.

    Returns:
        ``A`` itself when ``total_steps`` is ``None``, else an array: ``A`` before the last period,
        1 in it.

    Example (50000 steps, T = 7500: the last 7500 steps, or from the boundary at 45000):

    >>> import jax.numpy as jnp
    >>> t = jnp.array([42499, 42500, 44999, 45000])
    >>> effective_amplitude(t, 10.0, 7500.0, 50000).tolist()
    [10.0, 1.0, 1.0, 1.0]
    >>> effective_amplitude(t, 10.0, 7500.0, 50000, aligned=True).tolist()
    [10.0, 10.0, 10.0, 1.0]
    """
    if total_steps is None:
        return A
    start = jnp.floor((total_steps - 1) / T) * T if aligned else total_steps - T
    return jnp.where(t >= start, jnp.ones_like(A), A)


def raw_weights(t: Array, A: Array, T: Array, num_classes: int,
                total_steps: int | None = None, aligned: bool = False) -> Array:
    """Raw weights ``G^_k(t)`` (eq. 3.4): ``g(t mod T)`` for the class ``floor(t / T) mod C``, 1 for
    the others.

    Args:
        t: step(s), integer or float.
        A: amplitude(s), broadcast against ``t``.
        T: period(s) in steps, broadcast against ``t``.
        num_classes: C (static).
        total_steps, aligned: if given, ``A = 1`` in the last period (:func:`effective_amplitude`).

    Returns:
        Array of shape ``broadcast(t, A, T).shape + (C,)``, floating (the dtype of ``A`` and ``T``, or
        the default float for integers).

    Example (step 6 of periods of 4: class 1 emphasised, half-way through the period):

    >>> [round(float(g), 6) for g in raw_weights(6, 3.0, 4.0, 3)]
    [1.0, 3.0, 1.0]
    >>> [round(float(g), 6) for g in raw_weights(6, 3.0, 4.0, 3, total_steps=8)]
    [1.0, 1.0, 1.0]
    """
    A = jnp.asarray(A)
    dtype = jnp.result_type(A.dtype, jnp.asarray(T).dtype, float)
    t = jnp.asarray(t).astype(dtype)
    A = A.astype(dtype)
    T = jnp.asarray(T).astype(dtype)
    amp = effective_amplitude(t, A, T, total_steps, aligned)
    t_mod = jnp.mod(t, T)
    cls = jnp.mod(jnp.floor(t / T), num_classes).astype(jnp.int32)
    g = triangle(t_mod, amp, T)
    onehot = (cls[..., None] == jnp.arange(num_classes)).astype(dtype)
    return 1.0 + (g[..., None] - 1.0) * onehot


def normalised_weights(t: Array, A: Array, T: Array, num_classes: int,
                       total_steps: int | None = None, aligned: bool = False) -> Array:
    """Normalised weights ``Gamma_k(t) = C G^_k / sum_j G^_j`` (eq. 3.5); they sum to C.

    Args:
        t, A, T, num_classes, total_steps, aligned: as in :func:`raw_weights`.

    Returns:
        Array of shape ``broadcast(t, A, T).shape + (C,)``.

    Example (the raw weights ``[1, 3, 1]`` above, times ``3 / 5``):

    >>> [round(float(g), 6) for g in normalised_weights(6, 3.0, 4.0, 3)]
    [0.6, 1.8, 0.6]
    """
    g = raw_weights(t, A, T, num_classes, total_steps, aligned)
    return num_classes * g / jnp.sum(g, axis=-1, keepdims=True)


KINDS = {"normalised": normalised_weights, "raw": raw_weights}


def make_schedule(A: float, T: float, num_classes: int, total_steps: int | None = None,
                  kind: str = "normalised") -> Callable[[Array], Array]:
    """Return ``weights(t)`` for fixed ``A``, ``T`` (validated here, only ``jnp`` inside).

    Args:
        A: amplitude (>= 1, finite).
        T: period in steps (> 0, finite).
        num_classes: C (>= 1).
        total_steps: if given, the oscillations stop in the last period.
        kind: ``"normalised"`` (Gamma, eq. 3.5) or ``"raw"`` (G^, eq. 3.4).

    Returns:
        ``weights(t)``: :func:`normalised_weights` or :func:`raw_weights` at step(s) ``t``.

    Raises:
        dynloss.errors.SpecError: ``A`` or ``T`` out of range (the error's ``field`` names it).
        ValueError: unknown ``kind``, or ``num_classes < 1``.

    Example:

    >>> weights = make_schedule(3.0, 4.0, 3)
    >>> [round(float(g), 6) for g in weights(2)]
    [1.8, 0.6, 0.6]
    >>> [round(float(g), 6) for g in make_schedule(3.0, 4.0, 3, kind="raw")(2)]
    [3.0, 1.0, 1.0]
    >>> make_schedule(0.5, 4.0, 3)
    Traceback (most recent call last):
        ...
    dynloss.errors.SpecError: A must be a finite number >= 1 (got 0.5)
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

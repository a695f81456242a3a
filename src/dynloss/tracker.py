"""The mode tracker of the ``mode`` onset definition (:mod:`dynloss.thresholds.onset`): gradient descent on any
loss with the top Hessian eigenvector followed step by step (warm-started Lanczos)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .thresholds.onset import MIX, ORDER, RUN, mode


@dataclass(frozen=True)
class ModeTrack:
    """One tracked stretch of gradient descent, updates ``t0 .. t0 + n - 1``.

    ``lam[i]``: top Ritz value of the Hessian at the parameters before update ``t0 + i`` (the
    loss of that step); ``proj[i]``: the update's projection on the tracked eigenvector;
    ``loss[i]``: ``loss_fn`` after the update (NaN when none was given); ``params``: the
    parameters after the last update; ``v``: the last tracked eigenvector.
    """

    t0: int
    lam: np.ndarray
    proj: np.ndarray
    loss: np.ndarray
    params: jnp.ndarray
    v: jnp.ndarray

    def onset(self, run: int = RUN) -> int:
        """:func:`mode` on the projections, as a step (``t0 + index``), -1 if none.

        Args:
            run: as in :func:`mode`.

        Returns:
            The onset step, -1 if none.
        """
        i = mode(self.proj, run)
        return self.t0 + i if i >= 0 else -1

    def lam_at(self, step: int) -> float:
        """The tracked top eigenvalue before update ``step`` (NaN outside the stretch).

        Args:
            step: a training step.

        Returns:
            ``lam[step - t0]`` as a float, NaN outside ``t0 .. t0 + n - 1``.
        """
        i = step - self.t0
        return float(self.lam[i]) if 0 <= i < self.lam.size else float("nan")


def top_pair(matvec: Callable, start: jnp.ndarray, order: int):
    """Top Ritz pair ``(value, unit vector)`` of a Lanczos run of ``order`` from ``start``.

    Args:
        matvec: ``v -> H v`` of a symmetric matrix.
        start: start vector (any norm).
        order: Lanczos order (full re-orthogonalisation; the Krylov dimension).

    Returns:
        The largest Ritz value and its Ritz vector.
    """
    n = start.shape[0]
    V = jnp.zeros((order, n), start.dtype)
    v = start / jnp.linalg.norm(start)
    alphas, betas = [], []
    for i in range(order):
        V = V.at[i].set(v)
        w = matvec(v)
        scale = jnp.linalg.norm(w)
        alphas.append(jnp.dot(w, v))
        w = w - V.T @ (V @ w)
        w = w - V.T @ (V @ w)  # twice is enough in floating point
        beta = jnp.linalg.norm(w)
        ok = beta > 100 * jnp.finfo(start.dtype).eps * scale
        betas.append(jnp.where(ok, beta, 0.0))
        v = jnp.where(ok, w / jnp.where(ok, beta, 1.0), 0.0)
    a = jnp.stack(alphas)
    b = jnp.stack(betas[:-1]) if order > 1 else jnp.zeros(0, start.dtype)
    tri = jnp.diag(a) + jnp.diag(b, 1) + jnp.diag(b, -1)
    vals, vecs = jnp.linalg.eigh(tri)
    top = vecs[:, -1]
    return vals[-1], V.T @ top


def make_tracker(grad_fn: Callable, n_steps: int, *, loss_fn: Callable | None = None,
                 order: int = ORDER, mix: float = MIX) -> Callable:
    """Compiled gradient descent over ``n_steps`` that tracks the top Hessian eigenvector.

    Args:
        grad_fn: ``(theta, t, args) -> gradient`` of the loss of step ``t`` at the flat
            parameter vector ``theta`` (its forward derivative gives the Hessian products).
        n_steps: number of updates (static).
        loss_fn: optional ``(theta, t, args) -> scalar`` recorded after each update.
        order: Lanczos order per step (>= 2): each step costs ``order`` Hessian products.
        mix: weight of the fixed vector ``r`` mixed into each warm start ``v_{t-1} + mix r``.

    Returns:
        ``track(theta0, t0, lr, args, v0, r) -> ModeTrack``: updates ``t0 .. t0 + n_steps - 1``
        of ``theta <- theta - lr grad_fn(theta, t, args)`` from ``theta0``; ``v0`` starts the
        tracking (e.g. a converged Lanczos vector or a random vector), ``r`` is the mixed-in one.

    Raises:
        ValueError: ``order < 2`` or ``n_steps < 1``.
    """
    if order < 2:
        raise ValueError(f"order must be >= 2 (got {order})")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1 (got {n_steps})")

    @jax.jit
    def run(theta0, t0, lr, args, v0, r):
        r = r / jnp.linalg.norm(r)

        def body(carry, t):
            theta, v = carry
            g, lin = jax.linearize(lambda th: grad_fn(th, t, args), theta)
            lam, v_new = top_pair(lin, v + mix * r, order)
            v_new = jnp.where(jnp.dot(v_new, v) < 0, -v_new, v_new)  # keep the orientation
            u = -lr * g
            theta_new = theta + u
            loss = loss_fn(theta_new, t, args) if loss_fn is not None else jnp.nan
            return (theta_new, v_new), (lam, jnp.dot(u, v_new), jnp.asarray(loss, theta.dtype))

        steps = t0 + jnp.arange(n_steps, dtype=jnp.int32)
        (theta, v), (lam, proj, loss) = jax.lax.scan(body, (theta0, v0 / jnp.linalg.norm(v0)), steps)
        return theta, v, lam, proj, loss

    def track(theta0, t0: int, lr, args, v0, r) -> ModeTrack:
        theta, v, lam, proj, loss = run(theta0, jnp.int32(t0), lr, args, v0, r)
        return ModeTrack(int(t0), np.asarray(lam), np.asarray(proj), np.asarray(loss), theta, v)

    return track

"""Spectra in plain JAX: Hessian eigenvalues of the dynamical loss and the empirical NTK
(SPEC "Spectra", thesis sections 3.5-3.6, 5.5, 5.8). No neural-tangents needed.

- :func:`hvp`: Hessian-vector products, forward-over-reverse (``jvp`` of ``grad``), linearised
  once per Lanczos run so each product costs one tangent pass; :func:`hessian_hvp` (what training
  uses) takes the forward derivative of the model's own pullback instead of ``grad`` of
  ``apply``: for the MLP 138 us instead of 248 us for one linearisation plus product at width
  100 on CPU (``python benchmarks/microbench.py``).
- :func:`lanczos`: fixed-order Lanczos with full re-orthogonalisation (Gram-Schmidt twice
  against every stored vector), ``jit``- and ``vmap``-able; :func:`ritz` gives the Ritz values and
  the weights of the Gaussian-broadened density of Ghorbani et al. (2019), :func:`density`.
- :func:`ntk_lmax`: largest eigenvalue of the empirical NTK traced over outputs (by default the
  mean over outputs, neural-tangents' convention and so the thesis's; see :func:`ntk_matrix`). The NTK Gram is
  an n x n matrix for n points, so it is formed explicitly: from the model's closed form when it
  has one (the MLP: O(n^2 width)), otherwise from the Jacobian (O(n^2 C P)); then ``eigvalsh``
  (exact) or Lanczos on the Gram (``method="lanczos"``). Forming the Gram is far cheaper than
  Lanczos on NTK-vector products here: every NTK-vector product costs C reverse plus C forward
  passes, while the Gram is two small matrix products, and n (all 300 training points by default)
  stays small. For the thesis's cadence (X[:50] every step) this is the difference that matters.

Lanczos accuracy, measured against ``numpy.linalg.eigh`` of the dense Hessian of F on the
width-100 network (603 parameters, float64) after 1200 GD steps of each dynamical loss with A > 1
(``python benchmarks/lanczos_accuracy.py``): the largest relative error of the top 3 eigenvalues is
3e-3 (dce), 3e-6 (dmse1), 3e-7 (dmse2) at order 10 (the thesis's order), and below 1.2e-15 for all
three losses at order 20 and above. The default order is therefore 20.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import models as models_mod

def hvp(fun: Callable, x: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``v -> H(x) v`` for scalar ``fun`` at ``x``: forward-over-reverse, linearised once."""
    return grad_hvp(jax.grad(fun), x)


def grad_hvp(grad: Callable, x: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``v -> H(x) v`` from a gradient function: its forward-mode derivative, linearised once
    (so a Lanczos run pays the forward and backward pass once and one tangent pass per product)."""
    _, lin = jax.linearize(grad, x)
    return lin


def lanczos(matvec: Callable, v0: jnp.ndarray, order: int, unroll: bool = False,
            reorthogonalize: bool = True) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Lanczos tridiagonalisation, by default with full re-orthogonalisation.

    Returns ``(alphas, betas)``, each of length ``order``; the tridiagonal matrix has ``alphas``
    on the diagonal and ``betas[:-1]`` off it. On breakdown (an invariant subspace, only when
    ``order`` exceeds the Krylov dimension) the remaining vectors are zero. ``unroll=True``
    writes the iterations out instead of a ``fori_loop``: for cheap ``matvec`` (a small NTK
    Gram) the loop's own overhead dominates on CPU (measured 13.6 us unrolled vs 66 us looped for
    order 8 vs 20 on a 50 x 50 Gram). ``reorthogonalize=False`` is the plain three-term
    recurrence (0.9 us instead of 14 us for order 10 on a 50 x 50 Gram): its extreme Ritz values
    are still accurate once converged (Paige), but ghost copies spoil the rest of the spectrum,
    so use it only for the largest eigenvalue.
    """
    n = v0.shape[0]
    if order > n:
        raise ValueError(f"Lanczos order {order} exceeds the dimension {n}")
    if not (unroll or reorthogonalize):
        raise ValueError("the plain recurrence (reorthogonalize=False) is unrolled only")
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    V = jnp.zeros((order + 1, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))

    def body(i, state):
        V, alphas, betas = state
        v = V[i]
        w = matvec(v)
        scale = jnp.linalg.norm(w)
        alpha = jnp.dot(w, v)
        if reorthogonalize:
            w = w - V.T @ (V @ w)  # rows beyond i are zero: this is full re-orthogonalisation
            w = w - V.T @ (V @ w)  # ... twice, which is enough in floating point
        else:
            w = w - alpha * v - betas[i - 1] * V[i - 1] if i else w - alpha * v
        beta = jnp.linalg.norm(w)
        ok = beta > 100 * eps * scale
        V = V.at[i + 1].set(jnp.where(ok, w / jnp.where(ok, beta, 1.0), 0.0))
        return V, alphas.at[i].set(alpha), betas.at[i].set(jnp.where(ok, beta, 0.0))

    state = (V, jnp.zeros(order, dtype), jnp.zeros(order, dtype))
    if unroll:
        for i in range(order):
            state = body(i, state)
    else:
        state = jax.lax.fori_loop(0, order, body, state)
    return state[1], state[2]


def ritz(alphas: jnp.ndarray, betas: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Ritz values (ascending) and their density weights (squared first eigenvector entries)."""
    tri = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    values, vectors = jnp.linalg.eigh(tri)
    return values, vectors[0] ** 2


def top_eigenvalues(matvec: Callable, v0: jnp.ndarray, order: int, k: int, unroll: bool = False,
                    reorthogonalize: bool = True) -> jnp.ndarray:
    """The ``k`` largest Ritz values, descending."""
    values, _ = ritz(*lanczos(matvec, v0, order, unroll, reorthogonalize))
    return values[::-1][:k]


def density(values: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-broadened spectral density (Ghorbani et al. 2019) on ``grid``.

    ``values``/``weights`` are Ritz values and weights with any leading axes, the last one the
    Lanczos order; a second-to-last axis of several random start vectors is averaged. The result
    integrates to 1 (the weights of each run sum to 1).
    """
    values = np.asarray(values)[..., None]
    weights = np.asarray(weights)[..., None]
    kernel = np.exp(-0.5 * ((grid - values) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return np.sum(weights * kernel, axis=-2)


NTK_TRACES = ("mean", "sum")


def ntk_matrix(model: models_mod.Model, params, x: jnp.ndarray, trace: str = "mean") -> jnp.ndarray:
    """Empirical NTK Gram on ``x`` (n x n), traced over the C outputs.

    ``trace="mean"`` is ``(1/C) sum_k J_k J_k^T``, exactly what ``neural_tangents.empirical_ntk_fn``
    returns by default (its trace over the logit axis divides by the axis size) and so what the
    thesis plotted; ``trace="sum"`` is ``sum_k J_k J_k^T``, SPEC's written formula. They differ by
    the factor C.
    """
    if trace not in NTK_TRACES:
        raise ValueError(f"trace must be one of {NTK_TRACES} (got {trace!r})")
    if model.ntk is not None:
        gram = model.ntk(params, x)
    else:
        gram = models_mod.ntk_from_jacobian(model.apply, params, x)
    return gram / model.num_outputs if trace == "mean" else gram


def ntk_lmax(model: models_mod.Model, params, x: jnp.ndarray, method: str = "lanczos",
             order: int = 10, trace: str = "mean") -> jnp.ndarray:
    """Largest eigenvalue of the empirical NTK on ``x`` (see :func:`ntk_matrix` for ``trace``).

    ``method="lanczos"`` (default): unrolled Lanczos of ``order`` on the Gram from the all-ones
    vector, plain three-term recurrence (the NTK of a ReLU net has a dominant, positive top mode
    well separated from the rest, so its Ritz value converges first and re-orthogonalising buys
    nothing for it); ``method="eigh"``: dense ``eigvalsh``, exact but ~4x slower with the Gram for
    n = 50 and ~100x for n = 300 on CPU. Order 10 matches ``eigh`` to 1e-13 relative along whole
    training runs (tests/test_spectra.py::test_ntk_lanczos_matches_eigh_along_training).
    """
    gram = ntk_matrix(model, params, x, trace)
    if method == "eigh":
        return jnp.linalg.eigvalsh(gram)[-1]
    v0 = jnp.ones(gram.shape[0], gram.dtype)
    return top_eigenvalues(lambda v: gram @ v, v0, min(order, gram.shape[0]), 1, unroll=True,
                           reorthogonalize=False)[0]


# --------------------------------------------------------------------------------------------
# Measurements used inside training (see dynloss.train.Engine)


@dataclass(frozen=True)
class Measurement:
    cadence: int
    fn: Callable  # (params, t, args=(A, T, lr)) -> array


def start_vector(engine, key):
    """A fixed Gaussian start vector in parameter space (same for every run and step)."""
    flat, _ = ravel_pytree(engine.init_params(0))
    return jax.random.normal(key, flat.shape, engine.dtype)


def loss_at(engine, t, A, T) -> tuple[Callable, Callable]:
    """``(F(flat_params), unravel)`` for the dynamical loss with the weights of step ``t``."""
    _, unravel = ravel_pytree(engine.init_params(0))
    w = engine.weights(t, A, T)

    def fun(flat):
        return engine.loss.fn(engine.model.apply(unravel(flat), engine.x), engine.y, w)

    return fun, unravel


def loss_grad_at(engine, t, A, T) -> Callable:
    """``flat_params -> grad F`` with the weights of step ``t``, through the model's pullback
    (the fast path training uses, when the model has one); its derivative is the Hessian."""
    _, unravel = ravel_pytree(engine.init_params(0))
    w = engine.weights(t, A, T)

    def grad(flat):
        f, pullback = engine.model.pullback(unravel(flat), engine.x)
        (g,) = pullback(jax.grad(engine.loss.fn)(f, engine.y, w))
        return ravel_pytree(g)[0]

    return grad


def hessian_hvp(engine, params, t, A, T) -> tuple[jnp.ndarray, Callable]:
    """``(flat params, v -> H v)``: the Hessian of F(., t) at ``params`` as a linear map, the
    forward derivative of the gradient through the model's pullback (for the MLP 138 us instead
    of 248 us for one linearisation plus product through ``apply``, width 100, float64, CPU,
    ``python benchmarks/microbench.py``; tests check both against ``jax.hessian``)."""
    flat, _ = ravel_pytree(params)
    return flat, grad_hvp(loss_grad_at(engine, t, A, T), flat)


def hessian_top(engine, params, t, A, T, order: int, k: int, v0) -> jnp.ndarray:
    """Top-``k`` eigenvalues of the Hessian of F(., t) at ``params`` (Lanczos of ``order``)."""
    flat, mv = hessian_hvp(engine, params, t, A, T)
    return top_eigenvalues(mv, v0, min(order, flat.shape[0]), k)


def measurements(engine) -> dict[str, Measurement]:
    """The cadenced spectra requested by ``engine.spec.spectra``."""
    sp = engine.spec.spectra
    out: dict[str, Measurement] = {}
    if sp.hess_every:
        v0 = start_vector(engine, jax.random.PRNGKey(sp.lanczos_seed))

        def hess(params, t, args):
            A, T, _ = args
            return hessian_top(engine, params, t, A, T, sp.hess_order, sp.hess_k, v0)

        out["hess_eig"] = Measurement(sp.hess_every, hess)
    if sp.ntk_every:
        n = sp.ntk_points or engine.x.shape[0]

        def ntk(params, t, args):
            return ntk_lmax(engine.model, params, engine.x[:n], sp.ntk_method, sp.ntk_order, sp.ntk_trace)

        out["ntk_lmax"] = Measurement(sp.ntk_every, ntk)
    return out


def density_fn(engine) -> Callable:
    """Compiled, vmapped ``(params, t, args) -> {ritz_values, ritz_weights}`` of shape
    (R, density_vectors, order) for the eigenvalue density."""
    sp = engine.spec.spectra
    keys = jax.random.split(jax.random.PRNGKey(sp.lanczos_seed + 1), sp.density_vectors)
    v0s = jax.vmap(lambda k: start_vector(engine, k))(keys)

    def single(params, t, args):
        A, T, _ = args
        flat, mv = hessian_hvp(engine, params, t, A, T)
        order = min(sp.density_order, flat.shape[0])
        vals, wts = jax.vmap(lambda v0: ritz(*lanczos(mv, v0, order)))(v0s)
        return {"ritz_values": vals, "ritz_weights": wts}

    return jax.jit(engine.over_runs(single, (0, None, 0)))


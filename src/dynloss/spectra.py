"""Spectra in plain JAX: Hessian eigenvalues of the dynamical loss and the empirical NTK
(thesis sections 3.5-3.6 and 5.5, 5.8: the Hessian of eqs. 3.6-3.7, the NTK of eq. 3.14). No
neural-tangents needed.

- :func:`hvp`: Hessian-vector products, forward-over-reverse (``jvp`` of ``grad``), linearised
  once per Lanczos run so each product costs one tangent pass; :func:`hessian_hvp` (what training
  uses) takes the forward derivative of the model's own pullback instead of ``grad`` of
  ``apply``, which is faster for the MLP (benchmarks/RESULTS.md, "spectra").
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

The default Lanczos order is 20: measured against ``numpy.linalg.eigh`` of the dense Hessian,
the thesis's order 10 leaves a visible error for the dynamical cross-entropy, order 20 is exact
to rounding for all three dynamical losses (benchmarks/RESULTS.md, "spectra";
``python benchmarks/lanczos_accuracy.py``).

The functions that take a :class:`dynloss.engine.Problem` (``problem``) evaluate the job's
dynamical loss F(., t) on its training data; the per-run arguments ``args`` are a
:class:`dynloss.engine.RunArgs` ``(A, T, lr)``. The training's measurements
(:func:`measurements`, :func:`density_measurement`) are built from the problem's structure and
take the problem with its data at each call: inside the engine's compiled programs, the problem
bound to the program's data argument, so no data value is compiled in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import models as models_mod

if TYPE_CHECKING:
    from .engine.problem import Problem


def hvp(fun: Callable, x: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """Hessian-vector products of a scalar function, forward-over-reverse, linearised once.

    Args:
        fun: scalar function of a flat vector.
        x: the point (flat).

    Returns:
        ``v -> H(x) v`` with ``H`` the Hessian of ``fun`` (thesis eq. 3.7).
    """
    return grad_hvp(jax.grad(fun), x)


def grad_hvp(grad: Callable, x: jnp.ndarray) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """Hessian-vector products from a gradient function: its forward-mode derivative,
    linearised once (so a Lanczos run pays the forward and backward pass once and one tangent
    pass per product).

    Args:
        grad: gradient of a scalar function of a flat vector.
        x: the point (flat).

    Returns:
        ``v -> H(x) v``.
    """
    _, lin = jax.linearize(grad, x)
    return lin


def lanczos(matvec: Callable, v0: jnp.ndarray, order: int, unroll: bool = False,
            reorthogonalize: bool = True) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Lanczos tridiagonalisation, by default with full re-orthogonalisation.

    On breakdown (an invariant subspace, only when ``order`` exceeds the Krylov dimension) the
    remaining vectors are zero. ``unroll=True`` writes the iterations out instead of a
    ``fori_loop``: for a cheap ``matvec`` (a small NTK Gram) the loop's own overhead dominates
    on CPU. ``reorthogonalize=False`` is the plain three-term recurrence, much cheaper still:
    its extreme Ritz values are accurate once converged (Paige), but ghost copies spoil the
    rest of the spectrum, so use it only for the largest eigenvalue. (Timings:
    benchmarks/RESULTS.md, "spectra".)

    Args:
        matvec: ``v -> M v`` for a symmetric ``M``.
        v0: start vector (normalised here).
        order: number of iterations (at most the dimension).
        unroll: write the iterations out (Python loop) instead of ``lax.fori_loop``.
        reorthogonalize: full re-orthogonalisation (twice); ``False`` needs ``unroll``.

    Returns:
        ``(alphas, betas)``, each of length ``order``; the tridiagonal matrix has ``alphas`` on
        the diagonal and ``betas[:-1]`` off it.
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
    """Ritz values and density weights of a Lanczos tridiagonal matrix.

    Args:
        alphas, betas: the output of :func:`lanczos`.

    Returns:
        ``(values, weights)``: the Ritz values (ascending) and the squared first entries of
        their eigenvectors (the weights of :func:`density`, summing to 1).
    """
    tri = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    values, vectors = jnp.linalg.eigh(tri)
    return values, vectors[0] ** 2


def top_eigenvalues(matvec: Callable, v0: jnp.ndarray, order: int, k: int, unroll: bool = False,
                    reorthogonalize: bool = True) -> jnp.ndarray:
    """The ``k`` largest Ritz values of a Lanczos run.

    Args:
        matvec, v0, order, unroll, reorthogonalize: as for :func:`lanczos`.
        k: how many values to keep (``k <= order``).

    Returns:
        ``(k,)`` Ritz values, descending.
    """
    values, _ = ritz(*lanczos(matvec, v0, order, unroll, reorthogonalize))
    return values[::-1][:k]


def density(values: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-broadened spectral density (Ghorbani et al. 2019) on ``grid``.

    Args:
        values: Ritz values with any leading axes, the last one the Lanczos order; a
            second-to-last axis of several random start vectors is averaged.
        weights: their weights (:func:`ritz`), same shape.
        grid: (g,) eigenvalues at which to evaluate the density.
        sigma: width of the Gaussian kernel.

    Returns:
        The density on ``grid`` (leading axes of ``values`` but the last, then ``g``); it
        integrates to 1 (the weights of each run sum to 1).
    """
    values = np.asarray(values)[..., None]
    weights = np.asarray(weights)[..., None]
    kernel = np.exp(-0.5 * ((grid - values) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return np.sum(weights * kernel, axis=-2)


NTK_TRACES = ("mean", "sum")


def ntk_matrix(model: models_mod.Model, params, x: jnp.ndarray, trace: str = "mean") -> jnp.ndarray:
    """Empirical NTK Gram on ``x`` (thesis eq. 3.14), traced over the C outputs.

    ``trace="mean"`` is ``(1/C) sum_k J_k J_k^T``, exactly what ``neural_tangents.empirical_ntk_fn``
    returns by default (its trace over the logit axis divides by the axis size) and so what the
    thesis plotted; ``trace="sum"`` is ``sum_k J_k J_k^T``, the trace of eq. 3.14 over
    ``k' = k''`` as written. They differ by the factor C.

    Args:
        model: the network (its closed-form NTK is used when it has one).
        params: one run's parameters.
        x: (n, d) inputs.
        trace: ``"mean"`` or ``"sum"`` over the outputs.

    Returns:
        The (n, n) Gram matrix.
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
    nothing for it); ``method="eigh"``: dense ``eigvalsh``, exact but slower, the more so the
    more points (benchmarks/RESULTS.md, "spectra"). Order 10 matches ``eigh`` to 1e-13 relative
    along whole training runs (tests/test_spectra.py::test_ntk_lanczos_matches_eigh_along_training).

    Args:
        model, params, x, trace: as for :func:`ntk_matrix`.
        method: ``"lanczos"`` or ``"eigh"``.
        order: Lanczos order (capped at the number of points).

    Returns:
        The largest eigenvalue (a scalar).
    """
    gram = ntk_matrix(model, params, x, trace)
    if method == "eigh":
        return jnp.linalg.eigvalsh(gram)[-1]
    v0 = jnp.ones(gram.shape[0], gram.dtype)
    return top_eigenvalues(lambda v: gram @ v, v0, min(order, gram.shape[0]), 1, unroll=True,
                           reorthogonalize=False)[0]


# --------------------------------------------------------------------------------------------
# Measurements of a training job (used by dynloss.engine and dynloss.thresholds.measure)


@dataclass(frozen=True)
class Measurement:
    """A spectrum measured every ``cadence`` steps during training."""

    cadence: int
    fn: Callable  # (problem, params, t, args: RunArgs) -> array, for one run


def start_vector(problem: "Problem", key) -> jnp.ndarray:
    """A fixed Gaussian start vector in parameter space (same for every run and step).

    Args:
        problem: the job (for the parameter count and dtype).
        key: a ``jax.random`` key.

    Returns:
        A flat vector of the problem's dtype, one entry per parameter.
    """
    flat, _ = ravel_pytree(problem.init_params(0))
    return jax.random.normal(key, flat.shape, problem.dtype)


def loss_at(problem: "Problem", t, A, T) -> tuple[Callable, Callable]:
    """The dynamical loss F(., t) of the job as a function of the flat parameters.

    Args:
        problem: the job (model, loss, training data).
        t: the step whose class weights are used.
        A, T: one run's amplitude and period.

    Returns:
        ``(F(flat_params), unravel)``, ``unravel`` mapping a flat vector to the parameter pytree.
    """
    _, unravel = ravel_pytree(problem.init_params(0))
    w = problem.weights(t, A, T)

    def fun(flat):
        return problem.loss.fn(problem.model.apply(unravel(flat), problem.x), problem.y, w)

    return fun, unravel


def loss_grad_at(problem: "Problem", t, A, T) -> Callable:
    """The gradient of F(., t) through the model's pullback (the fast path training uses);
    its derivative is the Hessian.

    Args:
        problem, t, A, T: as for :func:`loss_at`.

    Returns:
        ``flat_params -> grad F`` (flat).
    """
    _, unravel = ravel_pytree(problem.init_params(0))
    w = problem.weights(t, A, T)

    def grad(flat):
        f, pullback = problem.model.pullback(unravel(flat), problem.x)
        (g,) = pullback(jax.grad(problem.loss.fn)(f, problem.y, w))
        return ravel_pytree(g)[0]

    return grad


def hessian_hvp(problem: "Problem", params, t, A, T) -> tuple[jnp.ndarray, Callable]:
    """The Hessian of F(., t) at ``params`` (thesis eqs. 3.6-3.7) as a linear map: the forward
    derivative of the gradient through the model's pullback, faster than through ``apply``
    (benchmarks/RESULTS.md, "spectra"; tests check both against ``jax.hessian``).

    Args:
        problem, t, A, T: as for :func:`loss_at`.
        params: one run's parameters (pytree).

    Returns:
        ``(flat params, v -> H v)``.
    """
    flat, _ = ravel_pytree(params)
    return flat, grad_hvp(loss_grad_at(problem, t, A, T), flat)


def hessian_top(problem: "Problem", params, t, A, T, order: int, k: int, v0) -> jnp.ndarray:
    """Top-``k`` eigenvalues of the Hessian of F(., t) at ``params``.

    Args:
        problem, params, t, A, T: as for :func:`hessian_hvp`.
        order: Lanczos order (capped at the parameter count).
        k: how many eigenvalues.
        v0: Lanczos start vector (:func:`start_vector`).

    Returns:
        ``(k,)`` eigenvalues, descending.
    """
    flat, mv = hessian_hvp(problem, params, t, A, T)
    return top_eigenvalues(mv, v0, min(order, flat.shape[0]), k)


def measurements(problem: "Problem") -> dict[str, Measurement]:
    """The cadenced spectra requested by ``problem.spec.spectra``.

    Args:
        problem: the job (its spec, model and data shapes; the data values are not read).

    Returns:
        ``{"hess_eig": top Hessian eigenvalues, "ntk_lmax": largest NTK eigenvalue}``, those
        whose cadence is set, each a per-run :class:`Measurement` whose ``fn`` takes a problem of
        the same structure with the data to measure on.
    """
    sp = problem.spec.spectra
    out: dict[str, Measurement] = {}
    if sp.hess_every:
        v0 = start_vector(problem, jax.random.PRNGKey(sp.lanczos_seed))

        def hess(on, params, t, args):
            return hessian_top(on, params, t, args.A, args.T, sp.hess_order, sp.hess_k, v0)

        out["hess_eig"] = Measurement(sp.hess_every, hess)
    if sp.ntk_every:
        n = sp.ntk_points or problem.x.shape[0]

        def ntk(on, params, t, args):
            return ntk_lmax(on.model, params, on.x[:n], sp.ntk_method, sp.ntk_order, sp.ntk_trace)

        out["ntk_lmax"] = Measurement(sp.ntk_every, ntk)
    return out


def density_measurement(problem: "Problem") -> Callable:
    """The Lanczos runs of the Hessian's eigenvalue density, for one run.

    Args:
        problem: the job (``problem.spec.spectra`` gives the order, start vectors and seed; the
            data values are not read).

    Returns:
        ``(problem, params, t, args) -> {"ritz_values", "ritz_weights"}``, each (density_vectors,
        order), on the data of the problem it is given; :func:`density` turns them into a density.
    """
    sp = problem.spec.spectra
    keys = jax.random.split(jax.random.PRNGKey(sp.lanczos_seed + 1), sp.density_vectors)
    v0s = jax.vmap(lambda k: start_vector(problem, k))(keys)

    def single(on, params, t, args):
        flat, mv = hessian_hvp(on, params, t, args.A, args.T)
        order = min(sp.density_order, flat.shape[0])
        vals, wts = jax.vmap(lambda v0: ritz(*lanczos(mv, v0, order)))(v0s)
        return {"ritz_values": vals, "ritz_weights": wts}

    return single

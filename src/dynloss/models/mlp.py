"""The one-hidden-layer ReLU network of the thesis's spiral experiments (figure 3.3; the code of
chapter 5) as an ``(init, apply)`` pair in plain JAX.

:func:`mlp` is Dense(width) -> ReLU -> Dense(C) in neural-tangents' "standard"
parameterisation: ``W ~ N(0, W_std^2 / fan_in)`` and a trainable bias initialised to
``b_std * N(0, 1)`` (``b_std = 0``: zeros). The parameter tree and the PRNG key splitting are
those of ``neural_tangents.stax.serial(Dense, Relu, Dense)`` with ``b_std=0`` pinned explicitly,
so the same key gives the same numbers as the reference (tests check this). Later
neural-tangents releases drop the bias by default (``b_std=None``); that silent change is why the
authors' own notebook stopped reproducing the paper.

Beyond ``apply`` a model may carry two optional fast paths, each checked against the generic
autodiff version in the tests:

- ``forward_vjp(params, x) -> (f, vjp)``: outputs and their pullback, used by training;
- ``ntk(params, x) -> (n, n)``: the empirical NTK traced over outputs, used by the spectra.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.flatten_util
import jax.numpy as jnp

Params = Any


@dataclass(frozen=True)
class Model:
    """A network: ``init(key, in_dim, dtype) -> params`` and ``apply(params, x) -> f``."""

    name: str
    init: Callable[..., Params]
    apply: Callable[[Params, jnp.ndarray], jnp.ndarray]
    num_outputs: int
    forward_vjp: Optional[Callable] = field(default=None, compare=False)
    ntk: Optional[Callable] = field(default=None, compare=False)

    def pullback(self, params: Params, x: jnp.ndarray):
        """Outputs and their pullback at ``params``: the model's fast path if it has one, else ``jax.vjp``.

        Args:
            params: the model's parameters.
            x: inputs (n, in_dim).

        Returns:
            ``(f, vjp)``: outputs (n, num_outputs) and ``vjp(delta) -> (grads,)``.
        """
        if self.forward_vjp is not None:
            return self.forward_vjp(params, x)
        return jax.vjp(lambda p: self.apply(p, x), params)


def _dense_init(key, fan_in: int, fan_out: int, W_std: float, b_std: float, dtype,
                fan_in_scale: bool = True):
    # neural_tangents.stax.Dense(parameterization="standard"): split, W = N * W_std/sqrt(fan_in),
    # b = N * b_std. (parameterization="ntk": W = N, b = N.)
    k_w, k_b = jax.random.split(key)
    w = jax.random.normal(k_w, (fan_in, fan_out), dtype)
    if fan_in_scale:
        w = w * (W_std / jnp.sqrt(fan_in).astype(dtype))
    b = jax.random.normal(k_b, (fan_out,), dtype) * b_std
    return w, b


from ..spec import PARAMETERIZATIONS  # noqa: E402  (re-exported)


def mlp(width: int, num_outputs: int = 3, W_std: float | tuple[float, float] = 1.0, b_std: float = 0.0,
        fast: bool = True, parameterization: str = "standard") -> Model:
    """One-hidden-layer ReLU network with ``width`` hidden units.

    Parameters are ``[(W1, b1), (), (W2, b2)]`` exactly as ``stax.serial`` lays them out.
    With ``fast=True`` training uses an exact hand-written pullback and the spectra use a
    closed-form NTK (see :func:`_mlp_forward_vjp` and :func:`_mlp_ntk`); ``apply`` stays plain
    JAX so that forward-over-reverse Hessian products go through it.

    Args:
        width: hidden units.
        num_outputs: C.
        W_std: weight scale of both layers, or ``(W1_std, W2_std)`` per layer.
        b_std: bias scale (0: zero-initialised trainable bias, the thesis's network).
        fast: use the hand-written pullback and NTK (standard parameterisation only).
        parameterization: ``"standard"`` (the thesis's) or ``"ntk"``, as ``neural_tangents.stax.Dense``
            defines them: under ``"ntk"`` the parameters are ``N(0, 1)`` and the layer computes
            ``W_std / sqrt(fan_in) * x W + b_std * b`` (so ``b_std = 0`` leaves the bias without effect).

    Returns:
        The :class:`Model`.
    """
    if width < 1:
        raise ValueError(f"width must be >= 1 (got {width})")
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {', '.join(PARAMETERIZATIONS)} "
                         f"(got {parameterization!r})")
    w1_std, w2_std = (W_std, W_std) if isinstance(W_std, (int, float)) else tuple(W_std)
    if parameterization == "ntk":
        return _mlp_ntk_param(width, num_outputs, float(w1_std), float(w2_std), float(b_std))

    def init(key, in_dim: int = 2, dtype=jnp.float32) -> Params:
        # stax.serial: one split per layer (the ReLU consumes one too).
        k1, k2, k3 = serial_keys(key, 3)
        del k2
        return [_dense_init(k1, in_dim, width, w1_std, b_std, dtype), (),
                _dense_init(k3, width, num_outputs, w2_std, b_std, dtype)]

    return Model(f"mlp{width}", init, _mlp_apply, num_outputs,
                 forward_vjp=_mlp_forward_vjp if fast else None,
                 ntk=_mlp_ntk if fast else None)


def serial_keys(key, n: int):
    # jax.example_libraries.stax.serial: ``rng, layer_rng = split(rng)`` for each layer.
    out = []
    for _ in range(n):
        key, sub = jax.random.split(key)
        out.append(sub)
    return out


def _mlp_forward_vjp(params: Params, x: jnp.ndarray):
    """Outputs and an exact pullback of the one-hidden-layer ReLU net, as two matrix products.

    With ``M = 1[x W1 + b1 > 0]`` (P, width) the ReLU mask, the hidden activations are
    ``h = M * (x W1 + b1)``, so for a low input dimension D (2 for the spiral)

    - forward:  ``f = sum_i x_i * (M V_i) + M V_b + b2`` with ``V_i = W1[i] * W2``, ``V_b = b1 * W2``;
    - backward: ``G = Q^T M`` with ``Q = [x_1 delta, ..., x_D delta, delta]``, from which
      ``dW1[i] = sum_c W2 * G_i``, ``db1 = sum_c W2 * G_b`` and
      ``dW2 = sum_i W1[i] * G_i + b1 * G_b`` are O(width) work.

    The only (P, width) arrays are the mask and the two products that read it: one pass to build
    it instead of the five or so elementwise passes of ``jax.vjp(apply)`` (the measured speed-up is
    in benchmarks/RESULTS.md, "Myrtle5" section). Mathematically identical; the tests compare it with
    autodiff. For a large input dimension it falls back to the plain formulation.
    """
    (w1, b1), _, (w2, b2) = params
    d_in, c = w1.shape[0], w2.shape[1]
    if d_in > 4:
        return jax.vjp(lambda p: _mlp_apply(p, x), params)
    z = _preactivation(x, w1, b1)
    mask = (z > 0).astype(x.dtype)
    v = jnp.concatenate([w1[i][:, None] * w2 for i in range(d_in)] + [b1[:, None] * w2], axis=1)
    u = mask @ v  # (P, (D + 1) C)
    f = sum(x[:, i:i + 1] * u[:, i * c:(i + 1) * c] for i in range(d_in)) + u[:, d_in * c:] + b2

    def vjp(delta):
        q = jnp.concatenate([x[:, i:i + 1] * delta for i in range(d_in)] + [delta], axis=1)
        g = (q.T @ mask).reshape(d_in + 1, c, -1).transpose(0, 2, 1)  # (D + 1, width, C)
        dw1 = jnp.sum(w2[None] * g[:d_in], axis=2)
        db1 = jnp.sum(w2 * g[d_in], axis=1)
        dw2 = jnp.einsum("iw,iwc->wc", w1, g[:d_in]) + b1[:, None] * g[d_in]
        return ([(dw1, db1), (), (dw2, jnp.sum(delta, axis=0))],)

    return f, vjp


def _preactivation(x: jnp.ndarray, w1: jnp.ndarray, b1: jnp.ndarray) -> jnp.ndarray:
    """``x W1 + b1``; for a low input dimension as a fused elementwise sum over the inputs (on CPU
    a matrix product with an inner size of 2 is slower than the fused sum; benchmarks/RESULTS.md)."""
    if x.shape[1] > 4:
        return x @ w1 + b1
    return b1 + sum(x[:, i:i + 1] * w1[i] for i in range(x.shape[1]))


def _mlp_apply(params: Params, x: jnp.ndarray) -> jnp.ndarray:
    (w1, b1), _, (w2, b2) = params
    return jax.nn.relu(x @ w1 + b1) @ w2 + b2


def _mlp_ntk(params: Params, x: jnp.ndarray) -> jnp.ndarray:
    """Closed-form empirical NTK of the ReLU MLP, traced over the C outputs.

    ``Theta(x, x') = C (h.h' + 1) + sum_w ||W2_w||^2 1[z_w > 0] 1[z'_w > 0] (x.x' + 1)``:
    the first term is the output layer's weights and bias, the second the hidden layer's.
    Cost O(n^2 width) instead of O(n^2 C P) for the Jacobian route.
    """
    (w1, b1), _, (w2, b2) = params
    num_outputs = w2.shape[1]
    z = _preactivation(x, w1, b1)
    h = jax.nn.relu(z)
    mask = (z > 0).astype(x.dtype)
    ones = jnp.ones((x.shape[0], x.shape[0]), x.dtype)
    out_layer = num_outputs * (h @ h.T + ones)
    hidden = (mask * jnp.sum(w2 ** 2, axis=1)) @ mask.T * (x @ x.T + ones)
    return out_layer + hidden


def ntk_from_jacobian(apply: Callable, params: Params, x: jnp.ndarray) -> jnp.ndarray:
    """Generic empirical NTK traced over outputs, ``sum_k J_k J_k^T``, from the full Jacobian.

    Args:
        apply: ``apply(params, x) -> f`` (n, C).
        params: the parameters at which to linearise.
        x: inputs (n, ...).

    Returns:
        The (n, n) kernel matrix.
    """
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    jac = jax.jacrev(lambda p: apply(unravel(p), x))(flat)  # (n, C, P)
    return jnp.einsum("ikp,jkp->ij", jac, jac)


def _mlp_ntk_param(width: int, num_outputs: int, w1_std: float, w2_std: float, b_std: float) -> Model:
    """The MLP in neural-tangents' NTK parameterisation: ``N(0, 1)`` parameters, scales in ``apply``.

    Same parameter tree and key splitting as the standard one; pullback and NTK by autodiff.
    """

    def init(key, in_dim: int = 2, dtype=jnp.float32) -> Params:
        k1, _, k3 = serial_keys(key, 3)
        return [_dense_init(k1, in_dim, width, 1.0, 1.0, dtype, fan_in_scale=False), (),
                _dense_init(k3, width, num_outputs, 1.0, 1.0, dtype, fan_in_scale=False)]

    def apply(params: Params, x: jnp.ndarray) -> jnp.ndarray:
        (w1, b1), _, (w2, b2) = params
        dtype = x.dtype
        z = (w1_std / jnp.sqrt(jnp.asarray(x.shape[1], dtype))) * (x @ w1) + b_std * b1
        h = jax.nn.relu(z)
        return (w2_std / jnp.sqrt(jnp.asarray(width, dtype))) * (h @ w2) + b_std * b2

    return Model(f"mlp{width}-ntk", init, apply, num_outputs)

"""Myrtle5 (Shankar et al. 2020, "Neural Kernels Without Tangents"), the network of thesis
section 3.4.1 / figure 3.2, in plain JAX.

conv3x3-ReLU, conv3x3-ReLU, avg-pool 2, conv3x3-ReLU, avg-pool 2, conv3x3-ReLU, global average
pool, dense(10), NHWC with "SAME" padding. Its parameters are laid out, keyed and initialised
exactly as ``neural_tangents.stax.serial`` of the layers in :data:`MYRTLE5_LAYERS` with
``parameterization="standard"``, ``W_std = sqrt(2)`` and ``b_std = 0`` (the tests compare both the
initial parameters and the outputs with neural-tangents):

- standard parameterisation, ``W ~ N(0, W_std^2 / fan_in)`` with ``fan_in = 9 C_in`` for a conv
  and ``C_in`` for the dense layer, because training is plain SGD with the thesis's learning
  rates (in the NTK parameterisation the same rates would mean a different step);
- ``W_std = sqrt(2)`` on every layer (He initialisation: each ReLU halves the second moment) as in
  the neural-tangents Myrtle of Shankar et al.; the read-out uses it too, like theirs;
- ``b_std = 0``: zero, trainable biases, as in the thesis's spiral network (the neural-tangents
  of the thesis had ``b_std = 0``; later releases drop the bias by default).
- Shankar et al. end with three 2x2 average pools and a flatten, which on 32x32 inputs is exactly
  a global average over the final 8x8 map; the global pool used here is the same on CIFAR and
  makes the network size-agnostic (tests train it on 8x8 images).

The convolutions can be differentiated two ways (:data:`CONV_VJP_MODES`): by XLA's autodiff
(cuDNN on GPUs) or by :func:`conv_matmul_vjp`, a hand-written pullback that stays fast inside a
``lax.scan`` on CPUs, where XLA's own filter gradient does not (benchmarks/RESULTS.md, "Myrtle5").
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .mlp import Model, Params, serial_keys

from ..spec import CONV_VJP_MODES, SQRT2  # noqa: F401  (re-exported by models; both JAX-free, shared with MyrtleSpec)
#: the layers of Myrtle5 in ``stax.serial`` order (ReLU and pools own empty parameter tuples)
MYRTLE5_LAYERS = ("conv", "relu", "conv", "relu", "avgpool",
                  "conv", "relu", "avgpool", "conv", "relu", "gap", "dense")
_DIMS = ("NHWC", "HWIO", "NHWC")


def myrtle5(channels: int = 64, num_classes: int = 10, W_std: float = SQRT2,
            b_std: float = 0.0) -> Model:
    """Myrtle5 with ``channels`` channels in every conv layer.

    ``init(key, in_dim=3, dtype)`` takes the number of input channels; the image size is free
    (the global pool removes it). Parameters are the ``stax.serial`` list
    ``[(W (3,3,C_in,C), b (1,1,1,C)), (), ..., (W (C, classes), b (1, classes))]``.

    Args:
        channels: channels of every convolution (the thesis: 64).
        num_classes: outputs of the read-out (CIFAR-10: 10).
        W_std: weight scale of every layer, ``W ~ N(0, W_std^2 / fan_in)``.
        b_std: bias scale (0: zero-initialised trainable biases).

    Returns:
        The :class:`~dynloss.models.Model` named ``myrtle5c<channels>``, ``apply`` =
        :func:`myrtle5_apply` with XLA's convolution.

    Raises:
        ValueError: ``channels`` or ``num_classes`` is not a positive integer.
    """
    if not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"channels must be a positive integer (got {channels!r})")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer (got {num_classes!r})")

    def init(key, in_dim: int = 3, dtype=jnp.float32) -> Params:
        params: list = []
        c_in = in_dim
        for name, k in zip(MYRTLE5_LAYERS, serial_keys(key, len(MYRTLE5_LAYERS))):
            if name in ("conv", "dense"):
                # stax: split the layer key into W and b keys; W ~ N(0, 1) * W_std / sqrt(fan_in)
                # (the same float expression as neural-tangents, so float64 inits agree bitwise).
                c_out = channels if name == "conv" else num_classes
                w_shape = (3, 3, c_in, c_out) if name == "conv" else (c_in, c_out)
                b_shape = (1, 1, 1, c_out) if name == "conv" else (1, c_out)
                fan_in = 9 * c_in if name == "conv" else c_in
                k_w, k_b = jax.random.split(k)
                w = jax.random.normal(k_w, w_shape, dtype) * (W_std / float(fan_in) ** 0.5)
                b = jax.random.normal(k_b, b_shape, dtype) * b_std
                params.append((w, b))
                c_in = c_out
            else:
                params.append(())
        return params

    return Model(f"myrtle5c{channels}", init, myrtle5_apply, num_classes)


def _conv(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DIMS)


@jax.custom_vjp
def conv_matmul_vjp(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    """The stride-1 "SAME" convolution of Myrtle5 with a hand-written pullback.

    Why: on XLA:CPU the filter-gradient convolution that autodiff emits is far slower inside a
    ``lax.scan`` than outside it, which made a scanned epoch unusable (benchmarks/RESULTS.md,
    "Myrtle5", has the measurements and the JAX version). Here the input gradient is a forward
    convolution of ``dy`` with the flipped kernel (in/out channels swapped) and the filter
    gradient is a matmul over the N*H*W positions per kernel row, both fast in loops. Same values
    as autodiff up to float rounding (tests compare).

    Args:
        x: images (N, H, W, C_in).
        w: an odd-sized kernel (kh, kw, C_in, C_out), HWIO.

    Returns:
        The convolution (N, H, W, C_out), equal to XLA's.
    """
    return _conv(x, w)


def _conv_fwd(x, w):
    return _conv(x, w), (x, w)


def _conv_bwd(res, dy):
    x, w = res
    kh, kw, c_in, _ = w.shape
    if kh % 2 == 0 or kw % 2 == 0:  # pragma: no cover - Myrtle uses 3x3 only
        raise NotImplementedError("conv_matmul_vjp needs odd kernel sizes")
    # SAME with stride 1 and an odd kernel pads (k - 1) / 2 on each side, so the transpose is the
    # correlation of dy with the kernel flipped in space (exact, borders included).
    dx = _conv(dy, jnp.flip(w, (0, 1)).swapaxes(2, 3))
    n, h, wd, _ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dy2 = dy.reshape(-1, dy.shape[-1])
    # the kw horizontal shifts side by side: kh matmuls with kw * C_in rows (fewer, larger
    # matmuls than kh * kw thin ones)
    xw = jnp.concatenate([xp[:, :, j:j + wd, :] for j in range(kw)], axis=-1)
    dw = jnp.stack([(xw[:, i:i + h].reshape(-1, kw * c_in).T @ dy2).reshape(kw, c_in, -1)
                    for i in range(kh)])
    return dx, dw.astype(w.dtype)


conv_matmul_vjp.defvjp(_conv_fwd, _conv_bwd)
#: the convolution of each resolved :data:`CONV_VJP_MODES` entry
CONV_VJPS = {"xla": _conv, "matmul": conv_matmul_vjp}


def resolve_conv_vjp(mode: str) -> str:
    """The convolution pullback a mode means on this process's backend.

    Args:
        mode: one of :data:`CONV_VJP_MODES`.

    Returns:
        ``mode``, with ``auto`` resolved to ``matmul`` on CPU and ``xla`` elsewhere.
    """
    if mode != "auto":
        return mode
    return "matmul" if jax.default_backend() == "cpu" else "xla"


def myrtle5_apply(params: Params, x: jnp.ndarray, conv: Callable = _conv) -> jnp.ndarray:
    """Outputs of Myrtle5 on NHWC images.

    Args:
        params: the parameter list of :func:`myrtle5`'s ``init``.
        x: images (N, H, W, C_in).
        conv: the stride-1 "SAME" convolution ``conv(x, w)``: plain XLA (default) or
            :func:`conv_matmul_vjp` (same forward, a pullback that is fast inside loops on CPU).

    Returns:
        Outputs (N, classes).
    """
    h = x
    for name, p in zip(MYRTLE5_LAYERS, params):
        if name == "conv":
            w, b = p
            h = conv(h, w) + b
        elif name == "relu":
            h = jax.nn.relu(h)
        elif name == "avgpool":
            # 2x2 windows, stride 2, VALID: stax.AvgPool((2, 2), strides=(2, 2))
            h = jax.lax.reduce_window(h, np.zeros((), h.dtype), jax.lax.add,
                                      (1, 2, 2, 1), (1, 2, 2, 1), "VALID") * 0.25
        elif name == "gap":
            h = jnp.mean(h, axis=(1, 2))
        else:
            w, b = p
            h = h @ w + b
    return h

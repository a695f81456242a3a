"""Models as ``(init, apply)`` pairs in plain JAX: :class:`Model`, the spiral MLP (:mod:`.mlp`)
and Myrtle5 for CIFAR-10 (:mod:`.myrtle`).

Beyond ``apply`` a model may carry two optional fast paths, each checked against the generic
autodiff version in the tests:

- ``forward_vjp(params, x) -> (f, vjp)``: outputs and their pullback, used by training;
- ``ntk(params, x) -> (n, n)``: the empirical NTK traced over outputs, used by the spectra.
"""
from .mlp import PARAMETERIZATIONS, Model, Params, mlp, ntk_from_jacobian
from .myrtle import (CONV_VJP_MODES, CONV_VJPS, MYRTLE5_LAYERS, conv_matmul_vjp, myrtle5, myrtle5_apply,
                     resolve_conv_vjp)

__all__ = ["Model", "Params", "PARAMETERIZATIONS", "mlp", "ntk_from_jacobian", "myrtle5", "myrtle5_apply",
           "conv_matmul_vjp", "CONV_VJPS", "CONV_VJP_MODES", "MYRTLE5_LAYERS", "resolve_conv_vjp"]

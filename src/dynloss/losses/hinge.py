"""The multiclass hinge (SVM) loss of the thesis's eq. (2.2) and its dynamical version.

Per sample, ``sum_{j != y} max(0, f_j - f_y + Delta)`` (Weston-Watkins, margin ``Delta`` = :data:`MARGIN`);
the dynamical loss weights each sample's term by its class's Gamma_i(t) and takes the mean over samples, as
the dynamical cross-entropy does (thesis eq. 3.1 and its appendix's ``c_fn``: normalised weights).

The hinge is piecewise linear in the outputs ``f``: its second derivative in ``f`` is zero wherever no
margin is exactly met. The Hessian of F in the parameters is then ``sum_k dF/df_k * Hess f_k`` only (the
Gauss-Newton part ``J^T (d^2F/df^2) J`` vanishes): the network's own curvature weighted by the loss
gradient. That is what the Hessian spectra of a hinge run measure (tests/test_hinge.py checks it).
"""
from __future__ import annotations

from . import jnp, register

#: the margin Delta of eq. (2.2)
MARGIN = 1.0


def hinge_terms(f, Y, margin: float = MARGIN):
    """Per sample, ``sum_{j != y} max(0, f_j - f_y + margin)`` (shape (P,)).

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[2.0, 0.5, 1.5], [0.0, 0.0, 0.0]])
    >>> hinge_terms(f, jnp.eye(3)[jnp.array([0, 2])]).tolist()
    [0.5, 2.0]
    """
    true = jnp.sum(f * Y, axis=-1, keepdims=True)
    return jnp.sum(jnp.maximum(0.0, f - true + margin) * (1.0 - Y), axis=-1)


@register("hinge", weights="none", static="hinge", description="static multiclass hinge (SVM) loss, margin 1 "
          "(thesis eq. 2.2)")
def hinge(f, Y, w):
    """L = (1/P) sum_j sum_{k != y_j} max(0, f_k(x_j) - f_{y_j}(x_j) + 1).

    Example (the two samples of :func:`hinge_terms`: ``(0.5 + 2) / 2``):

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[2.0, 0.5, 1.5], [0.0, 0.0, 0.0]])
    >>> float(hinge(f, jnp.eye(3)[jnp.array([0, 2])], jnp.ones(3)))
    1.25
    """
    return jnp.mean(hinge_terms(f, Y))


@register("dhinge", weights="normalised", static="hinge", description="dynamical multiclass hinge: each "
          "sample's term weighted by its class's Gamma")
def dynamical_hinge(f, Y, w):
    """F = (1/P) sum_j Gamma_{y_j}(t) sum_{k != y_j} max(0, f_k(x_j) - f_{y_j}(x_j) + 1).

    Example (as for ``hinge``, weights 1.5, 1, 0.5: sample 0 of class 0, sample 1 of class 2:
    ``(1.5 * 0.5 + 0.5 * 2) / 2``):

    >>> import jax.numpy as jnp
    >>> f = jnp.array([[2.0, 0.5, 1.5], [0.0, 0.0, 0.0]])
    >>> float(dynamical_hinge(f, jnp.eye(3)[jnp.array([0, 2])], jnp.array([1.5, 1.0, 0.5])))
    0.875
    """
    return jnp.mean(jnp.sum(Y * w, axis=-1) * hinge_terms(f, Y))

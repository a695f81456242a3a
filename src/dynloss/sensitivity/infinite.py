"""The infinite-width reference for static MSE: the analytic NTK and closed-form gradient descent.

neural-tangents is optional: it is imported inside the functions, and :func:`require` raises
:class:`MissingNeuralTangents` with an install hint when it is absent.

What is computed. The network is the thesis's one-hidden-layer ReLU MLP (``models.mlp``) with
the configured ``W_std``/``b_std`` and parameterisation; ``neural_tangents.stax`` gives its
analytic NNGP kernel ``K`` and NTK ``Theta`` (per output class; the C outputs are independent
in the limit). Our MSE is ``L = s (1/P) sum_jk (f_jk - Y_jk)^2`` (``s``: the normalisation factor,
1 for the thesis code), so gradient descent in the linearised (kernel) regime is
``f <- f - eta (2 s / P) Theta (f - Y)``. ``neural_tangents.predict.gradient_descent_mse`` solves
the gradient flow of ``(1/(2 P C)) ||f - Y||^2``, hence it is called with the learning rate
``2 s C eta``; its time is the step count. The initial function is a draw of the infinite-width
prior, ``f_0 ~ GP(0, K)`` on the training and test points jointly (one draw per seed, numpy
``RandomState(seed)``); the "mean predictor" (``f_0 = 0``, the mean over infinitely many
networks) is stored beside it.

Which limit. Under the **NTK parameterisation** ``Theta`` does not depend on the width, and the
limit width -> infinity at fixed eta is the textbook one (Jacot et al. 2018). Under the
**standard parameterisation** (the thesis's) the output layer contributes ``n K_1`` to the NTK of
a width-``n`` network (``Theta_n = n K_1 + K_0``), so at a fixed eta the width -> infinity limit
does not exist: ``eta lambda_max(Theta_n)`` grows like ``n`` and gradient descent diverges beyond a
critical width (stored as ``critical_width``). What we compute for a standard-parameterisation
study of width ``n`` is the **kernel (lazy) regime at width n**: the linearised network with the
NTK replaced by its infinite-width expectation at width ``n``, ``Theta_n`` from ``stax`` with
``Dense(n)``, trained at the thesis's eta. It is what a width-``n`` network would do if its
features did not move; the gap between it and the trained width-``n`` network measures how far
the thesis's networks are from the kernel regime. Both limits are computed when both
parameterisations are asked for (``references``).

The stability number ``gd_stability = eta (2 s / P) lambda_max(Theta)`` is stored: discrete GD on
the linearised model converges only below 2 (the gradient-flow prediction ignores that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


class MissingNeuralTangents(RuntimeError):
    """neural-tangents is not installed (it is an optional extra)."""


def require():
    """``neural_tangents``, or :class:`MissingNeuralTangents` saying how to install it."""
    try:
        import neural_tangents as nt
    except ImportError:
        raise MissingNeuralTangents(
            "the infinite-width reference needs neural-tangents (an optional extra): "
            "pip install neural-tangents (the version pinned in envs/pins.txt), or bash envs/install.sh") from None
    return nt


@dataclass(frozen=True)
class Reference:
    """One infinite-width reference: the architecture's options and the width whose kernel is used."""

    label: str
    width: int
    parameterization: str = "standard"
    W_std: tuple[float, float] = (1.0, 1.0)
    b_std: float = 0.0


def kernels(ref: Reference, x1: np.ndarray, x2: np.ndarray | None = None, num_classes: int = 3):
    """Analytic ``(nngp, ntk)`` of the MLP of ``ref`` between ``x1`` and ``x2`` (float64 numpy).

    Args:
        ref: architecture (width, parameterisation, W_std, b_std).
        x1: inputs (n1, D).
        x2: inputs (n2, D), or None for ``x1``.
        num_classes: C.

    Returns:
        ``(nngp, ntk)``, each (n1, n2), per output class.
    """
    nt = require()
    import jax

    jax.config.update("jax_enable_x64", True)
    stax = nt.stax
    w1, w2 = ref.W_std
    _, _, kernel_fn = stax.serial(
        stax.Dense(ref.width, W_std=w1, b_std=ref.b_std, parameterization=ref.parameterization), stax.Relu(),
        stax.Dense(num_classes, W_std=w2, b_std=ref.b_std, parameterization=ref.parameterization))
    k = kernel_fn(np.asarray(x1, np.float64), None if x2 is None else np.asarray(x2, np.float64), ("nngp", "ntk"))
    return np.asarray(k.nngp), np.asarray(k.ntk)


def critical_width(ref: Reference, x: np.ndarray, lr: float, factor: float = 1.0, num_classes: int = 3,
                   upper: float = 1e9) -> float:
    """The smallest width at which discrete GD on the linearised standard-parameterisation network
    is unstable, ``eta (2 s / P) lambda_max(Theta_n) >= 2`` (inf for the NTK parameterisation or
    beyond ``upper``). ``Theta_n = n K_1 + K_0`` is exactly linear in the width ``n`` (the output
    layer's term), so ``K_1, K_0`` come from two widths and the bisection is on numpy matrices.

    Args:
        ref: the architecture (its width is ignored).
        x: training inputs (P, D).
        lr: eta.
        factor: the MSE normalisation factor s.
        num_classes: C.
        upper: the largest width tried.

    Returns:
        The critical width (float: inf when there is none).
    """
    if ref.parameterization != "standard":
        return float("inf")
    t1 = kernels(Reference(ref.label, 1, "standard", ref.W_std, ref.b_std), x, None, num_classes)[1]
    t2 = kernels(Reference(ref.label, 2, "standard", ref.W_std, ref.b_std), x, None, num_classes)[1]
    k1, k0 = t2 - t1, 2 * t1 - t2
    gain = lr * 2 * factor / x.shape[0]

    def unstable(n: float) -> bool:
        return gain * np.linalg.eigvalsh(n * k1 + k0)[-1] >= 2

    if not unstable(upper):
        return float("inf")
    lo, hi = 1.0, upper
    if unstable(lo):
        return 1.0
    while hi - lo > 1:
        mid = np.floor((lo + hi) / 2)
        lo, hi = (lo, mid) if unstable(mid) else (mid, hi)
    return float(hi)


def predict(ref: Reference, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, lr: float,
            steps: int, f0_train: np.ndarray, f0_test: np.ndarray, factor: float = 1.0):
    """Outputs after ``steps`` of gradient flow in the kernel regime, by
    ``neural_tangents.predict.gradient_descent_mse``.

    Args:
        ref: architecture.
        x_train, y_train: training inputs (P, D) and one-hot targets (P, C).
        x_test: test inputs (Q, D).
        lr: eta of our loss.
        steps: GD steps (the flow's time in units of eta).
        f0_train, f0_test: initial outputs (P, C), (Q, C).
        factor: the MSE normalisation factor s.

    Returns:
        ``(f_train, f_test, lambda_max)``.
    """
    run, lam = predictor(ref, x_train, y_train, x_test, lr, steps, factor)
    f_tr, f_te = run(f0_train, f0_test)
    return f_tr, f_te, lam


def predictor(ref: Reference, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, lr: float,
              steps: int, factor: float = 1.0):
    """:func:`predict` as ``(run(f0_train, f0_test) -> (f_train, f_test), lambda_max)``: the kernels
    and their eigendecomposition once, for many initial functions."""
    nt = require()
    c = y_train.shape[1]
    _, k_tt = kernels(ref, x_train, None, c)
    _, k_st = kernels(ref, x_test, x_train, c)
    fn = nt.predict.gradient_descent_mse(k_tt, np.asarray(y_train, np.float64), learning_rate=2 * factor * c * lr)

    def run(f0_train, f0_test):
        f_tr, f_te = fn(float(steps), np.asarray(f0_train, np.float64), np.asarray(f0_test, np.float64), k_st)
        return np.asarray(f_tr), np.asarray(f_te)

    return run, float(np.linalg.eigvalsh(k_tt)[-1])


def _gp_draw(nngp: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """One draw of ``GP(0, K)`` per class on the points of ``nngp`` (eigen-route: K may be singular)."""
    lam, vec = np.linalg.eigh(nngp)
    z = np.random.RandomState(seed).standard_normal((nngp.shape[0], num_classes))
    return vec @ (np.sqrt(np.clip(lam, 0, None))[:, None] * (vec.T @ z))


def evaluate(refs: Sequence[Reference], lr: float, steps: int, seeds: Sequence[int], data: dict,
             mse_norm: str = "listing"):
    """Train/test accuracy of each infinite-width reference, as a labelled dataset.

    Args:
        refs: the references (one per width / parameterisation).
        lr: eta; steps: GD steps.
        seeds: prior draws of the initial function (one per seed).
        data: the study's ``data:`` block (a registered data set's name and parameters,
            :func:`dynloss.data.job_data`).
        mse_norm: the MSE normalisation (``losses.MSE_NORMS``).

    Returns:
        ``xarray.Dataset`` with dims ``(reference, seed)``: ``train_acc``, ``test_acc``;
        per reference ``train_acc_mean_predictor``, ``test_acc_mean_predictor``,
        ``lambda_max``, ``gd_stability``, ``critical_width``, ``width``, ``parameterization``.
    """
    import xarray as xr

    from .. import data as data_sets
    from .. import losses

    name, params = data_sets.job_data(data)
    data_set, values = data_sets.get(name), dict(params)
    c = data_set.num_classes(values)
    train, tests = data_set.load(values)
    x_te = np.concatenate([d.x for d in tests])
    q = [len(d) for d in tests]
    factor = losses.mse_norm_factor(mse_norm, c)
    p = len(train)

    def acc(f, y):
        return float(np.mean(np.argmax(f, 1) == np.argmax(y, 1)))

    def test_acc(f):
        parts = np.split(f, np.cumsum(q)[:-1])
        return float(np.mean([acc(fp, d.onehot) for fp, d in zip(parts, tests)]))

    out = {k: [] for k in ("train_acc", "test_acc", "train_acc_mean_predictor", "test_acc_mean_predictor",
                           "lambda_max", "gd_stability", "critical_width")}
    for ref in refs:
        nngp_all, _ = kernels(ref, np.concatenate([train.x, x_te]), None, c)
        tr_s, te_s = [], []
        run, lam = predictor(ref, train.x, train.onehot, x_te, lr, steps, factor)
        for s in list(seeds) + [None]:
            f0 = np.zeros((p + len(x_te), c)) if s is None else _gp_draw(nngp_all, c, int(s))
            f_tr, f_te = run(f0[:p], f0[p:])
            if s is None:
                out["train_acc_mean_predictor"].append(acc(f_tr, train.onehot))
                out["test_acc_mean_predictor"].append(test_acc(f_te))
            else:
                tr_s.append(acc(f_tr, train.onehot))
                te_s.append(test_acc(f_te))
        out["train_acc"].append(tr_s)
        out["test_acc"].append(te_s)
        out["lambda_max"].append(lam)
        out["gd_stability"].append(lr * 2 * factor / p * lam)
        out["critical_width"].append(critical_width(ref, train.x, lr, factor, c))
    dims2 = ("reference", "seed")
    ds = xr.Dataset(
        {k: (dims2 if k in ("train_acc", "test_acc") else ("reference",), np.asarray(v, float))
         for k, v in out.items()},
        coords={"reference": [r.label for r in refs], "seed": np.asarray(list(seeds)),
                "width": ("reference", [r.width for r in refs]),
                "parameterization": ("reference", [r.parameterization for r in refs])})
    ds["gd_stability"].attrs["long_name"] = "eta (2 s / P) lambda_max(Theta): discrete GD diverges at >= 2"
    ds["critical_width"].attrs["long_name"] = "smallest width with gd_stability >= 2 (standard parameterisation)"
    ds["lambda_max"].attrs["long_name"] = "largest eigenvalue of the analytic NTK on the training points"
    ds.attrs.update({"lr": lr, "steps": steps, "mse_norm": mse_norm})
    return ds


def references_for(widths: Sequence[int], W_std=(1.0, 1.0), b_std: float = 0.0,
                   ntk_limit: bool = True) -> list[Reference]:
    """The references of a study: the kernel regime at each width (standard parameterisation) and,
    with ``ntk_limit``, the fixed-eta infinite limit of the NTK parameterisation.

    Args:
        widths: the study's widths.
        W_std, b_std: the architecture's scales.
        ntk_limit: add the NTK-parameterisation limit.

    Returns:
        The references.
    """
    refs = [Reference(f"kernel regime, standard, width {w}", int(w), "standard", tuple(W_std), b_std)
            for w in widths]
    if ntk_limit:
        refs.append(Reference("infinite width, NTK parameterisation", int(max(widths)), "ntk", tuple(W_std), b_std))
    return refs

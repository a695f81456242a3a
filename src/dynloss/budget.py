"""Memory a training job will need, estimated before anything is compiled or allocated.

A typo such as ``--width 10000000`` or ``--steps 1000000000000`` would otherwise grow for
minutes to many GB before the operating system stops it. :func:`check` refuses such a job at
once with the estimate and the budget (``--max-memory-gb``, the environment variable
``DYNLOSS_MAX_MEMORY_GB``, which the workflow sets from the config key ``max_memory_gb``, or
:data:`DEFAULT_GB`). The estimate is an upper bound of the large arrays, not a measurement:
parameters with their gradients and updates, the forward pass of every run in flight, the
recorded metrics on the device and on the host (with the copies made while assembling and
writing them), the test forward passes and the spectra's working sets.
"""
from __future__ import annotations

import math
import os

#: default budget, sized for a laptop
DEFAULT_GB = 8.0
ENV = "DYNLOSS_MAX_MEMORY_GB"


class BudgetError(ValueError):
    """A job whose estimated memory exceeds the budget."""


def default_budget_gb() -> float:
    """The budget in GB: ``$DYNLOSS_MAX_MEMORY_GB`` if set, else :data:`DEFAULT_GB`.

    Returns:
        The budget in GB (a positive number).
    """
    text = os.environ.get(ENV)
    if not text:
        return DEFAULT_GB
    try:
        value = float(text)
    except ValueError:
        raise BudgetError(f"${ENV}: {text!r} is not a number of GB") from None
    if not (value > 0 and math.isfinite(value)):
        raise BudgetError(f"${ENV}: {text!r} is not a positive number of GB")
    return value


def train_bytes(spec, runs: int, batch_mode: str = "map") -> float:
    """Estimated peak bytes of training ``runs`` runs of ``spec`` (:class:`dynloss.spec.TrainSpec`).

    Args:
        spec: the job's static choices.
        runs: the number of runs in the batch.
        batch_mode: ``"map"`` (one run's forward pass in flight) or ``"vmap"`` (all of them).

    Returns:
        Bytes (a float: the inputs may describe more than fits any machine).
    """
    item = 4 if spec.dtype == "float32" else 8
    ds, values = spec.data_set(), spec.data_values()
    P, C, W, D = ds.train_size(values), ds.num_classes(values), spec.width, ds.input_dim(values)
    n_params = D * W + W + W * C + C
    in_flight = runs if batch_mode == "vmap" else 1
    params = 4.0 * runs * n_params * item  # parameters, gradients, update, donated copy
    forward = 4.0 * in_flight * P * W * item  # pre-activations, ReLU, mask, pullback
    test = 2.0 * in_flight * len(ds.test_sets(values)) * ds.test_size(values) * W * item
    per_record = (3 + C) * 8.0  # L, F, accuracy and the class weights of one recorded step
    n_rec = spec.steps / spec.record_every
    chunk_rec = min(spec.steps, spec.chunk_steps) / spec.record_every
    records = runs * per_record * (2 * chunk_rec + 3 * n_rec)  # device chunk + host copies
    sp = spec.spectra
    spectra = 0.0
    if sp.hess_every or sp.density_steps:
        order = max(sp.hess_order if sp.hess_every else 0, sp.density_order if sp.density_steps else 0)
        spectra += in_flight * (order + 4) * n_params * item + in_flight * 4 * P * W * item
    if sp.ntk_every:
        m = (sp.ntk_points or P) * C
        spectra += in_flight * (m * n_params + 2 * m * m) * item
    if sp.enabled:
        spectra += 256 * 2 ** 20  # the parameter snapshots of a chunk (dynloss.engine.plan.SNAPSHOT_BYTES)
        n_meas = sum(spec.steps / c for c in (sp.hess_every, sp.ntk_every) if c)
        spectra += 3 * runs * n_meas * max(sp.hess_k, 1) * 8.0
    return params + forward + test + records + spectra


def check(spec, runs: int, budget_gb: float, batch_mode: str = "map") -> float:
    """Raise :class:`BudgetError` when the estimate of :func:`train_bytes` exceeds the budget.

    Args:
        spec: the job's static choices.
        runs: the number of runs in the batch.
        budget_gb: the budget in GB (10^9 bytes).
        batch_mode: as :func:`train_bytes`.

    Returns:
        The estimate in GB.
    """
    need = train_bytes(spec, runs, batch_mode) / 1e9
    if need > budget_gb:
        raise BudgetError(f"this job needs about {need:,.3g} GB of memory (width {spec.width}, "
                          f"{spec.steps} steps, {runs} run(s)), more than the budget of {budget_gb:g} GB; "
                          f"shrink the job or raise --max-memory-gb (or ${ENV}, config key max_memory_gb)")
    return need


def runs_that_fit(spec, runs: int, budget_gb: float, batch_mode: str = "map") -> int:
    """The most runs, at most ``runs``, whose :func:`train_bytes` fits the budget (0: not even one).

    Args:
        spec: the job's static choices.
        runs: the runs of the job.
        budget_gb: the budget in GB.
        batch_mode: as :func:`train_bytes`.

    Returns:
        A number of runs in ``0 .. runs``.
    """
    lo, hi = 0, runs
    while lo < hi:  # train_bytes grows with runs
        mid = (lo + hi + 1) // 2
        if train_bytes(spec, mid, batch_mode) / 1e9 <= budget_gb:
            lo = mid
        else:
            hi = mid - 1
    return lo

"""Every check a job makes of its request before it runs, in one JAX-free place.

:func:`validate` raises :class:`dynloss.errors.SpecError` naming the job field. ``dynloss train``,
``thresholds`` and ``myrtle`` turn the field into their flag; :meth:`dynloss.plan.Plan.check` runs
the same function on every planned job and turns the field into the config key, so
``snakemake -n`` refuses every value that the job itself would refuse, before anything runs.
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Optional, Sequence

from .. import losses
from ..errors import SpecError
from ..spec import MSE_NORMS
from .definition import MyrtleJob, ThresholdsJob, TrainJob, fmt

#: most seeds one job may train (a typo like 0-99999999999 is refused, not allocated)
MAX_SEEDS = 100_000
#: largest initialisation seed (``--seeds``)
MAX_SEED = 2 ** 31 - 1
#: shortest onset-detector window (``--onset-window``) and zoom window (``--zoom-steps``)
MIN_ONSET_WINDOW, MIN_ZOOM_STEPS = 3, 10


def check_seeds(field: str, seeds: Sequence[int], largest: int, unique: bool = True) -> None:
    """``SpecError(field)`` unless ``seeds`` are 1..:data:`MAX_SEEDS` integers in 0..``largest``
    (and distinct, with ``unique``)."""
    if not seeds or len(seeds) > MAX_SEEDS:
        raise SpecError(field, f"{field} must name 1 to {MAX_SEEDS} seeds (got {len(seeds)})")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= largest]
    if bad:
        what = "an integer" if len(seeds) == 1 else "integers"
        raise SpecError(field, f"{field} must be {what} in 0..{largest} (got {bad[0]!r})")
    if unique and len(set(seeds)) != len(seeds):
        raise SpecError(field, f"{field} repeats a seed (got {list(seeds)})")


def _check_loss(spec) -> None:
    """The loss is registered (:mod:`dynloss.losses`), and a non-default MSE normalisation goes with an
    MSE loss."""
    if spec.loss not in losses.LOSSES:
        raise SpecError("loss", f"unknown loss {spec.loss!r} (allowed: {losses.allowed()})")
    norm = getattr(spec, "mse_norm", "listing")  # a Myrtle5 spec has none
    if norm in MSE_NORMS and norm != "listing" and not losses.LOSSES[spec.loss].mse_family:
        raise SpecError("mse_norm", f"mse_norm applies to the MSE losses only (loss {spec.loss!r}); use 'listing'")


def _check_chunk(spec) -> None:
    """A chunk shorter than the run is two or more whole top cadences: the engine runs chunks of
    whole cadences (:func:`dynloss.engine.plan.plan` rounds down), and a chunk of one cadence
    compiles to a program whose losses differ from the longer chunks' in the last bit (measured:
    dmse2, record_every 20, chunk_steps 10, 20 or 30 against 40, 50, 60, 130 or the whole run),
    so every accepted ``chunk_steps`` gives the same numbers."""
    top = spec.cadences()[-1]
    if spec.chunk_steps < spec.steps and (spec.chunk_steps % top or spec.chunk_steps < 2 * top):
        raise SpecError("chunk_steps", f"chunk_steps={spec.chunk_steps} must be a multiple of the largest cadence "
                        f"{top} (record_every / ntk_every / hess_every) and at least {2 * top}, or at least "
                        f"steps={spec.steps}")


def _check_onsets(onsets) -> None:
    if onsets is None:
        return
    window = onsets.window
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < MIN_ONSET_WINDOW:
        raise SpecError("onset_window", f"onset_window must be an integer >= {MIN_ONSET_WINDOW} "
                        f"(got {onsets.window!r})")
    if not (math.isfinite(onsets.floor) and onsets.floor >= 0):
        raise SpecError("onset_floor", f"onset_floor must be a finite number >= 0 (got {onsets.floor!r})")


def _check_static_point(spec, pairs) -> None:
    """No run with A > 1 and T >= steps: with a stop rule (``last_T`` or ``period``) its oscillations stop
    in the last period, here the whole run (:func:`dynloss.schedules.effective_amplitude`), so it would be
    bitwise a static run labelled A > 1."""
    if spec.stop_rule == "never":
        return
    for a, t in pairs:
        if a > 1 and t >= spec.steps:
            raise SpecError("T", f"T = {fmt(t)} is not below steps = {spec.steps}, so A = {fmt(a)} never acts: "
                            "the oscillations stop in the last period (t >= steps - T), here the whole run, which "
                            f"would be a static run labelled A = {fmt(a)}; use T < steps, or A = 1 for a static run")


def _distinct(field: str, values: Sequence) -> None:
    if len(set(values)) != len(values):
        raise SpecError(field, f"{field}: a value is given twice (got {list(values)})")


def _check_train(job: TrainJob) -> None:
    _check_loss(job.spec)
    job.spec.validate()
    _check_chunk(job.spec)
    for w in job.widths:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w <= 0:
            raise SpecError("width", f"width must be a positive integer (got {w!r})")
    _distinct("width", job.all_widths())
    _distinct("A", job.A)
    _distinct("T", job.T)
    _check_onsets(job.onsets)
    if job.onsets is not None and job.spec.record_every != 1:
        raise SpecError("onset_window", "onset_window needs record_every 1 (the loss at every step)")
    if job.zoom_steps is not None and job.zoom_steps < MIN_ZOOM_STEPS:
        raise SpecError("zoom_steps", f"zoom_steps must be an integer >= {MIN_ZOOM_STEPS} (got {job.zoom_steps!r})")
    check_seeds("seeds", list(job.seeds), MAX_SEED)
    job.batch()
    _check_static_point(job.spec, itertools.product(job.A, job.T))


def _check_thresholds(job: ThresholdsJob) -> None:
    _check_loss(job.spec)
    try:
        job.spec.validate()
    except SpecError as exc:  # its hess_k is fixed: the order is what the user set
        if exc.field != "hess_k":
            raise
        sp = job.spec.spectra
        raise SpecError("hess_order", f"hess_order must be at least {sp.hess_k} (the top {sp.hess_k} "
                        f"Hessian eigenvalues are tracked; got {sp.hess_order})") from None
    _check_chunk(job.spec)
    if not job.spec.spectra.hess_every:
        raise SpecError("hess_every", "hess_every must be a positive integer (got 0)")
    if not (len(job.A) == len(job.T) == len(job.seeds)):
        raise SpecError("seeds", f"A, T and seeds need one value per run, the same number of each "
                        f"(got {len(job.A)}, {len(job.T)}, {len(job.seeds)})")
    if job.trace_every <= 0 or job.spec.steps % job.trace_every:
        raise SpecError("trace_every", f"trace_every={job.trace_every} must divide steps={job.spec.steps}")
    if job.run_offset < 0:
        raise SpecError("run_offset", f"run_offset must be an integer >= 0 (got {job.run_offset})")
    _check_onsets(job.onsets)
    check_seeds("seeds", list(job.seeds), MAX_SEED, unique=False)
    job.batch()
    _check_static_point(job.spec, zip(job.A, job.T))


def _check_myrtle(job: MyrtleJob) -> None:
    _check_loss(job.spec)
    job.spec.validate()
    check_seeds("seeds", list(job.seeds), MAX_SEED)
    if job.checkpoint_every <= 0:
        raise SpecError("checkpoint_every", f"checkpoint_every must be a positive integer (got {job.checkpoint_every})")
    if job.num_train is not None and job.num_train <= 0:
        raise SpecError("num_train", f"num_train must be a positive integer or None (got {job.num_train})")


def budget_runs(job) -> int:
    """Runs one program of a spiral job holds at once: a grid without onsets is trained in slices
    that fit the budget, so there one run must fit; otherwise every run of the job."""
    if isinstance(job, TrainJob):
        sliced = job.grid and job.onsets is None and not job.zoom_steps
        return 1 if sliced else len(job.batch())
    return len(job.seeds)


def check_budget(job, budget_gb: float, batch_mode: str) -> None:
    """``SpecError("max_memory_gb")`` when a spiral job's estimated memory exceeds ``budget_gb``
    (:mod:`dynloss.budget`; a Myrtle5 job has no estimate)."""
    from dataclasses import replace

    from .. import budget

    if isinstance(job, MyrtleJob):
        return
    spec = replace(job.spec, width=max(job.all_widths())) if isinstance(job, TrainJob) else job.spec
    try:
        budget.check(spec, budget_runs(job), budget_gb, batch_mode)
    except budget.BudgetError as exc:
        raise SpecError("max_memory_gb", str(exc)) from None


def validate(job, budget_gb: Optional[float] = None, batch_mode: str = "map") -> None:
    """Raise :class:`SpecError` naming the field of the first value ``job`` would refuse.

    Args:
        job: a :class:`TrainJob`, :class:`ThresholdsJob` or :class:`MyrtleJob`.
        budget_gb: also check the memory estimate against this budget (``None``: do not).
        batch_mode: how the job's runs share a program (``map`` or ``vmap``), for the estimate.
    """
    {TrainJob: _check_train, ThresholdsJob: _check_thresholds, MyrtleJob: _check_myrtle}[type(job)](job)
    if budget_gb is not None:
        check_budget(job, budget_gb, batch_mode)

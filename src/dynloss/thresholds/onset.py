"""Named definitions of the onset of the period-2 instability (the first bifurcation).

Gradient descent with learning rate ``eta`` on a loss whose top Hessian eigenvalue is ``lambda``
moves along the top eigenvector ``v`` by ``u_{t+1}.v = (1 - eta lambda) u_t.v`` (linear theory,
thesis eqs. 3.8-3.10): the component flips sign each step once ``eta lambda > 1`` and *grows*
once ``eta lambda > 2``. The loss L(t) shows a period-2 component in both cases whenever the
trajectory keeps exciting the mode, so "an oscillation is visible" and "the mode is unstable" are
different events. Three definitions, each a function here:

- ``visible`` (:func:`visible`): the first sustained period-2 component of L, the rule of
  :func:`dynloss.thresholds.bifurcation.detect_onset` unchanged (alternation, amplitude floor, coherent and
  *not decaying* amplitude over ``window`` steps). It also fires on a damped mode
  (``1 < eta lambda < 2``) that is re-excited often enough to look steady.
- ``growing`` (:func:`growing`): the same windows, but the amplitude must *grow*: the slope of
  ``log|e|`` over the window must be at least ``min_rate`` per step and its one-sided ``level``
  t-interval must lie above 0. The onset is backdated to where the growth began: the step of
  smallest ``|e|`` on the stretch of uninterrupted alternation that leads into the first growing
  window (a mode that decays while ``eta lambda < 2`` and grows after has its minimum at the
  crossing).
- ``mode`` (:func:`mode`): mode-resolved, from a replay. While the run is replayed, the top
  Hessian eigenvector ``v_t`` is tracked (:func:`dynloss.tracker.make_tracker`: warm-started Lanczos each step)
  and each update ``u_t`` is projected on it, ``p_t = <u_t, v_t>``. The onset is the first step
  ``t`` from which ``p`` alternates in sign with ``|p_{i+1} / p_i| >= 1`` for ``run``
  consecutive pairs. No amplitude floor: it measures the instability itself. The tracked
  stretch is anchored on the curvature alone (:func:`mode_anchor`: the first spectra sample
  with ``eta lambda_max >= MODE_ANCHOR``), not on another definition.
- ``apparent`` (:func:`apparent`): the first bifurcation a reader of the thesis's loss panel
  sees: a coherent period-2 alternation of L whose peak-to-peak size ``|e(t)|`` is at least
  ``APPARENT_LEVEL`` of the loss for ``APPARENT_HOLD`` consecutive steps.
- ``ceiling`` (:func:`ceiling`): the level at which lambda_max saturates: the first stretch of
  at least ``CEILING_HOLD`` steps of the spectra cadence where lambda_max stays within
  ``CEILING_TOL`` of the stretch's median, that median never being exceeded by more than
  ``CEILING_TOL`` anywhere in the run. Its lambda_th is that level (no replay); a run whose
  lambda_max has no such ceiling has none.

The parameters are fixed here (chosen on the synthetic systems of :mod:`dynloss.thresholds.validation`
and on what the thesis's figures resolve, before any paper-scale result was looked at; ``apparent``,
``ceiling`` and the ``mode`` anchor on 2026-12-02) and are stored with every result.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from . import bifurcation
from ..errors import SpecError

#: the definitions, in the order they are stored and drawn
NAMES = ("visible", "growing", "mode", "apparent", "ceiling")
#: ``onset_step_<name>`` of a run the definition was not applied to (``dynloss onsets --runs``); -1 is
#: "applied, no onset"
NOT_ANALYSED = -2
#: definitions that need only the loss trace (``mode`` needs a replay of the run, ``ceiling`` the
#: lambda_max of the spectra cadence)
TRACE_ONLY = ("visible", "growing", "apparent")
#: definitions read from the loss (may be a verdict's primary definition) and those anchored on the curvature
#: (``mode`` starts from eta * lambda_max >= 1.9, ``ceiling`` is a level gradient descent cannot pass: both
#: give eta * lambda_th ~ 2 by construction, so they are reported beside a law, never as its verdict;
#: docs/verdicts.md, 2026-12-07)
LOSS_BASED = ("visible", "growing", "apparent")
CURVATURE_ANCHORED = ("mode", "ceiling")
#: definitions whose lambda_th is the exact top eigenvalue at the onset step (from a replay)
REPLAYED = ("visible", "growing", "mode", "apparent")

#: ``growing``: minimum growth rate of ``log|e|`` per step (a factor e in 1000 steps), and the
#: one-sided confidence level at which the slope must be positive
MIN_RATE = 1e-3
LEVEL = 0.99
#: ``mode``: consecutive alternating, non-shrinking pairs of projections. On i.i.d. symmetric
#: projections the chance per start is ``2^-run / (run + 1)!`` (1.1e-8 for 8).
RUN = 8
#: ``mode`` on a training run: steps tracked before and after the ``visible`` onset
BEFORE, AFTER = 500, 1500
#: ``mode`` tracker: Lanczos order per step and the weight of a fixed random vector mixed into
#: each warm start (so a mode that overtakes the tracked one is picked up within a few steps)
ORDER, MIX = 3, 1e-3
#: ``mode`` anchor: the tracked stretch is BEFORE steps before, AFTER after, the first spectra
#: sample with eta * lambda_max >= MODE_ANCHOR (linear theory: the mode grows past 2; 1.9 leaves
#: room for the cadence, lambda_max moving between two samples)
MODE_ANCHOR = 1.9
#: ``apparent``: peak-to-peak alternation |e| >= 1 % of L, held 100 steps. The thesis's loss panels
#: draw ~70000 steps across ~700 pixels of a ~200-pixel-high axis spanning about the loss itself: a
#: band becomes visible beside a 1-pixel line at about 2 pixels (1 % of the axis), and is seen only
#: if it lasts one pixel column (100 steps). (The ``visible`` onset of figure 3.5 sits at 0.25 %,
#: which no reader of such a panel sees.)
APPARENT_LEVEL = 0.01
APPARENT_HOLD = 100
#: ``ceiling``: lambda_max within 2 % of its level (the thesis's panel (f) resolves about 1 % of its
#: axis; it mentions noise at the ceiling), for at least 1000 steps (10 samples at the thresholds
#: studies' cadence of 100 steps: longer than a bifurcation transient, shorter than their shortest
#: period T = 2500), never exceeded by more than 2 % in the run
CEILING_TOL = 0.02
CEILING_HOLD = 1000


def check_names(names: Sequence[str], key: str = "onset") -> tuple[str, ...]:
    """The requested definitions in canonical order, or ``ValueError`` naming ``key`` and the
    allowed names.

    Args:
        names: definition names (duplicates allowed).
        key: the config key or flag the names came from (for the message).

    Returns:
        The distinct names, in the order of :data:`NAMES`.

    Raises:
        SpecError: an unknown name, or no names (a ``ValueError``; ``field`` is ``key``).

    Example:

    >>> check_names(["mode", "visible", "mode"])
    ('visible', 'mode')
    """
    names = list(names)
    bad = [n for n in names if n not in NAMES]
    if bad or not names:
        raise SpecError(key, f"{key}: {', '.join(map(repr, bad)) or 'empty list'} is not an onset "
                        f"definition (allowed: {', '.join(NAMES)})")
    return tuple(n for n in NAMES if n in names)


def visible(loss: np.ndarray, window: int = 20, floor: float = 1e-6, start: int = 0) -> int:
    """First sustained (non-decaying) period-2 component of ``loss``, or -1.

    Args:
        loss: 1-D trace L(t).
        window, floor, start: as in :func:`dynloss.thresholds.bifurcation.detect_onset` (the same rule).

    Returns:
        The onset step, -1 if none.

    Raises:
        ValueError: ``window < 3``, ``floor < 0`` or ``start < 0``.

    Example (a steady alternation of amplitude 1e-3 from step 100):

    >>> import numpy as np
    >>> t = np.arange(300)
    >>> visible(1.0 + 1e-3 * (-1.0) ** t * (t >= 100))
    100
    """
    return bifurcation.detect_onset(loss, window=window, floor=floor, start=start)


def growing(loss: np.ndarray, window: int = 20, floor: float = 1e-6, start: int = 0, *,
            min_rate: float = MIN_RATE, level: float = LEVEL,
            tol: float = bifurcation.DEFAULT_TOL) -> int:
    """Start of the first period-2 component of ``loss`` whose amplitude grows, or -1.

    A window of ``e(t) = L(t) - (L(t-1) + L(t+1)) / 2`` qualifies when rules 1-3 of
    :func:`dynloss.thresholds.bifurcation.detect_onset` hold (alternation, floor, coherence within ``tol``)
    and the least-squares slope ``b`` of ``log|e|`` satisfies ``b >= min_rate`` and
    ``b - t_{level, w-2} se(b) > 0``. The onset is then moved back to the step of smallest
    ``|e|`` among ``b0 .. s + w - 1``, where ``s`` is the first qualifying window's start and ``b0`` the
    first step of the uninterrupted alternation (same sign of ``(-1)^t e``, finite, above the
    floor) that reaches ``s``.

    Args:
        loss: 1-D trace L(t); everything from its first non-finite value on is ignored.
        window: window length ``w`` (>= 3).
        floor: relative amplitude floor (as for ``visible``).
        start: first step a window may start at.
        min_rate: minimum growth rate of ``log|e|`` per step (> 0).
        level: one-sided confidence level of "the slope is positive", in (0, 1).
        tol: coherence tolerance (natural-log units).

    Returns:
        The onset step, -1 if none.

    Raises:
        ValueError: ``min_rate <= 0``, ``level`` outside (0, 1), ``window < 3``, ``floor < 0``,
            ``start < 0`` or ``tol <= 0``.

    Example: a steady alternation is not growing; one that decays by ``e^-0.05`` per step until
    step 150 and grows at that rate after it has its onset at the turn:

    >>> import numpy as np
    >>> t = np.arange(300)
    >>> growing(1.0 + 1e-3 * (-1.0) ** t * (t >= 100))
    -1
    >>> growing(1.0 + 1e-3 * (-1.0) ** t * np.exp(0.05 * np.abs(t - 150)) * (t >= 100))
    150
    """
    if not min_rate > 0:
        raise ValueError(f"min_rate must be > 0 (got {min_rate})")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    x = np.arange(window) - 0.5 * (window - 1)
    sxx = float(x @ x)
    q = float(stats.t.ppf(level, window - 2))
    for starts, slope, max_resid, ss in bifurcation.window_fits(loss, window, floor, start, tol=tol):
        se = np.sqrt(ss / (window - 2) / sxx)
        ok = (max_resid <= tol) & (slope >= min_rate) & (slope - q * se > 0)
        if ok.any():
            return _backdate(np.asarray(loss, dtype=float), int(starts[np.argmax(ok)]), window, floor)
    return -1


def _backdate(loss: np.ndarray, s: int, window: int, floor: float) -> int:
    """Step of smallest ``|e|`` on the alternating stretch that leads into the window at ``s``."""
    L = bifurcation.usable(loss)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.full(L.size, np.nan)
        e[1:-1] = L[1:-1] - 0.5 * (L[:-2] + L[2:])
        sign = np.where(np.arange(L.size) % 2 == 0, 1.0, -1.0) * np.sign(e)
    want = sign[s]
    b = s
    while b - 1 >= 1:
        t = b - 1
        big = max(np.abs(L[max(t - 1, 0): t + 2]).max(), bifurcation._TINY)
        if not (np.isfinite(e[t]) and sign[t] == want and abs(e[t]) > floor * big):
            break
        b = t
    return int(b + np.argmin(np.abs(e[b : s + window])))


def mode(proj: np.ndarray, run: int = RUN, start: int = 0) -> int:
    """First index ``t`` from which ``proj`` alternates in sign and does not shrink for ``run``
    consecutive pairs (``p_{i+1} p_i < 0`` and ``|p_{i+1}| >= |p_i|``, ``i = t .. t+run-1``), or -1.

    Args:
        proj: projections ``p_t = <u_t, v_t>`` of each update on the top Hessian eigenvector
            (1-D; non-finite values end the trace).
        run: number of consecutive qualifying pairs (>= 1).
        start: first index a run may start at.

    Returns:
        The index (into ``proj``) of the run's first update, -1 if none.

    Raises:
        ValueError: ``run < 1``.

    Example (three same-sign values, then alternation of constant size from index 3):

    >>> import numpy as np
    >>> mode(np.array([0.1, 0.2, 0.3] + [(-1.0) ** k for k in range(10)]), run=8)
    3
    """
    if run < 1:
        raise ValueError(f"run must be >= 1 (got {run})")
    p = bifurcation.usable(proj)
    if p.size < run + 1:
        return -1
    with np.errstate(invalid="ignore"):
        ok = (p[1:] * p[:-1] < 0) & (np.abs(p[1:]) >= np.abs(p[:-1]))
    if ok.size < run:
        return -1
    full = np.convolve(ok.astype(int), np.ones(run, int), "valid") == run
    hits = np.flatnonzero(full[start:])
    return int(hits[0] + start) if hits.size else -1


def apparent(loss: np.ndarray, level: float = APPARENT_LEVEL, hold: int = APPARENT_HOLD, start: int = 0) -> int:
    """First step of a period-2 alternation of ``loss`` that a reader of the loss panel sees, or -1.

    ``e(t) = L(t) - (L(t-1) + L(t+1)) / 2`` is the peak-to-peak size of an alternation
    (``L0 + a (-1)^t`` gives ``|e| = 2a``). The onset is the first ``t >= start`` from which
    ``hold`` consecutive steps all have ``|e| >= level |L|`` and the same sign of
    ``(-1)^t e`` (one coherent alternation, not noise).

    Args:
        loss: 1-D trace L(t); everything from its first non-finite value on is ignored.
        level: relative peak-to-peak size (> 0).
        hold: consecutive steps (>= 2).
        start: first step the stretch may start at.

    Returns:
        The onset step, -1 if none.

    Raises:
        ValueError: ``level <= 0`` or ``hold < 2``.

    Example: an alternation of 0.1 % of the loss is not seen; one of 2 % from step 500 is:

    >>> import numpy as np
    >>> t = np.arange(1000)
    >>> apparent(2.0 + 1e-3 * (-1.0) ** t)
    -1
    >>> apparent(2.0 + 0.02 * (-1.0) ** t * (t >= 500))
    500
    """
    if not level > 0:
        raise ValueError(f"level must be > 0 (got {level})")
    if hold < 2:
        raise ValueError(f"hold must be >= 2 (got {hold})")
    L = bifurcation.usable(loss)
    if L.size < hold + 2:
        return -1
    with np.errstate(invalid="ignore", over="ignore"):
        e = L[1:-1] - 0.5 * (L[:-2] + L[2:])
        sign = np.where(np.arange(1, L.size - 1) % 2 == 0, 1.0, -1.0) * np.sign(e)
        big = np.abs(e) >= level * np.abs(L[1:-1])
    ok_pos = big & (sign > 0)
    ok_neg = big & (sign < 0)
    kernel = np.ones(hold, int)
    full = ((np.convolve(ok_pos.astype(int), kernel, "valid") == hold)
            | (np.convolve(ok_neg.astype(int), kernel, "valid") == hold))
    hits = np.flatnonzero(full[max(start - 1, 0):])
    return int(hits[0] + max(start - 1, 0) + 1) if hits.size else -1


def ceiling(steps: np.ndarray, lam: np.ndarray, tol: float = CEILING_TOL,
            hold: int = CEILING_HOLD) -> tuple[int, float]:
    """The level at which ``lam`` (lambda_max on the spectra cadence) saturates, and the first
    step it is reached, or ``(-1, nan)``.

    A ceiling is a stretch of samples spanning at least ``hold`` steps in which every value is
    within ``tol`` (relative) of the stretch's median ``c``, with ``max(lam) <= c (1 + tol)`` over
    the whole run (lambda_max never passes it). The first such stretch gives the onset step (its
    first sample) and the level ``c``.

    Args:
        steps: (n,) increasing steps of the samples.
        lam: (n,) lambda_max at those steps; non-finite values end the series.
        tol: relative tolerance (> 0).
        hold: minimum span of the stretch in steps (> 0).

    Returns:
        ``(step, level)``; ``(-1, nan)`` without a ceiling.

    Raises:
        ValueError: ``tol <= 0``, ``hold <= 0`` or shapes that differ.

    Example: lambda_max rising to 10 and staying there from step 3000 (cadence 100):

    >>> import numpy as np
    >>> s = np.arange(0, 10000, 100)
    >>> ceiling(s, np.minimum(s / 300.0, 10.0))
    (3000, 10.0)
    >>> ceiling(s, s / 300.0)  # still rising: no ceiling
    (-1, nan)
    """
    if not tol > 0 or not hold > 0:
        raise ValueError(f"tol and hold must be > 0 (got {tol}, {hold})")
    steps, lam = np.asarray(steps), np.asarray(lam, dtype=float)
    if steps.shape != lam.shape:
        raise ValueError(f"steps and lam differ in shape: {steps.shape} vs {lam.shape}")
    lam = bifurcation.usable(lam)
    steps = steps[: lam.size]
    if lam.size < 2:
        return -1, float("nan")
    top = float(np.max(lam))
    for i in range(lam.size):
        if lam[i] < top / (1 + tol) ** 2:  # too low to be within tol of a level >= top / (1 + tol)
            continue
        j = int(np.searchsorted(steps, steps[i] + hold))
        if j >= lam.size:
            break
        seg = lam[i : j + 1]
        c = float(np.median(seg))
        if np.all(np.abs(seg - c) <= tol * c) and top <= c * (1 + tol):
            return int(steps[i]), c
    return -1, float("nan")


def mode_anchor(steps: np.ndarray, lam: np.ndarray, eta: float, at: float = MODE_ANCHOR) -> int:
    """First sample step with ``eta * lam >= at`` (where ``mode`` centres its tracking), or -1.

    Example:

    >>> import numpy as np
    >>> mode_anchor(np.arange(0, 1000, 100), np.linspace(0.0, 30.0, 10), eta=0.1)  # lam 20 at 600
    600
    """
    hit = np.flatnonzero(eta * np.asarray(lam, dtype=float) >= at)
    return int(np.asarray(steps)[hit[0]]) if hit.size else -1


def zoom_window(ds, width: int) -> tuple[int, int, int | None]:
    """(start, stop, onset): in one run's dataset ``ds`` (an ``xarray.Dataset`` with ``step``, ``L`` and
    the onset variables), a window of ``width`` steps around the onset of the primary
    definition (attribute ``primary_onset``; ``visible`` without it); when it found none, around
    the first onset of the other definitions in the order apparent, visible, growing, mode; around
    the largest period-2 amplitude when none found one."""
    steps = ds["step"].values
    primary = ds.attrs.get("primary_onset", "")
    order = [f"onset_step_{n}" for n in (primary, "apparent", "visible", "growing", "mode") if n] + ["onset_step"]
    found = [int(ds[v]) for v in order if v in ds and int(ds[v]) >= 0]
    onset = found[0] if found else None
    if onset is not None:
        centre = onset
    else:
        L = ds["L"].values
        e = np.abs(L[1:-1] - 0.5 * (L[:-2] + L[2:]))
        centre = int(steps[1 + int(np.nanargmax(e))]) if np.isfinite(e).any() else int(steps[len(steps) // 2])
    start = max(int(steps[0]), centre - width // 4)
    stop = min(int(steps[-1]), start + width)
    return start, stop, onset

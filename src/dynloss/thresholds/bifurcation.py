"""Onset of the period-2 instability ("bifurcation") in loss traces, and the 1/eta power-law fit.

Full-batch gradient descent with learning rate ``eta`` becomes unstable when the top Hessian
eigenvalue crosses ``lambda_th ~ 2/eta``: the top mode flips sign every step and grows, and the
loss ``L(t)`` picks up a period-2 component. This module

- finds the step where that component starts (:func:`detect_onset`, :func:`detect_onsets`),
- reads the eigenvalue at that step from spectra taken every few steps (:func:`lambda_at_onset`),
- fits ``log lambda_th = a + b log eta`` by OLS with t-distribution intervals
  (:func:`fit_power_law`; the thesis claims ``b ~ -1``), and gives per-eta means (:func:`mean_ci`).

The detector works on the period-2 component ``e(t) = L(t) - (L(t-1) + L(t+1)) / 2`` (see
:func:`period2_amplitude`). It removes trends up to linear; a smooth trend only leaves ``-L''/2``,
which keeps its sign, while a period-2 oscillation ``A (-1)^t`` gives ``2 A (-1)^t``.

Why not only "``e`` (or ``dL``) alternates for ``window`` steps": on i.i.d. noise consecutive
values of ``e`` are correlated (lag-1 correlation -2/3), so ``e`` flips sign with probability
~0.73 per step, not 1/2; ``dL`` flips with probability 2/3, and alternates over ``k``
consecutive differences with probability ``2 E_{k+1} / (k+1)! ~ 4 (2/pi)^(k+2)`` (Euler zigzag
numbers; 1.9e-4 for ``k = 20``). Over 20 steps that is ~1e-3 (``e``) or ~2e-4 (``dL``) per start:
dozens of false alarms in a 70000-step trace. The rule below therefore also asks the amplitude
to be *coherent* (geometric within a factor) and not decaying, which is what a bifurcation looks
like and what noise almost never does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

#: default coherence tolerance: every ``|e|`` within a factor ``exp(0.3) ~ 1.35`` of the fit
DEFAULT_TOL = 0.3
_TINY = np.finfo(float).tiny
_BLOCK = 4096  # candidate windows tested at once


def usable(loss: np.ndarray) -> np.ndarray:
    """The trace up to (not including) its first non-finite value: a divergence ends the trace."""
    loss = np.asarray(loss, dtype=float)
    if loss.ndim != 1:
        raise ValueError(f"loss must be a 1-D trace (got shape {loss.shape})")
    bad = np.flatnonzero(~np.isfinite(loss))
    return loss[: bad[0]] if bad.size else loss


def period2_amplitude(loss: np.ndarray) -> np.ndarray:
    """``|e(t)| = |L(t) - (L(t-1) + L(t+1)) / 2|``, NaN at both ends (same length as ``loss``).

    ``e`` is the period-2 component of the trace: ``2 A`` for an oscillation ``A (-1)^t``,
    ``-L''/2`` for a smooth trend (exactly 0 for a linear one). For plots.
    """
    loss = np.asarray(loss, dtype=float)
    out = np.full(loss.shape, np.nan)
    if loss.shape[-1] >= 3:
        with np.errstate(invalid="ignore", over="ignore"):
            out[..., 1:-1] = np.abs(loss[..., 1:-1] - 0.5 * (loss[..., :-2] + loss[..., 2:]))
    return out


def detect_onset(loss: np.ndarray, window: int = 20, floor: float = 1e-6, start: int = 0, *,
                 tol: float = DEFAULT_TOL) -> int:
    """First step where a growing or sustained period-2 oscillation of ``loss`` starts, or -1.

    Parameters
    ----------
    loss : 1-D trace ``L[t]``, ``t = 0..n-1``. Everything from the first non-finite value on is
        ignored (a divergence ends the trace; it is an onset only if the rule held before it).
    window : number ``w`` of consecutive values of ``e`` the rule must hold over (>= 3).
    floor : relative amplitude floor; rounding noise on a converged loss stays below it.
    start : first step a window may start at (skips an initial transient).
    tol : coherence tolerance in natural-log units (keyword only).

    Rule. With ``e(t) = L(t) - (L(t-1) + L(t+1)) / 2`` (defined for ``1 <= t <= n-2``), a window
    ``t = s..s+w-1`` qualifies when all of:

    1. alternation: ``(-1)^t e(t)`` has one sign (``e`` flips sign at each of the ``w-1`` steps);
    2. floor: ``|e(t)| > floor * max(max |L| over L[s-1..s+w], tiny)`` for every ``t``;
    3. coherence: ``log|e(t)|`` lies within ``tol`` of its least-squares line over the window
       (the amplitude is geometric: growing, steady or decaying, within a factor ``exp(tol)``);
    4. not decaying: the slope of that line is ``>= 0``.

    The onset is ``s`` of the first qualifying window with ``s >= max(start, 1)``.

    Smooth losses fail 1 (monotone decrease, slow oscillations: ``e ~ -L''/2`` keeps its sign);
    rounding noise fails 2; a stable mode with ``1 < eta lambda < 2`` (decaying period-2) fails 4.
    False positives on i.i.d. noise (rules 1-4, ``tol = 0.3``; measured rate per window start):
    Gaussian 6.3e-6, 7.4e-7, 1.1e-7 at ``w = 12, 14, 16``, 7 in 1.2e9 at ``w = 18`` and none
    in 1.2e9 at ``w = 20`` (< 3e-9; the trend, x ~0.15 per two steps, gives ~1e-9): < 2e-4
    expected false windows in a 70000-step trace. Uniform noise is the worst case seen:
    10 in 1.2e9 at ``w = 20`` (8e-9 per start, ~6e-4 per trace); Laplace and Student-t(3) less
    (none in 2e8 at ``w >= 18``). ``tol = 0.5`` would give 1.4e-7 per start (Gaussian), ~1e-2
    per trace; each 2 steps of ``window`` buy a factor ~0.15.

    Limits: an oscillation is seen once ``|e|`` beats the smooth part's ``|L''|/2`` (rule 1), so a
    mode growing from a tiny amplitude is found after the eigenvalue crossing; the loss must feel
    the sign of the mode (a pure quadratic ``lam x^2 / 2`` shows no period-2 at all); an
    oscillation whose absolute amplitude decays, even slowly, is not counted (rule 4).
    """
    for starts, slope, max_resid, _ in window_fits(loss, window, floor, start, tol=tol):
        hits = starts[(max_resid <= tol) & (slope >= 0)]
        if hits.size:
            return int(hits[0])
    return -1


def window_fits(loss: np.ndarray, window: int = 20, floor: float = 1e-6, start: int = 0, *,
                tol: float = DEFAULT_TOL):
    """Least-squares lines of ``log|e|`` over the windows that pass rules 1-2 of :func:`detect_onset`.

    Args:
        loss: 1-D trace (as in :func:`detect_onset`).
        window, floor, start, tol: as in :func:`detect_onset`.

    Yields:
        Blocks ``(starts, slope, max_resid, ss_resid)`` in step order: the window starts ``s``
        (loss steps) whose ``e`` alternates and beats the floor, the slope of ``log|e|`` per
        step, the largest absolute residual and the residual sum of squares of each fit. The
        caller applies its own test (coherence, growth) and may stop at the first hit.
    """
    if window < 3:
        raise ValueError(f"window must be >= 3 (got {window})")
    if not floor >= 0:
        raise ValueError(f"floor must be >= 0 (got {floor})")
    if start < 0:
        raise ValueError(f"start must be >= 0 (got {start})")
    if not tol > 0:
        raise ValueError(f"tol must be > 0 (got {tol})")
    L = usable(loss)
    m = L.size
    s0 = max(start, 1)
    n_win = (m - 2) - window + 1 - (s0 - 1)  # windows s = s0..m-1-window
    if n_win <= 0:
        return
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = L[1:-1] - 0.5 * (L[:-2] + L[2:])  # e[j] = e(t = j + 1)
        t = np.arange(1, m - 1)
        f = np.where(t % 2 == 0, e, -e)
        log_e = np.log(np.abs(e))
        # floor against the largest |L| the window's e values touch: L[s-1 .. s+window]
        big = np.maximum(sliding_window_view(np.abs(L), window + 2).max(axis=1), _TINY)
    pos = np.isfinite(log_e) & (f > 0)
    neg = np.isfinite(log_e) & (f < 0)
    j0 = s0 - 1  # index into e (and big) of the first allowed window
    pos_w = sliding_window_view(pos[j0:], window).all(axis=1)
    neg_w = sliding_window_view(neg[j0:], window).all(axis=1)
    floor_w = (sliding_window_view(np.abs(e)[j0:], window).min(axis=1)
               > floor * big[j0 : j0 + pos_w.size])
    cand = np.flatnonzero((pos_w | neg_w) & floor_w)
    # a least-squares line per candidate window, in blocks so a trace that oscillates from
    # early on stops at its first hit
    x = np.arange(window) - 0.5 * (window - 1)
    windows = sliding_window_view(log_e[j0:], window)
    for i in range(0, cand.size, _BLOCK):
        c = cand[i : i + _BLOCK]
        Y = windows[c]
        slope = Y @ x / (x @ x)
        resid = Y - Y.mean(axis=1, keepdims=True) - slope[:, None] * x
        yield c + s0, slope, np.abs(resid).max(axis=1), (resid**2).sum(axis=1)


def detect_onsets(losses: np.ndarray, window: int = 20, floor: float = 1e-6, start: int = 0, *,
                  tol: float = DEFAULT_TOL) -> np.ndarray:
    """:func:`detect_onset` for each row of ``losses`` (R, n); returns (R,) int, -1 for none."""
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 2:
        raise ValueError(f"losses must be 2-D (runs, steps) (got shape {losses.shape})")
    return np.array([detect_onset(row, window, floor, start, tol=tol) for row in losses],
                    dtype=int)


def lambda_at_onset(steps_spec: np.ndarray, eig: np.ndarray, onset: int) -> float:
    """Eigenvalue at the last measured step ``<= onset`` (NaN if none, or ``onset < 0``).

    Spectra are taken every few steps, so this lags the true crossing by up to one cadence.
    """
    steps = np.asarray(steps_spec)
    eig = np.asarray(eig, dtype=float)
    if steps.shape != eig.shape or steps.ndim != 1:
        raise ValueError(f"steps_spec and eig must be 1-D of equal length "
                         f"(got {steps.shape} and {eig.shape})")
    if onset < 0:
        return float("nan")
    i = int(np.searchsorted(steps, onset, side="right")) - 1
    return float(eig[i]) if i >= 0 else float("nan")


@dataclass(frozen=True)
class PowerLawFit:
    """OLS fit ``log lam = a + b log eta``, i.e. ``lam = exp(a) eta^b``, with ``level`` intervals.

    ``sigma`` (residual standard deviation in log units), ``log_eta_mean`` and ``sxx`` (sum of
    squared centred ``log eta``) are kept for the confidence band of the mean prediction.
    """

    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    prefactor: float
    prefactor_ci: tuple[float, float]
    r2: float
    n: int
    level: float
    sigma: float
    log_eta_mean: float
    sxx: float

    def predict(self, eta: np.ndarray) -> np.ndarray:
        """``exp(a) eta^b``."""
        return self.prefactor * np.asarray(eta, dtype=float) ** self.slope

    def band(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) ``level`` confidence band of the mean prediction at ``eta`` (t, n-2 dof)."""
        x = np.log(np.asarray(eta, dtype=float))
        y = self.intercept + self.slope * x
        half = (stats.t.ppf(0.5 + self.level / 2, self.n - 2) * self.sigma
                * np.sqrt(1.0 / self.n + (x - self.log_eta_mean) ** 2 / self.sxx))
        return np.exp(y - half), np.exp(y + half)


def fit_power_law(eta: np.ndarray, lam: np.ndarray, level: float = 0.95) -> PowerLawFit:
    """OLS of ``log lam`` on ``log eta`` over the pairs where both are finite and positive.

    Raises ``ValueError`` for fewer than 3 usable points (no residual dof) or all ``eta`` equal.
    ``r2`` is NaN when all usable ``lam`` are equal.
    """
    eta = np.asarray(eta, dtype=float).ravel()
    lam = np.asarray(lam, dtype=float).ravel()
    if eta.shape != lam.shape:
        raise ValueError(f"eta and lam must have the same size (got {eta.size} and {lam.size})")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    use = np.isfinite(eta) & np.isfinite(lam) & (eta > 0) & (lam > 0)
    n = int(use.sum())
    if n < 3:
        raise ValueError(f"need at least 3 finite positive (eta, lam) pairs (got {n})")
    x, y = np.log(eta[use]), np.log(lam[use])
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    if sxx <= 0 or np.ptp(x) == 0:
        raise ValueError("all eta are equal: the slope is undetermined")
    b = float(((x - xm) * (y - ym)).sum() / sxx)
    a = float(ym - b * xm)
    ss_res = float(((y - a - b * x) ** 2).sum())
    ss_tot = float(((y - ym) ** 2).sum())
    sigma = float(np.sqrt(ss_res / (n - 2)))
    q = float(stats.t.ppf(0.5 + level / 2, n - 2))
    se_b = sigma / np.sqrt(sxx)
    se_a = sigma * np.sqrt(1.0 / n + xm**2 / sxx)
    a_ci = (a - q * se_a, a + q * se_a)
    return PowerLawFit(
        slope=b, slope_ci=(b - q * se_b, b + q * se_b),
        intercept=a, intercept_ci=a_ci,
        prefactor=float(np.exp(a)), prefactor_ci=(float(np.exp(a_ci[0])), float(np.exp(a_ci[1]))),
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        n=n, level=level, sigma=sigma, log_eta_mean=float(xm), sxx=sxx,
    )


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi) of the finite ``values``; t-distribution interval, NaN ends for n < 2."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half

"""Intervals over independent seeds and the outcome of a claim (docs/verdicts.md).

The unit is the seed. Below :data:`BOOTSTRAP_MIN_SEEDS` seeds a Student t interval (a percentile
bootstrap over few seeds is too narrow: about 18 % at n = 10); from it a seeded percentile bootstrap,
with any reduction over grid points done inside each resample. :func:`seeds_to_decide` solves the
seed count under the same rule; :func:`holm` is the family-wise statement under the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats

#: defaults of the config keys ``verdicts.*`` (fixed 2026-12-02; the bootstrap threshold raised from 10 to 20
#: on 2026-12-07, docs/verdicts.md)
ACC_TOL = 0.05
SLOPE_TOL = 0.15
BOOTSTRAP_MIN_SEEDS = 20
RESAMPLES = 10_000
#: the burn-in, as a fraction of the run's period T: the thesis places its bifurcations "during the second half
#: of some periods, as Gamma_i -> 1" (sec. 3.6), so an onset in the first half of the first period is the start
#: of training, not one of them (fixed 2026-12-07, docs/verdicts.md)
BURN_IN = 0.5
SEED = 0
LEVEL = 0.95

REPRODUCED = "reproduced"
EXCEEDS = "reproduced - exceeds"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly run"
NOT_RUN = "not run"
#: the outcomes in the words of a claim beyond the thesis (holds / does not hold / undecided); ordered so that a
#: verdict's text is matched longest-first ("not reproduced" and "reproduced - exceeds" before "reproduced")
BEYOND_OUTCOMES = ((NOT_REPRODUCED, "does not hold"), (EXCEEDS, "holds (exceeds)"), (REPRODUCED, "holds"),
                   (INCONCLUSIVE, "undecided"))
OUTCOMES = (REPRODUCED, EXCEEDS, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)


@dataclass(frozen=True)
class Settings:
    """The verdict settings (config key ``verdicts``)."""

    acc_tol: float = ACC_TOL
    slope_tol: float = SLOPE_TOL
    bootstrap_min_seeds: int = BOOTSTRAP_MIN_SEEDS
    resamples: int = RESAMPLES
    seed: int = SEED
    fresh_seed_offset: int = 1000
    #: onsets before this fraction of the run's first period are not the thesis's bifurcation (2026-12-07)
    burn_in: float = BURN_IN
    #: the family-wise level of the Holm line under the table (2026-12-07)
    family_alpha: float = 0.05
    #: "list": a claim without data is a "not run" row; "summary": one line under the table names them (a
    #: campaign of its own, whose table is its hypotheses; the CSV keeps every row)
    not_run_rows: str = "list"

    @classmethod
    def from_config(cls, cfg: Optional[dict]) -> "Settings":
        return cls(**{k: v for k, v in (cfg or {}).items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Estimate:
    """A statistic over ``n`` seeds with its 95 % interval and how the interval was made."""

    value: float
    lo: float
    hi: float
    n: int
    method: str  # "t-interval" | "bootstrap" | "none"

    @property
    def half(self) -> float:
        return 0.5 * (self.hi - self.lo)


def t_interval(x: np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean of ``x`` with its Student t interval (``none`` for one value).

    Example:

    >>> e = t_interval(np.array([0.5, 0.6, 0.7]))
    >>> round(e.value, 3), round(e.lo, 3), round(e.hi, 3), e.method
    (0.6, 0.352, 0.848, 't-interval')
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    m = float(np.mean(x))
    if n < 2:
        return Estimate(m, math.nan, math.nan, n, "none")
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return Estimate(m, m - h, m + h, n, "t-interval")


def bootstrap(per_seed: np.ndarray, statistic: Callable[[np.ndarray], float], resamples: int = RESAMPLES,
              seed: int = SEED, level: float = LEVEL) -> Estimate:
    """Percentile bootstrap over the rows (seeds) of ``per_seed``, seeded (deterministic).

    Args:
        per_seed: (n, ...) values, one row per seed; a statistic over several points sees the
            same resampled seeds for every point.
        statistic: rows -> a number (e.g. the max over points of the mean over seeds).
        resamples, seed, level: the bootstrap's size, seed and level.

    Returns:
        The statistic on the data, with the percentile interval.
    """
    x = np.asarray(per_seed, dtype=float)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    boot = np.array([statistic(x[i]) for i in idx])
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2]) if boot.size else (math.nan, math.nan)
    return Estimate(float(statistic(x)), float(lo), float(hi), n, "bootstrap")


def mean_interval(x: np.ndarray, settings: Settings = Settings()) -> Estimate:
    """The mean over seeds with the interval the rules name for ``len(x)`` seeds."""
    x = np.asarray(x, dtype=float)
    if x.size < settings.bootstrap_min_seeds:
        return t_interval(x)
    return bootstrap(x, np.mean, settings.resamples, settings.seed)


@dataclass(frozen=True)
class Band:
    """What a claim allows: ``[lo, hi]`` (either end may be infinite). ``exceeds``: the level
    above which a lower-bound claim is "reproduced - exceeds" (``inf`` for other claims)."""

    lo: float
    hi: float
    exceeds: float = math.inf

    def describe(self) -> str:
        lo = "-inf" if self.lo == -math.inf else f"{self.lo:g}"
        hi = "inf" if self.hi == math.inf else f"{self.hi:g}"
        return f"[{lo}, {hi}]"


def approx(v: float, d: float) -> Band:
    """The thesis's "~v": ``[v - d, v + d]``."""
    return Band(v - d, v + d)


def lower(v: float, d: float) -> Band:
    """"reaches / up to / > v": ``[v - d, inf)``; above ``v + d`` it is exceeded."""
    return Band(v - d, math.inf, v + d)


def outcome(e: Estimate, band: Band) -> str:
    """The outcome of an estimate against a band (docs/verdicts.md).

    Examples:

    >>> outcome(Estimate(0.6, 0.55, 0.65, 10, "bootstrap"), approx(0.6, 0.05))
    'reproduced'
    >>> outcome(Estimate(0.97, 0.96, 0.98, 10, "bootstrap"), lower(0.9, 0.05))
    'reproduced - exceeds'
    >>> outcome(Estimate(0.5, 0.45, 0.52, 10, "bootstrap"), approx(0.65, 0.05))
    'not reproduced'
    >>> outcome(Estimate(0.55, 0.44, 0.67, 10, "bootstrap"), approx(0.65, 0.05))
    'inconclusive'
    """
    if not math.isfinite(e.value):
        return NOT_RUN
    if not (math.isfinite(e.lo) and math.isfinite(e.hi)):
        return INCONCLUSIVE
    if e.lo >= band.lo and e.hi <= band.hi:
        return EXCEEDS if e.value > band.exceeds else REPRODUCED
    if e.hi < band.lo or e.lo > band.hi:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _quantile(n: int, min_seeds: int, level: float = LEVEL) -> float:
    """The multiplier of s / sqrt(n) in the half-width the rules give ``n`` seeds: Student t with n - 1
    degrees of freedom below ``min_seeds``, the normal quantile from it (a percentile bootstrap of a mean is
    about that wide)."""
    p = 0.5 + level / 2
    return float(stats.t.ppf(p, n - 1)) if n < min_seeds else float(stats.norm.ppf(p))


def _spread(e: Estimate, min_seeds: int) -> float:
    """The seed-to-seed standard deviation implied by an interval's half-width under the rule that made it."""
    return e.half * math.sqrt(e.n) / _quantile(e.n, min_seeds)


def _distance(e: Estimate, band: Band) -> float:
    """From the estimate to the nearest finite band edge (``inf`` where the band has none)."""
    edges = [x for x in (band.lo, band.hi) if math.isfinite(x)]
    return min(abs(e.value - x) for x in edges) if edges else math.inf


def leans(e: Estimate, band: Band) -> str:
    """Which way an undecided row leans: toward the outcome its estimate has (inside the band: reproduced)."""
    return REPRODUCED if band.lo <= e.value <= band.hi else NOT_REPRODUCED


def seeds_to_decide(e: Estimate, band: Band, min_seeds: int = BOOTSTRAP_MIN_SEEDS,
                    limit: int = 100_000) -> Optional[int]:
    """The smallest seed count whose interval, under the rules' own interval for that count (t below
    ``min_seeds``, bootstrap from it) and the spread this interval implies, would lie wholly on the side
    of the nearest band edge the estimate is on (``None`` without an interval, on an edge, or beyond
    ``limit``). :func:`leans` says toward which outcome.

    Example (s = 0.1, 0.1 from the edge: t(n-1) 0.1 / sqrt(n) < 0.1 first at n = 7):

    >>> e = t_interval(np.array([0.5, 0.6, 0.7]))
    >>> seeds_to_decide(e, approx(0.75, 0.05)), leans(e, approx(0.75, 0.05))
    (7, 'not reproduced')
    """
    if e.n < 2 or not math.isfinite(e.half):
        return None
    dist = _distance(e, band)
    if dist == 0 or not math.isfinite(dist):
        return None
    s = _spread(e, min_seeds)
    for n in range(2, limit + 1):
        if _quantile(n, min_seeds) * s / math.sqrt(n) < dist:
            return n
    return None


def p_value(e: Estimate, band: Band, min_seeds: int = BOOTSTRAP_MIN_SEEDS) -> float:
    """The p-value of the outcome the row's estimate leans to, under the rule's own interval (t below
    ``min_seeds``, normal from it, the spread from the interval): for "reproduced" the larger of the two
    one-sided tests that the mean lies inside each finite edge (an equivalence test), for "not reproduced"
    the one-sided test that it lies beyond the nearest edge. NaN without an interval.

    >>> e = t_interval(np.array([0.5, 0.6, 0.7]))
    >>> round(p_value(e, approx(0.6, 0.2)), 4), round(p_value(e, approx(0.9, 0.05)), 4)
    (0.0371, 0.0247)
    """
    if e.n < 2 or not math.isfinite(e.half) or e.half == 0:
        return math.nan
    se = _spread(e, min_seeds) / math.sqrt(e.n)
    dist = stats.t(e.n - 1) if e.n < min_seeds else stats.norm()
    if leans(e, band) == REPRODUCED:
        return max(float(dist.sf((e.value - x) / se if x == band.lo else (x - e.value) / se))
                   for x in (band.lo, band.hi) if math.isfinite(x))
    return float(dist.sf(_distance(e, band) / se))


def holm(p: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha``
    (NaN p-values are never rejected and not counted in the family).

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [True, False, False, True]
    >>> holm([0.01, 0.02, 0.03])
    [True, True, True]
    """
    idx = [i for i, x in enumerate(p) if math.isfinite(x)]
    order = sorted(idx, key=lambda i: p[i])
    m = len(order)
    out = [False] * len(p)
    for rank, i in enumerate(order):
        if p[i] > alpha / (m - rank):
            break
        out[i] = True
    return out


def set_estimate(values, settings):
    """Values over (training set, seed), rows the training sets (the replication's spirals, the digits' splits):
    the mean over sets of each set's mean over its seeds, a t-interval over the set means (the set is the
    unit: fewer than 20 of them), and the within- and between-set standard deviations."""
    import math

    import numpy as np

    v = np.asarray(values, dtype=float)
    means = np.array([np.nanmean(r) for r in v if np.isfinite(r).any()])
    e = t_interval(means)
    n_seeds = np.isfinite(v).sum(axis=1)
    within = math.sqrt(np.nansum(np.nanvar(v, axis=1, ddof=1) * (n_seeds - 1)) / max(1, (n_seeds - 1).sum()))
    between = math.sqrt(max(0.0, float(np.var(means, ddof=1)) - within ** 2 / max(1.0, float(n_seeds.mean()))))
    return e, within, between

"""Intervals over independent seeds and the outcome of a claim (docs/verdicts.md).

The unit is the seed. Below :data:`BOOTSTRAP_MIN_SEEDS` seeds a Student t interval (a bootstrap
over a handful of seeds has too few distinct resamples); from it a seeded percentile bootstrap,
with any reduction over grid points done inside each resample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import stats

#: defaults of the config keys ``verdicts.*`` (fixed 2026-12-02, docs/verdicts.md)
ACC_TOL = 0.05
SLOPE_TOL = 0.15
BOOTSTRAP_MIN_SEEDS = 10
RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95

REPRODUCED = "reproduced"
EXCEEDS = "reproduced - exceeds"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly run"
NOT_RUN = "not run"
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


def seeds_to_decide(e: Estimate, band: Band) -> Optional[int]:
    """About how many seeds would make an inconclusive interval decide: ``n (h / dist)^2``, with
    ``h`` the half-width and ``dist`` the distance from the estimate to the nearest band edge
    (``None`` without an interval or on an edge).

    Example:

    >>> seeds_to_decide(Estimate(0.55, 0.44, 0.66, 10, "bootstrap"), approx(0.65, 0.05))
    49
    """
    if e.n < 2 or not math.isfinite(e.half):
        return None
    dist = min(abs(e.value - band.lo), abs(e.value - band.hi))
    if dist == 0:
        return None
    return int(math.ceil(e.n * (e.half / dist) ** 2))

"""A verdict row: its fields before measuring (:func:`row_of`), its judgement against a band (:func:`judge`)
and a row without data (:func:`not_run`), shared by every measure (docs/verdicts.md)."""
from __future__ import annotations

import math

from ..thresholds.onset import LOSS_BASED
from . import stats
from .claims import Claim


def row_of(c, **kw) -> dict:
    """A claim's row before it is measured: its text, figure, source and thesis value, and ``kw``."""
    base = {"claim": c.text, "figure": c.figure if isinstance(c, Claim) else c.study,
            "source": c.source, "thesis": getattr(c, "thesis", "-1")}
    return {**base, **kw}


def band_of(c: Claim, s: stats.Settings) -> stats.Band:
    if c.band == "approx":
        return stats.approx(c.value, s.acc_tol)
    if c.band == "lower":
        return stats.lower(c.value, s.acc_tol)
    if c.band == "gain":
        return stats.approx(c.value, s.acc_tol)
    if c.band == "equivalence":  # within +-value of 0 (a tolerance the claim pre-registered)
        return stats.Band(-c.value, c.value)
    return stats.Band(0.0, math.inf) if c.value > 0 else stats.Band(-math.inf, 0.0)


def of(k: int, n: int, what: str) -> str:
    """``"10 of the thesis's 50 seeds (20 %)"``: how much of what a row was asked of it ran."""
    return f"{k} of the thesis's {n} {what} ({100 * k / n:.0f} %)" if n else f"{k} {what}"


def judge(row: dict, e: stats.Estimate, band: stats.Band, thesis_seeds: int, partly: str = "",
          min_seeds: int = stats.BOOTSTRAP_MIN_SEEDS) -> dict:
    """``row`` with the estimate ``e``, its interval and its outcome against ``band`` (and "partly run" when
    fewer seeds than the thesis's, or ``partly`` says why). An inconclusive row says which way it leans and
    the exact seed count that would decide it under the same interval rule (``min_seeds``: where the rule
    switches from a t-interval to the bootstrap); every row with an interval carries the p-value of the
    outcome it leans to (the Holm line under the table)."""
    out = stats.outcome(e, band)
    row.update({"estimate": round(e.value, 4), "ci_lo": rounded(e.lo), "ci_hi": rounded(e.hi), "interval": e.method,
                "n_seeds": e.n, "thesis_seeds": thesis_seeds, "outcome": out})
    if math.isfinite(e.value) and math.isfinite(e.half):
        row["leans"] = stats.leans(e, band)
        row["p_value"] = rounded(stats.p_value(e, band, min_seeds), 6)
    if out == stats.INCONCLUSIVE:
        need = stats.seeds_to_decide(e, band, min_seeds)
        row["seeds_to_decide"] = f"{need} ({row['leans']})" if need is not None else ""
    if e.n < thesis_seeds and not partly:
        partly = of(e.n, thesis_seeds, "seeds")
    row["verdict"] = f"{stats.PARTLY}: {out} ({partly})" if partly else out
    return row


def rounded(v: float, digits: int = 4):
    return round(v, digits) if math.isfinite(v) else ""


def verdict_onset(name: str) -> str:
    """The definition a verdict reads: ``name`` when it is read from the loss, else ``apparent`` (a
    curvature-anchored definition is reported beside, never primary; docs/verdicts.md, 2026-12-07)."""
    return name if name in LOSS_BASED else "apparent"


def not_run(row: dict, note: str, **kw) -> dict:
    """``row`` of a claim without data, ``note`` saying what is missing."""
    return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, **kw, "note": note}

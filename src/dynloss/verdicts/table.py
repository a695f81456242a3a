"""The reproduction table: each claim (:mod:`dynloss.verdicts.claims`, and a study kind's own) measured on
whatever data has its protocol (:mod:`.measures`), with an interval over seeds and an outcome
(docs/verdicts.md)."""
from __future__ import annotations

from . import stats
from .claims import CLAIMS, LAW_CLAIMS, Claim, needs_fresh_seeds
from .inputs import Inputs, confirm_key
from .measures import MEASURES, band_of, law_row, row_of

COLUMNS = ["claim", "figure", "verdict", "outcome", "thesis", "band", "estimate", "ci_lo", "ci_hi", "interval",
           "n_seeds", "thesis_seeds", "at_A", "at_T", "chosen_on", "region_points", "n_diverged", "seeds_to_decide",
           "data", "note", "source", "scale"]


def _kinds():
    from ..plan.kinds import KINDS

    return KINDS.values()


def measures() -> dict:
    """where -> measure: :data:`MEASURES` and every registered study kind's own."""
    out = dict(MEASURES)
    for kind in _kinds():
        for where, fn in kind.measures.items():
            if out.setdefault(where, fn) is not fn:
                raise ValueError(f"study kind {kind.name!r}: the measure of where={where!r} is already defined")
    return out


def all_claims() -> tuple[Claim, ...]:
    """The thesis's claims (:data:`CLAIMS`), then every registered study kind's own (``StudyKind.claims``)."""
    return CLAIMS + tuple(c for kind in _kinds() for c in kind.claims)


def measure(c: Claim, inputs: Inputs, s: stats.Settings) -> dict:
    """One row: the claim's estimate, interval, outcome and what it was read from (the measure of the
    claim's ``where``: :data:`MEASURES`, or a study kind's own, ``StudyKind.measures``)."""
    band = band_of(c, s)
    row = row_of(c, band=band.describe())
    known = measures()
    if c.where not in known:
        raise ValueError(f"claim {c.key!r}: where={c.where!r} has no measure (known: {', '.join(sorted(known))})")
    return known[c.where](c, inputs, s, row, band)


def table(inputs: Inputs, scale: str, settings: stats.Settings = stats.Settings(),
          claims=None, law_claims=LAW_CLAIMS) -> list[dict]:
    """Every claim's row (default :func:`all_claims`), then the eta-law rows, with every key of :data:`COLUMNS`."""
    claims = all_claims() if claims is None else claims
    rows = [measure(c, inputs, settings) for c in claims] + [law_row(lc, inputs, settings) for lc in law_claims]
    return [{k: r.get(k, "") for k in COLUMNS} | {"scale": scale} for r in rows]


def confirm_jobs(claims=None) -> dict[str, list[Claim]]:
    """confirm key -> the claims (default :func:`all_claims`) judged on its fresh seeds."""
    out: dict[str, list[Claim]] = {}
    for c in all_claims() if claims is None else claims:
        if needs_fresh_seeds(c):
            out.setdefault(confirm_key(c), []).append(c)
    return out

"""The reproduction table: each claim (:mod:`dynloss.verdicts.claims`, and a study kind's own) measured on
whatever data has its protocol (:mod:`.measures`), with an interval over seeds and an outcome
(docs/verdicts.md)."""
from __future__ import annotations

from . import beyond, stats
from .claims import CLAIMS, LAW_CLAIMS, PHASE_CLAIMS, Claim, needs_fresh_seeds
from .inputs import Inputs, confirm_key
from .measures import MEASURES, band_of, law_row, row_of
from .qualitative import phase_row

COLUMNS = ["claim", "figure", "verdict", "outcome", "thesis", "band", "estimate", "ci_lo", "ci_hi", "interval",
           "n_seeds", "thesis_seeds", "at_A", "at_T", "chosen_on", "region_points", "n_diverged", "seeds_to_decide",
           "leans", "p_value", "holm", "measurement", "definitions", "listed", "data", "note", "source", "scale"]

#: where a claim's estimate is an accuracy or a difference of accuracies (the Holm family)
ACCURACY = ("static", "best", "worst", "gain", "trend", "fraction", "overfit", "low_T", "rep_value", "rep_gain")


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


def all_claims(inputs: Inputs | None = None) -> tuple[Claim, ...]:
    """The thesis's claims (:data:`CLAIMS`), this project's own beyond it (:mod:`.beyond`; with ``inputs``, only
    where they hold runs of the claim's loss on its data set), then every registered study kind's own
    (``StudyKind.claims``; with ``inputs``, a kind with ``claims_without_data = False`` only where they hold its
    data)."""
    own = tuple(c for c in beyond.CLAIMS if inputs is None or (
        has_runs(inputs, c.protocol.loss, c.protocol.data) if c.protocol is not None
        else has_runs(inputs, "", beyond.NO_ANSWER_DATA)))
    return CLAIMS + own + tuple(c for kind in _kinds() for c in kind.claims
                                if inputs is None or kind.claims_without_data or inputs.role(kind.verdict_input))


def all_law_claims(inputs: Inputs | None = None) -> tuple:
    """The thesis's eta-law claims, then this project's own (with ``inputs``: where they hold thresholds runs of
    the claim's loss on its data set)."""
    return LAW_CLAIMS + tuple(lc for lc in beyond.LAW_CLAIMS if inputs is None or (
        has_runs(inputs, "", lc.data) if lc.not_run_reason
        else has_runs(inputs, lc.loss, lc.data, roles=("thresholds",))))


def has_runs(inputs: Inputs, loss: str, data: str, roles=("study", "thresholds", "confirm", "dynamics")) -> bool:
    """Whether ``inputs`` hold a dataset of runs of ``loss`` (or its static twin; "" any loss) on data set
    ``data``."""
    import numpy as np

    from .. import losses
    from .inputs import data_set_of

    family = {loss, losses.static_of(loss)} if loss else set()
    return any(data_set_of(ds) == data and "loss" in ds.coords
               and (not loss or family & {str(v) for v in np.atleast_1d(ds["loss"].values)})
               for role in roles for ds in inputs.role(role).values())


def measure(c: Claim, inputs: Inputs, s: stats.Settings) -> dict:
    """One row: the claim's estimate, interval, outcome and what it was read from (the measure of the
    claim's ``where``: :data:`MEASURES`, or a study kind's own, ``StudyKind.measures``)."""
    band = band_of(c, s)
    row = row_of(c, band=band.describe())
    known = measures()
    if c.where not in known:
        raise ValueError(f"claim {c.key!r}: where={c.where!r} has no measure (known: {', '.join(sorted(known))})")
    out = known[c.where](c, inputs, s, row, band)
    return beyond_words(out) if c.beyond else out


def beyond_words(row: dict) -> dict:
    """``row`` with its verdict in the words of a claim beyond the thesis.

    >>> beyond_words({"verdict": "partly run: inconclusive (4 of 5 sets)"})["verdict"]
    'partly run: undecided (4 of 5 sets)'
    """
    v = str(row.get("verdict", ""))
    for old, new in stats.BEYOND_OUTCOMES:
        if old in v:
            return {**row, "verdict": v.replace(old, new, 1)}
    return row


def table(inputs: Inputs, scale: str, settings: stats.Settings = stats.Settings(),
          claims=None, law_claims=None, phase_claims=PHASE_CLAIMS) -> list[dict]:
    """Every claim's row (default :func:`all_claims`), then the eta-law (default :func:`all_law_claims`) and
    onset-phase rows, with every key of :data:`COLUMNS`; rows that read the same measurement share a
    ``measurement`` label, and the accuracy rows carry the Holm decision (``holm``)."""
    claims = all_claims(inputs) if claims is None else claims
    law_claims = all_law_claims(inputs) if law_claims is None else law_claims
    laws = [law_row(lc, inputs, settings) for lc in law_claims]
    laws = [beyond_words(r) if lc.beyond else r for r, lc in zip(laws, law_claims)]
    rows = ([measure(c, inputs, settings) for c in claims] + laws
            + [phase_row(pc, inputs, settings) for pc in phase_claims])
    wheres = [c.where for c in claims] + ["law"] * len(law_claims) + ["phase"] * len(phase_claims)
    rows = [{k: r.get(k, "") for k in COLUMNS} | {"scale": scale} for r in rows]
    label_measurements(rows, [c.quantity for c in claims] + wheres[len(claims):])
    for r in rows:
        r["listed"] = "no" if settings.not_run_rows == "summary" and r["outcome"] == stats.NOT_RUN else ""
    family = [i for i, (r, w) in enumerate(zip(rows, wheres)) if w in ACCURACY and r["p_value"] != ""]
    kept = stats.holm([float(rows[i]["p_value"]) for i in family], settings.family_alpha)
    for i, k in zip(family, kept):
        decided = rows[i]["outcome"] in (stats.REPRODUCED, stats.EXCEEDS, stats.NOT_REPRODUCED)
        rows[i]["holm"] = ("kept" if k else "not kept") if decided else ("would decide" if k else "undecided")
    return rows


def measurement_key(r: dict, quantity: str) -> tuple:
    """What makes two rows one measurement: the same quantity of the same data read at the same point,
    the same numbers."""
    return (quantity, r["data"], r["at_A"], r["at_T"], r["n_seeds"], r["estimate"], r["ci_lo"], r["ci_hi"])


def label_measurements(rows: list[dict], quantities: list[str]) -> None:
    """``measurement`` = "m<k>" for every row with an estimate, the same k for rows of one measurement
    (:func:`measurement_key`), numbered in table order."""
    seen: dict[tuple, str] = {}
    for r, q in zip(rows, quantities):
        if r["estimate"] == "":
            continue
        r["measurement"] = seen.setdefault(measurement_key(r, q), f"m{len(seen) + 1}")


def confirm_jobs(claims=None) -> dict[str, list[Claim]]:
    """confirm key -> the claims (default :func:`all_claims`) judged on its fresh seeds."""
    out: dict[str, list[Claim]] = {}
    for c in all_claims() if claims is None else claims:
        if needs_fresh_seeds(c):
            out.setdefault(confirm_key(c), []).append(c)
    return out

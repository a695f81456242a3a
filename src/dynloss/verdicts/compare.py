"""Two publications' eta laws side by side, per onset definition: the exploratory study whose runs
chose the definitions, and a confirmatory rerun on fresh seeds and a fresh spiral (docs/preregistration.md).

Each thresholds dataset's law is computed by :func:`dynloss.verdicts.law.law_estimate` for every
definition it holds, judged against the eta-law band of the verdict settings, exactly as the
reproduction table's law rows are; datasets are paired by (loss, width). Nothing here judges a claim
of its own: the table shows whether a definition's outcome held on data that did not choose it.
"""
from __future__ import annotations

import csv
import io
from typing import Mapping

import numpy as np
import xarray as xr

from . import stats
from .law import law_estimate
from ..thresholds.onset import CURVATURE_ANCHORED, NAMES

COLUMNS = ["loss", "width", "definition", "primary", "exploratory", "exploratory_slope", "exploratory_lo",
           "exploratory_hi", "exploratory_settings", "confirmatory", "confirmatory_slope", "confirmatory_lo",
           "confirmatory_hi", "confirmatory_settings", "same_outcome"]


def law_band(s: stats.Settings) -> stats.Band:
    """The eta law's band: slope -1 +- ``slope_tol`` (docs/verdicts.md)."""
    return stats.Band(-1 - s.slope_tol, -1 + s.slope_tol)


def definition_laws(ds: xr.Dataset, s: stats.Settings, also: tuple[str, ...] = ()) -> dict[str, dict]:
    """Every definition's law in a thresholds dataset of one width (and ``also``'s, held or not), with its
    ``outcome`` against :func:`law_band` (``not run`` where no setting has an onset at every eta)."""
    band = law_band(s)
    laws = {n: law_estimate(ds, n, s) for n in NAMES if f"lambda_th_{n}" in ds or n in also}
    for law in laws.values():
        law["outcome"] = stats.outcome(law["slope"], band)
    return laws


def by_width(ds: xr.Dataset) -> dict[tuple[str, int], xr.Dataset]:
    """A thresholds dataset split by (loss, width)."""
    loss = str(np.atleast_1d(ds["loss"].values).ravel()[0])
    if "width" in ds.dims:
        return {(loss, int(w)): ds.sel(width=w) for w in ds["width"].values}
    width = int(np.atleast_1d(ds["width"].values).ravel()[0]) if "width" in ds else int(ds.attrs["width"])
    return {(loss, width): ds}


def is_thresholds(ds: xr.Dataset) -> bool:
    """A thresholds dataset: runs by learning rate with a threshold per onset definition."""
    return "lr" in ds.dims and any(f"lambda_th_{n}" in ds for n in NAMES)


def side_by_side(exploratory: Mapping[str, xr.Dataset], confirmatory: Mapping[str, xr.Dataset],
                 primary: Mapping[tuple[str, int], str], s: stats.Settings = stats.Settings()) -> list[dict]:
    """One row per (loss, width, definition) that both sides hold: each side's slope, interval, the
    settings that entered its law (of those analysed) and its outcome; ``primary`` names the primary
    definition of each (loss, width)."""
    def split(named):
        out = {}
        for ds in named.values():
            out.update(by_width(ds))
        return out

    old, new = split(exploratory), split(confirmatory)
    rows = []
    for key in sorted(set(old) & set(new)):
        a, b = definition_laws(old[key], s), definition_laws(new[key], s)
        for n in (n for n in NAMES if n in a and n in b):
            row = {"loss": key[0], "width": key[1], "definition": n + ("*" if n in CURVATURE_ANCHORED else ""),
                   "primary": "yes" if primary.get(key) == n else ""}
            for side, law in (("exploratory", a[n]), ("confirmatory", b[n])):
                e = law["slope"]
                row.update({side: law["outcome"], f"{side}_slope": e.value, f"{side}_lo": e.lo, f"{side}_hi": e.hi,
                            f"{side}_settings": f"{law['n_entered']} of {law['n_settings']}"})
            row["same_outcome"] = "yes" if row["exploratory"] == row["confirmatory"] else "no"
            rows.append(row)
    return rows


def _slope(row: dict, side: str) -> str:
    v, lo, hi = (row[f"{side}_slope"], row[f"{side}_lo"], row[f"{side}_hi"])
    return "none" if not np.isfinite(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def to_markdown(rows: list[dict], s: stats.Settings = stats.Settings()) -> str:
    """The side-by-side table with a header that says what it shows."""
    band = law_band(s)
    lines = ["# The eta laws: exploratory and confirmatory, per onset definition", "",
             f"Slope of log mean lambda_th against log eta (paired bootstrap over the (A, T) settings with an onset "
             f"at every eta, onsets before {s.burn_in:g} T not counted), judged against {band.describe()} as the "
             "reproduction table's law rows are. Exploratory: the runs whose `visible` fits were known when the "
             "other definitions were written; confirmatory: fresh seeds and a fresh training spiral "
             "(docs/preregistration.md). * curvature-anchored: never primary. 'settings': entered the law / "
             "analysed.", "",
             "| loss | width | definition | primary | exploratory | slope [95%] | settings | confirmatory | "
             "slope [95%] | settings | same outcome |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['loss']} | {r['width']} | {r['definition']} | {r['primary']} | {r['exploratory']} | "
                     f"{_slope(r, 'exploratory')} | {r['exploratory_settings']} | {r['confirmatory']} | "
                     f"{_slope(r, 'confirmatory')} | {r['confirmatory_settings']} | {r['same_outcome']} |")
    same = sum(r["same_outcome"] == "yes" for r in rows)
    lines += ["", f"{same} of {len(rows)} (loss, width, definition) rows keep their outcome."]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()

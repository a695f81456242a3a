"""The reproduction table: every claim of the thesis's results (the texts of its figures 3.2, 3.4,
4.1, 4.2 and 4.6 in sections 3.4, 4.1, 4.2.2 and 4.3.2, and the eta law of eq. 3.10) beside our
measurement, with a machine-checked verdict.

Each accuracy claim names a study, a width, a quantity (final train or test accuracy) and a region
of the (A, T) plane with a reduction: ``at`` (A = 1: the static loss, every T of the grid pooled),
``best`` (the grid point of the region with the highest seed mean) or ``worst`` (the lowest: "for
any T"). The measured value is the mean over the runs that did not diverge, with the standard
deviation, the true number of seeds, the number of grid points pooled and the number of diverged
runs listed separately. Each claim holds a comparator (:class:`Target`, :class:`AtLeast`,
:class:`Exceeds`, :class:`Below`) whose source in the thesis is stated in the claim, and the row's
verdict is ``reproduced``, ``not reproduced`` or ``not run`` (the study or width was not run).

The eta-law claims (lambda_th proportional to 1/eta, thesis eq. 3.10, for figures 3.6, 4.4, 4.8)
are rows of the same table, read from each thresholds study's ``<study>_fit.csv``: reproduced when
the 95% confidence interval of the fitted slope contains -1.

Tolerances: the thesis quotes values read off its contour plots as "~v". The project reads "~v" as
``|measured - v| <= 0.05`` (:data:`TILDE`) for every row alike; this was fixed from the wording
before any comparison and is never adjusted per row. Values are reported as measured.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import xarray as xr

from .reproduction_format import (COLUMNS, NOT_REPRODUCED, NOT_RUN, REPRODUCED, read_fit_csv, summary,  # noqa: F401
                                  to_csv, to_html, to_markdown)

#: the project's reading of the thesis's "~v": |measured - v| <= TILDE (the same for every claim)
TILDE = 0.05

@dataclass(frozen=True)
class Target:
    """``|measured - value| <= tol``: the thesis's "~value"."""

    value: float
    tol: float = TILDE

    def describe(self) -> str:
        return f"|m - {self.value:g}| <= {self.tol:g}"

    def holds(self, m: float, rows: Mapping[str, dict]) -> Optional[bool]:
        return abs(m - self.value) <= self.tol


@dataclass(frozen=True)
class AtLeast:
    """``measured > bound`` (or ``>=`` when ``strict`` is false): the thesis's "> bound"."""

    bound: float
    strict: bool = True

    def describe(self) -> str:
        return f"m {'>' if self.strict else '>='} {self.bound:g}"

    def holds(self, m: float, rows: Mapping[str, dict]) -> Optional[bool]:
        return m > self.bound if self.strict else m >= self.bound


@dataclass(frozen=True)
class Exceeds:
    """``measured > measured of row `other``` (``None`` when the other row has no measurement)."""

    other: str

    def describe(self) -> str:
        return f"m > m[{self.other}]"

    def holds(self, m: float, rows: Mapping[str, dict]) -> Optional[bool]:
        o = _number(rows.get(self.other, {}).get("measured"))
        return None if o is None else m > o


@dataclass(frozen=True)
class Below:
    """``measured < measured of row `other```."""

    other: str

    def describe(self) -> str:
        return f"m < m[{self.other}]"

    def holds(self, m: float, rows: Mapping[str, dict]) -> Optional[bool]:
        o = _number(rows.get(self.other, {}).get("measured"))
        return None if o is None else m < o


@dataclass(frozen=True)
class CIContains:
    """The 95% confidence interval ``[lo, hi]`` of a fitted value contains ``value``."""

    value: float

    def describe(self) -> str:
        return f"95% CI of the slope contains {self.value:g}"


Comparator = Union[Target, AtLeast, Exceeds, Below]


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    study: str
    width: int
    var: str  # final_train_acc | test_acc | final_test_acc
    reduce: str  # at | best | worst
    thesis: str
    check: Comparator
    source: str
    A: tuple[float, float] = (1.0, 1.0)
    T: tuple[float, float] = (0.0, math.inf)
    width_dim: str = "width"  # the Myrtle5 study is by channel count


@dataclass(frozen=True)
class LawClaim:
    """lambda_th proportional to eta^-1 for one thresholds study (a row per width in its fit CSV)."""

    study: str
    text: str
    source: str
    check: CIContains = CIContains(-1.0)


TRAIN, TEST = "final_train_acc", "test_acc"
INF = math.inf
T34 = "thesis sec. 3.4.2, text of fig. 3.4"
T42 = "thesis sec. 4.2, text of fig. 4.2"
T46 = "thesis sec. 4.3, text of fig. 4.6"
TIL = f"'~' read as +-{TILDE:g}"

CLAIMS: tuple[Claim, ...] = (
    Claim("ce_w100_A1_train", "CE, width 100, A = 1: train accuracy", "fig3_4", 100, TRAIN, "at", "~0.65",
          Target(0.65), f"{T34}: 'precisiones de entrenamiento y validacion de ~0,65'; {TIL}"),
    Claim("ce_w100_A1_test", "CE, width 100, A = 1: test accuracy", "fig3_4", 100, TEST, "at", "~0.65",
          Target(0.65), f"{T34}: 'precisiones de entrenamiento y validacion de ~0,65'; {TIL}"),
    Claim("ce_w100_osc_train", "CE, width 100, 5 <~ A <~ 20, T <~ 300: train accuracy", "fig3_4", 100, TRAIN,
          "best", "~1", Target(1.0), f"{T34}: 'precision de entrenamiento es casi perfecta'; {TIL}", (5, 20), (0, 300)),
    Claim("ce_w100_osc_test", "CE, width 100, 5 <~ A <~ 20, T <~ 300: test accuracy", "fig3_4", 100, TEST, "best",
          "~0.9", Target(0.9), f"{T34}: 'precision de evaluacion alcanza valores de ~0,9'; {TIL}", (5, 20), (0, 300)),
    Claim("ce_w1000_A1_train", "CE, width 1000, A = 1: train accuracy", "fig3_4", 1000, TRAIN, "at", "~1",
          Target(1.0), f"{T34}: 'la precision de entrenamiento alcanza valores de ~1' at A = 1; {TIL}"),
    Claim("ce_w1000_A1_test", "CE, width 1000, A = 1: test accuracy", "fig3_4", 1000, TEST, "at",
          "lower than with oscillations", Below("ce_w1000_osc_test"),
          f"{T34}: 'la precision de evaluacion es superior en la funcion de perdida dinamica'"),
    Claim("ce_w1000_osc_test", "CE, width 1000, 5 <~ A <~ 25, T <~ 700: test accuracy", "fig3_4", 1000, TEST,
          "best", "higher than at A = 1", Exceeds("ce_w1000_A1_test"),
          f"{T34}: 'la precision de evaluacion es superior en la funcion de perdida dinamica'", (5, 25), (0, 700)),
    Claim("mse_w100_train", "static MSE, width 100: train accuracy", "fig4_1", 100, TRAIN, "at", "~0.8",
          Target(0.8), f"thesis sec. 4.1, text of fig. 4.1: 'no alcanza valores de precision ... (~0,8)'; {TIL}"),
    Claim("mse_w700_train", "static MSE, width 700: train accuracy", "fig4_1", 700, TRAIN, "at", "~0.95",
          Target(0.95), f"{T42}: 'con una precision de entrenamiento y de evaluacion ~0,95' at A = 1 (the text "
          f"of fig. 4.1 says ~1: both inside the tolerance); {TIL}"),
    Claim("v1_w100_train", "MSE v1, width 100, 10 <~ A <~ 60, 100 <~ T <~ 1000: train accuracy", "fig4_2", 100,
          TRAIN, "best", "up to ~0.98", Target(0.98), f"{T42}: 'se alcanzan valores de hasta ~0,98'; {TIL}",
          (10, 60), (100, 1000)),
    Claim("v1_w100_test", "MSE v1, width 100, same region: test accuracy", "fig4_2", 100, TEST, "best", "~0.95",
          Target(0.95), f"{T42}: 'buena precision de evaluacion en las mismas regiones, con valores de ~0,95'; "
          f"{TIL}", (10, 60), (100, 1000)),
    Claim("v1_w700_train", "MSE v1, width 700, A > 1: train accuracy", "fig4_2", 700, TRAIN, "best", "~0.98",
          Target(0.98), f"{T42}: 'se incrementa la precision de entrenamiento, tomando valores de ~0,98'; {TIL}",
          (1.0001, INF)),
    Claim("v1_w700_test", "MSE v1, width 700, A > 1: test accuracy", "fig4_2", 700, TEST, "best", "~0.97",
          Target(0.97), f"{T42}: 'En la evaluacion ... alcanzando valores de ~0,97'; {TIL}", (1.0001, INF)),
    Claim("v2_w100_train", "MSE v2, width 100, A > 1: train accuracy", "fig4_6", 100, TRAIN, "best", "~0.98",
          Target(0.98), f"{T46}: 'pasando de una precision de ~0,8 a una de ~0,98'; {TIL}", (1.0001, INF)),
    Claim("v2_w100_anyT_train", "MSE v2, width 100, 10 <~ A <~ 40, any T: train accuracy (lowest)", "fig4_6", 100,
          TRAIN, "worst", "> 0.9", AtLeast(0.9),
          f"{T46}: 'la region (10 <~ A <~ 40), donde la precision es > 0,9 para cualquier valor de T'", (10, 40)),
    Claim("v2_w100_test", "MSE v2, width 100, A ~ 10, T ~ 5000: test accuracy", "fig4_6", 100, TEST, "best",
          "~0.97", Target(0.97), f"{T46}: 'una pequena region en (A ~ 10, T ~ 5000), ... precision de ~97'; "
          f"{TIL}; region read as 5 <= A <= 15, 2500 <= T <= 7500", (5, 15), (2500, 7500)),
    Claim("v2_w700_A1_train", "MSE v2, width 700, A = 1: train accuracy", "fig4_6", 700, TRAIN, "at", "~0.95",
          Target(0.95), f"{T46}: 'la precision de entrenamiento de ~0,95'; {TIL}"),
    Claim("v2_w700_train", "MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: train accuracy", "fig4_6", 700, TRAIN,
          "best", "~0.97", Target(0.97), f"{T46}: 'se ve incrementada ligeramente a ~0,97'; {TIL}; A ~ 10 read "
          "as 5 <= A <= 15", (5, 15), (7500, 12500)),
    Claim("v2_w700_A1_test", "MSE v2, width 700, A = 1: test accuracy", "fig4_6", 700, TEST, "at", "~0.95",
          Target(0.95), f"{T46}: 'aumentando la precision de ~0,95'; {TIL}"),
    Claim("v2_w700_test", "MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: test accuracy", "fig4_6", 700, TEST,
          "best", "~0.98", Target(0.98), f"{T46}: '... a ~0,98'; {TIL}; A ~ 10 read as 5 <= A <= 15",
          (5, 15), (7500, 12500)),
    Claim("myrtle_A1_test", "Myrtle5 / CIFAR-10, dynamical CE, A = 1: test accuracy", "fig3_2", 64,
          "final_test_acc", "at", "~0.73", Target(0.73),
          f"thesis sec. 3.4.1, text of fig. 3.2: 'la precision de validacion toma valores mas modestos (~0,73)'; "
          f"{TIL}",
          width_dim="channels"),
    Claim("myrtle_osc_test", "Myrtle5 / CIFAR-10, 25 <~ A <~ 70, T <~ 250: test accuracy", "fig3_2", 64,
          "final_test_acc", "best", "~0.79", Target(0.79),
          f"thesis sec. 3.4.1, text of fig. 3.2: 'precision de validacion que alcanza valores de ~0,79'; {TIL}",
          (25, 70), (0, 250), width_dim="channels"),
)

LAW_CLAIMS: tuple[LawClaim, ...] = (
    LawClaim("fig3_6", "dynamical CE: lambda_th ~ eta^-1 (fitted slope -1)",
             "thesis eq. 3.10 and fig. 3.6: 'lambda_max^Th proporcional a eta^-1'"),
    LawClaim("fig4_4", "MSE v1: lambda_th ~ eta^-1 (fitted slope -1)",
             "thesis sec. 4.2, fig. 4.4: 'una relacion inversamente proporcional tal que lambda ~ eta^-1'"),
    LawClaim("fig4_8", "MSE v2: lambda_th ~ eta^-1 (fitted slope -1)",
             "thesis sec. 4.3, fig. 4.8: 'una relacion inversamente proporcional tal que lambda ~ eta^-1'"),
)

def _number(v) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _grid(ds: xr.Dataset, var: str, width: int, wdim: str = "width") -> Optional[xr.DataArray]:
    """``var`` at ``width`` as (A, T, seed), diverged runs set to NaN; ``None`` if not in ``ds``."""
    if var not in ds or wdim not in ds.coords or width not in np.atleast_1d(ds[wdim].values):
        return None
    da = ds[var]
    if "diverged" in ds:
        da = da.where(~ds["diverged"].astype(bool))
    da = da.sel({wdim: width}) if wdim in da.dims else da
    drop = [d for d in da.dims if d not in ("A", "T", "seed") and da.sizes[d] == 1]
    da = da.squeeze(drop)
    for d in ("A", "T"):
        if d not in da.dims:
            da = da.expand_dims({d: np.atleast_1d(ds[d].values) if d in ds.coords else [np.nan]})
    if "seed" not in da.dims:
        da = da.expand_dims(seed=[0])
    return da.transpose("A", "T", "seed")


def measure(claim: Claim, ds: xr.Dataset) -> dict:
    """One table row without its verdict: the measured mean, spread, counts and where it was taken.

    Args:
        claim: the claim to measure.
        ds: the claim's study dataset (dims ``width, A, T, seed`` and scalar ones).

    Returns:
        The row as a dict (keys of :data:`COLUMNS`); ``measured`` is empty when the study did not
        cover the claim or every run of the region diverged (``note`` says which).
    """
    row = {"claim": claim.text, "study": claim.study, "width": claim.width, "quantity": claim.var,
           "thesis": claim.thesis, "comparator": claim.check.describe(), "source": claim.source}
    da = _grid(ds, claim.var, claim.width, claim.width_dim)
    if da is None:
        row["note"] = f"{claim.width_dim} {claim.width} not in the study"
        return row
    A, T = da["A"].values.astype(float), da["T"].values.astype(float)
    in_a = (A >= claim.A[0]) & (A <= claim.A[1]) if claim.reduce != "at" else (A == 1.0)
    in_t = (T >= claim.T[0]) & (T <= claim.T[1]) | np.isnan(T)
    if not in_a.any() or not in_t.any():
        row.update({"region_points": 0, "note": "no grid point in the claim's region"})
        return row
    vals = da.values[np.ix_(in_a, in_t)]  # (a, t, seed), NaN where diverged or not run
    seeds = da["seed"].values
    finite = np.isfinite(vals)
    n_total = int(vals.size)
    row["region_points"] = int(in_a.sum() * in_t.sum())
    if not finite.any():
        row.update({"n_runs": 0, "n_diverged": n_total, "points_pooled": row["region_points"],
                    "note": f"all {n_total} runs diverged"})
        return row
    if claim.reduce == "at":  # A = 1: every T is the same static loss; pool them
        i, j = 0, 0
        sel, ok = vals, finite
        pooled = int(finite.any(axis=-1).sum())
    else:
        with warnings.catch_warnings():  # an all-diverged grid point is a NaN mean, never picked
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(vals, axis=-1)
        pick = np.nanargmax if claim.reduce == "best" else np.nanargmin
        i, j = np.unravel_index(pick(means), means.shape)
        sel, ok = vals[i, j], finite[i, j]
        pooled = 1
    x = sel[ok]
    n_div = int(sel.size - x.size)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
    seed_idx = np.nonzero(ok.reshape(-1, ok.shape[-1]).any(axis=0))[0]
    row.update({"measured": round(float(np.mean(x)), 4), "spread_sd": round(sd, 4) if math.isfinite(sd) else "",
                "n_seeds": int(len(np.unique(seeds[seed_idx]))), "points_pooled": pooled,
                "n_runs": int(x.size), "n_diverged": n_div, "at_A": float(A[in_a][i]),
                "at_T": "" if claim.reduce == "at" else float(T[in_t][j])})
    if n_div:
        row["note"] = f"{n_div} of {sel.size} runs diverged (left out)"
    return row


def judge(claim: Union[Claim, LawClaim], row: dict, rows: Mapping[str, dict]) -> str:
    """The verdict of a measured row: ``not run`` when its study or width was not run (or the
    row it is compared with was not), ``not reproduced`` when every run diverged or the
    comparator fails, else ``reproduced``."""
    if isinstance(claim, LawClaim):
        lo, hi = _number(row.get("ci_lo")), _number(row.get("ci_hi"))
        if lo is None or hi is None:
            return NOT_REPRODUCED
        return REPRODUCED if lo <= claim.check.value <= hi else NOT_REPRODUCED
    m = _number(row.get("measured"))
    if m is None:
        return NOT_REPRODUCED if row.get("n_diverged") else NOT_RUN
    ok = claim.check.holds(m, rows)
    if ok is None:
        return NOT_RUN
    return REPRODUCED if ok else NOT_REPRODUCED


def law_rows(claim: LawClaim, fit_rows: Sequence[Mapping[str, str]]) -> list[dict]:
    """Rows of an eta-law claim from its fit table, one per (width, onset definition).

    Args:
        claim: the eta-law claim.
        fit_rows: the rows of ``<study>_fit.csv`` as read by ``csv.DictReader`` (with or without an
            ``onset`` column naming the onset definition); the pooled ``width == "all"`` row is skipped.

    Returns:
        Table rows (keys of :data:`COLUMNS`) with the slope as ``measured`` and its CI.
    """
    out = []
    for f in fit_rows:
        if str(f.get("width", "")) == "all":
            continue
        onset = f.get("onset") or ""
        slope, lo, hi = (_number(f.get(k)) for k in ("slope", "slope_lo", "slope_hi"))
        row = {"claim": claim.text + (f" [onset: {onset}]" if onset else ""), "study": claim.study,
               "width": f.get("width", ""), "quantity": "slope of log lambda_th vs log eta",
               "thesis": "-1", "comparator": claim.check.describe(), "source": claim.source,
               "n_runs": f.get("n_fit", ""), "n_diverged": f.get("n_diverged", ""),
               }
        if slope is not None:
            row.update({"measured": round(slope, 4), "ci_lo": round(lo, 4) if lo is not None else "",
                        "ci_hi": round(hi, 4) if hi is not None else ""})
        notes = [f"onset in {f.get('n_onset', '?')} of {f.get('n_runs', '?')} runs"]
        if f.get("note"):
            notes.append(f"no fit: {f['note']}")
        row["note"] = "; ".join(notes)
        out.append(row)
    return out


def table(datasets: Mapping[str, xr.Dataset], scale: str, claims: Sequence[Claim] = CLAIMS,
          fits: Optional[Mapping[str, Sequence[Mapping[str, str]]]] = None,
          law_claims: Sequence[LawClaim] = LAW_CLAIMS) -> list[dict]:
    """The table: one row per accuracy claim, then one per (thresholds study, width, onset).

    Args:
        datasets: study name -> its combined dataset (absent studies give ``not run`` rows).
        scale: the scale label written in every row.
        claims: the accuracy claims.
        fits: thresholds study name -> the rows of its fit CSV (absent: a ``not run`` row).
        law_claims: the eta-law claims.

    Returns:
        Rows with every key of :data:`COLUMNS`, verdicts filled in.
    """
    fits = fits or {}
    measured: dict[str, dict] = {}
    for c in claims:
        if c.study in datasets:
            measured[c.key] = measure(c, datasets[c.study])
        else:
            measured[c.key] = {"claim": c.text, "study": c.study, "width": c.width, "quantity": c.var,
                               "thesis": c.thesis, "comparator": c.check.describe(), "source": c.source,
                               "note": f"study {c.study} not run"}
    rows = []
    for c in claims:
        row = dict(measured[c.key], verdict=judge(c, measured[c.key], measured), scale=scale)
        rows.append({k: row.get(k, "") for k in COLUMNS})
    for lc in law_claims:
        lrows = law_rows(lc, fits[lc.study]) if lc.study in fits else []
        if not lrows:
            lrows = [{"claim": lc.text, "study": lc.study, "quantity": "slope of log lambda_th vs log eta",
                      "thesis": "-1", "comparator": lc.check.describe(), "source": lc.source,
                      "note": f"study {lc.study} not run", "verdict": NOT_RUN}]
        for row in lrows:
            row.setdefault("verdict", judge(lc, row, measured))
            row["scale"] = scale
            rows.append({k: row.get(k, "") for k in COLUMNS})
    return rows

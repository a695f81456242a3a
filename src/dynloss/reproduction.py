"""The reproduction table: every claim of SPEC's "What the thesis reports" beside our measurement.

Each claim names a study, a width, a quantity (final train or test accuracy) and a region of the
(A, T) plane with a reduction: ``at`` (A = 1: the static loss), ``best`` (the grid point of the
region with the highest seed mean) or ``worst`` (the lowest: "for any T"). The measured value is
the mean over seeds at the selected grid point, with the standard deviation over seeds and the
number of seeds; the table also says where in the grid the value was taken and at which scale.
Claims whose study is absent from the configuration are listed with an empty measurement.
Values are reported as measured, never adjusted toward the thesis.
"""
from __future__ import annotations

import csv
import html
import io as _io
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import xarray as xr


@dataclass(frozen=True)
class Claim:
    text: str
    study: str
    width: int
    var: str  # final_train_acc | test_acc
    reduce: str  # at | best | worst
    thesis: str
    A: tuple[float, float] = (1.0, 1.0)
    T: tuple[float, float] = (0.0, math.inf)
    width_dim: str = "width"  # the Myrtle5 study is by channel count


TRAIN, TEST = "final_train_acc", "test_acc"
INF = math.inf

CLAIMS: tuple[Claim, ...] = (
    Claim("CE, width 100, A = 1: train accuracy", "fig3_4", 100, TRAIN, "at", "~0.65"),
    Claim("CE, width 100, A = 1: test accuracy", "fig3_4", 100, TEST, "at", "~0.65"),
    Claim("CE, width 100, 5 <~ A <~ 20, T <~ 300: train accuracy", "fig3_4", 100, TRAIN, "best", "~1",
          (5, 20), (0, 300)),
    Claim("CE, width 100, 5 <~ A <~ 20, T <~ 300: test accuracy", "fig3_4", 100, TEST, "best", "~0.9",
          (5, 20), (0, 300)),
    Claim("CE, width 1000, A = 1: train accuracy", "fig3_4", 1000, TRAIN, "at", "~1"),
    Claim("CE, width 1000, A = 1: test accuracy (baseline for the next row)", "fig3_4", 1000, TEST, "at",
          "lower than with oscillations"),
    Claim("CE, width 1000, 5 <~ A <~ 25, T <~ 700: test accuracy", "fig3_4", 1000, TEST, "best",
          "higher than at A = 1", (5, 25), (0, 700)),
    Claim("static MSE, width 100: train accuracy", "fig4_1", 100, TRAIN, "at", "~0.8"),
    Claim("static MSE, width 700: train accuracy", "fig4_1", 700, TRAIN, "at", "~0.95"),
    Claim("MSE v1, width 100, 10 <~ A <~ 60, 100 <~ T <~ 1000: train accuracy", "fig4_2", 100, TRAIN, "best",
          "up to ~0.98", (10, 60), (100, 1000)),
    Claim("MSE v1, width 100, same region: test accuracy", "fig4_2", 100, TEST, "best", "~0.95",
          (10, 60), (100, 1000)),
    Claim("MSE v1, width 700, A > 1: train accuracy", "fig4_2", 700, TRAIN, "best", "~0.98", (1.0001, INF)),
    Claim("MSE v1, width 700, A > 1: test accuracy", "fig4_2", 700, TEST, "best", "~0.97", (1.0001, INF)),
    Claim("MSE v2, width 100, A > 1: train accuracy", "fig4_6", 100, TRAIN, "best", "~0.98", (1.0001, INF)),
    Claim("MSE v2, width 100, 10 <~ A <~ 40, any T: train accuracy (lowest)", "fig4_6", 100, TRAIN, "worst",
          "> 0.9", (10, 40)),
    Claim("MSE v2, width 100, A ~ 10, T ~ 5000: test accuracy", "fig4_6", 100, TEST, "best", "~0.97",
          (5, 15), (2500, 7500)),
    Claim("MSE v2, width 700, A = 1: train accuracy", "fig4_6", 700, TRAIN, "at", "~0.95"),
    Claim("MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: train accuracy", "fig4_6", 700, TRAIN, "best",
          "~0.97", (5, 15), (7500, 12500)),
    Claim("MSE v2, width 700, A = 1: test accuracy", "fig4_6", 700, TEST, "at", "~0.95"),
    Claim("MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: test accuracy", "fig4_6", 700, TEST, "best",
          "~0.98", (5, 15), (7500, 12500)),
    Claim("Myrtle5 / CIFAR-10, dynamical CE, A = 1: test accuracy", "fig3_2", 64, "final_test_acc", "at",
          "~0.73", width_dim="channels"),
    Claim("Myrtle5 / CIFAR-10, 25 <~ A <~ 70, T <~ 250: test accuracy", "fig3_2", 64, "final_test_acc", "best",
          "~0.79", (25, 70), (0, 250), width_dim="channels"),
)

COLUMNS = ["claim", "study", "width", "quantity", "thesis", "measured", "spread_sd", "n_seeds",
           "at_A", "at_T", "grid_points", "scale"]


def _grid(ds: xr.Dataset, var: str, width: int, wdim: str = "width") -> Optional[xr.DataArray]:
    if var not in ds or wdim not in ds.coords or width not in np.atleast_1d(ds[wdim].values):
        return None
    da = ds[var].sel({wdim: width}) if wdim in ds[var].dims else ds[var]
    drop = [d for d in da.dims if d not in ("A", "T", "seed") and da.sizes[d] == 1]
    da = da.squeeze(drop)
    for d in ("A", "T"):
        if d not in da.dims:
            da = da.expand_dims({d: np.atleast_1d(ds[d].values) if d in ds.coords else [np.nan]})
    return da.transpose("A", "T", "seed")


def measure(claim: Claim, ds: xr.Dataset) -> dict:
    """One table row: the measured mean, spread and where it was taken."""
    row = {"claim": claim.text, "study": claim.study, "width": claim.width, "quantity": claim.var,
           "thesis": claim.thesis}
    da = _grid(ds, claim.var, claim.width, claim.width_dim)
    if da is None:
        return row
    A, T = da["A"].values.astype(float), da["T"].values.astype(float)
    in_a = (A >= claim.A[0]) & (A <= claim.A[1]) if claim.reduce != "at" else (A == 1.0)
    in_t = (T >= claim.T[0]) & (T <= claim.T[1]) | np.isnan(T)
    if not in_a.any() or not in_t.any():
        row["measured"] = ""
        row["grid_points"] = 0
        return row
    vals = da.values[np.ix_(in_a, in_t)]  # (a, t, seed)
    means = np.nanmean(vals, axis=-1)
    if claim.reduce == "at":  # A = 1: every T is the same static loss; pool them
        flat = vals.reshape(-1)
        flat = flat[np.isfinite(flat)]
        i, j = 0, 0
        mean, sd, n = float(np.mean(flat)), float(np.std(flat, ddof=1)) if flat.size > 1 else math.nan, int(flat.size)
    else:
        pick = np.nanargmax if claim.reduce == "best" else np.nanargmin
        i, j = np.unravel_index(pick(means), means.shape)
        seeds = vals[i, j][np.isfinite(vals[i, j])]
        mean = float(np.mean(seeds))
        sd = float(np.std(seeds, ddof=1)) if seeds.size > 1 else math.nan
        n = int(seeds.size)
    row.update({"measured": round(mean, 4), "spread_sd": round(sd, 4) if math.isfinite(sd) else "",
                "n_seeds": n, "at_A": float(A[in_a][i]),
                "at_T": "" if claim.reduce == "at" else float(T[in_t][j]),
                "grid_points": int(in_a.sum() * in_t.sum())})
    return row


def table(datasets: dict[str, xr.Dataset], scale: str, claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    rows = []
    for c in claims:
        row = measure(c, datasets[c.study]) if c.study in datasets else {
            "claim": c.text, "study": c.study, "width": c.width, "quantity": c.var, "thesis": c.thesis}
        row["scale"] = scale
        rows.append({k: row.get(k, "") for k in COLUMNS})
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_html(rows: list[dict], note: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in COLUMNS) + "</tr>"
                   for r in rows)
    return (f"<html><body><p>{html.escape(note)}</p><table border='1' cellpadding='3'>"
            f"<tr>{head}</tr>{body}</table></body></html>")

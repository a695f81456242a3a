"""The reproduction table: each claim of :mod:`dynloss.verdicts.claims` measured on whatever data
has its protocol, with an interval over seeds and an outcome (docs/verdicts.md).

Inputs are combined study datasets (contour, curves), ``confirm`` datasets (fresh seeds at a
chosen point, keyed by :func:`confirm_key`), dynamics datasets and thresholds datasets; a claim
reads every dataset with its protocol, not one study by name.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import xarray as xr

from . import stats
from .claims import CLAIMS, LAW_CLAIMS, Claim, LawClaim, Protocol, needs_fresh_seeds
from .law import law_estimate

STATIC = {"dce": "ce", "ce": "ce", "dmse1": "mse", "dmse2": "mse", "mse": "mse"}

COLUMNS = ["claim", "figure", "verdict", "outcome", "thesis", "band", "estimate", "ci_lo", "ci_hi", "interval",
           "n_seeds", "thesis_seeds", "at_A", "at_T", "chosen_on", "region_points", "n_diverged", "seeds_to_decide",
           "data", "note", "source", "scale"]


@dataclass
class Inputs:
    """Everything the table reads: datasets by name (studies), confirm datasets by key, dynamics
    and thresholds datasets by study name."""

    studies: Mapping[str, xr.Dataset] = field(default_factory=dict)
    confirm: Mapping[str, xr.Dataset] = field(default_factory=dict)
    dynamics: Mapping[str, xr.Dataset] = field(default_factory=dict)
    thresholds: Mapping[str, xr.Dataset] = field(default_factory=dict)
    primary: Mapping[str, str] = field(default_factory=dict)  # thresholds study -> primary definition


def study_steps(ds: xr.Dataset) -> Optional[int]:
    """The steps of a combined study dataset (its study config, else the jobs' attribute)."""
    try:
        return int(json.loads(ds.attrs["config"])["study_config"]["steps"])
    except (KeyError, ValueError, TypeError):
        return int(ds.attrs["steps"]) if "steps" in ds.attrs else None


def _loss(ds: xr.Dataset) -> str:
    return str(np.atleast_1d(ds["loss"].values).ravel()[0])


def _matches(ds: xr.Dataset, p: Protocol, static: bool) -> bool:
    """Whether ``ds`` has runs of protocol ``p`` (at A = 1 any loss of the same static family)."""
    if "loss" not in ds.coords or "width" not in ds.coords or "lr" not in ds.coords:
        return False
    loss = _loss(ds)
    same_loss = STATIC.get(loss) == STATIC.get(p.loss) if static else loss == p.loss
    return (same_loss and p.width in np.atleast_1d(ds["width"].values)
            and math.isclose(float(np.atleast_1d(ds["lr"].values)[0]), p.lr) and study_steps(ds) == p.steps)


def grid(ds: xr.Dataset, quantity: str, width: int) -> xr.DataArray:
    """``quantity`` at ``width`` with dims (A, T, seed); diverged runs NaN."""
    da = ds[quantity]
    if "diverged" in ds:
        da = da.where(~ds["diverged"].astype(bool))
    if "width" in da.dims:
        da = da.sel(width=width)
    da = da.squeeze([d for d in da.dims if d not in ("A", "T", "seed") and da.sizes[d] == 1])
    for d in ("A", "T"):
        if d not in da.dims:
            da = da.expand_dims({d: [float(ds[d].values)] if d in ds.coords else [1.0]})
    return da.transpose("A", "T", "seed")


def static_runs(inputs: Inputs, p: Protocol, quantity: str) -> tuple[dict[int, float], list[str], int]:
    """A = 1 runs of protocol ``p``'s static family, one value per seed (a seed seen in several
    datasets, or at several T, is the same run: counted once), the datasets read and the number
    of diverged seeds."""
    values: dict[int, float] = {}
    diverged: set[int] = set()
    used = []
    for name, ds in inputs.studies.items():
        if not _matches(ds, p, static=True) or "A" not in ds.coords or 1.0 not in np.atleast_1d(ds["A"].values):
            continue
        g = grid(ds, quantity, p.width).sel(A=1.0)
        t0 = ds.attrs.get("static_trained_T")
        cols = [g.sel(T=float(t0))] if t0 is not None else [g.isel(T=j) for j in range(g.sizes["T"])]
        before = len(values) + len(diverged)
        for col in cols:
            for s, v in zip(col["seed"].values, col.values):
                s = int(s)
                if s in values or s in diverged:
                    continue
                if np.isfinite(v):
                    values[s] = float(v)
                elif "diverged" in ds:
                    diverged.add(s)
        if len(values) + len(diverged) > before:
            used.append(name)
    return values, used, len(diverged)


def confirm_key(c: Claim) -> str:
    """The ``confirm`` job of a claim: claims that choose the same kind of point share it."""
    p = c.protocol
    pick = "worst" if c.where == "worst" else "best"
    return (f"{p.loss}_w{p.width}_{'train' if c.quantity.endswith('train_acc') else 'test'}_{pick}"
            f"_A{c.A[0]:g}-{c.A[1]:g}_T{c.T[0]:g}-{c.T[1]:g}").replace("inf", "max").replace(".", "p")


def choose(c: Claim, inputs: Inputs) -> Optional[dict]:
    """The grid point a best/worst/gain claim is judged at, chosen on the study's seeds: the
    region point with the highest (lowest for ``worst``) mean of the claim's quantity.

    Returns:
        ``{"study", "A", "T", "mean", "n", "points", "seeds"}`` or ``None`` without data.
    """
    best = None
    for name, ds in inputs.studies.items():
        if not _matches(ds, c.protocol, static=False) or "A" not in ds.coords:
            continue
        g = grid(ds, c.quantity, c.protocol.width)
        A, T = g["A"].values, g["T"].values
        # the width's own grid: another width's points are not "not run" (nor is A = 1, shared with every T)
        ran = np.isfinite(g.values).any(axis=-1) & (A != 1.0)[:, None]
        ina = (A >= c.A[0]) & (A <= c.A[1]) & (A != 1.0) & ran.any(axis=1)
        int_ = (T >= c.T[0]) & (T <= c.T[1]) & ran.any(axis=0)
        sub = g.values[np.ix_(ina, int_)]
        with warnings.catch_warnings():  # an all-NaN point (not run, or every seed diverged) is never picked
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(sub, axis=-1)
        if not np.isfinite(means).any():
            continue
        pick = np.nanargmin if c.where == "worst" else np.nanargmax
        i, j = np.unravel_index(pick(means), means.shape)
        cand = {"study": name, "A": float(A[ina][i]), "T": float(T[int_][j]), "mean": float(means[i, j]),
                "n": int(np.isfinite(sub[i, j]).sum()), "points": int(np.isfinite(means).sum()),
                "missing": int((~np.isfinite(means)).sum()), "seeds": g["seed"].values}
        if best is None or (cand["mean"] < best["mean"] if c.where == "worst" else cand["mean"] > best["mean"]):
            best = cand
    return best


def _row(c, **kw) -> dict:
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
    return stats.Band(0.0, math.inf) if c.value > 0 else stats.Band(-math.inf, 0.0)


def _judge(row: dict, e: stats.Estimate, band: stats.Band, thesis_seeds: int, partly: str = "") -> dict:
    out = stats.outcome(e, band)
    row.update({"estimate": round(e.value, 4), "ci_lo": _r(e.lo), "ci_hi": _r(e.hi), "interval": e.method,
                "n_seeds": e.n, "thesis_seeds": thesis_seeds, "outcome": out})
    if out == stats.INCONCLUSIVE:
        need = stats.seeds_to_decide(e, band)
        row["seeds_to_decide"] = need if need is not None else ""
    if e.n < thesis_seeds and not partly:
        partly = f"{e.n} of the thesis's {thesis_seeds} seeds"
    row["verdict"] = f"{stats.PARTLY}: {out} ({partly})" if partly else out
    return row


def _r(v: float):
    return round(v, 4) if math.isfinite(v) else ""


def measure(c: Claim, inputs: Inputs, s: stats.Settings) -> dict:
    """One row: the claim's estimate, interval, outcome and what it was read from."""
    band = band_of(c, s)
    row = _row(c, band=band.describe())
    if c.where in ("ntk_change", "lambda_floor"):
        return _at_onset(c, inputs, s, row, band)
    if c.protocol is None and c.where != "final":
        return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN,
                "note": "needs the CIFAR-10 folder (config key studies.fig3_2.cifar_dir) and, at paper scale, a GPU"}
    if c.where == "final":
        ds = inputs.dynamics.get(c.figure)
        if ds is None:
            return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "note": f"study {c.figure} not run"}
        x = np.atleast_1d(ds[c.quantity].values).astype(float)
        return _judge({**row, "data": c.figure, "note": "one run, as in the thesis: no interval"},
                      stats.t_interval(x), band, c.thesis_seeds)
    if c.where == "static":
        vals, used, n_div = static_runs(inputs, c.protocol, c.quantity)
        if not vals:
            return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "n_diverged": n_div,
                    "note": f"no A = 1 runs of {c.protocol}"}
        x = np.array([vals[k] for k in sorted(vals)])
        note = "each seed once (A = 1 is the same run at every T and for every loss of its static family)"
        if c.shares:
            note += f"; the same measurement as {c.shares}"
        return _judge({**row, "data": ", ".join(used), "n_diverged": n_div, "at_A": 1.0, "note": note},
                      stats.mean_interval(x, s), band, c.thesis_seeds)
    if c.where == "trend":
        return _trend(c, inputs, s, row, band)
    return _chosen(c, inputs, s, row, band)


#: steps before and after the onset over which the NTK eigenvalue is averaged (``ntk_change``)
NTK_WINDOW = 500


def _at_onset(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """A dynamics run's statistic at its primary onset: the NTK lambda_max's relative change across it
    (``ntk_change``) or lambda_max's minimum after it over lambda_th (``lambda_floor``). One run."""
    ds = inputs.dynamics.get(c.figure)
    if ds is None:
        return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "note": f"study {c.figure} not run"}
    for d in ("seed", "run"):
        if d in ds.dims:
            ds = ds.isel({d: 0})
    name = ds.attrs.get("primary_onset", "") or "visible"
    var = f"onset_step_{name}" if f"onset_step_{name}" in ds else "onset_step"
    t = int(ds[var]) if var in ds else -1
    if c.quantity not in ds:
        return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "data": c.figure,
                "note": f"the run has no {c.quantity}"}
    if t < 0:  # measured, but the statistic needs an onset the primary definition did not find
        return {**row, "verdict": stats.INCONCLUSIVE, "outcome": stats.INCONCLUSIVE, "data": c.figure,
                "note": f"the primary definition ({name}) found no onset in the run"}
    if c.where == "ntk_change":
        n = ds["ntk_lmax"]
        before = n.sel(step_ntk=slice(t - NTK_WINDOW, t - 1)).mean().item()
        after = n.sel(step_ntk=slice(t, t + NTK_WINDOW)).mean().item()
        x = after / before - 1.0
        note = f"mean over {NTK_WINDOW} steps after the {name} onset (t = {t}) over the mean before it, minus 1"
    else:
        lam_th = float(ds[var.replace("onset_step", "lambda_th")])
        h = ds["hess_eig"].isel(eig=0).sel(step_hess=slice(t, None))
        x = float(h.min()) / lam_th
        note = f"min of lambda_max after the {name} onset (t = {t}) / lambda_th there ({lam_th:.4g})"
    return _judge({**row, "data": c.figure, "note": note + "; one run, as in the thesis: no interval"},
                  stats.t_interval(np.array([x])), band, c.thesis_seeds)


def _chosen(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """best / worst / gain: the point chosen on the study's seeds, judged on fresh seeds."""
    pick = choose(c, inputs)
    if pick is None:
        return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "note": f"no grid point of {c.protocol} "
                f"in A {c.A}, T {c.T}"}
    row.update({"at_A": pick["A"], "at_T": pick["T"], "data": pick["study"],
                "chosen_on": f"{pick['mean']:.4f} on {pick['n']} study seeds",
                "region_points": pick["points"]})
    notes = [] if not pick["missing"] else [f"{pick['missing']} region point(s) not run"]
    if c.protocol.steps % pick["T"]:
        notes.append(f"depends on the stop rule: {c.protocol.steps} steps is not a multiple of T = {pick['T']:g} "
                     "(docs/stop_rule.md)")
    fresh = inputs.confirm.get(confirm_key(c))
    if fresh is not None and not (math.isclose(float(fresh.attrs.get("chosen_A", -1)), pick["A"])
                                  and math.isclose(float(fresh.attrs.get("chosen_T", -1)), pick["T"])):
        notes.append("the fresh seeds were run at another point (rerun confirm)")
        fresh = None
    if fresh is None:
        g = grid(inputs.studies[pick["study"]], c.quantity, c.protocol.width).sel(A=pick["A"], T=pick["T"])
        if c.where == "gain":  # paired with the A = 1 runs of the same study seeds
            static, _, _ = static_runs(inputs, c.protocol, c.quantity)
            x = np.array([v - static[int(sd)] for sd, v in zip(g["seed"].values, g.values) if int(sd) in static])
        else:
            x = g.values
        x = x[np.isfinite(x)]
        row["note"] = "; ".join(notes + ["fresh seeds not run: judged on the seeds that chose the point "
                                         "(winner's curse)"])
        return _judge(row, stats.mean_interval(x, s), band, c.thesis_seeds, partly="fresh seeds not run")
    point = grid(fresh, c.quantity, c.protocol.width).sel(A=pick["A"], T=pick["T"])
    seeds = point["seed"].values
    if c.where == "gain":
        base = grid(fresh, c.quantity, c.protocol.width).sel(A=1.0).isel(T=0)
        diff = point.values - base.sel(seed=seeds).values
        x = diff[np.isfinite(diff)]
        notes.append("paired by fresh seed: the chosen point minus A = 1")
    else:
        x = point.values[np.isfinite(point.values)]
    row["n_diverged"] = int(seeds.size - x.size)
    row["note"] = "; ".join(notes + [f"judged on fresh seeds {int(seeds.min())}-{int(seeds.max())}"])
    return _judge(row, stats.mean_interval(x, s), band, c.thesis_seeds)


def _trend(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """The OLS slope over A (A > 1) of the per-seed mean over T, with its interval over seeds."""
    for name, ds in inputs.studies.items():
        if not _matches(ds, c.protocol, static=False) or "A" not in ds.coords:
            continue
        g = grid(ds, c.quantity, c.protocol.width)
        keep = (g["A"].values >= c.A[0]) & (g["A"].values <= c.A[1])
        if keep.sum() < 2:
            continue
        g = g.isel(A=np.flatnonzero(keep))
        per_seed = np.nanmean(g.values, axis=1).T  # (seed, A)
        A = g["A"].values.astype(float)

        def slope(rows: np.ndarray) -> float:
            y = np.nanmean(rows, axis=0)
            ok = np.isfinite(y)
            return float(np.polyfit(A[ok], y[ok], 1)[0]) if ok.sum() >= 2 else math.nan

        n = per_seed.shape[0]
        e = (stats.bootstrap(per_seed, slope, s.resamples, s.seed) if n >= s.bootstrap_min_seeds
             else stats.t_interval(np.array([slope(r[None]) for r in per_seed])))
        odd = [t for t in g["T"].values if c.protocol.steps % t]
        row.update({"data": name, "region_points": int(g.sizes["A"] * g.sizes["T"]),
                    "note": f"slope of the accuracy (mean over T) against A over A = {', '.join(f'{a:g}' for a in A)}, "
                            "per accuracy unit per unit of A" + (
                                f"; depends on the stop rule at T = {', '.join(f'{t:g}' for t in odd)} "
                                "(docs/stop_rule.md)" if odd else "")})
        return _judge(row, e, band, c.thesis_seeds)
    return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN, "note": f"no grid of {c.protocol} with A > 1"}


def law_row(lc: LawClaim, inputs: Inputs, s: stats.Settings) -> dict:
    """The eta-law row of one thresholds study: its primary definition's slope (docs/verdicts.md)."""
    band = stats.Band(-1 - s.slope_tol, -1 + s.slope_tol)
    row = _row(lc, band=band.describe(), thesis="-1")
    found = _law_data(lc, inputs)
    if found is None:
        return {**row, "verdict": stats.NOT_RUN, "outcome": stats.NOT_RUN,
                "note": f"study {lc.study} not run at width {lc.width}"}
    study, ds = found
    name = inputs.primary.get(study, "visible")
    law = law_estimate(ds, name, s)
    e = law["slope"]
    row.update({"data": study, "figure": study, "claim": f"{lc.text} [primary onset: {name}]",
                "note": (f"{law['n_settings']} (A, T) settings x {law['n_eta']} etas, paired bootstrap over settings; "
                         f"runs with an onset {law['n_onset']} of {law['n_runs']}; lack of fit (rms of log means "
                         f"about the line) {law['lof'].value:.3f} [{law['lof'].lo:.3f}, {law['lof'].hi:.3f}]")})
    partly = (f"{law['n_settings']} of the thesis's {lc.settings} (A, T) settings"
              if law["n_settings"] < lc.settings else "")
    return _judge(row, e, band, 0, partly=partly)


def _law_data(lc: LawClaim, inputs: Inputs) -> Optional[tuple[str, xr.Dataset]]:
    """(study, dataset at the claim's width): the claim's study if it ran that width, else the first
    thresholds study of the claim's loss that did (docs/verdicts.md)."""
    names = [lc.study] + sorted(n for n in inputs.thresholds if n != lc.study)
    for n in names:
        ds = inputs.thresholds.get(n)
        if ds is None or (n != lc.study and lc.loss and lc.loss not in np.atleast_1d(ds["loss"].values)):
            continue
        if "width" not in ds.dims:
            if n == lc.study and lc.width == 100:
                return n, ds
            continue
        if lc.width in ds["width"].values:
            return n, ds.sel(width=lc.width)
    return None


def table(inputs: Inputs, scale: str, settings: stats.Settings = stats.Settings(),
          claims=CLAIMS, law_claims=LAW_CLAIMS) -> list[dict]:
    """Every claim's row, then the eta-law rows, with every key of :data:`COLUMNS`."""
    rows = [measure(c, inputs, settings) for c in claims] + [law_row(lc, inputs, settings) for lc in law_claims]
    return [{k: r.get(k, "") for k in COLUMNS} | {"scale": scale} for r in rows]


def confirm_jobs(claims=CLAIMS) -> dict[str, list[Claim]]:
    """confirm key -> the claims judged on its fresh seeds."""
    out: dict[str, list[Claim]] = {}
    for c in claims:
        if needs_fresh_seeds(c):
            out.setdefault(confirm_key(c), []).append(c)
    return out

"""Measures of the thesis's qualitative claims (added 2026-12-07): each reads a statistic named in the
claim (``Claim.statistic``) and in docs/verdicts.md before its number was computed.

Grid statistics (``fraction``, ``overfit``, ``low_T``) are per seed, then the mean over seeds with the
rules' interval; dynamics statistics (``period_onsets``, ``open_windows``, ``second_eig``, ``ntk_trend``,
``fall_rise``, ``narrows``) read one run (the thesis's figures are one run each): the value, no interval,
inconclusive by the rules until seeds are added; the onset-phase rows (:func:`phase_row`) read every
setting of a thresholds study.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import xarray as xr
from scipy import stats as sps

from ..thresholds import onset
from . import stats
from .claims import Claim, PhaseClaim
from .inputs import Inputs, grid, matches, thresholds_of
from .rows import judge, not_run, row_of, verdict_onset

#: the level a grid point must reach to count as "good" (``fraction``): the thesis's "elevada ... > 0,9"
GOOD = 0.9
#: relative depth of a period's lambda_max minimum below both its ends (``fall_rise``)
DIP = 0.05
#: window of the ``open_windows`` statistic, steps
WINDOW = 100


def _grid_study(c: Claim, inputs: Inputs) -> Optional[tuple[str, xr.Dataset]]:
    for name, ds in inputs.studies.items():
        if matches(ds, c.protocol, static=False) and "A" in ds.coords:
            return name, ds
    return None


def _per_seed(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band, fn, note: str) -> dict:
    """A grid statistic: ``fn(train (A, T, seed) over A > 1, test, T values) -> (seed,)``."""
    if c.protocol is None:
        return not_run(row, "no protocol")
    found = _grid_study(c, inputs)
    if found is None:
        return not_run(row, f"no grid of {c.protocol} with A > 1")
    name, ds = found
    train = grid(ds, "final_train_acc", c.protocol.width)
    test = grid(ds, "test_acc", c.protocol.width)
    keep = (train["A"].values >= c.A[0]) & (train["A"].values <= c.A[1])
    ran = np.isfinite(train.values).any(axis=-1)
    tcols = ran[keep].any(axis=0)
    if keep.sum() < 1 or tcols.sum() < 2:
        return not_run(row, f"fewer than 2 T values with A > 1 in {name}")
    tr = train.values[keep][:, tcols]
    te = test.values[keep][:, tcols]
    x = fn(tr, te, train["T"].values[tcols])
    x = x[np.isfinite(x)]
    row.update({"data": name, "region_points": int(np.isfinite(tr).any(axis=-1).sum()), "note": note})
    return judge(row, stats.mean_interval(x, s), band, c.thesis_seeds, min_seeds=s.bootstrap_min_seeds)


def fraction(c, inputs, s, row, band):
    """Per seed, the fraction of the A > 1 points (run) whose accuracy is >= :data:`GOOD`."""
    def fn(tr, te, T):
        ok = np.isfinite(tr)
        return np.sum((tr >= GOOD) & ok, axis=(0, 1)) / np.maximum(ok.sum(axis=(0, 1)), 1)

    return _per_seed(c, inputs, s, row, band, fn, f"per seed, the fraction of A > 1 points with train accuracy >= "
                     f"{GOOD:g}")


def overfit(c, inputs, s, row, band):
    """Per seed, the mean over the A > 1 points of train minus test accuracy."""
    def fn(tr, te, T):
        with np.errstate(invalid="ignore"):
            return np.nanmean((tr - te).reshape(-1, tr.shape[-1]), axis=0)

    return _per_seed(c, inputs, s, row, band, fn, "per seed, the mean over A > 1 points of train minus test accuracy")


def low_T(c, inputs, s, row, band):
    """Per seed, the mean over A > 1 of the accuracy at the smallest T minus the mean at the other T."""
    def fn(tr, te, T):
        j = int(np.argmin(T))
        others = [k for k in range(tr.shape[1]) if k != j]
        with np.errstate(invalid="ignore"):
            return np.nanmean(tr[:, j], axis=0) - np.nanmean(tr[:, others].reshape(-1, tr.shape[-1]), axis=0)

    return _per_seed(c, inputs, s, row, band, fn, "per seed, mean over A > 1 of the accuracy at the smallest T "
                     "minus that at the other T")


# -- one dynamics run -----------------------------------------------------------------------------------


def _seeds(ds: xr.Dataset) -> list[xr.Dataset]:
    """The runs of a dynamics dataset, one per seed (the thesis's figures: one; a confirmatory study: several)."""
    for d in ("run",):
        if d in ds.dims:
            ds = ds.isel({d: 0})
    if "seed" not in ds.dims:
        return [ds]
    return [ds.isel(seed=i) for i in range(ds.sizes["seed"])]


def oscillating_periods(steps: int, T: int) -> int:
    """How many whole periods oscillate under every stop rule: those that end before the last T steps.

    >>> oscillating_periods(70000, 5000), oscillating_periods(70000, 7500)
    (13, 8)
    """
    return max(0, (steps - T) // T)


def _one(c: Claim, inputs: Inputs, row: dict, band: stats.Band, compute) -> dict:
    """A statistic of each run of the claim's dynamics data (``compute(run) -> (value or None, note)``), the
    mean over the runs with a value and its t-interval (none for one run)."""
    ds = inputs.dynamics.get(c.figure)
    if ds is None:
        return not_run(row, f"study {c.figure} not run")
    if c.quantity not in ds:
        return not_run(row, f"the run has no {c.quantity}", data=c.figure)
    runs = _seeds(ds)
    got = [compute(r) for r in runs]
    values = np.array([v for v, _ in got if v is not None], dtype=float)
    if len(runs) == 1:
        value, note = got[0]
        if value is None:
            return {**row, "verdict": stats.INCONCLUSIVE, "outcome": stats.INCONCLUSIVE, "data": c.figure,
                    "note": note}
        return judge({**row, "data": c.figure, "note": note + "; one run, as in the thesis: no interval"},
                     stats.t_interval(values), band, c.thesis_seeds)
    seeds = [int(r["seed"]) if "seed" in r.coords else i for i, r in enumerate(runs)]
    notes = "; ".join(f"seed {sd}: {n}" for sd, (_, n) in zip(seeds, got))
    if values.size == 0:
        return {**row, "verdict": stats.INCONCLUSIVE, "outcome": stats.INCONCLUSIVE, "data": c.figure,
                "note": notes}
    partly = "" if values.size == len(runs) else f"{values.size} of {len(runs)} runs with a value"
    return judge({**row, "data": c.figure, "note": f"mean over {values.size} runs, t-interval; {notes}"},
                 stats.t_interval(values), band, len(runs), partly=partly)


def _period(ds) -> tuple[int, int]:
    return int(float(ds["T"])), int(ds.attrs.get("steps", ds.sizes.get("step", 0)))


def period_onsets(c, inputs, s, row, band):
    """Per oscillating period, the first apparent alternation inside it; the fraction (of the periods with
    one, or of all periods for an 'every period' claim) in the period's second half."""
    every = "every" in c.key

    def compute(ds):
        T, steps = _period(ds)
        L = np.asarray(ds["L"].values, dtype=float)
        n = oscillating_periods(steps, T)
        phases = []
        for k in range(n):
            seg = L[k * T:(k + 1) * T]
            quiet = np.flatnonzero(_alternation(seg) < onset.APPARENT_LEVEL)  # one carried over from the period
            t = onset.apparent(seg, start=int(quiet[0]) + 1) if quiet.size else -1  # before is not its onset
            phases.append(t / T if t >= 0 else math.nan)
        found = np.isfinite(phases)
        if not found.any():
            return None, f"no alternation in any of the {n} oscillating periods"
        late = np.array(phases)[found] >= 0.5
        value = late.sum() / (n if every else found.sum())
        return float(value), (f"{int(late.sum())} of {int(found.sum())} periods with an alternation have it in their "
                              f"second half; {n} oscillating periods")

    return _one(c, inputs, row, band, compute)


def open_windows(c, inputs, s, row, band):
    """The fraction of 100-step windows from the start of period 5 to the stop with a visible alternation."""
    def compute(ds):
        T, steps = _period(ds)
        L = np.asarray(ds["L"].values, dtype=float)
        start, stop = 4 * T, steps - T
        if stop - start < WINDOW:
            return None, "fewer than 5 oscillating periods"
        e = _alternation(L)[start - 1:stop - 1]
        w = e[: (e.size // WINDOW) * WINDOW].reshape(-1, WINDOW)
        on = np.median(w, axis=1) >= onset.APPARENT_LEVEL
        return float(on.mean()), f"{int(on.sum())} of {on.size} windows, steps {start}-{stop}"

    return _one(c, inputs, row, band, compute)


def _alternation(L: np.ndarray) -> np.ndarray:
    """``|L(t) - (L(t-1) + L(t+1)) / 2| / |L(t)|`` for t = 1 .. len - 2: the relative peak-to-peak size of a
    period-2 alternation (the quantity :func:`dynloss.thresholds.onset.apparent` thresholds)."""
    return np.abs(L[1:-1] - 0.5 * (L[:-2] + L[2:])) / np.abs(L[1:-1])


def _primary(ds, burn_in: float = stats.BURN_IN) -> tuple[str, int, float]:
    """The run's primary onset (a loss-based definition), with an onset before the burn-in counted as none."""
    name = verdict_onset(ds.attrs.get("primary_onset", ""))
    var = f"onset_step_{name}" if f"onset_step_{name}" in ds else "onset_step"
    t = int(ds[var]) if var in ds else -1
    if 0 <= t < burn_in * _period(ds)[0]:
        t = -1
    lam = float(ds[var.replace("onset_step", "lambda_th")]) if t >= 0 else math.nan
    return name, t, lam


def second_eig(c, inputs, s, row, band):
    """The second Hessian eigenvalue's maximum after the primary onset over lambda_th."""
    def compute(ds):
        name, t, lam = _primary(ds)
        if t < 0:
            return None, f"the {name} definition found no onset after the burn-in"
        h = ds["hess_eig"].isel(eig=1).sel(step_hess=slice(t, None))
        return float(h.max()) / lam, f"max of the 2nd eigenvalue after the {name} onset (t = {t}) / {lam:.4g}"

    return _one(c, inputs, row, band, compute)


def ntk_trend(c, inputs, s, row, band):
    """Spearman's rank correlation of the NTK's lambda_max with the step."""
    def compute(ds):
        n = ds["ntk_lmax"]
        rho = sps.spearmanr(n["step_ntk"].values, n.values).statistic
        return float(rho), "Spearman rho of NTK lambda_max against the step, whole run"

    return _one(c, inputs, row, band, compute)


def _period_extrema(ds):
    """Per oscillating period with at least 3 spectra samples: (first, min, last, argmin is interior)."""
    T, steps = _period(ds)
    h = ds["hess_eig"].isel(eig=0)
    st = h["step_hess"].values
    out = []
    for k in range(oscillating_periods(steps, T)):
        sel = (st >= k * T) & (st < (k + 1) * T)
        v = h.values[sel]
        if v.size >= 3:
            i = int(np.argmin(v))
            out.append((v[0], v[i], v[-1], 0 < i < v.size - 1))
    return out


def fall_rise(c, inputs, s, row, band):
    """The fraction of oscillating periods whose lambda_max minimum is interior and :data:`DIP` below both ends."""
    def compute(ds):
        ex = _period_extrema(ds)
        if not ex:
            return None, "no oscillating period with 3 spectra samples"
        ok = [inner and lo <= (1 - DIP) * min(a, b) for a, lo, b, inner in ex]
        return float(np.mean(ok)), f"{sum(ok)} of {len(ok)} oscillating periods"

    return _one(c, inputs, row, band, compute)


def narrows(c, inputs, s, row, band):
    """Spearman's rank correlation of each oscillating period's minimum lambda_max with its index."""
    def compute(ds):
        ex = _period_extrema(ds)
        if len(ex) < 3:
            return None, "fewer than 3 oscillating periods"
        rho = sps.spearmanr(np.arange(len(ex)), [lo for _, lo, _, _ in ex]).statistic
        return float(rho), f"over {len(ex)} oscillating periods"

    return _one(c, inputs, row, band, compute)


def ntk_cv(c, inputs, s, row, band):
    """The NTK's lambda_max at the onsets of a thresholds study: not recorded by the thresholds runs."""
    ds = inputs.thresholds.get(c.figure)
    if ds is None or "ntk_lmax_at_onset" not in ds:
        return not_run(row, "the thresholds runs record no NTK at their onsets (needs ntk_every in a thresholds "
                       "study); the dynamics runs have one onset each")
    raise NotImplementedError("ntk_lmax_at_onset")  # pragma: no cover - no study records it yet


#: steps before and after the onset over which the NTK eigenvalue is averaged (``ntk_change``)
NTK_WINDOW = 500


def at_onset(c, inputs, s, row, band):
    """A run's statistic at its primary onset: the NTK lambda_max's relative change across it
    (``ntk_change``) or lambda_max's minimum after it over lambda_th (``lambda_floor``)."""
    def compute(ds):
        name, t, lam_th = _primary(ds, s.burn_in)
        if t < 0:
            return None, f"the primary definition ({name}) found no onset after the burn-in"
        if c.where == "ntk_change":
            n = ds["ntk_lmax"]
            before = n.sel(step_ntk=slice(t - NTK_WINDOW, t - 1)).mean().item()
            after = n.sel(step_ntk=slice(t, t + NTK_WINDOW)).mean().item()
            return (after / before - 1.0,
                    f"mean over {NTK_WINDOW} steps after the {name} onset (t = {t}) over the mean before it, minus 1")
        h = ds["hess_eig"].isel(eig=0).sel(step_hess=slice(t, None))
        return (float(h.min()) / lam_th,
                f"min of lambda_max after the {name} onset (t = {t}) / lambda_th there ({lam_th:.4g})")

    return _one(c, inputs, row, band, compute)


MEASURES = {"ntk_change": at_onset, "lambda_floor": at_onset, "fraction": fraction, "overfit": overfit,
            "low_T": low_T, "period_onsets": period_onsets, "open_windows": open_windows, "second_eig": second_eig,
            "ntk_trend": ntk_trend, "fall_rise": fall_rise, "narrows": narrows, "ntk_cv": ntk_cv}


# -- where the first bifurcations of a thresholds study fall --------------------------------------------


def phase_row(pc: PhaseClaim, inputs: Inputs, s: stats.Settings) -> dict:
    """Per setting, the fraction of its onsets after the burn-in that fall in the second half of the period."""
    band = stats.lower(1.0, s.acc_tol)
    row = row_of(pc, band=band.describe(), thesis=pc.thesis, claim=pc.text, figure=pc.study)
    found = thresholds_of(inputs, pc.study, pc.loss, 100)
    if found is None:
        return not_run(row, f"study {pc.study} not run")
    study, ds = found
    name = verdict_onset(inputs.primary.get(study, "apparent"))
    var = f"onset_step_{name}" if f"onset_step_{name}" in ds else "onset_step"
    st = ds[var]
    st = st.squeeze([d for d in st.dims if d not in ("run", "lr")]).transpose("run", "lr").values.astype(float)
    T = np.asarray(ds["T"].values, dtype=float)[:, None]
    counted = (st >= 0) & (st >= s.burn_in * T)
    late = counted & (np.mod(st, T) >= T / 2)
    has = counted.any(axis=1)
    x = late.sum(axis=1)[has] / counted.sum(axis=1)[has]
    row.update({"data": study, "figure": study, "claim": f"{pc.text} [onset: {name}]",
                "note": (f"{int(counted.sum())} onsets after the burn-in ({s.burn_in:g} T) in {int(has.sum())} of "
                         f"{st.shape[0]} settings; {int(((st >= 0) & ~counted).sum())} before it")})
    if x.size == 0:
        return not_run(row, "no onset after the burn-in", data=study)
    partly = ("" if has.all() else f"{int(has.sum())} of {st.shape[0]} settings with an onset after the burn-in "
              f"({100 * has.mean():.0f} %)")
    return judge(row, stats.mean_interval(x, s), band, 0, partly=partly, min_seeds=s.bootstrap_min_seeds)

"""How a claim is measured, by where it is read (``Claim.where``): each measure makes the claim's
row (estimate, interval, outcome, what it was read from; docs/verdicts.md). :data:`MEASURES` are the
built-in ones; a study kind adds its own (``StudyKind.measures``), written with :func:`judge` and
:func:`not_run`.
"""
from __future__ import annotations

import math

import numpy as np

from . import stats
from .claims import Claim, LawClaim
from .inputs import Inputs, choose, confirm_key, grid, matches, static_runs, thresholds_of
from ..thresholds.onset import CURVATURE_ANCHORED, LOSS_BASED
from . import qualitative
from .compare import definition_laws, law_band
from .rows import band_of, judge, not_run, of, row_of, verdict_onset  # noqa: F401 (kinds import them here)


def by_protocol(fn):
    """A measure that reads runs by the claim's protocol: a claim without one is not run here."""
    def wrapped(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
        if c.protocol is None:
            return not_run(row, c.not_run_reason or "needs the CIFAR-10 folder (config key studies.fig3_2.cifar_dir) "
                           "and, at paper scale, a GPU")
        return fn(c, inputs, s, row, band)

    wrapped.__doc__ = fn.__doc__
    return wrapped


def _final(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """The last step of the claim's dynamics run(s): one run as in the thesis, or the mean over seeds."""
    ds = inputs.dynamics.get(c.figure)
    if ds is None:
        return not_run(row, f"study {c.figure} not run")
    x = np.atleast_1d(ds[c.quantity].values).astype(float)
    note = "one run, as in the thesis: no interval" if x.size == 1 else f"mean over {x.size} runs, t-interval"
    return judge({**row, "data": c.figure, "note": note}, stats.t_interval(x), band, c.thesis_seeds)


@by_protocol
def _static(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """A = 1: every run of the protocol's static family, each seed once."""
    vals, used, n_div = static_runs(inputs, c.protocol, c.quantity)
    if not vals:
        return not_run(row, f"no A = 1 runs of {c.protocol}", n_diverged=n_div)
    x = np.array([vals[k] for k in sorted(vals)])
    note = "each seed once (A = 1 is the same run at every T and for every loss of its static family)"
    if c.shares:
        note += f"; the same measurement as {c.shares}"
    return judge({**row, "data": ", ".join(used), "n_diverged": n_div, "at_A": 1.0, "note": note},
                 stats.mean_interval(x, s), band, c.thesis_seeds, min_seeds=s.bootstrap_min_seeds)


@by_protocol
def _chosen(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """best / worst / gain: the point chosen on the study's seeds, judged on fresh seeds."""
    pick = choose(c, inputs)
    if pick is None:
        return not_run(row, f"no grid point of {c.protocol} in A {c.A}, T {c.T}")
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
    if fresh is not None and c.where == "gain" and 1.0 not in np.atleast_1d(fresh["A"].values):
        notes.append("the fresh seeds have no A = 1 runs (a confirm job made before this gain claim)")
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
        return judge(row, stats.mean_interval(x, s), band, c.thesis_seeds, partly="fresh seeds not run",
                     min_seeds=s.bootstrap_min_seeds)
    if "data_seed" in fresh.dims:
        return _by_data_seed(c, fresh, pick, s, row, band, notes)
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
    return judge(row, stats.mean_interval(x, s), band, c.thesis_seeds, min_seeds=s.bootstrap_min_seeds)


def _by_data_seed(c: Claim, fresh, pick: dict, s: stats.Settings, row: dict, band: stats.Band, notes: list) -> dict:
    """A chosen point judged on fresh seeds on each of several fresh training sets: the (training set, seed)
    pair is the unit, the t-interval over the training sets' means (as the replication's spirals)."""
    da = fresh[c.quantity]
    if "diverged" in fresh:
        da = da.where(~fresh["diverged"].astype(bool))
    if "width" in da.dims:
        da = da.sel(width=c.protocol.width)
    da = da.squeeze([d for d in da.dims if d not in ("A", "T", "seed", "data_seed") and da.sizes[d] == 1])
    point = da.sel(A=pick["A"], T=pick["T"]).transpose("data_seed", "seed")
    v = point.values
    if c.where == "gain":
        v = v - da.sel(A=1.0, T=pick["T"]).transpose("data_seed", "seed").values
        notes.append("paired by (training set, seed): the chosen point minus A = 1")
    e, within, between = stats.set_estimate(v, s)
    seeds, sets = point["seed"].values, point["data_seed"].values
    runs = int(np.isfinite(v).sum())
    row["n_diverged"] = int(v.size - runs)
    row["note"] = "; ".join(notes + [
        f"judged on fresh seeds {int(seeds.min())}-{int(seeds.max())} on fresh training sets "
        f"{', '.join(str(int(d)) for d in sets)} ({runs} runs), t-interval over the training sets' means; "
        f"between-set SD {between:.4f}, within-set SD {within:.4f}"])
    partly = f"{e.n} of the {c.thesis_seeds} pre-registered training sets" if e.n < c.thesis_seeds else ""
    return judge(row, e, band, 0, partly=partly, min_seeds=s.bootstrap_min_seeds)


@by_protocol
def _trend(c: Claim, inputs: Inputs, s: stats.Settings, row: dict, band: stats.Band) -> dict:
    """The OLS slope over A (A > 1) of the per-seed mean over T, with its interval over seeds."""
    for name, ds in inputs.studies.items():
        if not matches(ds, c.protocol, static=False) or "A" not in ds.coords:
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
             else stats.t_interval(np.array([slope(r[None]) for r in per_seed])))  # per-seed slopes below 20
        partly = ""
        if c.thesis_A is not None and (A.min() > max(c.A[0], c.thesis_A[0]) + 1 or A.max() < c.thesis_A[1]):
            partly = (f"partly run over A {A.min():g}-{A.max():g} of the thesis's figure's "
                      f"{c.thesis_A[0]:g}-{c.thesis_A[1]:g}")
            if n < c.thesis_seeds:
                partly += f"; {of(n, c.thesis_seeds, 'seeds')}"
        odd = [t for t in g["T"].values if c.protocol.steps % t]
        row.update({"data": name, "region_points": int(g.sizes["A"] * g.sizes["T"]),
                    "note": f"slope of the accuracy (mean over T) against A over A = {', '.join(f'{a:g}' for a in A)}, "
                            "per accuracy unit per unit of A" + (
                                f"; depends on the stop rule at T = {', '.join(f'{t:g}' for t in odd)} "
                                "(docs/stop_rule.md)" if odd else "")})
        return judge(row, e, band, c.thesis_seeds, partly=partly, min_seeds=s.bootstrap_min_seeds)
    return not_run(row, f"no grid of {c.protocol} with A > 1")


def law_row(lc: LawClaim, inputs: Inputs, s: stats.Settings) -> dict:
    """The eta-law row of one thresholds study: its primary definition's slope (loss-based), every other
    definition's outcome beside it, and "definition-dependent" where the loss-based ones disagree
    (docs/verdicts.md)."""
    band = law_band(s)
    row = row_of(lc, band=band.describe(), thesis="-1")
    if lc.not_run_reason:
        return not_run(row, lc.not_run_reason)
    found = thresholds_of(inputs, lc.study, lc.loss, lc.width, lc.data)
    if found is None:
        return not_run(row, f"study {lc.study} not run at width {lc.width}")
    study, ds = found
    asked = inputs.primary.get(study, "apparent")
    name = verdict_onset(asked)
    laws = definition_laws(ds, s, also=(name,))
    outcomes = {n: law["outcome"] for n, law in laws.items()}
    loss_based = {outcomes[n] for n in laws if n in LOSS_BASED and outcomes[n] != stats.NOT_RUN}
    dependent = len(loss_based) > 1
    law = laws[name]
    e = law["slope"]
    beside = "; ".join(f"{n}{'*' if n in CURVATURE_ANCHORED else ''}: {outcomes[n]} "
                       f"({laws[n]['slope'].value:.3f}, {laws[n]['n_entered']} of {lc.settings} settings)"
                       for n in laws if n != name)
    row.update({"data": study, "figure": study,
                "claim": f"{lc.text} [primary onset: {name}]" + (" [definition-dependent]" if dependent else ""),
                "definitions": beside,
                "note": (f"{law['n_entered']} (A, T) settings with an onset at every one of {law['n_eta']} etas "
                         f"(of {law['n_settings']} analysed), paired bootstrap over them; onsets after the burn-in "
                         f"{law['n_onset']} of {law['n_runs']} runs, {law['n_burn_in']} before it (t < "
                         f"{s.burn_in:g} T, not counted); lack of fit (rms of log means about the line) "
                         f"{law['lof'].value:.3f} [{law['lof'].lo:.3f}, {law['lof'].hi:.3f}]"
                         + (f"; {asked} is curvature-anchored, never primary" if asked != name else "")
                         + ("; loss-based definitions disagree: definition-dependent" if dependent else "")
                         + (f"; beside it (* curvature-anchored): {beside}" if beside else "")
                         + f"; onset steps per eta (median of the analysed runs' {name} onsets; how many before the "
                         f"burn-in): {_onset_steps(law, ds, s.burn_in)}")})
    if law["n_entered"] == 0:
        whose = "the pre-registered" if lc.beyond else "the thesis's"
        return {**row, "verdict": f"{stats.PARTLY}: {stats.NOT_RUN} (0 of {whose} {lc.settings} (A, T) "
                "settings with an onset at every eta)", "outcome": stats.NOT_RUN}
    partly = ("" if law["n_entered"] >= lc.settings
              else f"{law['n_entered']} of the {lc.settings} pre-registered (A, T) settings" if lc.beyond
              else of(law["n_entered"], lc.settings, "(A, T) settings"))
    return judge(row, e, band, 0, partly=partly, min_seeds=s.bootstrap_min_seeds)


def _onset_steps(law: dict, ds, burn_in: float) -> str:
    """``"0.5: 2100 (3 of 40 before the burn-in), ..."``: where each eta's onsets fall."""
    T = np.asarray(ds["T"].values, dtype=float) if "T" in ds.coords and ds["T"].ndim == 1 else None
    out = []
    for eta, st in law["onset_steps"].items():
        found = st[st >= 0]
        if T is not None and T.size == st.size:
            early = int(((st >= 0) & (st < burn_in * T)).sum())
        else:
            early = 0
        med = f"{np.median(found):.0f}" if found.size else "none"
        out.append(f"{eta:g}: {med} ({early} of {found.size} before the burn-in)")
    return ", ".join(out)


#: where -> the measure of a claim read there (a study kind adds its own: ``StudyKind.measures``)
MEASURES = {"static": _static, "best": _chosen, "worst": _chosen, "gain": _chosen, "trend": _trend,
            "final": _final}

MEASURES.update(qualitative.MEASURES)

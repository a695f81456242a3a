"""The sensitivity studies' table (CSV, Markdown) and written conclusion, from the combined
datasets of :mod:`dynloss.sensitivity.cases` and the infinite-width datasets of :mod:`dynloss.sensitivity.infinite`."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

TABLE_COLUMNS = ["study", "loss", "width", "factor", "level", "train_mean", "train_sd", "test_mean",
                 "test_sd", "n_seeds", "diverged", "thesis_train", "thesis_test"]


def _thesis(ds: xr.Dataset, which: str) -> float:
    v = ds.attrs.get(f"thesis_{which}", "")
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def table(datasets: dict[str, xr.Dataset], infinite: dict[str, xr.Dataset] | None = None) -> list[dict]:
    """Rows (one per study and case, then the infinite-width references) for CSV and Markdown.

    Args:
        datasets: study name -> combined sensitivity dataset (:func:`combine`).
        infinite: study name -> infinite-width dataset (:mod:`dynloss.sensitivity.infinite`), optional.

    Returns:
        Dicts with :data:`TABLE_COLUMNS`; means and standard deviations over seeds, diverged
        runs excluded from the means and counted in ``diverged``.
    """
    rows = []
    for name, ds in datasets.items():
        for i, case in enumerate(ds["case"].values):
            tr = ds["final_train_acc"].isel(case=i).values
            te = ds["test_acc"].isel(case=i).values
            rows.append({"study": name, "loss": ds.attrs.get("loss", ""), "width": ds.attrs.get("width", ""),
                         "factor": str(ds["factor"].values[i]), "level": str(ds["level"].values[i]),
                         "train_mean": _nanmean(tr), "train_sd": _nanstd(tr), "test_mean": _nanmean(te),
                         "test_sd": _nanstd(te), "n_seeds": int(tr.size),
                         "diverged": int(ds["diverged"].isel(case=i).values.sum()),
                         "thesis_train": _thesis(ds, "train"), "thesis_test": _thesis(ds, "test")})
        inf = (infinite or {}).get(name)
        if inf is not None:
            for j, label in enumerate(inf["reference"].values):
                tr, te = inf["train_acc"].isel(reference=j).values, inf["test_acc"].isel(reference=j).values
                rows.append({"study": name, "loss": ds.attrs.get("loss", ""), "width": "inf",
                             "factor": "infinite width", "level": str(label),
                             "train_mean": _nanmean(tr), "train_sd": _nanstd(tr), "test_mean": _nanmean(te),
                             "test_sd": _nanstd(te), "n_seeds": int(tr.size), "diverged": 0,
                             "thesis_train": _thesis(ds, "train"), "thesis_test": _thesis(ds, "test")})
    return rows


def _nanmean(a) -> float:
    a = np.asarray(a, float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else math.nan


def _nanstd(a) -> float:
    a = np.asarray(a, float)
    return float(np.nanstd(a)) if np.isfinite(a).sum() > 1 else math.nan


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def to_csv(rows: list[dict]) -> str:
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.DictWriter(buf, TABLE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r[k]) for k in TABLE_COLUMNS})
    return buf.getvalue()


def to_markdown(rows: list[dict]) -> str:
    head = "| " + " | ".join(TABLE_COLUMNS) + " |\n|" + "---|" * len(TABLE_COLUMNS) + "\n"
    return head + "".join("| " + " | ".join(_cell(r[k]) for k in TABLE_COLUMNS) + " |\n" for r in rows)


#: how close to the thesis's value counts as "reaches it": the thesis quotes values read off its
#: figures with "~", so within 0.03 below the value (or above it) counts
REACH_MARGIN = 0.03


def conclusion(datasets: dict[str, xr.Dataset], infinite: dict[str, xr.Dataset] | None = None,
               control: str | None = None, stamp: str = "") -> str:
    """The Markdown conclusion, from the data alone.

    For each study with a thesis train value (the MSE claims): the base (reproduction) value, the
    smallest single change of protocol that reaches the thesis's value (within
    :data:`REACH_MARGIN`; "smallest" = the fewest factors changed, then the level closest to the
    base in list order, then the largest train accuracy), or the best any case reached if none
    does; then, for the control study (CE), what the same change does to it.

    Args:
        datasets: study name -> combined sensitivity dataset.
        infinite: study name -> infinite-width dataset (optional).
        control: the name of the control study (its thesis value reproduces at the base).
        stamp: a line (commit, scale, date) put under the heading.

    Returns:
        Markdown text.
    """
    rows = table(datasets, infinite)
    by_study: dict[str, list[dict]] = {}
    for r in rows:
        by_study.setdefault(r["study"], []).append(r)
    lines = ["# Sensitivity of the MSE results: conclusion", ""]
    if stamp:
        lines += [stamp, ""]
    lines += [f"A change \"reaches\" the thesis's value when its mean final train accuracy over seeds is at "
              f"least the thesis's value minus {REACH_MARGIN}. \"Smallest\" means the fewest factors changed, "
              "then the level nearest the base in the config's order. Values: mean over seeds (standard deviation).",
              ""]
    ctrl = {(r["factor"], r["level"]): r for r in by_study.get(control or "", [])}
    for name, rs in by_study.items():
        if name == control:
            continue
        base = next(r for r in rs if r["factor"] == "base")
        goal = base["thesis_train"]
        head = f"## {name}: {base['loss']} width {base['width']}"
        lines += [head, ""]
        lines.append(f"- Reproduction (base protocol): train {_pm(base, 'train')}, test {_pm(base, 'test')}; "
                     f"the thesis: train ~{_cell(goal)}"
                     + (f", test ~{_cell(base['thesis_test'])}" if not math.isnan(base["thesis_test"]) else "")
                     + ".")
        if math.isnan(goal):
            lines.append("- No thesis train value given for this study.")
            lines.append("")
            continue
        trained = [r for r in rs if r["factor"] not in ("base", "infinite width")]
        hits = [r for r in trained if r["train_mean"] >= goal - REACH_MARGIN]
        if hits:
            # per factor (or crossed pair), the first level in the config's order that reaches it
            firsts: dict[str, dict] = {}
            for r in sorted(hits, key=lambda r: _order(rs, r)):
                firsts.setdefault(r["factor"], r)
            ranked = sorted(firsts.values(), key=lambda r: (r["factor"].count("*"), _order(rs, r), -r["train_mean"]))
            best = ranked[0]
            lines.append(f"- Smallest change reaching the thesis's value: **{best['factor']} = {best['level']}**: "
                         f"train {_pm(best, 'train')}, test {_pm(best, 'test')}"
                         + (f" ({best['diverged']} of {best['n_seeds']} runs diverged)" if best["diverged"] else "")
                         + ".")
            if len(ranked) > 1:
                lines.append("- Other factors' smallest levels that reach it: " + "; ".join(
                    f"{r['factor']} = {r['level']} (train {_pm(r, 'train')})" for r in ranked[1:]) + ".")
            for r in ranked:
                lines += _control_lines(ctrl, control, r)
        elif trained:
            top = max(trained, key=lambda r: (r["train_mean"] if not math.isnan(r["train_mean"]) else -1))
            lines.append(f"- No change of the configured ones reaches ~{_cell(goal)}. The highest train "
                         f"accuracy among the changed protocols "
                         f"is {_pm(top, 'train')} at {top['factor']} = {top['level']} (test "
                         f"{_pm(top, 'test')}).")
            lines += _control_lines(ctrl, control, top)
        movers = sorted(trained, key=lambda r: -abs(_d(r, base)))[:3]
        if movers:
            lines.append("- Largest effects on train accuracy: " + "; ".join(
                f"{r['factor']} = {r['level']}: {_d(r, base):+.3f}" for r in movers) + ".")
        inf = (infinite or {}).get(name)
        for r in rs:
            if r["factor"] == "infinite width":
                lines.append(f"- Infinite width ({r['level']}): train {_pm(r, 'train')}, test {_pm(r, 'test')}"
                             + _stability(inf, r["level"]) + ".")
        lines.append("")
    if control and control in by_study:
        cb = next(r for r in by_study[control] if r["factor"] == "base")
        lines += [f"## Control {control}: {cb['loss']} width {cb['width']}", "",
                  f"- Base: train {_pm(cb, 'train')}, test {_pm(cb, 'test')}; "
                  f"the thesis: ~{_cell(cb['thesis_train'])}."]
        cm = sorted((r for r in by_study[control] if r["factor"] != "base"), key=lambda r: -abs(_d(r, cb)))[:4]
        if cm:
            lines.append("- Largest effects on its train accuracy: " + "; ".join(
                f"{r['factor']} = {r['level']}: {_d(r, cb):+.3f}" for r in cm) + ".")
        lines.append("")
    return "\n".join(lines) + "\n"


def _control_lines(ctrl: dict, control: str | None, r: dict) -> list[str]:
    """What the change of row ``r`` does to the control study (kept = train and test within
    :data:`REACH_MARGIN` of the control's base or above)."""
    cbase = ctrl.get(("base", "base"))
    if cbase is None:
        return []
    c = ctrl.get((r["factor"], r["level"]))
    if c is None:
        return [f"- CE control ({control}) has no case {r['factor']} = {r['level']} "
                "(not applicable to CE or not configured)."]
    keeps = c["train_mean"] >= cbase["train_mean"] - REACH_MARGIN and \
        c["test_mean"] >= cbase["test_mean"] - REACH_MARGIN
    return [f"- The same change ({r['factor']} = {r['level']}) on the CE control ({control}): "
            f"train {_pm(c, 'train')}, test {_pm(c, 'test')} vs base train {_pm(cbase, 'train')}, "
            f"test {_pm(cbase, 'test')}: "
            + ("the CE results are kept." if keeps else "the CE results are **not** kept.")]


def _stability(inf: xr.Dataset | None, label: str) -> str:
    """The kernel-regime stability note of one infinite-width reference."""
    if inf is None or "gd_stability" not in inf:
        return ""
    i = list(inf["reference"].values).index(label)
    g, n_c = float(inf["gd_stability"][i]), float(inf["critical_width"][i])
    text = f"; eta (2/P) lambda_max(Theta) = {g:.3g}"
    text += " (discrete GD on the linearised network would diverge: > 2)" if g >= 2 else ""
    if math.isfinite(n_c):
        text += f"; the kernel regime is GD-stable only below width {n_c:.0f} at this eta"
    return text


def _pm(r: dict, which: str) -> str:
    m, s = r[f"{which}_mean"], r[f"{which}_sd"]
    if math.isnan(m):
        return "n/a (all runs diverged)"
    return f"{m:.3f}" + ("" if math.isnan(s) else f" ({s:.3f})")


def _d(r: dict, base: dict) -> float:
    v = r["train_mean"] - base["train_mean"]
    return 0.0 if math.isnan(v) else v


def _order(rs: list[dict], r: dict) -> int:
    """Position of a case among its factor's cases (the config lists levels from the base outward)."""
    same = [x for x in rs if x["factor"] == r["factor"]]
    return same.index(r)

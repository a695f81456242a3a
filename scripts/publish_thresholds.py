"""Publish the fits of thresholds studies as one stamped table (Markdown + CSV).

    python scripts/publish_thresholds.py --results results/paper_w100 --scale paper \\
        --out docs/reproduction/thresholds_width100 fig3_6 fig4_4 fig4_8

Reads ``<results>/<study>/<study>_fit.csv`` (one row per width and onset definition, written by
``dynloss fit-thresholds``) and the study dataset's provenance, and writes ``<out>.md`` and
``<out>.csv`` with the commit, scale and date, and per row whether the 95% CI of the slope
contains -1 (the thesis's lambda_th ~ 1/eta).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json

from dynloss import files, netcdf

LOSS_NAMES = {"dce": "CE (dynamical)", "dmse1": "MSE v1", "dmse2": "MSE v2"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="+")
    ap.add_argument("--results", required=True)
    ap.add_argument("--scale", required=True)
    ap.add_argument("--out", required=True, help="output path without suffix")
    ap.add_argument("--width", default="100")
    a = ap.parse_args(argv)
    rows, commits = [], set()
    for study in a.studies:
        ds = netcdf.open_dataset(f"{a.results}/{study}/{study}.nc")
        commits.add(ds.attrs.get("git_commit", "?"))
        prov = json.loads(ds.attrs.get("provenance", "{}"))
        for r in csv.DictReader(open(f"{a.results}/{study}/{study}_fit.csv")):
            if r["width"] != a.width:
                continue
            r = {"study": study, **r}
            if r.get("slope_lo"):
                r["ci_contains_-1"] = str(float(r["slope_lo"]) <= -1.0 <= float(r["slope_hi"]))
            rows.append(r)
        del prov
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"commit {', '.join(sorted(commits))}; scale {a.scale}; width {a.width}; written {now}"
    cols = ["study", "loss", "width", "onset", "slope", "slope_lo", "slope_hi", "prefactor", "prefactor_lo",
            "prefactor_hi", "r2", "n_fit", "n_runs", "n_onset", "n_no_onset", "n_diverged",
            "eta_lambda_median", "ci_contains_-1"]
    with files.atomic_path(a.out + ".csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            fh.write(f"# {stamp}\n")
            w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def num(r, k, f="{:.3f}"):
        return f.format(float(r[k])) if r.get(k) not in (None, "", "nan") else "-"

    lines = [f"<!-- {stamp} -->", "", f"Stamp: {stamp}.", "",
             "| loss | definition | slope b [95% CI] | prefactor c [95% CI] | R^2 | runs with onset / without "
             "| median eta*lambda_th | CI contains -1 |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        slope = (f"{num(r, 'slope')} [{num(r, 'slope_lo')}, {num(r, 'slope_hi')}]" if r.get("slope") else
                 f"- ({r.get('note', 'no fit')})")
        pref = f"{num(r, 'prefactor')} [{num(r, 'prefactor_lo')}, {num(r, 'prefactor_hi')}]" if r.get("prefactor") else "-"
        lines.append(f"| {LOSS_NAMES.get(r['loss'], r['loss'])} ({r['study']}) | {r['onset']} | {slope} | {pref} "
                     f"| {num(r, 'r2', '{:.2f}')} | {r['n_onset']} / {r['n_no_onset']} "
                     f"| {num(r, 'eta_lambda_median', '{:.2f}')} | {r.get('ci_contains_-1', '-')} |")
    files.write_text("\n".join(lines) + "\n", a.out + ".md")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

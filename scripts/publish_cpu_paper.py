"""Publish the CPU runs at paper settings (width 100) into docs/reproduction: the reproduction table,
the threshold fits, every figure, with a stamped index.

The contour, curves and dynamics studies come from one Snakemake run of
``docs/reproduction/paper_w100.yaml``; the thresholds studies from ``scripts/threshold_traces.py`` runs
(one folder per study, each with ``runs/*.nc``). Definitions of the onset that only some jobs of a
thresholds study carry (``growing``, ``mode`` where they were computed on some etas only) are left out
of its fit, so every fitted row spans every eta::

    python scripts/publish_cpu_paper.py --contours results/pw100/paper \\
        --thresholds fig3_6=<dir> --thresholds fig4_4=<dir> --thresholds fig4_8=<dir> --out docs/reproduction
"""
from __future__ import annotations

import argparse
import glob
import subprocess
import sys
from pathlib import Path

from dynloss import config, netcdf
from dynloss.plan import Plan


def dynloss(*args: str) -> None:
    cmd = [sys.executable, "-m", "dynloss", *args]
    print("+", " ".join(cmd[2:])[:200], flush=True)
    subprocess.run(cmd, check=True)


def combine_common(study: str, folder: str, out: str) -> None:
    """Combine a thresholds study's job files, keeping the variables every job has."""
    paths = sorted(glob.glob(f"{folder}/runs/*.nc"))
    if not paths:
        raise SystemExit(f"--thresholds {study}: no job files in {folder}/runs")
    names = None
    for p in paths:
        ds = netcdf.open_dataset(p)
        names = set(ds.data_vars) if names is None else names & set(ds.data_vars)
    ds = netcdf.combine(paths, dims=("loss", "width", "lr"), attrs={"study": study, "scale": "paper",
                                                                   "note": "width 100, CPU"})
    dropped = sorted(set(ds.data_vars) - names)
    ds = ds.drop_vars(dropped)
    ds.attrs["dropped_partial_definitions"] = ", ".join(dropped)
    netcdf.write_netcdf(ds, out)
    print(f"{study}: {len(paths)} job(s) -> {out}; left out (not in every job): {', '.join(dropped) or 'nothing'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contours", required=True, help="results/<scale> folder of the paper_w100.yaml run")
    ap.add_argument("--thresholds", action="append", default=[], metavar="STUDY=DIR")
    ap.add_argument("--out", default="docs/reproduction")
    ap.add_argument("--work", default=None, help="folder for the combined thresholds data (default: --contours)")
    ap.add_argument("--readme", default=None, help="README whose verdict section to replace (e.g. README.md)")
    a = ap.parse_args(argv)
    work = Path(a.work or a.contours)
    cfg = config.load_config(scale="paper")
    plan = Plan(cfg)
    figures, datasets, fits = [], [], []
    for item in a.thresholds:
        study, _, folder = item.partition("=")
        ds_path, fit = work / study / f"{study}.nc", work / study / f"{study}_fit.csv"
        combine_common(study, folder, str(ds_path))
        dynloss("fit-thresholds", str(ds_path), "--csv", str(fit))
        fits.append(f"{study}={fit}")
        png = work / "figures" / f"{study}.png"
        dynloss("figure", "thresholds", str(ds_path), "--pdf", str(png.with_suffix(".pdf")), "--png", str(png),
                "--title", cfg["studies"][study].get("title") or study, "--options",
                __import__("json").dumps(plan.figure_options(study)))
        figures.append(str(png))
    for name in plan.figure_names():
        png = Path(a.contours) / "figures" / f"{name}.png"
        if png.is_file():
            figures.append(str(png))
        if name in plan.kinds and plan.study(name).name in ("contour", "curves") and \
                (Path(a.contours) / name / f"{name}.nc").is_file():
            datasets.append(f"{name}={Path(a.contours) / name / f'{name}.nc'}")
    table = work / "reproduction"
    dynloss("reproduction", *datasets, *[x for f in fits for x in ("--fit", f)], "--csv", f"{table}.csv",
            "--md", f"{table}.md", "--html", f"{table}.html", "--scale", "paper (width 100, CPU)")
    items = [f"{table}.csv", f"{table}.md"] + [f.split("=", 1)[1] for f in fits] + sorted(set(figures))
    dynloss("publish", *items, "--out", a.out, "--scale", "paper (width 100, CPU)")
    if a.readme:
        update_readme(Path(f"{table}.csv"), Path(a.readme), Path(a.out))
    return 0


BEGIN, END = "<!-- verdicts: begin -->", "<!-- verdicts: end -->"


def _why_not_run(row: dict) -> str:
    note = row.get("note", "")
    if row.get("study") == "fig3_2":
        return "not run (needs the CIFAR-10 folder and a GPU)"
    if "not in the study" in note:  # a width this CPU run left out
        return "not run (needs a GPU)"
    return "not run"


def update_readme(table_csv: Path, readme: Path, out: Path) -> None:
    """The verdict table (one line per claim, with the measured value) between :data:`BEGIN` and
    :data:`END` of the README, linking to the published table and figures."""
    import csv

    rows = list(csv.DictReader(open(table_csv)))
    counts = {}
    lines = [BEGIN, "", "| verdict | claim | thesis | measured | figure |", "|---|---|---|---|---|"]
    for r in rows:
        verdict = r["verdict"] if r["verdict"] != "not run" else _why_not_run(r)
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        m = r.get("measured", "")
        if m:
            m = f"{float(m):.3g}" + (f" ± {float(r['spread_sd']):.2g}" if r.get("spread_sd") else "") + \
                (f" [{float(r['ci_lo']):.3g}, {float(r['ci_hi']):.3g}]" if r.get("ci_lo") else "")
        fig = out / "figures" / f"{r['study']}.png"
        link = f"[{r['study']}]({fig.as_posix()})" if fig.is_file() else r["study"]
        bold = f"**{verdict}**" if verdict in ("reproduced", "not reproduced") else verdict
        lines.append(f"| {bold} | {r['claim'].replace('|', '&#124;')} | {r['thesis']} | {m} | {link} |")
    lines += ["", f"{counts.get('reproduced', 0)} reproduced, {counts.get('not reproduced', 0)} not reproduced, "
              f"{counts.get('not run', 0)} not run. Full table with comparators, sources, seed counts and stamps: "
              f"[{(out / 'README.md').as_posix()}]({(out / 'README.md').as_posix()}).", "", END]
    text = readme.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + "\n".join(lines) + rest.split(END, 1)[1]
    else:
        raise SystemExit(f"--readme: {readme} has no {BEGIN} ... {END} section")
    readme.write_text(text)
    print(f"verdict table -> {readme}")


if __name__ == "__main__":
    sys.exit(main())

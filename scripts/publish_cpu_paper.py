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
import os
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
    os.makedirs(a.out, exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Re-judge a publication whose campaign ran under ``stop_rule: last_T`` after rerunning, under ``period`` (the
thesis code's rule), only the jobs the stop rule changes (docs/stop_rule.md).

Where T divides the steps both rules make the same run: the workflow keeps those jobs' identities, and their
numbers are the published ones. So the re-judged table reads the published reduced data with the rerun
points put in their place:

1. every contour job under ``--runs`` (``<study>/runs/*.nc``, a planned job of the study rerun under period)
   replaces its (loss, width, lr, A, T) cell of the published ``<study>.nc`` (its final metrics);
   every dynamics dataset (``<study>/<study>.nc``) is reduced as the publication reduces it and replaces it;
2. the reproduction table is computed from the published data (it must equal the published table: checked)
   and from the patched data;
3. a confirm file whose chosen point the stop rule changes (its T does not divide the steps), or whose point
   the patched study no longer chooses, is trained again with the workflow's own command (``dynloss confirm``,
   fresh seeds, the rerun job's training spec) and read instead;
4. the rows whose verdict or estimate moved are written, old -> new (Markdown and CSV), and the whole re-judged
   table beside them (``<out>_table.csv``).

    python scripts/stop_rule_rejudge.py --config docs/reproduction/cpu_paper.yaml --runs RESULTS/paper \\
        --out docs/stop_rule_rejudged.md --work /tmp/rejudge

The reproduction command is the workflow's own (``snakemake publish -n -p`` with ``publish_from=data``).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FINAL = ("L_init", "final_train_acc", "test_acc", "test_acc_each", "diverged", "diverged_step")


def reproduction_command(configfile: str, work: Path) -> list[str]:
    """The reproduction command of the publication of ``configfile``, read off the workflow's dry run."""
    out = subprocess.run(["snakemake", "publish", "-n", "-p", "--forcerun", "reproduction", "--configfile", configfile,
                          "--config", "publish_from=data", f"results={work / 'dry'}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if "python -m dynloss reproduction" in ln)
    cmd = shlex.split(line.split("Shell command:", 1)[-1].split(">", 1)[0])
    return [a for a in cmd if a]


def with_outputs(cmd: list[str], folder: Path) -> list[str]:
    """``cmd`` writing its CSV (only) into ``folder``."""
    out, skip = [], False
    for a in cmd:
        if skip:
            skip = False
            continue
        if a in ("--csv", "--md", "--html"):
            skip = True
            continue
        out.append(a)
    folder.mkdir(parents=True, exist_ok=True)
    return out + ["--csv", str(folder / "reproduction.csv")]


def patch_contour(published: Path, jobs: list[Path], out: Path) -> list[dict]:
    """``published`` with each job's final metrics in its cell; returns what was replaced."""
    from dynloss import netcdf

    ds = netcdf.open_dataset(published).load()
    done = []
    for path in jobs:
        job = netcdf.open_dataset(path)
        cell = {d: job[d].values.item() for d in ("loss", "width", "lr", "A", "T")}
        for v in FINAL:
            if v not in ds:
                continue
            new = job[v].transpose(*[d for d in ds[v].dims if d in job[v].dims])
            if v in ("final_train_acc", "test_acc"):
                done.append({"study": published.stem, **cell, "var": v, "old": float(np.nanmean(ds[v].loc[cell])),
                             "new": float(np.nanmean(new.values))})
            ds[v].loc[cell] = new.values
    ds.attrs["stop_rule_patch"] = json.dumps({"rule": "period", "jobs": [p.name for p in jobs]})
    netcdf.write_netcdf(ds, out, compress=True)
    return done


def reduce_dynamics(run: Path, keep: str, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "dynloss", "reduce", str(run), "--keep", keep, "--out", str(out)],
                   check=True, cwd=ROOT)


def arg_pairs(cmd: list[str]) -> list[tuple[str, str, str]]:
    """(flag, name, path) of every NAME=PATH argument of the reproduction command."""
    out = []
    for flag, value in zip(cmd, cmd[1:]):
        if flag in ("--study", "--dynamics", "--thresholds", "--confirm") and "=" in value:
            name, path = value.split("=", 1)
            out.append((flag, name, path))
    return out


def replace_path(cmd: list[str], flag: str, name: str, path: str) -> list[str]:
    out = list(cmd)
    for i in range(len(out) - 1):
        if out[i] == flag and out[i + 1].split("=", 1)[0] == name:
            out[i + 1] = f"{name}={path}"
    return out


def table(cmd: list[str], folder: Path) -> list[dict]:
    subprocess.run([sys.executable, "-m", "dynloss", *with_outputs(cmd, folder)[3:]], check=True, cwd=ROOT)
    return list(csv.DictReader(open(folder / "reproduction.csv")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the publication's configfile (docs/reproduction/cpu_paper.yaml)")
    ap.add_argument("--runs", required=True, help="the results folder of the period reruns (…/paper)")
    ap.add_argument("--out", required=True, help="output Markdown (a CSV beside it)")
    ap.add_argument("--work", required=True, help="a scratch folder")
    a = ap.parse_args()
    from dynloss import config as dl_config
    from dynloss.verdicts import Inputs, confirm_jobs
    from dynloss.verdicts.inputs import choose
    from snakemake.utils import update_config

    work, runs = Path(a.work), Path(a.runs)
    work.mkdir(parents=True, exist_ok=True)
    cfg = dl_config.load_yaml(ROOT / "config.yaml")
    update_config(cfg, dl_config.load_yaml(ROOT / a.config))
    cfg = dl_config.prepare(cfg)
    cmd = reproduction_command(a.config, work)
    pairs = arg_pairs(cmd)
    paths = {(f, n): p for f, n, p in pairs}

    # 1. the patched data
    patched_cmd, cells = list(cmd), []
    for study_dir in sorted(p for p in runs.iterdir() if p.is_dir() and (p / "runs").is_dir()):
        jobs = sorted((study_dir / "runs").glob("*.nc"))
        key = ("--study", study_dir.name)
        if jobs and key in paths:
            out = work / "patched" / f"{study_dir.name}.nc"
            out.parent.mkdir(parents=True, exist_ok=True)
            cells += patch_contour(ROOT / paths[key], jobs, out)
            patched_cmd = replace_path(patched_cmd, "--study", study_dir.name, str(out))
    for run in sorted(runs.glob("*/*.nc")):
        key = ("--dynamics", run.stem)
        if run.parent.name == run.stem and key in paths:
            out = work / "patched" / f"{run.stem}.nc"
            out.parent.mkdir(parents=True, exist_ok=True)
            reduce_dynamics(run, cfg["studies"][run.stem].get("publish_keep") or "all", out)
            patched_cmd = replace_path(patched_cmd, "--dynamics", run.stem, str(out))

    # 2. the tables
    old = table(cmd, work / "old")
    published = list(csv.DictReader(open(ROOT / Path(paths[next(iter(paths))]).parents[1] / "reproduction.csv")))
    keyed = ("claim", "verdict", "estimate", "ci_lo", "ci_hi")
    if [tuple(r[k] for k in keyed) for r in old] != [tuple(r[k] for k in keyed) for r in published]:
        raise SystemExit("the table from the published data differs from the published table: not re-judged")

    # 3. confirm files at a point the stop rule changes
    from dynloss import netcdf

    studies = {n: netcdf.open_dataset(p) for f, n, p in arg_pairs(patched_cmd) if f == "--study"}
    reruns = []
    for key, claims in confirm_jobs().items():
        if ("--confirm", key) not in paths:
            continue
        stored = netcdf.open_dataset(ROOT / paths[("--confirm", key)])
        pick = choose(claims[0], Inputs(studies=studies))
        steps = claims[0].protocol.steps
        moved = pick is not None and (pick["A"], pick["T"]) != (stored.attrs["chosen_A"], stored.attrs["chosen_T"])
        if pick is None or not (moved or steps % int(pick["T"])):
            continue
        study = pick["study"]
        width = claims[0].protocol.width
        job = next((p for p in sorted((runs / study / "runs").glob(f"*_w{width}_*.nc"))), None)
        if job is None:
            raise SystemExit(f"{key}: no rerun job of {study} at width {width} to take the training spec from")
        seeds = cfg["verdicts"]["fresh_seed_offset"]
        n = int(stored.sizes["seed"])  # as many fresh seeds as the stored confirm file has
        out = work / "confirm" / f"{key}.nc"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists():
            subprocess.run([sys.executable, "-m", "dynloss", "confirm", key,
                            f"--study={study}={dict((n, p) for _, n, p in arg_pairs(patched_cmd))[study]}",
                            "--job", str(job), "--seeds", f"{seeds}-{seeds + n - 1}", "--out", str(out)],
                           check=True, cwd=ROOT)
        patched_cmd = replace_path(patched_cmd, "--confirm", key, str(out))
        reruns.append({"key": key, "old": (float(stored.attrs["chosen_A"]), float(stored.attrs["chosen_T"])),
                       "new": (float(pick["A"]), float(pick["T"]))})
    new = table(patched_cmd, work / "new")

    # 4. old -> new
    changed = []
    for o, n in zip(old, new):
        assert o["claim"] == n["claim"], (o["claim"], n["claim"])
        if any(o[k] != n[k] for k in ("verdict", "estimate", "ci_lo", "ci_hi", "at_A", "at_T")):
            changed.append({"claim": o["claim"], "old_verdict": o["verdict"], "old_estimate": o["estimate"],
                            "old_ci": f"[{o['ci_lo']}, {o['ci_hi']}]", "old_at": f"A {o['at_A']} T {o['at_T']}",
                            "new_verdict": n["verdict"], "new_estimate": n["estimate"],
                            "new_ci": f"[{n['ci_lo']}, {n['ci_hi']}]", "new_at": f"A {n['at_A']} T {n['at_T']}"})
    write(a.out, changed, cells, reruns, len(old))
    Path(a.out).with_name(Path(a.out).stem + "_table.csv").write_text((work / "new" / "reproduction.csv").read_text())
    print(f"{len(changed)} of {len(old)} rows changed -> {a.out}")
    return 0


def _num(x: str) -> str:
    try:
        return f"{float(x):.4f}"
    except ValueError:
        return x or "-"


def write(out: str, changed: list[dict], cells: list[dict], reruns: list[dict], n_rows: int) -> None:
    import datetime

    from dynloss import provenance

    stamp = (f"Stamp: scale paper, commit {provenance.git_commit()[:7]}, "
             f"{datetime.datetime.now(datetime.timezone.utc).date().isoformat()}.")
    lines = ["# The exploratory table under the thesis code's stop rule", "", stamp, "",
             "Generated by `scripts/stop_rule_rejudge.py` (its docstring: how). The exploratory campaign ran with "
             "`stop_rule: last_T`; the jobs whose T does not divide the steps were rerun under `period` (the rule of "
             "the thesis's appendix loop) and put in their cells of the published data; every other job is the same "
             "run under both rules (same identity).", "",
             f"## Rows that changed ({len(changed)} of {n_rows})", "",
             "| claim | old verdict | old estimate [95%] | old point | new verdict | new estimate [95%] | new point |",
             "|---|---|---|---|---|---|---|"]
    for r in changed:
        lines.append(f"| {r['claim']} | {r['old_verdict']} | {_num(r['old_estimate'])} {r['old_ci']} | {r['old_at']} | "
                     f"{r['new_verdict']} | {_num(r['new_estimate'])} {r['new_ci']} | {r['new_at']} |")
    lines += ["", "## Cells rerun (mean over seeds)", "", "| study | width | A | T | quantity | last_T | period |",
              "|---|---|---|---|---|---|---|"]
    for c in cells:
        lines.append(f"| {c['study']} | {c['width']} | {c['A']:g} | {c['T']:g} | {c['var']} | {c['old']:.4f} | "
                     f"{c['new']:.4f} |")
    if reruns:
        lines += ["", "## Confirm files trained again (fresh seeds, period)", "",
                  "| key | chosen before (A, T) | chosen now (A, T) |", "|---|---|---|"]
        lines += [f"| {r['key']} | {r['old'][0]:g}, {r['old'][1]:g} | {r['new'][0]:g}, {r['new'][1]:g} |"
                  for r in reruns]
    Path(out).write_text("\n".join(lines) + "\n")
    buf = io.StringIO()
    if changed:
        w = csv.DictWriter(buf, fieldnames=list(changed[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(changed)
    Path(out).with_suffix(".csv").write_text(buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())

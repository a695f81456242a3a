"""Train the jobs of thresholds studies and keep their full-resolution loss traces.

Each job is ``python -m dynloss thresholds ... --out <job.nc> --traces-out <traces.nc>``, the
same command the Snakemake rule runs plus the traces, so the onset definitions can be re-run
later (``python -m dynloss onsets``) without retraining. Jobs whose output exists are skipped;
``--parallel`` jobs run at once. Afterwards ``python -m dynloss run-study <study> --results ...``
combines, fits and draws (it skips the jobs already done).

    python scripts/threshold_traces.py fig3_6 fig4_4 fig4_8 --scale paper --widths 100 \\
        --results results/paper_w100 --parallel 2
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from dynloss import config as cfgmod
from dynloss.plan import Plan


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="+")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--results", default=None)
    ap.add_argument("--widths", default=None, help="comma list of widths to keep")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--onset", default=None,
                    help="comma list of onset definitions instead of the config's (e.g. visible,growing: "
                    "mode replays every run and costs several times the training)")
    a = ap.parse_args(argv)
    overrides = {k: v for k, v in (("scale", a.scale), ("results", a.results)) if v is not None}
    cfg = cfgmod.load_config(cfgmod.CONFIG_PATH, **overrides)
    if a.onset:
        for name in a.studies:
            cfg["studies"][name]["onset"] = a.onset.split(",")
    widths = None if a.widths is None else {int(w) for w in a.widths.split(",")}
    todo = []
    plan = Plan(cfg)
    for name in a.studies:
        for job in plan.jobs(name):
            if widths is not None and job.request.spec.width not in widths:
                continue
            out = job.out
            if os.path.exists(out):
                continue
            tr = f"{cfg['results']}/{name}/traces/{job.stem}.nc"
            os.makedirs(os.path.dirname(out), exist_ok=True)
            os.makedirs(os.path.dirname(tr), exist_ok=True)
            args = job.argv()
            if "--traces-out" not in args:
                args += ["--traces-out", tr]
            cmd = [sys.executable, "-m", "dynloss", "thresholds", *args, "--out", out, "-q"]
            todo.append((out, cmd))
    print(f"{len(todo)} job(s) to run", flush=True)
    running: list[tuple[str, subprocess.Popen, float]] = []
    t_all = time.time()
    failed = 0
    while todo or running:
        while todo and len(running) < a.parallel:
            out, cmd = todo.pop(0)
            log = open(out[:-3] + ".log", "w")
            running.append((out, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), time.time()))
            print(f"start {out}", flush=True)
        time.sleep(2)
        for item in list(running):
            out, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                failed += proc.returncode != 0
                print(f"done  {out} rc={proc.returncode} in {time.time() - t0:.0f} s", flush=True)
    print(f"all done in {time.time() - t_all:.0f} s, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

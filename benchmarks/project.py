#!/usr/bin/env python
"""Projected paper-scale wall time of every study, from measured per-job throughput.

    python benchmarks/project.py [--steps 500] [--scale paper]

For each distinct job shape of the configuration (loss, width, runs per job, spectra) it trains a
short run of ``--steps`` steps on this machine's default JAX backend, measures run-steps/s
(compilation excluded) and the job overhead (process start-up + compilation), and projects
``sum over jobs of (runs x steps / rate + overhead)`` per study, with jobs run one after another
(``--resources gpu=1``). Thresholds jobs are counted twice their training (the replay to each
run's onset is at most one more pass). Writes ``results/benchmarks/projection-<backend>.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def startup_seconds() -> float:
    """A job's process start-up: Python, JAX and the package, up to a live backend."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import jax, dynloss.engine, dynloss.netcdf; jax.devices()"],
                   check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def measure(loss: str, width: int, runs: int, steps: int, record_every: int, spectra: dict, dtype: str,
            data: tuple = ("spiral", ()), lr: float = 0.0) -> dict:
    """Run-steps/s and compile time of a short run of this shape on its data set (``(name, params)``)."""
    from dynloss import engine
    from dynloss.spec import RunBatch, SpectraSpec, TrainSpec

    spec = TrainSpec(loss=loss, width=width, steps=steps, record_every=record_every, chunk_steps=steps,
                     dtype=dtype, stop_rule="never", spectra=SpectraSpec(**spectra), data=data[0],
                     data_params=data[1])
    lr = lr or (1.0 if loss in ("ce", "dce") else 0.075)
    batch = RunBatch.make(range(runs), 10.0, 1000.0, lr)
    r = engine.train(spec, batch)
    return {"rate": runs * steps / r.timings["run_s"], "compile_s": r.timings["compile_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=500, help="steps per measurement (a multiple of 100)")
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--configfile", default=None, help="a config file merged over config.yaml (as snakemake's)")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--only-studies", default="", help="comma list: project these studies only")
    a = ap.parse_args()
    import jax

    from dynloss import config
    from dynloss.plan import Plan

    if a.configfile:
        user = config.load_yaml(Path(a.configfile))
        cfg = config.prepare(config.deep_merge(config.load_yaml(config.CONFIG_PATH), {**user, "scale": a.scale}),
                             user=user)
    else:
        cfg = config.load_config(scale=a.scale)
    plan = Plan(cfg)
    dtype = cfg["dtype"]
    start = startup_seconds()
    cache: dict[tuple, dict] = {}

    def rate(key, **kw):
        if key not in cache:
            cache[key] = measure(**kw)
            print(json.dumps({"shape": list(map(str, key)), **{k: round(v, 2) for k, v in cache[key].items()}}),
                  flush=True)
        return cache[key]

    rows = []
    only = [n for n in a.only_studies.split(",") if n]
    for name, st in cfg["studies"].items():
        if only and name not in only:
            continue
        kind = st["kind"]
        from dynloss import data as data_sets

        data = data_sets.job_data(plan.data(name))
        lr = float(st.get("lr") or 0.0)
        total, n_jobs = 0.0, 0
        if kind in ("contour", "curves", "replication"):
            for job in plan.jobs(name):
                width, runs = job.request.spec.width, job.request.runs()
                m = rate(("point", st["loss"], width, runs, data[0]), loss=st["loss"], width=width, runs=runs,
                         steps=a.steps, record_every=100, spectra={}, dtype=dtype, data=data, lr=lr)
                total += runs * st["steps"] / m["rate"] + m["compile_s"] + start
                n_jobs += 1
        elif kind == "dynamics":
            sp = {"hess_every": st["hess_every"], "hess_order": st["hess_order"], "ntk_every": st["ntk_every"],
                  "ntk_points": st["ntk_points"]}
            m = rate(("dynamics", st["loss"], st["width"], tuple(sorted(sp.items())), data[0]), loss=st["loss"],
                     width=st["width"], runs=1, steps=a.steps, record_every=1, spectra=sp, dtype=dtype, data=data,
                     lr=lr)
            total = st["steps"] / m["rate"] + m["compile_s"] + start
            n_jobs = 1
        elif kind == "thresholds":
            for job in plan.jobs(name):
                width, runs = job.request.spec.width, len(job.request.seeds)
                m = rate(("thresholds", st["loss"], width, runs, data[0]), loss=st["loss"], width=width, runs=runs,
                         steps=a.steps, record_every=1, spectra={"hess_every": st["hess_every"],
                                                                  "hess_order": st["hess_order"]}, dtype=dtype,
                         data=data, lr=float(getattr(job.request, "lr", 0.0) or 0.0))
                total += 2 * runs * st["steps"] / m["rate"] + m["compile_s"] + start
                n_jobs += 1
        else:
            continue
        rows.append({"study": name, "kind": kind, "jobs": n_jobs, "hours": round(total / 3600, 3)})
        print(json.dumps(rows[-1]), flush=True)
    info = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "scale": a.scale, "startup_s": round(start, 2), "measure_steps": a.steps,
            "shapes": {" ".join(map(str, k)): v for k, v in cache.items()}, "studies": rows,
            "total_hours": round(sum(r["hours"] for r in rows), 2)}
    print(f"\nbackend {info['backend']} ({info['devices'][0]}), start-up {start:.1f} s per job")
    for r in rows:
        print(f"{r['study']:8} {r['kind']:10} {r['jobs']:4d} jobs  {r['hours']:9.2f} h")
    print(f"total {info['total_hours']:.1f} h (jobs one after another)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"projection-{info['backend']}.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

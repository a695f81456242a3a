#!/usr/bin/env python
"""Benchmark the training engine against the thesis-style loop, in one run.

    python benchmarks/run.py            # the full set (a few minutes on 2 CPU cores)
    python benchmarks/run.py --quick    # smaller workloads

Every ratio is (our run-steps/s) / (baseline run-steps/s) measured in this same process run,
alternating baseline and engine, best of ``--repeats``; compilation and first executions are
excluded on both sides (the baseline calls each jitted function once before timing; the engine
trains once untimed, then times a second training; its compile time is reported separately).
Workloads:

- ``sweep``: dynamical CE, S seeds x n steps, widths 100 and 1000, float32 and float64; final
  train/test accuracy, and loss curves at stride 100 (the baseline evaluates its metrics every step,
  as the thesis notebook did);
- ``dynamics``: one run, float64, NTK of X[:50] every step and Lanczos order 10 every 100 steps
  (the engine at its default chunking, which measures chunk k on a second thread while chunk
  k + 1 trains);
- ``matmul``: a dense square matrix product in JAX, the machine's reference FLOP rate. The engine's
  achieved rate counts the matrix-product FLOPs of forward + backward per step,
  ``2 P W (2 D + 3 C)`` (P points, W width, D = 2 inputs, C = 3 classes).

Writes a table to stdout and ``results/benchmarks/<stamp>.json`` (+ ``latest.json``), and replaces the
"latest run" section of ``benchmarks/RESULTS.md`` with it (``--no-results-md``: not).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DEFAULT_BASELINE = ROOT / "benchmarks" / "seed_loop.py"
P, D, C = 300, 2, 3


def baseline(script: Path, workload: str, seeds: int, steps: int, width: int, x64: bool) -> dict:
    cmd = [sys.executable, str(script), workload, "--steps", str(steps), "--width", str(width)]
    if workload == "sweep":
        cmd += ["--seeds", str(seeds)]
    if x64:
        cmd.append("--x64")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine(workload: str, seeds: int, steps: int, width: int, x64: bool) -> dict:
    import jax

    from dynloss import engine as dynloss_engine
    from dynloss.spec import RunBatch, SpectraSpec, TrainSpec

    if workload == "sweep":
        spec = TrainSpec(loss="dce", width=width, steps=steps, record_every=100, chunk_steps=steps,
                         dtype="float64" if x64 else "float32")
    else:
        # default chunking: with measurements the engine pipelines them beside the training
        spec = TrainSpec(loss="dce", width=width, steps=steps, record_every=1,
                         dtype="float64" if x64 else "float32",
                         spectra=SpectraSpec(ntk_every=1, ntk_points=50, hess_every=100, hess_order=10))
    batch = RunBatch.make(range(seeds), 10.0, 500.0, 1.0)  # the baseline's defaults
    # warm-up run, like the baseline's: compiles and executes every program once, untimed
    compile_s = dynloss_engine.train(spec, batch).timings["compile_s"]
    r = dynloss_engine.train(spec, batch)
    return {"runs": seeds, "steps": steps, "seconds": r.timings["run_s"], "compile_s": compile_s,
            "run_steps_per_s": seeds * steps / r.timings["run_s"], "backend": jax.default_backend(),
            "final_train_acc": float(r.final_train_acc.mean()), "test_acc": float(r.test_acc.mean())}


def engine_subprocess(workload: str, seeds: int, steps: int, width: int, x64: bool) -> dict:
    """:func:`engine` in a fresh process, like the baseline (so float32 runs without x64 on)."""
    cmd = [sys.executable, __file__, "--engine", workload, str(seeds), str(steps), str(width), str(int(x64))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_rate(x64: bool, n: int = 1024, reps: int = 10) -> float:
    import jax
    import jax.numpy as jnp

    if x64:
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if x64 else jnp.float32
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def flops_per_step(width: int) -> int:
    return 2 * P * width * (2 * D + 3 * C)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--engine":  # internal: one engine measurement
        w, s_, n, width, x64 = sys.argv[2:7]
        print(json.dumps(engine(w, int(s_), int(n), int(width), bool(int(x64)))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default=str(DEFAULT_BASELINE), help="path of seed_loop.py")
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; the best counts")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--no-results-md", action="store_true", help="do not update benchmarks/RESULTS.md")
    a = ap.parse_args()
    script = Path(a.baseline)
    if not script.exists():
        print(f"benchmark: baseline {script} not found (--baseline)", file=sys.stderr)
        return 2
    q = a.quick
    cases = [
        ("sweep", 100, False, 8, 1000 if q else 2000),
        ("sweep", 100, True, 8, 1000 if q else 2000),
        ("sweep", 1000, False, 2, 200 if q else 500),
        ("sweep", 1000, True, 2, 200 if q else 500),
        ("dynamics", 100, True, 1, 500 if q else 2000),
    ]
    rows = []
    for workload, width, x64, seeds, steps in cases:
        base, ours = [], []
        for _ in range(a.repeats):
            base.append(baseline(script, workload, seeds, steps, width, x64))
            ours.append(engine_subprocess(workload, seeds, steps, width, x64))
        b = max(base, key=lambda r: r["run_steps_per_s"])
        o = max(ours, key=lambda r: r["run_steps_per_s"])
        row = {"workload": workload, "width": width, "dtype": "float64" if x64 else "float32",
               "seeds": seeds, "steps": steps, "baseline_run_steps_per_s": b["run_steps_per_s"],
               "engine_run_steps_per_s": round(o["run_steps_per_s"], 1), "engine_compile_s": round(o["compile_s"], 2),
               "ratio": round(o["run_steps_per_s"] / b["run_steps_per_s"], 2),
               "engine_gflops": round(o["run_steps_per_s"] * flops_per_step(width) / 1e9, 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    dense = {"float32": matmul_rate(False), "float64": matmul_rate(True)}
    for row in rows:
        if row["workload"] == "sweep":
            row["fraction_of_dense_matmul"] = round(row["engine_gflops"] / dense[row["dtype"]], 3)
    targets = {
        "sweep width 100 >= 20x (float32)": next(
            r["ratio"] for r in rows if r["workload"] == "sweep" and r["width"] == 100 and r["dtype"] == "float32"),
        "sweep width 100 >= 20x (float64)": next(
            r["ratio"] for r in rows if r["workload"] == "sweep" and r["width"] == 100 and r["dtype"] == "float64"),
        "dynamics >= 50x": next(r["ratio"] for r in rows if r["workload"] == "dynamics"),
        "width-1000 FLOP rate >= 25% of dense (float32)": next(
            r["fraction_of_dense_matmul"] for r in rows if r["width"] == 1000 and r["dtype"] == "float32"),
        "width-1000 FLOP rate >= 25% of dense (float64)": next(
            r["fraction_of_dense_matmul"] for r in rows if r["width"] == 1000 and r["dtype"] == "float64"),
    }
    import jax

    info = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": platform.node(), "cpu_count": os.cpu_count(),
            "jax": jax.__version__, "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "dense_matmul_gflops": {k: round(v, 1) for k, v in dense.items()}, "rows": rows, "targets": targets,
            "command": " ".join([Path(sys.executable).name] + sys.argv)}
    print()
    print(f"{'workload':9} {'width':>5} {'dtype':7} {'baseline/s':>11} {'engine/s':>10} {'ratio':>6} "
          f"{'GFLOP/s':>8} {'of dense':>8}")
    for r in rows:
        print(f"{r['workload']:9} {r['width']:5d} {r['dtype']:7} {r['baseline_run_steps_per_s']:11.1f} "
              f"{r['engine_run_steps_per_s']:10.1f} {r['ratio']:6.1f} {r['engine_gflops']:8.2f} "
              f"{r.get('fraction_of_dense_matmul', float('nan')):8.3f}")
    print(f"dense matmul (1024^2, JAX): float32 {dense['float32']:.1f} GFLOP/s, float64 {dense['float64']:.1f} GFLOP/s")
    for k, v in targets.items():
        print(f"target {k}: measured {v}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"{stamp}.json", "latest.json"):
        (out / name).write_text(json.dumps(info, indent=2))
    print(f"wrote {out / (stamp + '.json')}")
    if not a.no_results_md:
        update_results_md(info, ROOT / "benchmarks" / "RESULTS.md")
        print(f"updated {ROOT / 'benchmarks' / 'RESULTS.md'}")
    return 0


BEGIN, END = "<!-- benchmarks/run.py: begin -->", "<!-- benchmarks/run.py: end -->"


def update_results_md(info: dict, path: Path) -> None:
    """Replace the section between :data:`BEGIN` and :data:`END` of ``RESULTS.md`` (appended if
    absent) with this run's table: the measured ratios, machine and command."""
    lines = [BEGIN, "## Engine against the thesis-style loop (`benchmarks/run.py`, latest run)", "",
             f"Measured {info['created']} on {info['host']} ({info['cpu_count']} CPUs, JAX {info['jax']}, "
             f"backend {info['backend']}, {info['devices'][0]}); command `{info['command']}`. Ratios are engine "
             "run-steps/s over the baseline's, measured in the same run.", "",
             "| workload | width | dtype | baseline run-steps/s | engine run-steps/s | ratio |",
             "|---|---|---|---|---|---|"]
    for r in info["rows"]:
        lines.append(f"| {r['workload']} | {r['width']} | {r['dtype']} | {r['baseline_run_steps_per_s']:.1f} | "
                     f"{r['engine_run_steps_per_s']:.1f} | {r['ratio']:.1f} |")
    lines += ["", f"Dense matmul reference: float32 {info['dense_matmul_gflops']['float32']} GFLOP/s, float64 "
              f"{info['dense_matmul_gflops']['float64']} GFLOP/s.", END]
    text = path.read_text() if path.exists() else "# Measured results quoted by the code\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + "\n".join(lines) + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

"""Two (or more) same-shaped `engine.train` calls in one process: what the first pays to compile and
what the next ones pay.

The jobs differ in data seed, test spirals, seeds, A, T and eta, as the jobs of a study do; their
structure (loss, width, steps, chunk length, runs per batch) is the same. Prints one line per call
(wall time, the engine's `compile_s` and `run_s`, JAX's lowerings and XLA compiles during the call,
the load average) and the ratio of the first call's wall time to the later ones'.

    python benchmarks/compile_once.py                       # width 100, 10 runs, 2000 steps
    python benchmarks/compile_once.py --width 16 --steps 300 --runs 2 --calls 3

Written to run at any commit since the engine's restructuring (only `engine.train` is used), so the
same command measures the code before and after a change; leave the persistent compilation cache
unset (the default here) to measure compiling, not loading.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import jax  # noqa: E402

from dynloss import engine  # noqa: E402
from dynloss.spec import RunBatch, TrainSpec  # noqa: E402

EVENTS = {"/jax/core/compile/jaxpr_to_mlir_module_duration": 0, "/jax/core/compile/backend_compile_duration": 0}


def _count(event: str, duration: float, **kwargs) -> None:
    if event in EVENTS:
        EVENTS[event] += 1


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", default="dce")
    ap.add_argument("--width", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--calls", type=int, default=2)
    a = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    jax.monitoring.register_event_duration_secs_listener(_count)
    print(f"jax {jax.__version__}, {jax.default_backend()}, {a.loss} width {a.width}, {a.runs} runs x {a.steps} steps")
    walls = []
    for call in range(a.calls):
        tests = tuple(range(1 + 5 * call, 6 + 5 * call))
        spec = TrainSpec(loss=a.loss, width=a.width, steps=a.steps,
                         data_params=(("train_seed", 13 + call), ("test_seeds", tests)))
        seeds = list(range(call * a.runs, (call + 1) * a.runs))
        batch = RunBatch.make(seeds, 1.0 + call, 100.0 + 10 * call, 1.0 - 0.1 * call)
        before = tuple(EVENTS.values())
        start = time.perf_counter()
        r = engine.train(spec, batch)
        walls.append(time.perf_counter() - start)
        lowered, compiled = (n - b for n, b in zip(EVENTS.values(), before))
        print(f"call {call + 1}: {walls[-1]:.2f} s (compile_s {r.timings['compile_s']:.2f}, run_s "
              f"{r.timings['run_s']:.2f}); {lowered} lowerings, {compiled} XLA compiles; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
    if len(walls) > 1:
        later = sum(walls[1:]) / len(walls[1:])
        print(f"first call / later calls: {walls[0] / later:.1f}x")


if __name__ == "__main__":
    main()

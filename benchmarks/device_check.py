#!/usr/bin/env python
"""The prepared device check: one script, sized for 8 minutes on one H100/H200, that writes a stamped
result file (``docs/device_check.md`` by default).

    python benchmarks/device_check.py [--wheels DIR] [--seeds 10] [--out docs/device_check.md]

Steps, in order (each with its own time limit; a step that fails or times out is recorded and the
next one runs):

The limits add up to 8 minutes (480 s).

1. ``install``: a fresh venv from the CUDA 12 lock, offline, from wheels carried in ``--wheels``
   (``pip download --no-deps --require-hashes -r envs/lock-cuda12.txt -d DIR`` on a host with
   internet; ``--platform manylinux_2_28_x86_64 --python-version 3.11 --only-binary :all:`` from
   elsewhere). Without ``--wheels`` the current Python is used.
2. ``backend``: JAX's devices and the backend check of ``accelerator: cuda12``.
3. ``plan``: ``snakemake -n`` at scale ``tiny`` with ``accelerator: auto``: the accelerator and
   granularity the workflow picks on this machine (also runs without a GPU).
4. ``workflow``: the tiny workflow on the GPU (``snakemake --cores 4 --resources gpu=1``, ``auto``).
5. ``fig3_4_w1000_float64`` and ``_float32``: figure 3.4's paper-scale width-1000 job as planned
   with ``granularity: width`` (every (A, T) point, 35000 steps) for ``--seeds`` seeds, in float64
   (the thesis's) and float32; then their final accuracies' difference and the run-step rate, and
   from it a projection of figure 3.4 at width 1000 with all 50 seeds.
6. ``benchmarks``: ``benchmarks/run.py --quick`` (the engine against the thesis-style loop).

Steps 2 and 4-6 need an NVIDIA GPU (``nvidia-smi -L``); without one they are recorded as skipped
with their commands, so the file says what was not measured.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: how the report names the check's temporary folder
WORK = "$WORK"
sys.path.insert(0, str(ROOT / "src"))

from dynloss import accelerator, config, provenance  # noqa: E402
from dynloss.plan import Plan  # noqa: E402


@dataclass
class Step:
    """One step of the check: its command, limit and outcome."""

    name: str
    command: list[str]
    limit_s: int
    gpu: bool = True
    status: str = "not run"
    wall_s: float = 0.0
    output: str = ""
    notes: list[str] = field(default_factory=list)


def w1000_argv(seeds: int, dtype: str, out: Path) -> list[str]:
    """``dynloss train`` arguments of figure 3.4's paper-scale width-1000 whole-width job, cut to
    ``seeds`` seeds and run in ``dtype``."""
    cfg = config.load_config(accelerator="cuda12", granularity="width")
    job = next(j for j in Plan(cfg).jobs("fig3_4") if j.request.spec.width == 1000 and j.request.grid)
    argv = job.argv()
    argv[argv.index("--seeds") + 1] = f"0-{seeds - 1}"
    argv[argv.index("--dtype") + 1] = dtype
    return ["-m", "dynloss", "train", *argv, "--out", str(out)]


def steps(python: str, work: Path, a: argparse.Namespace) -> list[Step]:
    """The steps of the check, run with ``python`` (the fresh venv's, once installed)."""
    tiny = ["--config", "scale=tiny", f"results={work}/results", f"jax_cache={work}/jax_cache"]
    snakemake = [python, "-m", "snakemake"]
    out = []
    if a.wheels:
        out.append(Step("install", ["bash", "-c", install_script(Path(a.wheels), work / "venv")], 90, gpu=False))
    out += [
        Step("backend", [python, "-c", "import sys, jax; from dynloss import accelerator; print(jax.devices()); "
                         "print(accelerator.check_backend(sys.argv[1]))", "cuda12"], 30),
        Step("plan", [*snakemake, "-n", *tiny], 30, gpu=False),
        Step("workflow", [*snakemake, "--cores", "4", "--resources", "gpu=1", *tiny], 120),
        Step("fig3_4_w1000_float64", [python, *w1000_argv(a.seeds, "float64", work / "w1000_float64.nc")], 90),
        Step("fig3_4_w1000_float32", [python, *w1000_argv(a.seeds, "float32", work / "w1000_float32.nc")], 60),
        Step("benchmarks", [python, str(ROOT / "benchmarks" / "run.py"), "--quick", "--no-results-md",
                            "--out", str(work / "benchmarks"),
                            *(["--baseline", a.baseline] if a.baseline else [])], 60),
    ]
    return out


def install_script(wheels: Path, venv: Path) -> str:
    """Shell lines that install the CUDA 12 lock and the package into ``venv`` from ``wheels``, offline."""
    pip = f"{shlex.quote(str(venv))}/bin/python -m pip"
    return (f"python3 -m venv {shlex.quote(str(venv))} && "
            f"{pip} install -q --no-index --find-links {shlex.quote(str(wheels))} --no-deps --require-hashes "
            f"-r {shlex.quote(str(ROOT / 'envs' / 'lock-cuda12.txt'))} && "
            f"{pip} install -q --no-index --no-deps --no-build-isolation -e {shlex.quote(str(ROOT))}")


def run(step: Step, gpu: bool) -> None:
    """Run one step within its limit (or record why not)."""
    if step.gpu and not gpu:
        step.status = "skipped: no GPU visible (nvidia-smi -L lists none)"
        return
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), XLA_PYTHON_CLIENT_PREALLOCATE="false")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(step.command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=step.limit_s)
        step.status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        step.output = (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired as exc:
        step.status = f"timed out after {step.limit_s} s"
        step.output = (_text(exc.stdout) + _text(exc.stderr))[-3000:]
    step.wall_s = time.perf_counter() - t0


def _text(captured) -> str:
    """What a timed-out process had written (bytes, text or nothing)."""
    if isinstance(captured, bytes):
        return captured.decode(errors="replace")
    return captured or ""


def plan_line(step: Step) -> None:
    """The accelerator and granularity line of a dry run, as a note."""
    m = re.search(r"dynloss: accelerator \S+, granularity \w+", step.output)
    if m:
        step.notes.append(m.group(0))


def compare_dtypes(f64: Path, f32: Path) -> dict[str, float]:
    """Final accuracies of the same runs in float64 and float32: the largest and mean absolute
    difference (train and test), and the runs whose outcome differs by more than 0.05."""
    import numpy as np
    import xarray as xr

    out = {}
    with xr.open_dataset(f64, engine="netcdf4") as a, xr.open_dataset(f32, engine="netcdf4") as b:
        for var in ("final_train_acc", "final_test_acc"):
            diff = np.abs(a[var].values.astype(float) - b[var].values.astype(float))
            out[f"{var} max |f64 - f32|"] = float(np.nanmax(diff))
            out[f"{var} mean |f64 - f32|"] = float(np.nanmean(diff))
            out[f"{var} runs differing by > 0.05"] = float(np.sum(diff > 0.05))
    return out


def rate_notes(step: Step, seeds: int) -> None:
    """Run-steps per second of a width-1000 job and the projection to all 50 seeds of the study."""
    cfg = config.load_config(accelerator="cuda12", granularity="width")
    st = cfg["studies"]["fig3_4"]
    run_steps = len(st["A"]) * len(st["T"]) * seeds * st["steps"]
    step.notes.append(f"{run_steps:.3g} run-steps in {step.wall_s:.0f} s (with start-up and compilation): "
                      f"{run_steps / step.wall_s:,.0f} run-steps/s")
    step.notes.append(f"projected figure 3.4 at width 1000, {st['seeds']} seeds: "
                      f"{step.wall_s * st['seeds'] / seeds / 60:.0f} min")


def report(all_steps: list[Step], gpu: bool, seconds: float, dtypes: dict[str, float], work: Path) -> str:
    """The stamped Markdown result."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Device check", "",
             f"Written by `python benchmarks/device_check.py` on {stamp}, commit {provenance.git_commit()}, "
             f"host {os.uname().nodename}, {gpu_name() if gpu else 'no GPU visible'}; {seconds:.0f} s in all.", "",
             "| step | status | wall s | notes |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.status} | {s.wall_s:.1f} | {'; '.join(s.notes)} |" for s in all_steps]
    if dtypes:
        lines += ["", "float64 against float32 (the same runs):", ""] + [f"- {k}: {v:.4g}" for k, v in dtypes.items()]
    lines += ["", f"Commands (from the repository root; {WORK} is the check's temporary folder):", ""]
    lines += [f"- {s.name}: `{shown(s.command, work)}`" for s in all_steps]
    return "\n".join(lines) + "\n"


def shown(command: list[str], work: Path) -> str:
    """A command as the report shows it: the repository as ``.``, the temporary folder as :data:`WORK`,
    this Python as ``python``."""
    text = shlex.join(command).replace(str(work), WORK).replace(sys.executable, "python")
    return text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")


def gpu_name() -> str:
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return out.stdout.strip().replace("\n", "; ") or "an NVIDIA GPU"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheels", default=None, help="folder of the CUDA 12 lock's wheels (install offline from it)")
    ap.add_argument("--seeds", type=int, default=10, help="seeds of the width-1000 jobs (the paper has 50)")
    ap.add_argument("--baseline", default=None, help="seed_loop.py for benchmarks/run.py (its default otherwise)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "device_check.md"))
    a = ap.parse_args(argv)
    gpu = accelerator.gpu_visible()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dynloss-device-") as tmp:
        work = Path(tmp)
        python = str(work / "venv" / "bin" / "python") if a.wheels else sys.executable
        all_steps = steps(python, work, a)
        for step in all_steps:
            run(step, gpu)
        plan_line(next(s for s in all_steps if s.name == "plan"))
        backend = next(s for s in all_steps if s.name == "backend")
        backend.notes += backend.output.strip().splitlines()[-2:] if backend.status == "ok" else []
        dtypes = {}
        for s in all_steps:
            if s.name.startswith("fig3_4_w1000") and s.status == "ok":
                rate_notes(s, a.seeds)
        if all(s.status == "ok" for s in all_steps if s.name.startswith("fig3_4_w1000")) and gpu:
            dtypes = compare_dtypes(work / "w1000_float64.nc", work / "w1000_float32.nc")
        text = report(all_steps, gpu, time.perf_counter() - t0, dtypes, work)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)
    return 0 if all(s.status == "ok" or s.status.startswith("skipped") for s in all_steps) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""The prepared device check: one script that runs in under 8 minutes on the GPU machine it will meet
and writes its report (``docs/device_check.md`` by default) after every step.

    python benchmarks/device_check.py --prepare-wheels [--python-version 3.12]   # here, with internet
    python3 benchmarks/device_check.py --wheels .whl/device --out OUT.md          # there, no internet
    python benchmarks/device_check.py --dry                                       # anywhere: GPU steps skipped

The machine it will meet has no network, its own Python (3.12) and JAX (not the pinned 0.5.3), xarray
and h5py, but no Snakemake and no netCDF4; what the check needs besides travels with the working tree
(64 MiB in all). ``--prepare-wheels`` downloads those wheels into ``.whl/device`` (git-ignored, about
25 MB): Snakemake with its dependencies and netCDF4 with cftime, at the versions of
``envs/lock-cpu.txt``, for ``--python-version`` on Linux x86_64 (pulp, Snakemake's optional ILP solver,
16 MB, is left out: the workflow step runs ``--scheduler greedy``). Everything the machine's JAX already
brings (numpy, scipy, xarray, pandas, packaging) is not carried.

Steps, in order, each within its own time limit and all within an overall deadline
(:data:`DEADLINE_S`, 7.5 minutes; a step never starts with less than its minimum left, and its limit is
cut to what is left). A step that fails or times out is recorded with its output's tail and the next
one runs; the report is rewritten after every step.

1. ``install``: a venv with the machine's packages (``--system-site-packages``) plus the carried
   wheels (``pip install --no-index --no-deps``); the check then re-runs itself in it.
2. ``backend``: Python, JAX and jaxlib versions, the CUDA and cuDNN versions JAX runs with, the devices,
   and the backend check of ``accelerator: cuda12``.
3. ``plan``: ``snakemake -n`` at scale ``tiny`` with ``accelerator: auto``.
4. ``paper_w100_float64``, ``paper_w100_float32``, ``paper_w1000_float64``, ``paper_w1000_float32``:
   figure 3.4's paper-scale whole-width job at width 100 and 1000, a subset sized to fit
   (:func:`size`): the job's own batch of runs (as many as its memory budget lets one program train,
   spread over its (A, T, seed) runs) and as many steps as take :data:`FRACTION` of the float64 step's
   limit at the project's estimated rate (:data:`dynloss.resources.RUN_STEPS_PER_S`). Both dtypes train
   the same runs **from the same float64 initial weights**: the float32 job's weights are drawn in
   float64 and cast (:func:`same_init_problem`; only here: the engine draws a float32 job's weights in
   float32, and changing that would change every float32 result already computed). Measured: the
   run-step rate (compilation excluded), the compilation and the process's start-up; then the final
   accuracies of float64 against float32, run by run.
5. ``workflow``: the tiny workflow's training and aggregation (a contour study and a dynamics study; no
   figures, which would need matplotlib) with ``accelerator: auto``, ``--cores 4 --resources gpu=1``.
6. ``projection``: the paper-scale wall time per study, jobs one after another on one GPU, from the
   measured rates (width 100 and 1000; other widths interpolated on log width) and start-up; from the
   project's estimates where nothing was measured, which the table says.

``--dry`` skips the GPU steps (recorded as skipped, with their commands) and runs the rest: the plan, the
sizing and the projection from the project's estimates.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: how the report names the check's temporary folder
WORK = "$WORK"
#: the whole check's deadline in seconds (the machine's limit is 8 minutes; 30 s are left for the
#: start of Python and the last report)
DEADLINE_S = 450.0
#: what the report keeps of a step's output (characters)
TAIL = 4000
#: the share of a paper-job step's limit that its training takes at the project's estimated rate: the
#: rest is the process's start-up, JAX's compilation and a margin of 4x over the estimate
FRACTION = 0.25
#: the paper study whose whole-width jobs the check measures, and the widths
STUDY, WIDTHS = "fig3_4", (100, 1000)
#: the fewest steps a measured job trains (its recording cadence is 100 at paper scale)
MIN_STEPS = 200
#: where --prepare-wheels puts the wheels the GPU machine lacks (git-ignored)
WHEELS = ROOT / ".whl" / "device"
#: what the GPU machine's own JAX stack brings: never carried
PROVIDED = ("numpy", "scipy", "jax", "jaxlib", "xarray", "pandas", "packaging", "ml-dtypes", "opt-einsum")
#: the roots of what is carried (with their dependencies in envs/lock-cpu.txt), and what is left out
CARRIED, LEFT_OUT = ("snakemake", "netcdf4", "jsonschema", "pyyaml"), ("pulp",)


@dataclass
class Step:
    """One step of the check: its command, limits and outcome."""

    name: str
    command: list[str]
    limit_s: float
    gpu: bool = True
    #: the least time it needs; it does not start with less left before the deadline
    min_s: float = 10.0
    status: str = "not run"
    wall_s: float = 0.0
    output: str = ""
    notes: list[str] = field(default_factory=list)


# -- sizing -----------------------------------------------------------------------------------------

def estimated_rate(width: int, accelerator: str = "cuda12") -> float:
    """The project's estimate of run-steps/s at ``width`` (:mod:`dynloss.resources`: the width-100 rate,
    inversely proportional to the width from 100 up)."""
    from dynloss import resources

    return resources.RUN_STEPS_PER_S[accelerator] * 100 / max(width, 100)


def paper_job(width: int):
    """Figure 3.4's paper-scale whole-width job at ``width`` (granularity ``width``, on a GPU)."""
    from dynloss import config
    from dynloss.plan import Plan

    cfg = config.load_config(scale="paper", accelerator="cuda12", granularity="width")
    return next(j.request for j in Plan(cfg).jobs(STUDY) if j.request.spec.width == width and j.request.grid)


def size(job, target_s: float, rate: float, budget_gb: float) -> tuple[int, int]:
    """Runs and steps of a measured subset of ``job``: the batch one program of the job trains (all its
    runs, or as many as fit ``budget_gb`` as the GPU batches them) and the steps that take ``target_s``
    at ``rate`` run-steps/s, a multiple of the recording cadence, at least :data:`MIN_STEPS` (fewer runs
    then) and at most the job's.

    Returns:
        (runs, steps).
    """
    from dynloss import budget

    spec, cadence = job.spec, job.spec.record_every
    runs = max(1, budget.runs_that_fit(spec, job.runs(), budget_gb, "vmap"))
    steps = int(target_s * rate / runs) // cadence * cadence
    least = max(MIN_STEPS, cadence)
    if steps < least:
        runs, steps = max(1, min(runs, int(target_s * rate / least))), least
    return runs, min(steps, spec.steps)


def subset(job, runs: int, steps: int):
    """The spec and batch of ``runs`` runs of ``job`` spread evenly over its (A, T, seed) order, trained
    for ``steps`` steps."""
    import numpy as np

    from dynloss.spec import RunBatch

    full = job.batch()
    pick = np.unique(np.linspace(0, len(full) - 1, runs).round().astype(int))
    batch = RunBatch.make(full.seeds[pick], full.A[pick], full.T[pick], full.lr[pick])
    from dataclasses import replace

    # five chunks or more (an execution setting: the same numbers), so a rate is known before the end
    cadence = job.spec.record_every
    chunk = max(cadence, min(job.spec.chunk_steps, steps // 5 // cadence * cadence))
    return replace(job.spec, steps=steps, chunk_steps=chunk), batch


# -- the same initial weights in float64 and float32 -----------------------------------------------

def float64_weights(spec, seeds) -> list:
    """The float64 initial weights of seeds ``0 .. max(seeds)`` as the engine draws them for a float64
    job of ``spec``: the leaves of the parameter tree as numpy arrays, one row per seed. Switches JAX's
    float64 mode on (as any float64 job does)."""
    from dataclasses import replace

    import jax
    import jax.numpy as jnp

    from dynloss.engine import make_problem

    p64 = make_problem(replace(spec, dtype="float64"))
    params = jax.vmap(p64.init_params)(jnp.arange(int(max(seeds)) + 1))
    return [jax.device_get(x) for x in jax.tree_util.tree_leaves(params)]


def same_init_problem(spec, leaves: list):
    """The :class:`dynloss.engine.Problem` of ``spec`` whose runs start from ``leaves`` (float64 weights
    of :func:`float64_weights`, one row per seed) cast to the spec's dtype. For a float32 spec JAX's
    float64 mode is switched off first, as a float32 job runs.

    The check's own stand-in for the engine's initialisation (which draws in the job's dtype); a
    float64 spec gets exactly the engine's weights."""
    from dataclasses import dataclass as _dataclass
    from dataclasses import fields

    import jax
    import jax.numpy as jnp

    from dynloss.engine import Problem, make_problem

    if spec.dtype == "float32":
        jax.config.update("jax_enable_x64", False)
    base = make_problem(spec)
    treedef = jax.tree_util.tree_structure(jax.eval_shape(base.init_params, 0))

    @_dataclass(frozen=True, eq=False)
    class CastInit(Problem):
        leaves: tuple = ()
        treedef: object = None

        def init_params(self, seed):
            return jax.tree_util.tree_unflatten(self.treedef, [jnp.asarray(x, self.dtype)[seed] for x in self.leaves])

    return CastInit(**{f.name: getattr(base, f.name) for f in fields(Problem)}, leaves=tuple(leaves),
                    treedef=treedef)


def save_weights(path: Path, leaves: list) -> None:
    import numpy as np

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, *leaves)
    os.replace(tmp, path)


def load_weights(path: Path) -> list:
    import numpy as np

    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


# -- the paper-job worker ---------------------------------------------------------------------------

def paper_worker(width: int, dtype: str, target_s: float, out: Path, weights: Path, budget_gb: float) -> int:
    """One paper-job step (run in its own process): size, train, and write what it measured to ``out``
    (JSON, rewritten as it goes, so a time-out still leaves the sizing)."""
    from dataclasses import replace

    t_start = time.perf_counter()
    import jax

    from dynloss import engine

    record = {"width": width, "dtype": dtype, "jax": jax.__version__, "backend": jax.default_backend(),
              "import_s": round(time.perf_counter() - t_start, 2)}
    job = paper_job(width)
    rate = estimated_rate(width)
    runs, steps = size(job, target_s, rate, budget_gb)
    spec, batch = subset(job, runs, steps)
    record.update(job_runs=job.runs(), job_steps=job.spec.steps, runs=len(batch), steps=steps,
                  estimated_rate=rate, target_s=target_s)
    write_json(out, record)
    problem = None  # float64: the engine's own job, whose weights are saved for the float32 step
    if dtype == "float64":
        save_weights(weights, float64_weights(spec, batch.seeds))
        record["init"] = "float64 (the engine's own draw)"
    else:
        spec = replace(spec, dtype=dtype)
        if weights.exists():
            leaves, record["init"] = load_weights(weights), "the float64 step's initial weights, cast"
        else:
            leaves, record["init"] = float64_weights(spec, batch.seeds), "float64 weights drawn here, cast"
        problem = same_init_problem(spec, leaves)
    def progress(done: int, total: int, elapsed: float) -> None:  # after each chunk: the rate so far
        record.update(steps_done=done, partial_rate=len(batch) * done / elapsed if elapsed > 0 else None)
        write_json(out, record)

    result = engine.train(spec, batch, progress=progress, problem=problem)
    run_s, compile_s = result.timings["run_s"], result.timings["compile_s"]
    record.update(run_s=round(run_s, 3), compile_s=round(compile_s, 3), rate=len(batch) * steps / run_s,
                  process_s=round(time.perf_counter() - t_start, 2),
                  final_train_acc=[float(x) for x in result.final_train_acc],
                  final_test_acc=[float(x) for x in result.test_acc],
                  diverged=int(result.diverged.sum()))
    write_json(out, record)
    print(json.dumps({k: v for k, v in record.items() if not k.startswith("final_")}))
    return 0


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1))


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def compare_dtypes(f64: dict, f32: dict) -> dict[str, float]:
    """Final accuracies of the same runs in float64 and float32 (:func:`paper_worker`'s records): the
    largest and mean absolute difference (train and test), and the runs differing by more than 0.05."""
    import numpy as np

    out = {}
    for var in ("final_train_acc", "final_test_acc"):
        a, b = np.asarray(f64[var], float), np.asarray(f32[var], float)
        if a.shape != b.shape:
            raise ValueError(f"{var}: {a.shape[0]} float64 runs against {b.shape[0]} float32 runs")
        diff = np.abs(a - b)
        out[f"{var} max |f64 - f32|"] = float(np.nanmax(diff))
        out[f"{var} mean |f64 - f32|"] = float(np.nanmean(diff))
        out[f"{var} runs differing by > 0.05"] = float(np.sum(diff > 0.05))
    return out


# -- the projection ---------------------------------------------------------------------------------

def rate_factor(measured: dict[int, float]):
    """``width -> estimated rate / measured rate`` from the widths measured (log-linear in the width
    between them, constant beyond); 1 everywhere when nothing was measured."""
    points = sorted((w, math.log(estimated_rate(w) / r)) for w, r in measured.items() if r and r > 0)

    def factor(width: int) -> float:
        if not points:
            return 1.0
        x = math.log(max(width, 1))
        if x <= math.log(points[0][0]):
            return math.exp(points[0][1])
        for (w0, f0), (w1, f1) in zip(points, points[1:]):
            if x <= math.log(w1):
                t = (x - math.log(w0)) / (math.log(w1) - math.log(w0))
                return math.exp(f0 + t * (f1 - f0))
        return math.exp(points[-1][1])

    return factor


def projection(measured: dict[int, float], overhead_s: float | None, accelerator: str = "cuda12",
               scale: str = "paper") -> list[dict]:
    """Wall time of every study of ``scale`` on one device, jobs one after another: each job's
    :func:`dynloss.resources.train_seconds` scaled by :func:`rate_factor` of the measured rates, plus
    ``overhead_s`` per job (start-up and compilation; the project's estimate when None). Myrtle5 jobs
    stay at the project's images/s.

    Returns:
        One row per study: study, jobs, hours (projected), basis.
    """
    from dynloss import config, resources
    from dynloss.jobs.definition import MyrtleJob
    from dynloss.plan import Plan

    factor = rate_factor(measured)
    over = resources.OVERHEAD_S if overhead_s is None else overhead_s
    rows: dict[str, dict] = {}
    for job in Plan(config.load_config(scale=scale, accelerator=accelerator)).jobs():
        req = job.request
        measured_here = bool(measured) and not isinstance(req, MyrtleJob)
        f = factor(req.spec.width) if measured_here else 1.0
        row = rows.setdefault(job.study, {"study": job.study, "jobs": 0, "seconds": 0.0, "basis": set()})
        row["jobs"] += 1
        row["seconds"] += resources.train_seconds(req, accelerator) * f + over
        row["basis"].add("measured" if measured_here else "estimate")
    out = []
    for row in rows.values():
        basis = "measured rates" if row["basis"] == {"measured"} else "project estimate"
        out.append({"study": row["study"], "jobs": row["jobs"], "hours": row["seconds"] / 3600, "basis": basis})
    return out


def plan_summary(scale: str = "paper") -> dict:
    """What docs/guide.md states from the plan: the training jobs of the default target per granularity
    (:meth:`dynloss.plan.Plan.job_counts`) and the hours of every job one after another per accelerator
    (:func:`projection` from the project's estimates, :mod:`dynloss.resources`: an upper bound, what a
    cluster job asks for), at ``scale``."""
    from dynloss import accelerator, config
    from dynloss.plan import Plan

    counts = Plan(config.load_config(scale=scale, accelerator="cpu")).job_counts()
    hours = {acc: sum(r["hours"] for r in projection({}, None, accelerator=acc, scale=scale))
             for acc in accelerator.ACCELERATORS}
    return {"training_jobs": counts, "hours": hours}


def all_jobs(granularity: str, scale: str = "paper") -> int:
    """Every job of the default target (``snakemake -n``'s total) under ``granularity``."""
    import re

    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", f"scale={scale}",
                          f"granularity={granularity}", "accelerator=cpu",
                          f"results={tempfile.gettempdir()}/dynloss-plan-summary"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    return int(re.search(r"^total\s+(\d+)\s*$", out.stdout, re.M).group(1))


# -- steps ------------------------------------------------------------------------------------------

def tiny_targets(work: Path) -> list[str]:
    """The tiny workflow's targets of the check: a contour study's dataset and a dynamics study's
    (two GPU jobs, one after another, and an aggregation; no figure)."""
    from dynloss import config
    from dynloss.plan import Plan

    plan = Plan(config.load_config(scale="tiny", results=str(work / "results")))
    return [plan.dataset(n) for n in ("fig4_1", "fig4_7")]


def steps(python: str, work: Path, a: argparse.Namespace) -> list[Step]:
    """The steps after the install, run with ``python`` (the venv's, once installed)."""
    here = [python, str(Path(__file__).resolve())]
    tiny = ["--config", "scale=tiny", "accelerator=auto", f"results={work}/results", f"jax_cache={work}/jax_cache"]
    snakemake = [python, "-m", "snakemake", "--scheduler", "greedy"]
    limit64 = {100: 55.0, 1000: 65.0}
    out = [Step("backend", [python, "-c", BACKEND_PY, "cuda12"], 40, min_s=20),
           Step("plan", [*snakemake, "-n", *tiny], 30, gpu=False, min_s=15)]
    for width in WIDTHS:
        for dtype, limit in (("float64", limit64[width]), ("float32", 40.0)):
            out.append(Step(f"paper_w{width}_{dtype}",
                            [*here, "--paper-job", str(width), dtype, "--target-s", f"{FRACTION * limit64[width]:g}",
                             "--budget-gb", f"{a.budget_gb:g}", "--record", str(work / f"w{width}_{dtype}.json"),
                             "--weights", str(work / f"w{width}_init.npz")], limit, min_s=25))
    out.append(Step("workflow", [*snakemake, *tiny_targets(work), "--cores", "4", "--resources", "gpu=1", *tiny],
                    100, min_s=40))
    return out


#: the backend step: versions, devices, CUDA libraries, and the backend check (one JSON line)
BACKEND_PY = r"""
import json, platform, sys, importlib.metadata as md
import jax, jaxlib
info = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()]}
try:
    from jax._src.lib import cuda_versions as cv
except Exception as exc:
    cv, info["cuda_versions"] = None, f"unavailable: {exc}"
for k in ("cuda_driver", "cuda_runtime", "cudnn", "cublas", "cusparse", "cufft", "cusolver", "cupti", "nccl"):
    f = getattr(cv, f"{k}_get_version", None) if cv is not None else None
    if f is not None:
        try:
            info[k] = f()
        except Exception as exc:
            info[k] = f"unavailable: {exc}"
info["nvidia_wheels"] = sorted(f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
                               if (d.metadata["Name"] or "").lower().startswith(("nvidia-", "jax-cuda")))
try:
    print(jax.print_environment_info(return_string=True))
except Exception as exc:
    print(f"jax.print_environment_info: {exc}")
from dynloss import accelerator
try:
    info["check"] = accelerator.check_backend(sys.argv[1])
except accelerator.BackendError as exc:
    info["check"] = str(exc)
print(json.dumps(info))
sys.exit(0 if info["check"] == "gpu" else 1)
"""


def run(step: Step, gpu: bool, dry: bool, left_s: float, env: dict) -> None:
    """Run one step within its limit and the time left (or record why not); the whole process group
    is stopped at the limit."""
    if step.gpu and (dry or not gpu):
        step.status = "skipped: --dry" if dry else "skipped: no GPU visible (nvidia-smi -L lists none)"
        return
    limit = min(step.limit_s, left_s)
    if limit < step.min_s:
        step.status = f"skipped: {left_s:.0f} s left before the deadline, it needs {step.min_s:.0f} s"
        return
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(step.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
            step.status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            step.status = f"timed out after {limit:.0f} s"
        log.seek(0)
        step.output = log.read()
    step.wall_s = time.perf_counter() - t0


# -- the report -------------------------------------------------------------------------------------

@dataclass
class Check:
    """The state of one run of the check: what the report shows."""

    out: Path
    work: Path
    dry: bool
    gpu: bool
    commit: str
    deadline_s: float = DEADLINE_S
    started: float = field(default_factory=time.time)
    steps: list[Step] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    rates: list[dict] = field(default_factory=list)
    dtypes: dict = field(default_factory=dict)
    projection: list[dict] = field(default_factory=list)
    projection_basis: str = ""

    def elapsed(self) -> float:
        return time.time() - self.started

    def write(self) -> None:
        atomic_write(self.out, report(self))


def report(c: Check) -> str:
    """The stamped Markdown report of the check so far."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    done = sum(s.status != "not run" for s in c.steps)
    mode = "`--dry` (GPU steps skipped)" if c.dry else (gpu_name() if c.gpu else "no GPU visible")
    command = "python benchmarks/device_check.py" + (" --dry" if c.dry else "")
    lines = ["# Device check", "",
             f"Written by `{command}` on {stamp}, commit {c.commit}, "
             f"host {os.uname().nodename}, {mode}; {c.elapsed():.0f} s so far of a {c.deadline_s:.0f} s deadline "
             f"({done} of {len(c.steps)} steps done).", ""]
    if c.dry:
        lines += ["No GPU took part: this is the dry run (`--dry`), which plans, sizes and projects from the "
                  "project's estimates. On the GPU machine (no network; its own Python and JAX), from the repository "
                  f"root: `python benchmarks/device_check.py --prepare-wheels` here (the wheels it lacks, into "
                  f"`{WHEELS.relative_to(ROOT)}`, git-ignored), then there, carrying that folder: `python3 "
                  f"benchmarks/device_check.py --wheels {WHEELS.relative_to(ROOT)} --out $OUT/device_check.md` "
                  "(it ends within the deadline below; give the machine's command limit 8 minutes).", ""]
    if c.env:
        lines += ["## Environment", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in c.env.items()] + [""]
    lines += ["## Steps", "", "| step | status | wall s | limit s | notes |", "|---|---|---|---|---|"]
    lines += [f"| {s.name} | {s.status} | {s.wall_s:.1f} | {s.limit_s:.0f} | {'; '.join(s.notes)} |" for s in c.steps]
    if c.rates:
        lines += ["", "## Rates (figure 3.4's paper-scale whole-width job, a subset)", "",
                  "| width | dtype | runs (of the job's) | steps (of the job's) | run-steps/s | project's estimate | "
                  "compilation s | process s |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['width']} | {r['dtype']} | {r['runs']} ({r['job_runs']}) | {r['steps']} ({r['job_steps']}) | "
                  f"{r.get('rate', float('nan')):,.0f} | {r['estimated_rate']:,.0f} | {r.get('compile_s', '')} | "
                  f"{r.get('process_s', '')} |" for r in c.rates]
    if c.dtypes:
        lines += ["", "## float64 against float32 (the same runs, the same float64 initial weights)", ""]
        lines += [f"- {k}: {v:.4g}" for k, v in c.dtypes.items()]
    if c.projection:
        total = sum(r["hours"] for r in c.projection)
        lines += ["", f"## Projected paper-scale wall time per study ({c.projection_basis})", "",
                  "| study | jobs | hours | basis |", "|---|---|---|---|"]
        lines += [f"| {r['study']} | {r['jobs']} | {r['hours']:.2f} | {r['basis']} |" for r in c.projection]
        lines += [f"| all | {sum(r['jobs'] for r in c.projection)} | {total:.1f} | |"]
    lines += ["", f"## Commands (from the repository root; {WORK} is the check's temporary folder)", ""]
    lines += [f"- {s.name}: `{shown(s.command, c.work)}`" for s in c.steps if s.command]
    if any(s.name == "backend" for s in c.steps):
        lines.append("  (`$BACKEND_PY`: the program `BACKEND_PY` of benchmarks/device_check.py)")
    tails = [s for s in c.steps if s.output.strip()]
    if tails:
        lines += ["", "## Output of each step (its tail)"]
        for s in tails:
            lines += ["", f"### {s.name}", "", "```", shown_text(s.output.rstrip()[-TAIL:], c.work), "```"]
    return "\n".join(lines) + "\n"


def shown(command: list[str], work: Path) -> str:
    """A command as the report shows it: the repository as ``.``, the temporary folder as :data:`WORK`,
    this Python as ``python``, the backend step's program by name."""
    return shown_text(shlex.join(command).replace(shlex.quote(BACKEND_PY), "\"$BACKEND_PY\""), work)


def shown_text(text: str, work: Path) -> str:
    text = text.replace(str(work), WORK).replace(sys.executable, "python")
    return text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")


def gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "an NVIDIA GPU"
    return out.stdout.strip().replace("\n", "; ") or "an NVIDIA GPU"


def gpu_visible() -> bool:
    """As :func:`dynloss.accelerator.gpu_visible` (here without importing the package's dependencies)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(line.startswith("GPU ") for line in out.stdout.splitlines())


def commit() -> str:
    """The commit: git's, else the one --prepare-wheels wrote beside the wheels, else unknown."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        stamp = WHEELS / "COMMIT"
        return stamp.read_text().strip() + " (from the wheels' stamp)" if stamp.exists() else "unknown"


# -- notes after each step --------------------------------------------------------------------------

def after(c: Check, step: Step) -> None:
    """What a finished step adds to the report: the plan line, the environment, a rate, the comparison."""
    import re

    if step.name == "workflow" and step.status != "ok":  # the failed jobs' own logs
        logs = sorted((c.work / "results").rglob("logs/**/*.log"), key=lambda p: p.stat().st_mtime)[-3:]
        step.output += "".join(f"\n--- {p.relative_to(c.work)} (tail)\n{p.read_text(errors='replace')[-800:]}"
                               for p in logs)
    if step.name == "plan":
        m = re.search(r"dynloss: accelerator \S+, granularity \w+", step.output)
        step.notes += [m.group(0)] if m else []
    elif step.name == "backend" and '{"python"' in step.output:
        info = json.loads(next(x for x in reversed(step.output.splitlines()) if x.startswith('{"python"')))
        c.env.update({k: (", ".join(v) if isinstance(v, list) else v) for k, v in info.items()})
    elif step.name.startswith("paper_"):
        path = c.work / f"{step.name.removeprefix('paper_')}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            if "rate" not in rec and rec.get("partial_rate"):  # stopped at its limit after some chunks
                rec["rate"], rec["partial"] = rec["partial_rate"], f"{rec['steps_done']} of {rec['steps']} steps"
            c.rates.append(rec)
            step.notes.append(f"{rec['runs']} runs x {rec['steps']} steps" + (
                f": {rec['rate']:,.0f} run-steps/s" + (f" (over the first {rec['partial']})" if "partial" in rec
                                                       else f", compilation {rec['compile_s']:.1f} s")
                if "rate" in rec else " sized; no rate (no chunk finished)"))
        f64, f32 = (c.work / f"w{step.name.split('_')[1][1:]}_{d}.json" for d in ("float64", "float32"))
        if step.name.endswith("float32") and f64.exists() and f32.exists():
            a, b = json.loads(f64.read_text()), json.loads(f32.read_text())
            if "final_train_acc" in a and "final_train_acc" in b:
                width = step.name.split("_")[1]
                c.dtypes.update({f"{width} {k}": v for k, v in compare_dtypes(a, b).items()})


def sizing_note(step: Step) -> str:
    """How a paper-job step is sized (as its worker will size it), in words."""
    width = int(step.command[step.command.index("--paper-job") + 1])
    target = float(step.command[step.command.index("--target-s") + 1])
    budget_gb = float(step.command[step.command.index("--budget-gb") + 1])
    job, rate = paper_job(width), estimated_rate(width)
    runs, n = size(job, target, rate, budget_gb)
    return (f"sized: {runs} of the job's {job.runs()} runs x {n} of its {job.spec.steps} steps, "
            f"{runs * n / rate:.0f} s at the estimated {rate:,.0f} run-steps/s ({FRACTION:g} x the float64 limit)")


def project(c: Check) -> None:
    """The projection step: from the measured float64 rates (the paper's dtype) where there are any."""
    measured = {r["width"]: r["rate"] for r in c.rates if r["dtype"] == "float64" and "rate" in r}
    overheads = [r["process_s"] - r["run_s"] for r in c.rates if "run_s" in r and "process_s" in r]
    from dynloss import resources

    over = max(overheads) if overheads else None
    c.projection = projection(measured, over)
    per_job = (f"{over:.0f} s start-up and compilation per job (measured)" if over is not None else
               f"the project's {resources.OVERHEAD_S:.0f} s start-up and compilation per job")
    c.projection_basis = (f"float64 rates measured at width {', '.join(map(str, sorted(measured)))}, {per_job}"
                          if measured else "the project's estimates, nothing measured: dynloss.resources")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry", action="store_true", help="skip the GPU steps (mark them skipped)")
    ap.add_argument("--wheels", default=None, help="folder of the carried wheels (--prepare-wheels): install them "
                    "into a venv with the machine's packages first")
    ap.add_argument("--out", default=str(ROOT / "docs" / "device_check.md"))
    ap.add_argument("--budget-gb", type=float, default=8.0, help="memory budget of the paper jobs' batches")
    ap.add_argument("--deadline-s", type=float, default=DEADLINE_S, help=argparse.SUPPRESS)
    ap.add_argument("--prepare-wheels", action="store_true", help=f"download the wheels to carry into {WHEELS}")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python (for --prepare-wheels)")
    ap.add_argument("--plan-summary", action="store_true",
                    help="print the paper-scale job counts and estimated hours that docs/guide.md states")
    ap.add_argument("--paper-job", nargs=2, metavar=("WIDTH", "DTYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--target-s", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--record", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--resume", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.prepare_wheels:
        return prepare_wheels(WHEELS, a.python_version)
    sys.path.insert(0, str(ROOT / "src"))
    if a.plan_summary:
        summary = plan_summary()
        for g, n in summary["training_jobs"].items():
            print(f"granularity {g}: {n} training jobs / {all_jobs(g)} jobs")
        for acc, h in summary["hours"].items():
            print(f"accelerator {acc}: {h:.1f} h of jobs one after another (estimate, dynloss.resources)")
        return 0
    if a.paper_job:
        return paper_worker(int(a.paper_job[0]), a.paper_job[1], a.target_s, Path(a.record), Path(a.weights),
                            a.budget_gb)
    return check(a)


def check(a: argparse.Namespace) -> int:
    """The check itself: the steps in order, the report after each."""
    if a.resume:  # the second half, in the venv the install step made
        state = json.loads(Path(a.resume).read_text())
        work = Path(state["work"])
        c = Check(Path(a.out), work, a.dry, state["gpu"], state["commit"], a.deadline_s, started=state["started"],
                  steps=[Step(**s) for s in state["steps"]])
        return finish(c, a, sys.executable)
    work = Path(tempfile.mkdtemp(prefix="dynloss-device-"))
    c = Check(Path(a.out), work, a.dry, gpu_visible(), commit(), a.deadline_s)
    if a.wheels:
        venv = work / "venv"
        base = os.path.realpath(sys.executable)  # the machine's Python, not a link to it (the venv's home)
        import site

        dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
        install = Step("install", ["bash", "-c", install_script(Path(a.wheels).resolve(), venv, base, dirs)], 60,
                       gpu=False, min_s=20)
        c.steps.append(install)
        c.write()
        run(install, c.gpu, False, a.deadline_s - c.elapsed(), dict(os.environ))
        c.write()
        if install.status == "ok":
            state = work / "state.json"
            write_json(state, {"work": str(work), "gpu": c.gpu, "commit": c.commit, "started": c.started,
                               "steps": [s.__dict__ for s in c.steps]})
            python = str(venv / "bin" / "python")
            argv = [python, str(Path(__file__).resolve()), "--resume", str(state), "--out", a.out,
                    "--budget-gb", str(a.budget_gb), "--deadline-s", str(a.deadline_s), *(["--dry"] if a.dry else [])]
            os.execv(python, argv)
    return finish(c, a, sys.executable)


def finish(c: Check, a: argparse.Namespace, python: str) -> int:
    """The steps after the install, then the projection."""
    # the venv as if activated: the workflow's jobs run `python` from the PATH
    bindir = os.path.dirname(os.path.abspath(python))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), XLA_PYTHON_CLIENT_PREALLOCATE="false",
               PATH=os.pathsep.join([bindir, os.environ.get("PATH", "")]))
    if a.resume:
        env["VIRTUAL_ENV"] = os.path.dirname(bindir)
    try:
        todo = steps(python, c.work, a)
    except Exception as exc:  # noqa: BLE001 - e.g. the package's dependencies missing: the report says so
        c.steps.append(Step("steps", [python, "-c", "import dynloss.plan"], 0, gpu=False,
                            status=f"failed: {type(exc).__name__}: {exc}"))
        c.write()
        return 1
    c.steps += todo
    for step in todo:
        if step.name.startswith("paper_"):
            step.notes.append(sizing_note(step))
    projection_step = Step("projection", [], 20, gpu=False, min_s=5)
    c.steps.append(projection_step)
    c.write()
    for step in todo:
        run(step, c.gpu, a.dry, a.deadline_s - c.elapsed(), env)
        after(c, step)
        c.write()
    t0 = time.perf_counter()
    try:
        project(c)
        projection_step.status = "ok"
        projection_step.notes.append(c.projection_basis)
    except Exception as exc:  # noqa: BLE001 - the report says what went wrong
        projection_step.status = f"failed: {type(exc).__name__}: {exc}"
    projection_step.wall_s = time.perf_counter() - t0
    c.write()
    shutil.rmtree(c.work, ignore_errors=True)
    print(c.out.read_text())
    return 0 if all(s.status == "ok" or s.status.startswith("skipped") for s in c.steps) else 1


#: what the install step prints of the venv: Python and the versions of the packages the check uses
INSTALLED_PY = (
    "import sys, importlib.metadata as md; print(sys.version.split()[0], sys.prefix)\n"
    "for name in ('jax', 'jaxlib', 'numpy', 'scipy', 'xarray', 'h5py', 'snakemake', 'netCDF4', 'jsonschema',"
    " 'PyYAML'):\n"
    "    try:\n        print(name, md.version(name))\n    except md.PackageNotFoundError:\n"
    "        print(name, 'missing')\n")
#: unpacks wheels into the running Python's site-packages (the install without pip)
UNPACK_PY = (
    "import sys, sysconfig, zipfile\n"
    "for w in sys.argv[1:]:\n    zipfile.ZipFile(w).extractall(sysconfig.get_paths()['purelib'])\n")


def install_script(wheels: Path, venv: Path, base: str, site_dirs: list[str] = ()) -> str:
    """Shell lines of the install step: a venv of the Python ``base`` with its packages, plus the carried
    wheels (offline, without resolving: they are a closed set), and what it installed. ``site_dirs``:
    the running Python's own package folders, added to the venv's path after its own (a ``.pth`` file), so
    the machine's JAX is found also where that Python is itself a venv or a conda env. Where ``base`` cannot
    make a venv with pip (Debian's Python without ensurepip) the venv is made without, and the wheels are
    unpacked into it (no scripts: the check runs everything as ``python -m``)."""
    q = shlex.quote
    py, v, whl = q(str(venv / "bin" / "python")), q(str(venv)), q(str(wheels))
    pth = ""
    if site_dirs:
        pth = (f"printf %s {q(chr(10).join(site_dirs) + chr(10))} > \"$({py} -c 'import sysconfig; "
               "print(sysconfig.get_paths()[\"purelib\"])')/machine-site.pth\" && ")
    return (f"{{ {q(base)} -m venv --system-site-packages {v} || {{ echo 'venv with pip failed: without pip'; "
            f"{q(base)} -m venv --system-site-packages --without-pip {v}; }}; }} && {pth}"
            f"if {py} -m pip --version >/dev/null 2>&1; then {py} -m pip install -q --no-index --no-deps {whl}/*.whl; "
            f"else echo 'no pip: unpacking the wheels'; {py} -c {q(UNPACK_PY)} {whl}/*.whl; fi && "
            f"{py} -c {q(INSTALLED_PY)}")


def closure(lock: str, roots, skip) -> dict[str, str]:
    """Name -> version of ``roots`` and everything they need in a lock (its ``# via`` annotations),
    stopping at ``skip``."""
    import re

    versions, children = {}, {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", lock):
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", entry)
        if not m:
            continue
        name = m.group(1).lower()
        versions[name] = m.group(2)
        for parent in re.findall(r"^\s*#\s*(?:via )?\s*([A-Za-z0-9_.-]+)\s*$", entry, re.M):
            if parent != "via":
                children.setdefault(parent.lower(), set()).add(name)
    out, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in out or name in skip:
            continue
        out[name] = versions[name]
        todo += sorted(children.get(name, ()))
    return out


def prepare_wheels(dest: Path, python_version: str) -> int:
    """Download the wheels the GPU machine lacks (:data:`CARRIED` and their dependencies at the CPU lock's
    versions, less :data:`PROVIDED` and :data:`LEFT_OUT`) for ``python_version`` on Linux x86_64 into
    ``dest``, building a wheel of any package published only as source (pure Python)."""
    wanted = closure((ROOT / "envs" / "lock-cpu.txt").read_text(), CARRIED, set(PROVIDED) | set(LEFT_OUT))
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    reqs = [f"{n}=={v}" for n, v in sorted(wanted.items())]
    platforms = [x for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for x in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--prefer-binary", "--python-version",
                    python_version, "--implementation", "cp", *platforms, "-d", str(dest), *reqs], check=True)
    for sdist in [p for p in dest.iterdir() if not p.name.endswith(".whl")]:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(sdist)],
                       check=True)
        sdist.unlink()
    (dest / "COMMIT").write_text(commit() + "\n")
    size = sum(p.stat().st_size for p in dest.iterdir())
    print(f"{len(reqs)} wheels for Python {python_version} in {dest}: {size / 2**20:.1f} MiB; carry it: "
          f"run(carry=['{dest.relative_to(ROOT)}'], command='python3 benchmarks/device_check.py --wheels "
          f"{dest.relative_to(ROOT)} --out $OUT/device_check.md')")
    return 0


if __name__ == "__main__":
    sys.exit(main())

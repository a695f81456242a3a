"""What a planned job asks a scheduler for: memory from :mod:`dynloss.budget`, wall time from rates.

The workflow's training rules request these as the Snakemake resources ``mem_mb`` and ``runtime``
(minutes), so a Slurm job asks for what its own job needs instead of one constant for every job.
Both are upper bounds with a margin, not predictions. JAX-free.

Measured rates (run-steps per second of the width-100 MLP):

- ``cpu``: 6000 on one core of this repository's 2-core CPU (the published width-100 paper runs:
  figure 3.4's 20 points x 10 seeds x 35000 steps in 15.5 min, 7500/s; figure 4.6's 63 points x
  3 seeds x 50000 steps in 27 min, 5800/s).
- ``cuda12``: 45 times the CPU, the ratio of the paper-scale projections on an H200 (about 1.4 h)
  and on this CPU (about 63 h) of ``benchmarks/project.py``, measured with JAX 0.11.2 before the
  engine's restructuring; the pinned CUDA stack is unmeasured (``docs/device_check.md``).

A step costs about proportionally to the width from width 100 up on a CPU (the MLP's two matrix
products; on a GPU this is an upper bound). The spectra measured beside the training slow a dynamics
run to about a tenth (the published one-run dynamics jobs: 70000 steps in 0.7-1.8 min on this CPU).
Myrtle5 jobs go by images per second (figure 3.2: 290 on this CPU, 206k for 30 seeds on an H200).
"""
from __future__ import annotations

import math
from dataclasses import replace

from .budget import train_bytes
from .jobs.definition import MyrtleJob, ThresholdsJob, TrainJob

#: run-steps/s of the width-100 MLP, per accelerator
RUN_STEPS_PER_S = {"cpu": 6000.0, "cuda12": 6000.0 * 45}
#: seconds per multiply-accumulate of a run-step on one core here (float64): the digits' static CE at widths 16,
#: 64 and 128 (1347 points, 64 inputs, 10 classes; ``scripts/digits_select.py``, two processes on the 2 cores)
#: took 4.2e-10 s per (point x width x (inputs + classes)) beside a constant ~1.5e-4 s a step
SECONDS_PER_MAC = 4.2e-10
#: Myrtle5 training images/s of a job, per accelerator
IMAGES_PER_S = {"cpu": 290.0, "cuda12": 206_000.0}
#: how much the spectra measured beside the training (dynamics jobs) slow a step
SPECTRA_FACTOR = 10.0
#: a process start, imports and compilation, in seconds
OVERHEAD_S = 120.0
#: the wall-time margin over the estimate
MARGIN = 2.0
#: memory of the process besides the job's arrays, in MB: Python, JAX and XLA (a small CPU job peaked at
#: 320 MB resident here, ``/usr/bin/time -v python -m dynloss train ...``), and on a GPU also the CUDA
#: libraries (unmeasured)
BASE_MB = {"cpu": 1000, "cuda12": 3000}


def _batch_mode(accelerator: str) -> str:
    return "map" if accelerator == "cpu" else "vmap"


def mem_mb(request, accelerator: str, budget_gb: float) -> int:
    """Host memory of a job in MB: the process plus the budget's estimate of its arrays, which never
    exceeds the budget (a larger whole-grid job is trained in slices that fit; any other is refused)."""
    if isinstance(request, MyrtleJob):
        return BASE_MB[accelerator] + math.ceil(1000 * budget_gb)
    if isinstance(request, TrainJob):  # one program per width
        widths, runs = request.all_widths(), request.runs() // len(request.all_widths())
    else:
        widths, runs = (request.spec.width,), len(request.seeds)
    need = max(train_bytes(replace(request.spec, width=w), runs, _batch_mode(accelerator)) for w in widths) / 1e6
    return BASE_MB[accelerator] + math.ceil(min(need, 1000 * budget_gb))


def train_seconds(request, accelerator: str) -> float:
    """Estimated seconds of a job's computation (without start-up)."""
    if isinstance(request, MyrtleJob):
        images = len(request.seeds) * request.spec.epochs * (request.num_train or 50_000)
        return images / IMAGES_PER_S[accelerator]
    if isinstance(request, ThresholdsJob):
        # the replay to each onset is at most one more pass; 'growing' and 'mode' replay again
        passes = 2 + 2 * ("growing" in request.onsets.names) + 4 * ("mode" in request.onsets.names)
        return passes * _spiral_seconds(request.spec, len(request.seeds), request.spec.width, accelerator)
    return sum(_spiral_seconds(request.spec, request.runs() // len(request.all_widths()), w, accelerator)
               for w in request.all_widths())


def _spiral_seconds(spec, runs: int, width: int, accelerator: str) -> float:
    rate = min(RUN_STEPS_PER_S[accelerator] * 100 / max(width, 100), 1.0 / _data_step_seconds(spec, width, accelerator))
    if spec.spectra.enabled:
        rate /= SPECTRA_FACTOR
    return runs * spec.steps / rate


def _data_step_seconds(spec, width: int, accelerator: str) -> float:
    """Seconds of one run-step by the size of the data set's matrix products: :data:`SECONDS_PER_MAC` x training
    points x width x (inputs + classes). The width-100 rate above is the spiral's (300 points, 2 inputs, 3
    classes), where a step is mostly overhead; a larger data set is slower at every width (the digits: 1347
    points, 64 inputs, 10 classes)."""
    values = spec.data_values()
    ds = spec.data_set()
    macs = ds.train_size(values) * width * (ds.input_dim(values) + ds.num_classes(values))
    return SECONDS_PER_MAC * macs / (RUN_STEPS_PER_S[accelerator] / RUN_STEPS_PER_S["cpu"])


def runtime_min(request, accelerator: str, attempt: int = 1) -> int:
    """Wall-time limit of a job in minutes: the margin over its estimate, longer on each retry."""
    seconds = MARGIN * (train_seconds(request, accelerator) + OVERHEAD_S) * attempt
    return max(10, math.ceil(seconds / 60))

"""Which accelerator the training runs on: detected without JAX for the plan, checked in each job.

- :func:`resolve` turns the config key ``accelerator: auto`` into ``cuda12`` where an NVIDIA GPU is
  visible (:func:`gpu_visible`: ``nvidia-smi -L`` lists one, as ``envs/install.sh`` decides) and
  ``cpu`` otherwise. JAX-free, so the plan (granularity, conda env) is decided on any host.
- :func:`check_backend` compares the backend JAX gives this process with the requested accelerator;
  a mismatch (e.g. ``cuda12`` asked for on a CPU-only jaxlib) is one line: what was asked, what was
  found and the install command. The workflow passes the request to its jobs as ``$DYNLOSS_ACCELERATOR``
  (:data:`ENV`), outside their arguments, so no job hash changes.
- :func:`assign_gpu` gives a job on ``cuda12`` a GPU of its own on a machine with several: the first
  whose slot (a lock file under ``$DYNLOSS_GPU_SLOTS``, :data:`SLOTS_ENV`, which the workflow sets on
  ``cuda12``) no other job holds becomes its ``CUDA_VISIBLE_DEVICES``, held until the process ends.
  :func:`check_backend` calls it first, before JAX starts its backend. Where ``CUDA_VISIBLE_DEVICES`` is
  set already (Slurm sets it for a job given ``--gpus``) it is left as it is.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

ACCELERATORS = ("cpu", "cuda12")
ENV = "DYNLOSS_ACCELERATOR"
#: the JAX backend each accelerator must give
BACKEND = {"cpu": "cpu", "cuda12": "gpu"}
INSTALL = {"cpu": "bash envs/install.sh --cpu", "cuda12": "bash envs/install.sh --cuda12"}


#: the folder of the GPU slot locks (the workflow sets it on cuda12)
SLOTS_ENV = "DYNLOSS_GPU_SLOTS"
#: the lock file this process holds for its GPU (open for the process's life)
_slot = None


class BackendError(RuntimeError):
    """JAX gives another backend than the requested accelerator."""


def gpu_count() -> int:
    """The NVIDIA GPUs ``nvidia-smi -L`` lists (0 without the command or a GPU)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0


def gpu_visible() -> bool:
    """True where ``nvidia-smi -L`` lists a GPU and ``CUDA_VISIBLE_DEVICES`` does not hide them all."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return gpu_count() > 0


def default_slots() -> str:
    """The slot folder of this user on this machine (shared by every workflow the user runs on it)."""
    return os.path.join(tempfile.gettempdir(), f"dynloss-gpu-slots-{os.getuid()}")


def assign_gpu(slots: str | None = None) -> str | None:
    """Give this process a GPU of its own, before JAX starts: ``CUDA_VISIBLE_DEVICES`` becomes the index
    of the first of the machine's GPUs whose slot lock (``<slots>/gpu<i>.lock``) no other process
    holds, and the lock is held until this process ends. With more jobs than GPUs (``--resources gpu=``
    above the GPUs' number) the job shares one (its process id modulo their number) and says so.

    Args:
        slots: the folder of the locks; default ``$DYNLOSS_GPU_SLOTS``.

    Returns:
        The ``CUDA_VISIBLE_DEVICES`` set, or None where nothing was to choose: the variable set
        already (by Slurm, or by hand), no slot folder, or fewer than two GPUs.
    """
    global _slot
    slots = slots or os.environ.get(SLOTS_ENV)
    if _slot is not None or "CUDA_VISIBLE_DEVICES" in os.environ or not slots:
        return None
    n = gpu_count()
    if n < 2:
        return None
    os.makedirs(slots, exist_ok=True)
    for i in range(n):
        f = open(os.path.join(slots, f"gpu{i}.lock"), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _slot = f
        os.environ["CUDA_VISIBLE_DEVICES"] = str(i)
        return str(i)
    shared = str(os.getpid() % n)
    print(f"dynloss: all {n} GPUs are taken by other jobs; this one shares GPU {shared}", file=sys.stderr)
    os.environ["CUDA_VISIBLE_DEVICES"] = shared
    return shared


def resolve(name: str) -> str:
    """The accelerator a config's ``accelerator`` names: ``auto`` -> ``cuda12`` or ``cpu``."""
    if name == "auto":
        return "cuda12" if gpu_visible() else "cpu"
    return name


def check_backend(requested: str) -> str:
    """The backend JAX gives this process, if it is the one ``requested`` needs (on a GPU, first a GPU
    of its own: :func:`assign_gpu`).

    Args:
        requested: ``cpu`` or ``cuda12``.

    Returns:
        JAX's default backend (``cpu`` or ``gpu``).

    Raises:
        BackendError: one line naming the request, the backend found and the install command.
    """
    if requested not in BACKEND:
        raise BackendError(f"${ENV}: {requested!r} is not one of {', '.join(ACCELERATORS)}")
    if requested != "cpu":
        assign_gpu()
    import jax
    import jaxlib

    found = jax.default_backend()
    if found != BACKEND[requested]:
        raise BackendError(f"accelerator {requested} was asked for, but JAX {jax.__version__} (jaxlib "
                           f"{jaxlib.__version__}) runs on {found} here; install the {requested} stack with "
                           f"`{INSTALL[requested]}`, or set accelerator to the backend you have")
    return found

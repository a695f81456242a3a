"""Which accelerator the training runs on: detected without JAX for the plan, checked in each job.

- :func:`resolve` turns the config key ``accelerator: auto`` into ``cuda12`` where an NVIDIA GPU is
  visible (:func:`gpu_visible`: ``nvidia-smi -L`` lists one, as ``envs/install.sh`` decides) and
  ``cpu`` otherwise. JAX-free, so the plan (granularity, conda env) is decided on any host.
- :func:`check_backend` compares the backend JAX gives this process with the requested accelerator;
  a mismatch (e.g. ``cuda12`` asked for on a CPU-only jaxlib) is one line: what was asked, what was
  found and the install command. The workflow passes the request to its jobs as ``$DYNLOSS_ACCELERATOR``
  (:data:`ENV`), outside their arguments, so no job hash changes.
"""
from __future__ import annotations

import os
import shutil
import subprocess

ACCELERATORS = ("cpu", "cuda12")
ENV = "DYNLOSS_ACCELERATOR"
#: the JAX backend each accelerator must give
BACKEND = {"cpu": "cpu", "cuda12": "gpu"}
INSTALL = {"cpu": "bash envs/install.sh --cpu", "cuda12": "bash envs/install.sh --cuda12"}


class BackendError(RuntimeError):
    """JAX gives another backend than the requested accelerator."""


def gpu_visible() -> bool:
    """True where ``nvidia-smi -L`` lists a GPU and ``CUDA_VISIBLE_DEVICES`` does not hide them all."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(line.startswith("GPU ") for line in out.stdout.splitlines())


def resolve(name: str) -> str:
    """The accelerator a config's ``accelerator`` names: ``auto`` -> ``cuda12`` or ``cpu``."""
    if name == "auto":
        return "cuda12" if gpu_visible() else "cpu"
    return name


def check_backend(requested: str) -> str:
    """The backend JAX gives this process, if it is the one ``requested`` needs.

    Args:
        requested: ``cpu`` or ``cuda12``.

    Returns:
        JAX's default backend (``cpu`` or ``gpu``).

    Raises:
        BackendError: one line naming the request, the backend found and the install command.
    """
    if requested not in BACKEND:
        raise BackendError(f"${ENV}: {requested!r} is not one of {', '.join(ACCELERATORS)}")
    import jax
    import jaxlib

    found = jax.default_backend()
    if found != BACKEND[requested]:
        raise BackendError(f"accelerator {requested} was asked for, but JAX {jax.__version__} (jaxlib "
                           f"{jaxlib.__version__}) runs on {found} here; install the {requested} stack with "
                           f"`{INSTALL[requested]}`, or set accelerator to the backend you have")
    return found

"""Regenerate the locks and the conda files from envs/pins.txt with uv (``pip install uv``).

    python envs/lock.py [--upgrade]

- ``lock-cpu.txt``, ``lock-cuda12.txt``: every package of a full install (all sections of the pins;
  ``jax[cuda12]`` in the CUDA one), transitive ones included, with hashes, resolved for Python 3.11
  on Linux x86_64 by ``uv pip compile --generate-hashes``. The pins tagged ``no-deps`` are resolved
  without their dependencies and appended; ``envs/install.sh`` installs a lock with ``--no-deps``.
- ``cpu.yaml``, ``cuda12.yaml``: the ``[runtime]`` section and its dependencies at the lock's
  versions (the training rules); ``reference.yaml``: ``[runtime]`` and ``[reference]`` less the
  no-deps pins, which ``reference.post-deploy.sh`` installs (the infinite-width rule).

A package already in a lock keeps its version where the pins allow it (the lock is uv's preference,
``-o``), so a change of the pins moves only what it has to; ``--upgrade`` resolves every package afresh.

The CUDA libraries of ``lock-cuda12.txt`` are held at :data:`CUDA_LIBRARIES`, the set JAX's own
release lock for 0.5.3 was built and tested with (``build/requirements_lock_3_11.txt`` at the tag
``jax-v0.5.3`` of github.com/jax-ml/jax), not the newest that ``jax-cuda12-plugin[with_cuda]``'s
lower bounds allow: newer sets have known interactions with jax 0.5.3 (cuDNN 9.11+ fails some
convolutions, which Myrtle5 uses; cuBLAS 12.9 with several GPUs in one process needs cuDNN >= 9.10.1).
Why, at length: docs/guide.md, "On a cluster".
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ENVS = Path(__file__).resolve().parent
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)")
CONDA = {"cpu": ("cpu", ["runtime"]), "cuda12": ("cuda12", ["runtime"]), "reference": ("cpu", ["runtime", "reference"])}
#: the CUDA 12 libraries of JAX 0.5.3's release lock (build/requirements_lock_3_11.txt at jax-v0.5.3)
CUDA_LIBRARIES = {
    "nvidia-cublas-cu12": "12.8.3.14",
    "nvidia-cuda-cupti-cu12": "12.8.57",
    "nvidia-cuda-nvcc-cu12": "12.8.61",
    "nvidia-cuda-runtime-cu12": "12.8.57",
    "nvidia-cudnn-cu12": "9.7.1.26",
    "nvidia-cufft-cu12": "11.3.3.41",
    "nvidia-cusolver-cu12": "11.7.2.55",
    "nvidia-cusparse-cu12": "12.5.7.53",
    "nvidia-nccl-cu12": "2.25.1",
    "nvidia-nvjitlink-cu12": "12.8.61",
}
PURPOSE = {"cpu": "the training rules on a CPU", "cuda12": "the training rules on NVIDIA GPUs (CUDA 12 wheels)",
           "reference": "the infinite-width rule (neural-tangents; reference.post-deploy.sh adds the no-deps pins)"}


def sections(text: str) -> dict[str, list[tuple[str, bool]]]:
    """The pins by section (``# [name]`` headers): (requirement, no-deps tag) pairs."""
    out: dict[str, list[tuple[str, bool]]] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"#\s*\[(\w+)\]", line)
        if header:
            current = out.setdefault(header.group(1), [])
        elif line.split("#", 1)[0].strip():
            current.append((line.split("#", 1)[0].strip(), "no-deps" in line))
    return out


def requirement(line: str, accelerator: str) -> str:
    """A pin as the accelerator installs it: JAX with its CUDA 12 plugin on ``cuda12``."""
    return re.sub(r"^jax==", "jax[cuda12]==", line) if accelerator == "cuda12" else line


def constraints(accelerator: str) -> list[str]:
    """Versions the accelerator's lock must take besides the pins: the CUDA libraries on ``cuda12``."""
    return [f"{n}=={v}" for n, v in CUDA_LIBRARIES.items()] if accelerator == "cuda12" else []


def uv_compile(lines: list[str], *options: str, name: str = "pins.txt", constrain: list[str] = (),
               previous: str = "") -> str:
    """``uv pip compile`` of these requirement lines for the target platform, without its header
    (the lines are read from a temporary file called ``name``, which the annotations cite;
    ``constrain``: constraint lines, from a file ``constraints.txt``; ``previous``: a lock whose
    versions uv keeps where it can)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_text("\n".join(lines) + "\n")
        extra = []
        if constrain:
            (Path(tmp) / "constraints.txt").write_text("\n".join(constrain) + "\n")
            extra = ["-c", "constraints.txt"]
        (Path(tmp) / "out.txt").write_text(previous)
        cmd = ["uv", "pip", "compile", "--quiet", "--no-header", *TARGET, *options, *extra, "-o", "out.txt", name]
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp)
        return (Path(tmp) / "out.txt").read_text()


def pinned(lock: str) -> dict[str, str]:
    """Name -> version of every package in a lock or a compile output."""
    return {m.group(1).lower(): m.group(3) for m in map(PIN.match, lock.splitlines()) if m}


def lock(pins: dict[str, list[tuple[str, bool]]], accelerator: str, previous: str = "") -> str:
    """The full install of one accelerator, with hashes (``previous``: its current lock, whose
    versions are kept where the pins and :func:`constraints` allow)."""
    every = [requirement(r, accelerator) for section in pins.values() for r, no_deps in section if not no_deps]
    no_deps = [r for section in pins.values() for r, flag in section if flag]
    header = (f"# The locked full install for {accelerator} (Python 3.11, Linux x86_64): generated from envs/pins.txt\n"
              "# by `python envs/lock.py` (uv pip compile --generate-hashes). Install with: bash envs/install.sh\n")
    return (header + uv_compile(every, "--generate-hashes", constrain=constraints(accelerator), previous=previous)
            + "# the no-deps pins of envs/pins.txt (resolved without their dependencies)\n"
            + uv_compile(no_deps, "--generate-hashes", "--no-deps", name="pins-no-deps.txt", previous=previous))


def conda_file(name: str, pins: dict, locks: dict[str, str]) -> str:
    """A conda env file: the closure of its pins sections at the versions of its accelerator's lock."""
    accelerator, wanted = CONDA[name]
    top = [requirement(r, accelerator) for s in wanted for r, no_deps in pins[s] if not no_deps]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as constraints:
        constraints.write("\n".join(f"{n}=={v}" for n, v in pinned(locks[accelerator]).items()) + "\n")
        constraints.flush()
        closure = uv_compile(top, "--no-annotate", "-c", constraints.name)
    pip = [requirement(line, accelerator) for line in closure.splitlines() if PIN.match(line)]
    return (f"# Conda environment of {PURPOSE[name]}: the {' and '.join(wanted)} pins of envs/pins.txt\n"
            f"# and their dependencies at the versions of envs/lock-{accelerator}.txt. Generated by envs/lock.py;\n"
            "# tests/test_envs.py checks it. The package itself is found through PYTHONPATH set by the rules.\n"
            f"name: dynloss-{name}\nchannels:\n  - conda-forge\n  - nodefaults\ndependencies:\n"
            "  - python=3.11\n  - pip\n  - pip:\n" + "".join(f"      - {p}\n" for p in pip))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upgrade", action="store_true",
                    help="resolve every package afresh (not keeping the locks' versions)")
    a = ap.parse_args(argv)
    pins = sections((ENVS / "pins.txt").read_text())
    current = {acc: ENVS / f"lock-{acc}.txt" for acc in ("cpu", "cuda12")}
    locks = {acc: lock(pins, acc, "" if a.upgrade or not path.exists() else path.read_text())
             for acc, path in current.items()}
    for acc, text in locks.items():
        (ENVS / f"lock-{acc}.txt").write_text(text)
    for name in CONDA:
        (ENVS / f"{name}.yaml").write_text(conda_file(name, pins, locks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Provenance of a result: the code's git commit, package versions, host and time."""
from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import __version__

PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "xarray", "netCDF4", "matplotlib", "snakemake",
            "neural-tangents")


#: the repository paths whose changes make a result's commit "dirty"
CODE_PATHS = ("src", "workflow", "Snakefile", "config.yaml", "envs", "pyproject.toml",
              "docs/reproduction/cpu_paper.yaml", "docs/reproduction/confirmatory.yaml")
#: the pre-registration of the confirmatory campaign: its commit and time go into every result's provenance
PREREGISTRATION = "docs/preregistration.md"


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """Commit of the code (``<sha>`` or ``<sha>-dirty``), or ``unknown`` outside a git checkout.

    ``-dirty``: a tracked file of what computes (:data:`CODE_PATHS`) differs from the commit; the
    published tables, figures and README a publication rewrites are outputs, not code."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *(f":(top){p}" for p in CODE_PATHS)], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("DYNLOSS_GIT_COMMIT", "unknown")


@functools.lru_cache(maxsize=1)
def preregistration() -> dict[str, str]:
    """The last commit of :data:`PREREGISTRATION` and its time (``{}`` outside a git checkout or before it
    was committed): a confirmatory result made after it names it, so its order can be checked."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%H %cI", "--", f":(top){PREREGISTRATION}"], cwd=here,
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": out[0], "committed": out[1]} if len(out) == 2 else {}


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "dynloss": __version__}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def provenance() -> dict[str, Any]:
    """Where, when and with what code a result was made."""
    info: dict[str, Any] = {
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "versions": package_versions(),
    }
    if preregistration():
        info["preregistration"] = preregistration()
    if "jax" in sys.modules:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
    return info

"""Where a file comes from, for the advice a corrupt one gets: a file git tracks (the committed
publication's data) is restored from git; a result is deleted and remade by the job that wrote it."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path


def advice(path: str | os.PathLike) -> str:
    """What to do about a corrupt file, by its origin: a file under git (the committed publication's
    data) is restored from git; a result is deleted and remade by the job that wrote it (with the
    Snakemake command that does, even when the figures made from it are up to date)."""
    tracked = git_tracked(path)
    if tracked is not None:
        repo, rel = tracked
        return (f"it is committed data: restore it from git (`git -C {shlex.quote(repo)} checkout HEAD -- "
                f"{shlex.quote(rel)}`); deleting it and rerunning does not remake it")
    return ("delete it and rerun the job that wrote it: with Snakemake, name the file, `snakemake --cores 1 "
            f"{shlex.quote(str(path))}` with your --config (a plain `snakemake` does not remake a deleted file "
            "whose products are up to date), then `snakemake` remakes what depends on it")


def git_tracked(path: str | os.PathLike) -> tuple[str, str] | None:
    """(repository root, path in it) when git tracks ``path``; ``None`` otherwise (or without git)."""
    folder = Path(path).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
        if top.returncode != 0:
            return None
        repo = top.stdout.strip()
        rel = Path(path).resolve().relative_to(repo).as_posix()
        known = subprocess.run(["git", "-C", repo, "ls-files", "--error-unmatch", "--", rel], capture_output=True,
                               text=True, timeout=10)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return (repo, rel) if known.returncode == 0 else None

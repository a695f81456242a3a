"""Files written atomically: a temporary beside the target, then a rename.

An interrupted write never leaves a half-written file at the target path; temporaries are named
``.<name>.<pid>.<random><suffix>`` and a dead writer's are removed at the next write of the same
target. Files get the mode a plain ``open`` would give under the process's umask.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .errors import WriteError

#: free bytes below which a failed write is reported as a full disk (HDF5 reports ENOSPC only
#: as "NetCDF: HDF error")
FULL_DISK_BYTES = 1 << 20


def _umask() -> int:
    """The process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        old = os.umask(0o022)
        os.umask(old)
    return old


_UMASK_LOCK = threading.Lock()


def _clean_stale_temps(path: Path, suffix: str) -> None:
    """Remove temporaries of ``path`` left by a killed writer (``.<name>.<pid>.<random><suffix>``
    whose process no longer runs on this host, or any older unnamed one)."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # a live writer (a concurrent write of the same target)
            except ProcessLookupError:
                pass
            except OSError:
                continue  # alive, owned by someone else
        elif pid.isdigit():
            continue  # this process's own (a nested write)
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error
    (an interrupt included) it is removed, so ``path`` is never left half-written.

    The file gets the mode a plain ``open`` would give (``0666 & ~umask``: 0644 under umask
    022), not mkstemp's 0600, so collaborators can read shared results.
    Temporaries of the same target left by a killed writer are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        error = write_error(path, exc)
        if error is not None:
            raise error from exc
        raise


def write_error(path: Path, exc: BaseException) -> WriteError | None:
    """The one-line :class:`WriteError` of a failed write of ``path``, or ``None`` for an error
    that is not about writing: "No space left on device" when the cause says so or the disk is
    (nearly) full (HDF5 raises a ``RuntimeError`` then), else an ``OSError``'s reason."""
    if isinstance(exc, WriteError) or not isinstance(exc, (OSError, RuntimeError)):
        return None
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or _free_bytes(path.parent) < FULL_DISK_BYTES:
        return WriteError(f"cannot write {str(path)!r}: {os.strerror(errno.ENOSPC)}", errno.ENOSPC)
    if isinstance(exc, OSError):
        return WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}", code)
    return None


def _free_bytes(folder: Path) -> float:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return float("inf")


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_writable(path: str | os.PathLike) -> None:
    """Raise ``OSError`` if ``path`` cannot be created (before spending time on training)."""
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create folder {str(parent)!r}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise OSError(f"{str(path)!r} is a folder")
    try:  # the honest test: can a file be created beside the target?
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"cannot create files in {str(parent)!r}: {exc.strerror or exc}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OSError(f"no permission to replace {str(path)!r}")

"""The prepared config stored for the training jobs, which read their job from it by reference.

The workflow writes the config it planned with to ``{results}/.plan/<hash>.json`` (its content
hash: two configs never share a file, a running job's file never changes) and names it in the
jobs' environment (``$DYNLOSS_PLAN``); a rule hands a job over as its study and stem, and
``dynloss job`` rebuilds the same :class:`dynloss.plan.Plan` and runs that job, with no command
line in between. What reruns a job is its identity (:meth:`PlannedJob.identity`), not this file,
so an execution setting (``chunk_steps``, the memory budget) changes the file and reruns nothing.

A stored plan is checked: its content hash must be its name (:func:`load` refuses an edited file,
:func:`store` rewrites one), and plans unused for :data:`STALE_DAYS` days are pruned when the
workflow stores its own (every use refreshes a plan's date).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

#: the environment variable naming the stored config of a workflow's jobs
ENV = "DYNLOSS_PLAN"
#: a stored plan not written or read for this many days is removed when the workflow stores another
STALE_DAYS = 14


class PlanError(ValueError):
    """A stored plan that is not one: unreadable, not a JSON object, or edited after it was stored."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only results folder: the plan is still valid, only its age is not refreshed


def prune(folder: str | os.PathLike, keep: str | os.PathLike | None = None, days: float = STALE_DAYS) -> list[str]:
    """Remove the stored plans in ``folder`` unused for ``days`` days (``keep`` stays); the removed paths."""
    cutoff, removed = time.time() - days * 86400, []
    for path in Path(folder).glob("*.json"):
        if keep is not None and path.resolve() == Path(keep).resolve():
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(str(path))
        except OSError:
            continue  # another workflow removed or uses it
    return removed


def store(cfg: dict) -> str:
    """Write the prepared config ``cfg`` under its results folder once (atomically) and return
    the path; a file there whose content is not its name (edited) is written again, and stale
    plans are pruned (:func:`prune`). JSON keeps the order of the studies, so the plan read back
    lists the same jobs."""
    from .. import files

    text = json.dumps(cfg, indent=1)
    path = Path(cfg["results"]) / ".plan" / f"{_digest(text)}.json"
    try:
        intact = path.read_text() == text
    except OSError:
        intact = False
    if not intact:
        try:
            files.write_text(text, path)
        except OSError:
            if not path.exists():  # else another process (a cluster job parsing the workflow) wrote it
                raise
    _touch(path)
    prune(path.parent, keep=path)
    return str(path)


def load(path: str) -> dict:
    """The prepared config a workflow stored with :func:`store`.

    Raises:
        PlanError: the file is unreadable, not a JSON object, or its content hash is not its name
            (it was edited after the workflow planned with it).
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if _digest(text) != Path(path).stem:
        raise PlanError(f"{str(path)!r} is not a stored plan: its content hash {_digest(text)} is not its name "
                        "(edited after the workflow stored it?); rerun snakemake, which stores the plan again")
    try:
        cfg = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{str(path)!r} is not JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise PlanError(f"{str(path)!r} is not a stored plan (a JSON object)")
    _touch(Path(path))
    return cfg

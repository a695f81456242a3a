"""The prepared config stored for the training jobs, which read their job from it by reference.

The workflow writes the config it planned with to ``{results}/.plan/<hash>.json`` (its content
hash: two configs never share a file, a running job's file never changes) and names it in the
jobs' environment (``$DYNLOSS_PLAN``); a rule hands a job over as its study and stem, and
``dynloss job`` rebuilds the same :class:`dynloss.plan.Plan` and runs that job, with no command
line in between. What reruns a job is its identity (:meth:`PlannedJob.identity`), not this file,
so an execution setting (``chunk_steps``, the memory budget) changes the file and reruns nothing.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

#: the environment variable naming the stored config of a workflow's jobs
ENV = "DYNLOSS_PLAN"


def store(cfg: dict) -> str:
    """Write the prepared config ``cfg`` under its results folder once (atomically) and return
    the path. JSON keeps the order of the studies, so the plan read back lists the same jobs."""
    from .. import files

    text = json.dumps(cfg, indent=1)
    path = Path(cfg["results"]) / ".plan" / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        try:
            files.write_text(text, path)
        except OSError:
            if not path.exists():  # else another process (a cluster job parsing the workflow) wrote it
                raise
    return str(path)


def load(path: str) -> dict:
    """The prepared config a workflow stored with :func:`store`."""
    return json.loads(Path(path).read_text())

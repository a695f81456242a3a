"""Checkpoints of a Myrtle5 job and what makes resuming them exact.

Checkpoints are ``.npz`` files (no pickle) written atomically: parameters, optimiser state
(momentum buffers and step count), completed epochs, shuffle keys, the metrics so far and a JSON
description of the run (its *identity*), which must match on resume. CPU runs resume bit for bit;
on GPUs that needs ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` (cuDNN may otherwise pick
non-deterministic convolution algorithms), which :func:`ensure_deterministic_xla` sets and the
``myrtle`` command calls first (the flag also made GPU training faster; benchmarks/RESULTS.md,
"Myrtle5").
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .. import files

#: bumped when the stored state changes layout (2: the optax optimiser state), so that an older
#: checkpoint is refused with a message instead of being misread
CHECKPOINT_FORMAT = 2
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
_TREES = ("params", "opt_state")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (unreadable, or written for a different run)."""


def data_fingerprint(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray) -> dict:
    """Shapes and a hash of the data, so that a checkpoint only resumes on the same data.

    Returns:
        ``{"train": shape, "test": shape, "sha256": hex digest of all four arrays}``.
    """
    h = hashlib.sha256()
    for a in (x_train, y_train, x_test, y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return {"train": list(x_train.shape), "test": list(x_test.shape), "sha256": h.hexdigest()}


def save_checkpoint(path: str | os.PathLike, identity: dict, epoch: int, params: Any,
                    opt_state: Any, keys: np.ndarray, metrics: dict[str, np.ndarray]) -> Path:
    """Write a ``.npz`` checkpoint atomically (temporary file beside it, fsync, rename).

    Args:
        path: the checkpoint file.
        identity: the JSON-able description of the run, checked on resume.
        epoch: completed epochs.
        params, opt_state: the training state (pytrees with a leading seed axis).
        keys: the shuffle keys (S, 2).
        metrics: the (S, E) metric arrays so far.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"identity": np.asarray(json.dumps({**identity, "format": CHECKPOINT_FORMAT}, sort_keys=True)),
              "epoch": np.asarray(epoch, np.int64), "keys": np.asarray(keys)}
    for prefix, tree in zip(_TREES, (params, opt_state)):
        for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
            arrays[f"{prefix}_{i}"] = np.asarray(leaf)
    arrays.update({f"metric_{k}": np.asarray(v) for k, v in metrics.items()})
    with files.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_checkpoint(path: str | os.PathLike, identity: dict, template: tuple[Any, Any]
                    ) -> tuple[int, Any, Any, np.ndarray, dict[str, np.ndarray]]:
    """Read a checkpoint written for ``identity``.

    Args:
        path: the checkpoint file.
        identity: this run's description; the stored one must equal it.
        template: ``(params, opt_state)`` trees giving structure, shapes and dtypes (e.g. from
            ``jax.eval_shape``).

    Returns:
        ``(epoch, params, opt_state, keys, metrics)`` as numpy arrays.

    Raises:
        CheckpointError: unreadable, of another run (naming the first differing setting), or of
            another parameter layout.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} ({type(exc).__name__}: "
                              f"{exc}); delete it to start over") from None
    try:
        found = json.loads(str(arrays["identity"]))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint {str(path)!r} has no run description; delete it to "
                              "start over") from None
    want = json.loads(json.dumps({**identity, "format": CHECKPOINT_FORMAT}, sort_keys=True))
    if found != want:
        diff = _first_difference(found, want)
        raise CheckpointError(f"checkpoint {str(path)!r} belongs to a different run ({diff}); "
                              "delete it or choose another checkpoint path")

    def tree(prefix, ref_tree):
        leaves, treedef = jax.tree_util.tree_flatten(ref_tree)
        out = []
        for i, ref in enumerate(leaves):
            a = arrays.get(f"{prefix}_{i}")
            if a is None or a.shape != ref.shape or a.dtype != ref.dtype:
                raise CheckpointError(f"checkpoint {str(path)!r}: {prefix} leaf {i} does not match "
                                      f"the model ({None if a is None else a.shape} vs {ref.shape})")
            out.append(a)
        return jax.tree_util.tree_unflatten(treedef, out)

    params, opt_state = (tree(prefix, ref) for prefix, ref in zip(_TREES, template))
    metrics = {k[len("metric_"):]: v for k, v in arrays.items() if k.startswith("metric_")}
    return int(arrays["epoch"]), params, opt_state, arrays["keys"], metrics


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
    return f"{where or 'value'}: checkpoint has {a!r}, this run {b!r}"


def ensure_deterministic_xla() -> bool:
    """Add :data:`DETERMINISTIC_FLAG` to ``XLA_FLAGS`` unless it names the option already.

    Only effective before JAX starts its backends (the first computation).

    Returns:
        Whether the flag is in force for this process.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" in flags:
        return DETERMINISTIC_FLAG in flags.split()
    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API: assume the worst
        started = True
    if started:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()
    return True

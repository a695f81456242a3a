"""Running a Myrtle5 job (:class:`dynloss.jobs.MyrtleJob`): load CIFAR-10, train, write the NetCDF."""
from __future__ import annotations

import logging
from typing import Optional

from .definition import MyrtleJob, file_config

log = logging.getLogger("dynloss")


def load_data(job: MyrtleJob):
    """The job's CIFAR-10 arrays; :class:`SpecError` (``batch_size``) when the batch is larger than
    the training set, ``ValueError`` when ``num_train`` is."""
    from ..data import cifar
    from ..errors import SpecError

    data = cifar.load_cifar10(job.cifar_dir, num_train=job.num_train)
    if job.spec.batch_size > len(data[1]):
        raise SpecError("batch_size", f"{job.spec.batch_size} is more than the {len(data[1])} training images "
                        "(allowed: 1..number of training images)")
    return data


def run_myrtle(job: MyrtleJob, out: str, quiet: bool = False, config: Optional[dict] = None, data=None) -> None:
    """Train a Myrtle5 job and write its NetCDF to ``out`` atomically.

    Args:
        job: the job.
        out: the output path.
        quiet: no progress lines.
        config: extra entries of the file's ``config`` attribute.
        data: its CIFAR-10 arrays if already loaded (:func:`load_data`).

    Raises:
        SpecError, dynloss.data.cifar.CifarError, dynloss.myrtle.CheckpointError: bad input, before any
        training (a checkpoint of another run is refused when it is opened).
    """
    from .. import myrtle

    deterministic = myrtle.ensure_deterministic_xla()  # first: bitwise resume on GPUs (and faster there)
    import jax
    import numpy as np

    from .. import netcdf

    spec = job.spec
    spec.validate()
    data = load_data(job) if data is None else data
    label = job.label()
    log.info("%straining %d seed(s) x %d epochs on %d images (%s, %s%s)", label, len(job.seeds),
             spec.epochs, len(data[1]), spec.dtype, myrtle.resolve_batch(spec.batch),
             "" if deterministic or jax.default_backend() == "cpu"
             else f"; without {myrtle.DETERMINISTIC_FLAG} in XLA_FLAGS a resumed run may differ")
    progress = None if quiet else myrtle.epoch_progress_logger(len(job.seeds), len(data[1]), label)
    result = myrtle.train_myrtle(spec, list(job.seeds), data, checkpoint=job.checkpoint,
                                 checkpoint_every=job.checkpoint_every, resume=job.resume, progress=progress)
    log.info("%sfinal test accuracy %s (first epoch %.1f s incl. compile, %.1f s total)", label,
             np.array2string(result.final("test_acc"), precision=4),
             result.timings["first_epoch_s"], result.timings["run_s"])
    ds = myrtle.result_to_dataset(result, file_config(job, config))
    netcdf.write_netcdf(ds, out)
    log.info("%swrote %s", label, out)

"""Myrtle5 on CIFAR-10 with dynamical losses (thesis section 3.4.1, figure 3.2).

Train a job from Python::

    from dynloss import myrtle, netcdf
    from dynloss.data import cifar

    data = cifar.load_cifar10("cifar-10-batches-py")
    spec = myrtle.MyrtleSpec(loss="dce", A=30.0, T=100.0)
    result = myrtle.train_myrtle(spec, seeds=[0, 1], data=data, checkpoint="run.npz")
    netcdf.write_netcdf(myrtle.result_to_dataset(result), "run.nc")

The modules, one concern each: :mod:`.spec` (what a job is), :mod:`.training` (optax SGD, the
learning-rate schedule, the compiled programs, :func:`train_myrtle`), :mod:`.checkpoints`
(exact resume), :mod:`.results` (the result and its NetCDF dataset). The network itself is
:mod:`dynloss.models.myrtle`; the command line ``dynloss myrtle`` is :mod:`dynloss.cli.myrtle`.
"""
from .checkpoints import DETERMINISTIC_FLAG, CheckpointError, ensure_deterministic_xla
from .results import METRICS, MyrtleResult, result_to_dataset
from .spec import NUM_CLASSES, MyrtleSpec, resolve_batch
from .training import epoch_progress_logger, make_class_weights, make_lr_schedule, make_optimizer, train_myrtle

__all__ = ["MyrtleSpec", "train_myrtle", "MyrtleResult", "result_to_dataset", "CheckpointError",
           "ensure_deterministic_xla", "DETERMINISTIC_FLAG", "METRICS", "NUM_CLASSES", "resolve_batch",
           "make_lr_schedule", "make_optimizer", "make_class_weights", "epoch_progress_logger"]

"""``dynloss myrtle``: train Myrtle5 on CIFAR-10 into one NetCDF (thesis figure 3.2).

Thin: parse, build the :class:`~dynloss.myrtle.MyrtleSpec`, call
:func:`~dynloss.myrtle.train_myrtle`, write. Every bad input is one :class:`CliError` naming the flag.
"""
from __future__ import annotations

import argparse
import logging

from ..errors import SpecError
from ..spec import BATCH_MODES, DTYPES
from .args import (CliError, add_loss_arg, check_accelerator, check_loss, check_path, flag_of, number, parse_meta,
                   parse_seeds)

log = logging.getLogger("dynloss")


def add(sub) -> None:
    """Register the ``myrtle`` subcommand on an ``argparse`` subparsers object."""
    pos_int = lambda name: number(int, name, lambda v: v > 0, "an integer > 0")  # noqa: E731
    nonneg = lambda name: number(float, name, lambda v: 0 <= v < float("inf"), "a number >= 0")  # noqa: E731
    p = sub.add_parser("myrtle", help="train Myrtle5 on CIFAR-10 (seeds in one program) into one NetCDF",
                       description="Minibatch SGD with Nesterov momentum on CIFAR-10 (figure 3.2).")
    g = p.add_argument_group("run")
    g.add_argument("--cifar-dir", required=True,
                   help="the CIFAR-10 python version folder (data_batch_1..5, test_batch)")
    add_loss_arg(g)
    g.add_argument("--A", type=number(float, "--A", lambda v: 1 <= v < float("inf"), "a number >= 1"),
                   default=1.0, help="amplitude A >= 1 (default 1: static)")
    g.add_argument("--T", type=number(float, "--T", lambda v: 0 < v < float("inf"), "a number > 0"),
                   default=100.0, help="period T in SGD steps (default 100)")
    g.add_argument("--seeds", default="0", help="seeds: N, N-M or a comma-separated list (default 0)")
    g.add_argument("--out", required=True, help="output NetCDF (written atomically)")
    o = p.add_argument_group("model and optimiser (defaults: the thesis)")
    o.add_argument("--channels", type=pos_int("--channels"), default=64)
    o.add_argument("--epochs", type=pos_int("--epochs"), default=700)
    o.add_argument("--batch-size", type=pos_int("--batch-size"), default=512)
    o.add_argument("--peak-lr", type=nonneg("--peak-lr"), default=0.02)
    o.add_argument("--peak-epoch", type=number(float, "--peak-epoch", lambda v: 0 < v < float("inf"),
                                                "a number > 0"), default=300.0)
    o.add_argument("--final-lr", type=nonneg("--final-lr"), default=0.002)
    o.add_argument("--momentum", default=0.9, help="Nesterov momentum (default 0.9)",
                   type=number(float, "--momentum", lambda v: 0 <= v < 1, "a number in [0, 1)"))
    o.add_argument("--stop-epoch", type=nonneg("--stop-epoch"), default=600.0,
                   help="A = 1 from this epoch on (default 600)")
    o.add_argument("--num-train", type=pos_int("--num-train"), default=None,
                   help="use the first N training images (default: all 50000)")
    o.add_argument("--dtype", choices=DTYPES, default="float32")
    o.add_argument("--batch", choices=BATCH_MODES, default="auto",
                   help="how seeds share the program: map (one after the other; auto), vmap (side by side)")
    e = p.add_argument_group("evaluation and checkpoints")
    e.add_argument("--eval-every", type=number(int, "--eval-every", lambda v: v >= 0, "an integer >= 0"),
                   default=10, help="train/test accuracy every N epochs (0: only at the end)")
    e.add_argument("--eval-batch-size", type=pos_int("--eval-batch-size"), default=1000)
    e.add_argument("--checkpoint", default=None, help="checkpoint file (.npz); resumed if it exists")
    e.add_argument("--checkpoint-every", type=pos_int("--checkpoint-every"), default=10,
                   help="epochs between checkpoints (default 10)")
    e.add_argument("--no-resume", action="store_true", help="start over even if --checkpoint exists")
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def myrtle_job(a: argparse.Namespace):
    """The :class:`dynloss.jobs.MyrtleJob` that ``dynloss myrtle`` arguments describe."""
    from ..jobs import MyrtleJob, checks
    from ..spec import MyrtleSpec

    check_loss(a.loss)
    spec = MyrtleSpec(loss=a.loss, A=a.A, T=a.T, channels=a.channels, epochs=a.epochs, batch_size=a.batch_size,
                      peak_lr=a.peak_lr, peak_epoch=a.peak_epoch, final_lr=a.final_lr, momentum=a.momentum,
                      stop_epoch=a.stop_epoch, eval_every=a.eval_every, eval_batch_size=a.eval_batch_size,
                      dtype=a.dtype, batch=a.batch)
    job = MyrtleJob(spec=spec, seeds=tuple(parse_seeds(a.seeds)), cifar_dir=a.cifar_dir, num_train=a.num_train,
                    checkpoint=a.checkpoint, checkpoint_every=a.checkpoint_every, resume=not a.no_resume,
                    meta=parse_meta(a.meta))
    try:
        checks.validate(job)  # what the config runs on every planned job
    except SpecError as exc:
        raise CliError(f"--{flag_of(exc.field)}: {exc}") from None
    return job


def run(a: argparse.Namespace) -> int:
    """The ``myrtle`` subcommand: validate, load CIFAR-10, train, write the NetCDF."""
    job = myrtle_job(a)
    for flag, path in (("--out", a.out), ("--checkpoint", a.checkpoint)):
        if path is not None:
            check_path(flag, path)
    check_accelerator()
    run_request(job, a.out, a.quiet)
    return 0


def run_request(job, out: str, quiet: bool = False) -> None:
    """Load CIFAR-10 and train a :class:`dynloss.jobs.MyrtleJob`; a bad folder, size or checkpoint
    is a :class:`CliError` naming the flag."""
    from .. import myrtle
    from ..data import cifar
    from ..jobs import myrtle as run_job

    try:
        data = run_job.load_data(job)
    except cifar.CifarError as exc:
        raise CliError(f"--cifar-dir: {exc}") from None
    except SpecError as exc:  # a batch larger than the training images
        raise CliError(f"--{flag_of(exc.field)}: {exc}") from None
    except ValueError as exc:  # num_train beyond the images in the folder
        raise CliError(f"--num-train: {exc}") from None
    try:
        run_job.run_myrtle(job, out, quiet=quiet, data=data)
    except myrtle.CheckpointError as exc:
        raise CliError(f"--checkpoint: {exc}") from None

"""The job requests (plain data, JAX-free): see :mod:`dynloss.jobs`."""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..fields import Arg, argv, execution_flags, fmt, param
from ..spec import MyrtleSpec, RunBatch, SpectraSpec, TrainSpec

log = logging.getLogger("dynloss")


def seed_text(seeds: Sequence[int], as_range: bool = True) -> str:
    """``[0, 1, 2]`` -> ``"0-2"`` (``[4]`` -> ``"4-4"``; ``"4"`` with ``as_range=False``); a list
    that is not a contiguous range as a comma list (what ``--seeds`` parses)."""
    seeds = [int(s) for s in seeds]
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and (as_range or len(seeds) > 1):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


@dataclass(frozen=True)
class Onsets:
    """Onset detection of a job: the window and floor of ``visible``, the definitions to store."""

    window: int = param(20, flag="onset-window", minimum=3, help="detect the first bifurcation with this window "
                        "(steps) and store onset_step and the exact lambda_th")
    floor: float = param(1e-6, flag="onset-floor", minimum=0, text="str",
                         help="relative amplitude floor of the onset detector")
    names: tuple[str, ...] = param((), flag="onset", help="also store these onset definitions (comma list of "
                                   "visible, growing, mode, apparent, ceiling)")
    #: the definition the zoom of a dynamics job centres on (empty: ``visible``)
    primary: str = param("", flag="onset-primary", help="the definition the zoom centres on (one of --onset; "
                         "default: visible)")


def _data_argv(spec: TrainSpec) -> list[str]:
    """The data set's flags: ``--data NAME`` unless it is the default one, then every parameter in the
    order the data set declares them (:class:`dynloss.data.Param`)."""
    ds, values = spec.data_set(), spec.data_values()
    out = ["--data", ds.name] if ds.name != TrainSpec.data else []
    for p in ds.params:
        out += [p.option, p.text(values[p.key])]
    return out


#: the protocol flags (the sensitivity study's factors), written where they differ from the thesis's defaults
PROTOCOL = tuple(Arg(f"spec.{name}", "changed") for name in
                 ("W_std", "b_std", "parameterization", "threefry_partitionable", "mse_norm"))


def same_stop(spec: TrainSpec, A: Sequence[float], T: Sequence[float]) -> TrainSpec:
    """``spec`` with the stop rule ``last_T`` where ``period`` makes the same runs: every run with A > 1 has a
    T that divides the steps (then the last period starts at steps - T under both rules) or no run has A > 1.
    Such a job keeps the identity it had before ``period`` became the workflow's default; the others carry
    ``--stop-rule period`` (docs/stop_rule.md).

    >>> from dynloss.spec import TrainSpec
    >>> s = TrainSpec(loss="dce", width=1, steps=35000, stop_rule="period")
    >>> [same_stop(s, A, T).stop_rule for A, T in (([1, 5], [50, 100]), ([5], [300]), ([1], [300]))]
    ['last_T', 'period', 'last_T']
    """
    if spec.stop_rule != "period":
        return spec
    if all(float(a) == 1.0 or spec.steps % float(t) == 0 for a, t in zip(A, T)):
        return replace(spec, stop_rule="last_T")
    return spec


@dataclass(frozen=True)
class TrainJob:
    """``dynloss train``: every seed at every (A, T) point of ``A x T`` (one point: a sweep's job;
    several: a whole-grid job), at one learning rate.

    Runs are ordered A-major, then T, then seed; a one-point job writes dims ``(seed, step)`` with
    scalar A and T, a grid job ``(A, T, seed, step)``. Either combines into the same study dataset.
    """

    spec: TrainSpec
    seeds: tuple[int, ...] = param(help="seed range: N, N-M (inclusive) or a comma list")
    lr: float = param(above=0, help="learning rate eta")
    A: tuple[float, ...] = param((1.0,), minimum=1, help="amplitude A >= 1 (default 1: static); a comma list trains "
                                 "the grid A x T (every seed at every point) in this one job")
    T: tuple[float, ...] = param((1000.0,), above=0, help="period T in steps (default 1000); a comma list: see --A")
    onsets: Optional[Onsets] = None
    zoom_steps: Optional[int] = param(None, minimum=10, help="store the top Hessian eigenvalues at every step of the "
                                      "zoom window (this many steps around the first onset) as hess_eig_zoom, from a "
                                      "replay")
    #: several widths (a per-study job): one program per width, written along a ``width`` dimension
    widths: tuple[int, ...] = ()
    #: write one seed as ``--seeds 4-4`` (a seed block) rather than ``--seeds 4``
    seed_range: bool = True
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    command = "train"
    #: the command line: the order of its flags and when each is written (:func:`dynloss.fields.argv`)
    ARGV = (Arg("spec.loss"), Arg("all_widths", flag_name="--width"), Arg("lr"), Arg("A"), Arg("T"),
            Arg("spec.steps"), Arg("seeds_text", flag_name="--seeds"), Arg("spec.record_every"),
            Arg("spec.chunk_steps"), Arg("spec.dtype"), Arg("spec.spectra.hess_every", "set"),
            Arg("spec.spectra.hess_order", "if:spec.spectra.hess_every"),
            Arg("spec.spectra.hess_k", "if:spec.spectra.hess_every"), Arg("spec.spectra.ntk_every", "set"),
            Arg("onsets.window", "if:onsets"), Arg("onsets.floor", "if:onsets"), Arg("onsets.names", "set"),
            Arg("onsets.primary", "set"), Arg("zoom_steps", "set"), Arg("spec.spectra.ntk_points", "set"),
            Arg("spec.spectra.density_steps", "set"),
            Arg("spec.spectra.density_order", "if:spec.spectra.density_steps"),
            Arg("spec.spectra.density_vectors", "if:spec.spectra.density_steps"), Arg("spec.stop_rule", "changed"),
            *PROTOCOL)

    def __post_init__(self):
        pairs = list(itertools.product(self.A, self.T))
        object.__setattr__(self, "spec", same_stop(self.spec, [a for a, _ in pairs], [t for _, t in pairs]))

    @property
    def grid(self) -> bool:
        return len(self.A) * len(self.T) > 1

    def all_widths(self) -> tuple[int, ...]:
        return self.widths or (self.spec.width,)

    def runs(self) -> int:
        """Training runs of the job (over every width)."""
        return len(self.A) * len(self.T) * len(self.seeds) * len(self.all_widths())

    def batch(self) -> RunBatch:
        points = list(itertools.product(self.A, self.T))
        runs = [(a, t, s) for a, t in points for s in self.seeds]
        A, T, seeds = zip(*runs)
        if not self.grid:
            return RunBatch.make(list(seeds), self.A[0], self.T[0], self.lr)
        return RunBatch.make(list(seeds), np.asarray(A), np.asarray(T), self.lr)

    def seeds_text(self) -> str:
        return seed_text(self.seeds, self.seed_range)

    def argv(self) -> list[str]:
        """The ``dynloss train`` arguments of this job (without ``--out``, with ``--meta``): :attr:`ARGV`, then
        the data set's flags."""
        return argv(self, self.ARGV) + _data_argv(self.spec) + _meta_argv(self)

    def label(self) -> str:
        where = (f"A={fmt(self.A[0])} T={fmt(self.T[0])}" if not self.grid
                 else f"{len(self.A) * len(self.T)} (A, T) points")
        w = ",".join(map(str, self.all_widths()))
        return f"{self.spec.loss} w={w} lr={self.lr:g} {where} seeds={seed_text(self.seeds)}: "


@dataclass(frozen=True)
class ThresholdsJob:
    """``dynloss thresholds``: runs of given (A, T, seed) at one eta, with their first bifurcations."""

    spec: TrainSpec
    lr: float = param(above=0, help="learning rate eta")
    A: tuple[float, ...] = param(minimum=1, help="amplitude of each run (comma list)")
    T: tuple[float, ...] = param(above=0, help="period of each run (comma list)")
    seeds: tuple[int, ...] = param(minimum=0, help="seed of each run (comma list)")
    onsets: Onsets
    run_offset: int = param(0, minimum=0, help="index of the first run in the study (for combining jobs)")
    trace_every: int = param(100, minimum=1, help="stride of the stored loss traces")
    traces_out: Optional[str] = param(None, help="also write the full-resolution loss traces here (for re-analysis "
                                      "without retraining)")
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    command = "thresholds"
    #: the command line before the data set's flags, and after them (:func:`dynloss.fields.argv`)
    ARGV = (Arg("spec.loss"), Arg("spec.width"), Arg("lr"), Arg("spec.steps"), Arg("A"), Arg("T"), Arg("seeds"),
            Arg("run_offset"), Arg("spec.spectra.hess_every"), Arg("spec.spectra.hess_order"), Arg("onsets.window"),
            Arg("onsets.floor"), Arg("onsets.names", "set"), Arg("trace_every"), Arg("spec.chunk_steps"),
            Arg("spec.dtype"))
    ARGV_AFTER_DATA = (Arg("spec.stop_rule", "changed"), Arg("traces_out", "set"))

    def __post_init__(self):
        object.__setattr__(self, "spec", same_stop(self.spec, self.A, self.T))

    def batch(self) -> RunBatch:
        return RunBatch.make(list(self.seeds), np.asarray(self.A), np.asarray(self.T), self.lr)

    def argv(self) -> list[str]:
        """The ``dynloss thresholds`` arguments of this job (without ``--out``, with ``--meta``)."""
        return (argv(self, self.ARGV) + _data_argv(self.spec) + argv(self, self.ARGV_AFTER_DATA)
                + _meta_argv(self))

    def label(self) -> str:
        return f"{self.spec.loss} w={self.spec.width} lr={self.lr:g} runs={len(self.seeds)}: "


@dataclass(frozen=True)
class MyrtleJob:
    """``dynloss myrtle``: Myrtle5 on CIFAR-10 at one (A, T) for a block of seeds (figure 3.2)."""

    spec: MyrtleSpec
    seeds: tuple[int, ...]
    cifar_dir: str
    num_train: Optional[int] = None
    #: execution settings: a resumable cache, left out of the job's hash
    checkpoint: Optional[str] = param(None, execution="dropped", help="checkpoint file (.npz); resumed if it exists")
    checkpoint_every: int = param(10, minimum=1, execution="dropped", help="epochs between checkpoints")
    resume: bool = True
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    command = "myrtle"

    def argv(self) -> list[str]:
        s = self.spec
        args = ["--cifar-dir", self.cifar_dir, "--loss", s.loss, "--A", fmt(s.A), "--T", fmt(s.T),
                "--seeds", seed_text(self.seeds), "--channels", str(s.channels), "--epochs", str(s.epochs),
                "--batch-size", str(s.batch_size), "--peak-lr", fmt(s.peak_lr), "--peak-epoch", fmt(s.peak_epoch),
                "--final-lr", fmt(s.final_lr),
                "--stop-epoch", fmt(s.stop_epoch) if s.stop_epoch is not None else "None",
                "--eval-every", str(s.eval_every), "--dtype", s.dtype, "--checkpoint-every", str(self.checkpoint_every)]
        if s.momentum != 0.9:
            args += ["--momentum", fmt(s.momentum)]
        if s.eval_batch_size != 1000:
            args += ["--eval-batch-size", str(s.eval_batch_size)]
        if s.batch != "auto":
            args += ["--batch", s.batch]
        if self.num_train:
            args += ["--num-train", str(self.num_train)]
        if self.checkpoint:
            args += ["--checkpoint", self.checkpoint]
        if not self.resume:
            args += ["--no-resume"]
        return args + _meta_argv(self)

    def label(self) -> str:
        s = self.spec
        return f"myrtle5 c={s.channels} {s.loss} A={s.A:g} T={s.T:g} seeds={seed_text(self.seeds)}: "


Job = Union[TrainJob, ThresholdsJob, MyrtleJob]

_EXECUTION = execution_flags(TrainSpec, SpectraSpec, Onsets, TrainJob, ThresholdsJob, MyrtleJob)
#: arguments that do not determine a job's numbers (each takes one value): where a result goes, its labels,
#: and the execution settings that were never hashed (``execution="dropped"`` on their field)
NOT_HASHED = ("--out", "--meta", *(f for f, (how, _) in _EXECUTION.items() if how == "dropped"))
#: execution settings kept in the hash at their default (``execution="canonical"``), so the hashes of jobs
#: computed before they were execution settings stay valid: ``--chunk-steps`` (every length the job checks
#: accept trains bitwise the same runs, ``dynloss.jobs.checks``)
CANONICAL = {f: default for f, (how, default) in _EXECUTION.items() if how == "canonical"}


def canonical_argv(args: Sequence[str]) -> list[str]:
    """``args`` with every :data:`CANONICAL` argument at its fixed value: what identifies a job
    (its hash, and the Snakemake parameter whose change reruns it)."""
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a in CANONICAL:
            out[i + 1] = CANONICAL[a]
    return out


def job_hash(command: str, args: Sequence[str]) -> str:
    """Content hash of one job: its command and every argument that determines its numbers.

    ``--out``, ``--meta``, ``--checkpoint`` and ``--checkpoint-every`` (where a result goes,
    labels, a resumable cache) are left out and ``--chunk-steps`` is taken at one fixed value
    (:data:`CANONICAL`), so the hash changes exactly when the job's numbers can change. It is
    stored in the job file (``config`` attribute, key ``job_hash``) and compared before a file is
    reused.

    Args:
        command: the ``dynloss`` command (``train``, ``thresholds``, ``myrtle``).
        args: its arguments.

    Returns:
        16 hex digits of a SHA-256.
    """
    kept, skip = [], False
    for a in canonical_argv(args):
        if skip:
            skip = False
            continue
        if a in NOT_HASHED:
            skip = True
            continue
        kept.append(a)
    return hashlib.sha256(json.dumps([command, *kept]).encode()).hexdigest()[:16]


def _meta_argv(job: Any) -> list[str]:
    """``--meta``: the job's labels (study, scale) and the hash of its arguments, nothing else, so
    a cosmetic config edit leaves every job's command line, and Snakemake's rerun decision,
    unchanged."""
    if not job.meta:
        return []
    args = replace(job, meta={}).argv()  # the arguments without --meta
    meta = {**job.meta, "job_hash": job_hash(job.command, args)}
    return ["--meta", json.dumps(meta, sort_keys=True)]


def hash_of(job: Any) -> str:
    """The :func:`job_hash` of a job (what ``--meta`` carries and a file is reused by)."""
    return job_hash(job.command, replace(job, meta={}).argv())


def file_config(job: Job, config: Optional[dict] = None) -> dict:
    """The ``config`` attribute of a job's file: its command line, labels and hash."""
    meta = dict(job.meta)
    if meta:
        meta["job_hash"] = hash_of(job)
    return {"job": {"command": job.command, "argv": job.argv()}, **(config or {}), **meta}

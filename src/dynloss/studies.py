"""From a prepared config to jobs and files: what the Snakemake rules fan out over.

Everything here is plain Python so it is tested without Snakemake; ``workflow/rules/common.smk``
only calls these functions. File layout under ``results``::

    {study}/runs/{loss}_w{width}_lr{lr}_A{A}_T{T}_s{seeds}.nc   one training job (contour, curves;
                                                                 myrtle: w = channels, lr = peak lr)
    {study}/runs/{loss}_w{width}_lr{lr}_b{block}.nc              one thresholds job
    {study}/{study}.nc                                           the study's combined dataset
    figures/{figure}.pdf, figures/{figure}.png                   the figure
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .errors import ConfigError, SpecError
from .spec import check_cadences

#: Snakemake rule names, which no study or figure may take
RESERVED_NAMES = ("all", "train_point", "dynamics", "thresholds_job", "synthetic_cifar", "myrtle_job",
                  "aggregate_points", "aggregate_thresholds", "fit_thresholds", "figure", "reproduction", "publish",
                  "train_sensitivity", "aggregate_sensitivity", "infinite_width", "figure_sensitivity",
                  "figure_curves_infinite", "sensitivity_report", "sensitivity_mse", "fig4_1_infinite")
TRAINED_KINDS = ("contour", "curves", "myrtle")  # kinds with one job per (point, seed block)
#: scalar coordinates that become dimensions when a study's jobs are combined
AGGREGATE_DIMS = {"contour": "loss,width,lr,A,T", "curves": "loss,width,lr,A,T", "myrtle": "loss,channels,A,T",
                  "thresholds": "loss,width,lr"}
#: study kind -> figure kind (``dynloss figure <kind>``) and the options the kind adds
STUDY_FIGURE = {"contour": "contour", "curves": "curves", "dynamics": "dynamics", "thresholds": "thresholds",
                "myrtle": "contour"}
FIGURE_OPTIONS = {"myrtle": {"train_var": "final_train_acc", "test_var": "final_test_acc", "width_dim": "channels"}}


def fmt(x: float) -> str:
    """Numbers in file names: ``1`` -> ``"1"``, ``0.075`` -> ``"0.075"``, ``2500.0`` -> ``"2500"``."""
    return np.format_float_positional(float(x), trim="-")


def seed_blocks(n_seeds: int, per_job: int, first: int = 0) -> list[str]:
    """Seed ranges ``"a-b"`` (inclusive) covering ``first .. first + n_seeds - 1``."""
    out = []
    for lo in range(first, first + n_seeds, per_job):
        hi = min(lo + per_job, first + n_seeds) - 1
        out.append(f"{lo}-{hi}")
    return out


@dataclass(frozen=True)
class PointJob:
    """One training job of a contour/curves study: a (width, A, T) point and a seed block."""

    study: str
    loss: str
    width: int
    lr: float
    A: float
    T: float
    seeds: str

    def path(self, results: str) -> str:
        return (f"{results}/{self.study}/runs/{self.loss}_w{self.width}_lr{fmt(self.lr)}"
                f"_A{fmt(self.A)}_T{fmt(self.T)}_s{self.seeds}.nc")


def point_jobs(cfg: dict, name: str) -> list[PointJob]:
    st = cfg["studies"][name]
    blocks = seed_blocks(st["seeds"], st["seeds_per_job"])
    if st["kind"] == "contour":
        grid = itertools.product(st["widths"], st["A"], st["T"])
    elif st["kind"] == "curves":
        grid = ((w, st["A"], st["T"]) for w in st["widths"])
    elif st["kind"] == "myrtle":  # "width" is the channel count, "lr" the peak learning rate
        return [PointJob(name, st["loss"], int(st["channels"]), float(st["peak_lr"]), float(A), float(T), b)
                for A in st["A"] for T in st["T"] for b in blocks]
    else:
        raise ValueError(f"study {name!r} of kind {st['kind']!r} has no point jobs")
    return [PointJob(name, st["loss"], int(w), float(st["lr"]), float(A), float(T), b)
            for w, A, T in grid for b in blocks]


def threshold_runs(st: dict) -> list[tuple[float, float, int]]:
    """The (A, T, seed) runs of one eta of a thresholds study, in job order."""
    return [(float(A), float(T), int(s)) for A in st["A"] for T in st["T"] for s in range(st["seeds"])]


@dataclass(frozen=True)
class ThresholdJob:
    study: str
    loss: str
    width: int
    lr: float
    block: int

    def path(self, results: str) -> str:
        return f"{results}/{self.study}/runs/{self.loss}_w{self.width}_lr{fmt(self.lr)}_b{self.block}.nc"

    def traces_path(self, results: str) -> str:
        """The job's full-resolution loss traces (``keep_traces``), for ``dynloss onsets``."""
        return f"{results}/{self.study}/traces/{self.loss}_w{self.width}_lr{fmt(self.lr)}_b{self.block}.nc"


def threshold_jobs(cfg: dict, name: str) -> list[ThresholdJob]:
    st = cfg["studies"][name]
    n_blocks = -(-len(threshold_runs(st)) // st["runs_per_job"])
    return [ThresholdJob(name, st["loss"], int(w), float(lr), b)
            for w in st["widths"] for lr in st["lrs"] for b in range(n_blocks)]


def threshold_block(st: dict, block: int) -> list[tuple[float, float, int]]:
    runs = threshold_runs(st)
    k = st["runs_per_job"]
    if not 0 <= block * k < len(runs):
        raise ValueError(f"block {block} out of range for {len(runs)} runs of {k} per job")
    return runs[block * k:(block + 1) * k]


def job_files(cfg: dict, name: str) -> list[str]:
    """The job NetCDFs a study combines."""
    kind = cfg["studies"][name]["kind"]
    if kind in TRAINED_KINDS:
        return [j.path(cfg["results"]) for j in point_jobs(cfg, name)]
    if kind == "thresholds":
        return [j.path(cfg["results"]) for j in threshold_jobs(cfg, name)]
    return []


def study_names(cfg: dict, kinds: Iterable[str] | None = None) -> list[str]:
    """Studies that run in this configuration (a myrtle study needs its CIFAR-10 folder)."""
    out = []
    for name, st in cfg["studies"].items():
        if kinds is not None and st["kind"] not in kinds:
            continue
        if st["kind"] == "myrtle" and not st.get("cifar_dir"):
            continue
        out.append(name)
    return out


def dataset_path(cfg: dict, name: str) -> str:
    return f"{cfg['results']}/{name}/{name}.nc"


def figure_files(cfg: dict, name: str) -> list[str]:
    return [f"{cfg['results']}/figures/{name}.{ext}" for ext in ("pdf", "png")]


def figure_names(cfg: dict) -> list[str]:
    """Every figure this configuration renders: the figures section, then the studies."""
    names = list(cfg["figures"])
    names += study_names(cfg)
    return names


def find_point_job(cfg: dict, study: str, loss: str, width: str, lr: str, A: str, T: str,
                   seeds: str) -> PointJob:
    """The job a rule's wildcards name; ``ValueError`` if the config does not list it."""
    for job in point_jobs(cfg, study):
        if (job.loss, str(job.width), fmt(job.lr), fmt(job.A), fmt(job.T), job.seeds) == \
                (loss, width, lr, A, T, seeds):
            return job
    raise ValueError(f"no job of study {study!r} matches loss={loss} width={width} lr={lr} A={A} "
                     f"T={T} seeds={seeds}")


# --------------------------------------------------------------------------------------------
# Semantic checks (the schema has filled defaults by now)


def check(cfg: dict) -> None:
    """Checks a schema cannot express; :class:`dynloss.config.ConfigError` names the key."""
    for name in list(cfg["studies"]) + list(cfg["figures"]):
        section = "studies" if name in cfg["studies"] else "figures"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ConfigError(f"config key '{section}.{name}': a name must be a letter followed by letters, "
                              "digits or underscores (it becomes a folder and a Snakemake target)")
        if name in RESERVED_NAMES:
            raise ConfigError(f"config key '{section}.{name}': {name!r} is the name of a workflow rule "
                              f"(reserved: {', '.join(RESERVED_NAMES)}); choose another name")
    for name in cfg["studies"]:
        if name in cfg["figures"]:
            raise ConfigError(f"config key 'studies.{name}': {name!r} is already a figure under 'figures' "
                              "(each figure target has one name); choose another name")
    for name, st in cfg["studies"].items():
        key = f"studies.{name}"
        kind = st["kind"]
        if kind in ("contour", "curves") and st["steps"] % st["record_every"]:
            raise ConfigError(f"config key '{key}.steps': {st['steps']} is not a multiple of "
                              f"record_every={st['record_every']}")
        if kind == "myrtle" and st["cifar_dir"] not in (None, "synthetic"):
            from pathlib import Path

            if not Path(st["cifar_dir"]).is_dir():
                raise ConfigError(f"config key '{key}.cifar_dir': no folder {st['cifar_dir']!r} (the CIFAR-10 "
                                  "python version: data_batch_1..5 and test_batch; set null to skip the study)")
            from .cifar import TEST_FILE, TRAIN_FILES

            missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (Path(st["cifar_dir"]) / f).is_file()]
            if missing:
                raise ConfigError(f"config key '{key}.cifar_dir': folder {st['cifar_dir']!r} has no "
                                  f"{', '.join(missing)} (the CIFAR-10 python version: data_batch_1..5 and "
                                  "test_batch; set null to skip the study)")
        if kind == "thresholds" and st["steps"] % st["hess_every"]:
            raise ConfigError(f"config key '{key}.steps': {st['steps']} is not a multiple of "
                              f"hess_every={st['hess_every']}")
        if kind == "sensitivity":
            from .sensitivity import check_study

            check_study(cfg, name)
        if kind == "dynamics":
            try:
                check_cadences(st["steps"], 1, st["hess_every"], st["ntk_every"], st["density_steps"])
            except SpecError as exc:
                raise ConfigError(f"config key '{key}.{exc.field}': {exc}") from None
    for name, fig in cfg["figures"].items():
        if fig["kind"] == "density":
            src = fig.get("study", "")
            st = cfg["studies"].get(src)
            if st is None or st["kind"] != "dynamics":
                raise ConfigError(f"config key 'figures.{name}.study': {src!r} is not a dynamics study")
            if not st["density_steps"]:
                raise ConfigError(f"config key 'studies.{src}.density_steps': the density figure "
                                  f"{name!r} needs at least one step")


# --------------------------------------------------------------------------------------------
# Command lines of the jobs (shared by the Snakemake rules and `dynloss run-study`)


def _data_args(cfg: dict) -> list[str]:
    d = cfg["data"]
    return ["--points-per-class", str(d["points_per_class"]), "--classes", str(d["num_classes"]),
            "--noise", str(d["noise"]), "--data-seed", str(d["train_seed"]),
            "--test-seeds", ",".join(map(str, d["test_seeds"]))]


def job_hash(command: str, args: Sequence[str]) -> str:
    """Content hash of one job: its command and every argument that determines its numbers.

    ``--out``, ``--meta``, ``--checkpoint`` and ``--checkpoint-every`` (where a result goes,
    labels, a resumable cache) are left out, so the hash changes exactly when the job's numbers
    can change. It is stored in the job file (``config`` attribute, key ``job_hash``) and compared before a file is reused.

    Args:
        command: the ``dynloss`` command (``train``, ``thresholds``, ``myrtle``).
        args: its arguments.

    Returns:
        16 hex digits of a SHA-256.
    """
    import hashlib
    import json

    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in _NOT_HASHED:
            skip = True
            continue
        kept.append(a)
    return hashlib.sha256(json.dumps([command, *kept]).encode()).hexdigest()[:16]


#: arguments that do not determine a job's numbers (each takes one value)
_NOT_HASHED = ("--out", "--meta", "--checkpoint", "--checkpoint-every")


def _meta(cfg: dict, name: str, command: str, args: Sequence[str]) -> list[str]:
    """``--meta`` of a job: its study, its scale and the hash of its arguments. Nothing else, so
    that a cosmetic config edit (a title, another grid value) leaves every existing job's command
    line, and so Snakemake's rerun decision, unchanged (issue 12 item 6)."""
    import json

    return ["--meta", json.dumps({"study": name, "scale": cfg["scale"], "job_hash": job_hash(command, args)},
                                 sort_keys=True)]


def point_args(cfg: dict, job: PointJob) -> list[str]:
    """``dynloss train`` arguments of one contour/curves job (without ``--out``)."""
    st = cfg["studies"][job.study]
    args = (["--loss", job.loss, "--width", str(job.width), "--lr", fmt(job.lr), "--A", fmt(job.A),
             "--T", fmt(job.T), "--steps", str(st["steps"]), "--seeds", job.seeds,
             "--record-every", str(st["record_every"]), "--chunk-steps", str(cfg["chunk_steps"]),
             "--dtype", cfg["dtype"]] + _data_args(cfg))
    return args + _meta(cfg, job.study, "train", args)


def dynamics_args(cfg: dict, name: str) -> list[str]:
    """``dynloss train`` arguments of a dynamics study: one run, every step, spectra, onset."""
    st = cfg["studies"][name]
    args = ["--loss", st["loss"], "--width", str(st["width"]), "--lr", fmt(st["lr"]), "--A", fmt(st["A"]),
            "--T", fmt(st["T"]), "--steps", str(st["steps"]), "--seeds", str(st["seed"]), "--record-every", "1",
            "--chunk-steps", str(cfg["chunk_steps"]), "--dtype", cfg["dtype"],
            "--hess-every", str(st["hess_every"]), "--hess-order", str(st["hess_order"]),
            "--hess-k", str(st["hess_k"]), "--ntk-every", str(st["ntk_every"]),
            "--onset-window", str(st["onset_window"]), "--onset-floor", str(st["onset_floor"]),
            "--onset", ",".join(st["onset"])]
    if st["zoom_hessian"]:
        args += ["--zoom-steps", str(st["zoom_steps"])]
    if st["ntk_points"]:
        args += ["--ntk-points", str(st["ntk_points"])]
    if st["density_steps"]:
        args += ["--density-steps", ",".join(map(str, st["density_steps"])), "--density-order",
                 str(st["density_order"]), "--density-vectors", str(st["density_vectors"])]
    args += _data_args(cfg)
    return args + _meta(cfg, name, "train", args)


def threshold_args(cfg: dict, job: ThresholdJob) -> list[str]:
    """``dynloss thresholds`` arguments of one job: its block of (A, T, seed) runs."""
    st = cfg["studies"][job.study]
    A, T, seeds = zip(*threshold_block(st, job.block))
    args = (["--loss", job.loss, "--width", str(job.width), "--lr", fmt(job.lr), "--steps", str(st["steps"]),
             "--A", ",".join(fmt(a) for a in A), "--T", ",".join(fmt(t) for t in T),
             "--seeds", ",".join(map(str, seeds)), "--run-offset", str(job.block * st["runs_per_job"]),
             "--hess-every", str(st["hess_every"]), "--hess-order", str(st["hess_order"]),
             "--onset-window", str(st["onset_window"]), "--onset-floor", str(st["onset_floor"]),
             "--onset", ",".join(st["onset"]),
             "--trace-every", str(st["hess_every"]), "--chunk-steps", str(cfg["chunk_steps"]),
             "--dtype", cfg["dtype"]] + _data_args(cfg))
    if st.get("keep_traces"):
        args += ["--traces-out", job.traces_path(cfg["results"])]
    return args + _meta(cfg, job.study, "thresholds", args)


#: study keys that change how a figure looks, never a number
COSMETIC_KEYS = ("title",)


def aggregate_meta(cfg: dict, name: str) -> dict:
    """What a study's combined dataset records of its configuration: everything but the
    cosmetic keys, so a title edit does not re-combine the study (issue 12 item 6).

    Args:
        cfg: a prepared config.
        name: the study.

    Returns:
        ``{"study", "scale", "study_config", "data"}``.
    """
    st = {k: v for k, v in cfg["studies"][name].items() if k not in COSMETIC_KEYS}
    return {"study": name, "scale": cfg["scale"], "study_config": st, "data": cfg["data"]}


def cifar_folder(cfg: dict, name: str) -> str:
    st = cfg["studies"][name]
    return f"{cfg['results']}/cifar_synthetic/{name}" if st["cifar_dir"] == "synthetic" else st["cifar_dir"]


def myrtle_args(cfg: dict, job: PointJob) -> list[str]:
    """``dynloss myrtle`` arguments of one Myrtle5 job, with its checkpoint beside the results.

    The checkpoint's name carries the job's hash, so a checkpoint is only ever resumed by the job
    that wrote it: a changed setting (epochs, ...) starts a fresh checkpoint instead of failing on
    a stale one (issue 12 item 7).
    """
    st = cfg["studies"][job.study]
    stem = job.path(cfg["results"]).rsplit("/", 1)[1][:-3]
    args = ["--cifar-dir", cifar_folder(cfg, job.study), "--loss", job.loss, "--A", fmt(job.A), "--T", fmt(job.T),
            "--seeds", job.seeds, "--channels", str(st["channels"]), "--epochs", str(st["epochs"]),
            "--batch-size", str(st["batch_size"]), "--peak-lr", str(st["peak_lr"]),
            "--peak-epoch", str(st["peak_epoch"]), "--final-lr", str(st["final_lr"]),
            "--stop-epoch", str(st["stop_epoch"]), "--eval-every", str(st["eval_every"]), "--dtype", st["dtype"],
            "--checkpoint-every", str(st["checkpoint_every"])]
    if st["num_train"]:
        args += ["--num-train", str(st["num_train"])]
    digest = job_hash("myrtle", args)
    args += ["--checkpoint", f"{cfg['results']}/{job.study}/checkpoints/{stem}-{digest}.npz"]
    return args + _meta(cfg, job.study, "myrtle", args)

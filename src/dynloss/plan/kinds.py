"""One class per study kind: its jobs, their specs, how they combine, its figure and its checks.

A kind is registered with :func:`register`; the Snakemake rules and ``dynloss run-study`` know
nothing about kinds but what :class:`dynloss.plan.Plan` asks of them, so adding a kind is one
class here (or in any module that calls :func:`register`) plus its figure module.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Optional

from ..errors import ConfigError
from ..jobs import MyrtleJob, TrainJob, canonical_argv, fmt, hash_of, job_hash, seed_text
from ..spec import MyrtleSpec, TrainSpec

#: study kind name -> class
KINDS: dict[str, type["StudyKind"]] = {}
#: job fields (dynloss.jobs.checks) set by a top-level config key rather than a study key
GLOBAL_KEYS = {"chunk_steps": "chunk_steps", "dtype": "dtype", "max_memory_gb": "max_memory_gb",
               "points_per_class": "data.points_per_class", "num_classes": "data.num_classes",
               "noise": "data.noise", "data_seed": "data.train_seed", "test_seeds": "data.test_seeds"}


def register(cls: type["StudyKind"]) -> type["StudyKind"]:
    """Class decorator: make ``cls`` the study kind named ``cls.name``."""
    KINDS[cls.name] = cls
    return cls


def with_kind_schemas(schema: dict) -> dict:
    """``schema`` with every registered kind's own fragment (:attr:`StudyKind.schema`) in it: its name
    among the allowed kinds, its keys under ``$defs.<name>`` and the rule that applies them to a study
    of that kind. The built-in kinds are in the schema file already; ``schema`` is not changed."""
    extra = {n: k.schema for n, k in KINDS.items() if k.schema is not None and n not in schema.get("$defs", {})}
    if not extra:
        return schema
    import copy

    out = copy.deepcopy(schema)
    study = out["$defs"]["study"]
    for name, fragment in extra.items():
        study["properties"]["kind"]["enum"].append(name)
        study["allOf"].append({"if": {"properties": {"kind": {"const": name}}}, "then": {"$ref": f"#/$defs/{name}"}})
        out["$defs"][name] = fragment
    return out


@dataclass(frozen=True)
class PlannedJob:
    """One job of the plan: its study, file stem, request and output."""

    study: str
    stem: str
    request: Any  # a dynloss.jobs request (TrainJob, ThresholdsJob, MyrtleJob)
    out: str
    inputs: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return self.request.command

    def argv(self) -> list[str]:
        return self.request.argv()

    def identity(self) -> list[str]:
        """The arguments that identify the job (:func:`dynloss.jobs.canonical_argv`: execution
        settings such as ``--chunk-steps`` at a fixed value): the Snakemake parameter whose change
        reruns it."""
        return canonical_argv(self.argv())

    @property
    def hash(self) -> str:
        return job_hash(self.command, self.argv())


def seed_blocks(n_seeds: int, per_job: int, first: int = 0) -> list[list[int]]:
    """Seeds ``first .. first + n_seeds - 1`` in blocks of ``per_job``."""
    return [list(range(lo, min(lo + per_job, first + n_seeds))) for lo in range(first, first + n_seeds, per_job)]


def train_spec(plan, st: dict, **fields: Any) -> TrainSpec:
    """The spec of a spiral training job of study config ``st`` (data and dtype from the plan)."""
    d = plan.cfg["data"]
    base = dict(loss=st["loss"], width=int(st.get("width", 1)), steps=int(st["steps"]),
                record_every=int(st.get("record_every", 100)), chunk_steps=int(plan.cfg["chunk_steps"]),
                dtype=plan.cfg["dtype"], points_per_class=int(d["points_per_class"]),
                num_classes=int(d["num_classes"]), data_seed=int(d["train_seed"]), noise=d["noise"],
                test_seeds=tuple(int(s) for s in d["test_seeds"]), stop_rule=plan.cfg.get("stop_rule", "last_T"))
    base.update(fields)
    return TrainSpec(**base)


class StudyKind:
    """A study of one kind: override what differs. ``plan`` is the :class:`dynloss.plan.Plan`."""

    name: ClassVar[str] = ""
    #: figure kind (``dynloss figure <kind>``) and the options this kind adds to the study config
    figure: ClassVar[Optional[str]] = None
    figure_options: ClassVar[dict] = {}
    #: scalar coordinates that become dimensions when the jobs combine (None: nothing to combine)
    aggregate_dims: ClassVar[Optional[tuple[str, ...]]] = None
    #: whether the study's jobs write files under ``runs/`` that a combine step reads (a dynamics
    #: study's one job writes the dataset itself)
    trains_runs: ClassVar[bool] = True
    #: whether the default target (``snakemake`` with no target) draws the study's figure
    in_all: ClassVar[bool] = True
    #: job fields (dynloss.jobs.checks) whose study key has another name: field -> key
    field_keys: ClassVar[dict] = {"width": "widths"}
    #: the JSON-schema object of the kind's study keys (with defaults), for a kind defined outside
    #: workflow/schemas/config.schema.yaml: :func:`with_kind_schemas` adds it to the schema before the
    #: config is validated (the built-in kinds' fragments are in that file, under ``$defs.<name>``)
    schema: ClassVar[Optional[dict]] = None

    def __init__(self, plan, study: str):
        self.plan, self.study = plan, study
        self.st = plan.cfg["studies"][study]

    @property
    def results(self) -> str:
        return self.plan.results

    @property
    def enabled(self) -> bool:
        """Whether the study runs in this configuration."""
        return True

    def jobs(self) -> list[PlannedJob]:
        return []

    def check(self) -> None:
        """Semantic checks a schema cannot express; raise :class:`ConfigError` naming the key."""

    def dataset(self) -> str:
        return f"{self.results}/{self.study}/{self.study}.nc"

    def extra_outputs(self) -> list[str]:
        """Files the study's named target builds beside its figure."""
        return []

    def figure_inputs(self) -> list[str]:
        return [self.dataset()]

    def combine_inputs(self, jobs: Optional[list[PlannedJob]] = None) -> list[str]:
        """The files the study's combine step reads from ``jobs`` (default: all of them): their outputs."""
        return [j.out for j in (self.plan.jobs(self.study) if jobs is None else jobs)]

    # -- the steps of `dynloss run-study` after training (the Snakemake rules run the same commands) --

    def derive(self, jobs: list[PlannedJob]) -> None:
        """What a study computes from its trained jobs before they combine (nothing by default)."""

    def combine(self, inputs: list[str], attrs: dict):
        """The study dataset from ``inputs`` (:meth:`combine_inputs`); ``None``: the job writes it."""
        if self.aggregate_dims is None:
            return None
        from .. import netcdf

        return netcdf.combine(inputs, dims=self.aggregate_dims, attrs=attrs)

    def summarise(self, dataset: str) -> None:
        """Tables made from the combined dataset beside it (nothing by default)."""

    def figure_inputs_in_process(self) -> list[str]:
        """What ``run-study``'s figure reads (the rules may add references it does not compute)."""
        return self.figure_inputs()

    def labels(self) -> dict:
        return {"study": self.study, "scale": self.plan.cfg["scale"]}

    def run_path(self, stem: str) -> str:
        return f"{self.results}/{self.study}/runs/{stem}.nc"

    def key(self, field_name: str) -> str:
        return f"config key 'studies.{self.study}.{field_name}'"

    def config_key(self, job_field: str) -> str:
        """The config key that sets a job field (``width`` -> ``studies.<study>.widths``, ...)."""
        if job_field in self.field_keys:
            return f"studies.{self.study}.{self.field_keys[job_field]}"
        return GLOBAL_KEYS.get(job_field, f"studies.{self.study}.{job_field}")

    def steps_multiple_of(self, cadence: str) -> None:
        """:class:`ConfigError` on ``steps`` unless it is a multiple of the study's ``cadence`` key."""
        if self.st["steps"] % self.st[cadence]:
            raise ConfigError(f"{self.key('steps')}: {self.st['steps']} is not a multiple of "
                              f"{cadence}={self.st[cadence]}")


@register
class Contour(StudyKind):
    """Accuracy over (A, T) per width: figures 3.4, 4.2, 4.6."""

    name = "contour"
    figure = "contour"
    aggregate_dims = ("loss", "width", "lr", "A", "T")

    def grid(self) -> tuple[list[float], list[float]]:
        return [float(a) for a in self.st["A"]], [float(t) for t in self.st["T"]]

    def jobs(self) -> list[PlannedJob]:
        """The study's jobs. A = 1 is the static loss whatever T is (every class weight is 1), so
        it is trained once per width and seed block, at the first T of the grid, as a point job
        of its own; :func:`dynloss.static_row.share_static_row` gives it to the other T when the jobs
        combine, and the verdicts count it once."""
        st, out = self.st, []
        own = {int(g["width"]): g for g in st.get("grids", ())}
        shared = [int(w) for w in st["widths"] if int(w) not in own]
        groups = ([(shared, *self.grid())] if shared else []) + [
            ([w], [float(a) for a in g["A"]], [float(t) for t in g["T"]]) for w, g in own.items()]
        for widths, A, T in groups:
            out += self._grid_jobs(widths, A, T)
        return out

    def _grid_jobs(self, widths: list[int], A: list[float], T: list[float]) -> list[PlannedJob]:
        st, out = self.st, []
        gran = self.plan.granularity
        dynamic = [a for a in A if a != 1.0]
        for seeds in seed_blocks(st["seeds"], st["seeds_per_job"]):
            s = seed_text(seeds)
            points = [(1.0, T[0])] if len(dynamic) < len(A) else []
            if gran == "point" or len(dynamic) * len(T) <= 1:
                points += list(itertools.product(dynamic, T))
            for w, (a, t) in itertools.product(widths, points):
                stem = f"{st['loss']}_w{w}_lr{fmt(st['lr'])}_A{fmt(a)}_T{fmt(t)}_s{s}"
                out.append(self._job(stem, [w], [a], [t], seeds))
            if gran == "point" or len(dynamic) * len(T) <= 1:
                continue
            if gran == "width" or len(widths) == 1:
                for w in widths:
                    out.append(self._job(f"{st['loss']}_w{w}_lr{fmt(st['lr'])}_grid_s{s}", [w], dynamic, T, seeds))
            else:  # study
                out.append(self._job(f"{st['loss']}_lr{fmt(st['lr'])}_grid_s{s}", widths, dynamic, T, seeds))
        return out

    def _job(self, stem: str, widths, A, T, seeds) -> PlannedJob:
        spec = train_spec(self.plan, self.st, width=int(widths[0]))
        job = TrainJob(spec=spec, seeds=tuple(seeds), lr=float(self.st["lr"]), A=tuple(A), T=tuple(T),
                       widths=tuple(widths) if len(widths) > 1 else (), meta=self.labels())
        return PlannedJob(self.study, stem, job, self.run_path(stem))

    def check(self) -> None:
        self.steps_multiple_of("record_every")
        widths = [int(w) for w in self.st["widths"]]
        for i, g in enumerate(self.st.get("grids", ())):
            if int(g["width"]) not in widths:
                raise ConfigError(f"{self.key(f'grids[{i}].width')}: {g['width']} is not one of the study's "
                                  f"widths {widths}")


@register
class Curves(Contour):
    """Training curves per width at one (A, T): figure 4.1."""

    name = "curves"
    figure = "curves"

    def grid(self) -> tuple[list[float], list[float]]:
        return [float(self.st["A"])], [float(self.st["T"])]


@register
class Myrtle(StudyKind):
    """Myrtle5 on CIFAR-10: figure 3.2 (needs its CIFAR-10 folder, or ``synthetic``)."""

    name = "myrtle"
    figure = "contour"
    figure_options = {"train_var": "final_train_acc", "test_var": "final_test_acc", "width_dim": "channels"}
    aggregate_dims = ("loss", "channels", "A", "T")
    field_keys = {"dtype": "dtype"}  # a key of the study: Myrtle5 runs float32 by default

    @property
    def enabled(self) -> bool:
        return bool(self.st.get("cifar_dir"))

    def cifar_folder(self) -> str:
        st = self.st
        return f"{self.results}/cifar_synthetic/{self.study}" if st["cifar_dir"] == "synthetic" else st["cifar_dir"]

    def jobs(self) -> list[PlannedJob]:
        st, out = self.st, []
        inputs = (self.cifar_folder(),) if st["cifar_dir"] == "synthetic" else ()
        for A in st["A"]:
            for T in st["T"]:
                for seeds in seed_blocks(st["seeds"], st["seeds_per_job"]):
                    stem = (f"{st['loss']}_w{int(st['channels'])}_lr{fmt(st['peak_lr'])}_A{fmt(A)}_T{fmt(T)}"
                            f"_s{seed_text(seeds)}")
                    spec = MyrtleSpec(loss=st["loss"], A=float(A), T=float(T), channels=int(st["channels"]),
                                      epochs=int(st["epochs"]), batch_size=int(st["batch_size"]), peak_lr=st["peak_lr"],
                                      peak_epoch=st["peak_epoch"], final_lr=st["final_lr"],
                                      stop_epoch=st["stop_epoch"], eval_every=int(st["eval_every"]), dtype=st["dtype"])
                    job = MyrtleJob(spec=spec, seeds=tuple(seeds), cifar_dir=self.cifar_folder(),
                                    num_train=st["num_train"] or None, checkpoint_every=int(st["checkpoint_every"]))
                    # the checkpoint's name carries the job's hash: only the job that wrote it resumes it
                    ckpt = f"{self.results}/{self.study}/checkpoints/{stem}-{hash_of(job)}.npz"
                    job = replace(job, checkpoint=ckpt, meta=self.labels())
                    out.append(PlannedJob(self.study, stem, job, self.run_path(stem), inputs=inputs))
        return out

    def check(self) -> None:
        st = self.st
        if st["cifar_dir"] in (None, "synthetic"):
            return
        if not Path(st["cifar_dir"]).is_dir():
            raise ConfigError(f"{self.key('cifar_dir')}: no folder {st['cifar_dir']!r} (the CIFAR-10 "
                              "python version: data_batch_1..5 and test_batch; set null to skip the study)")
        from ..cifar import TEST_FILE, TRAIN_FILES  # numpy only

        missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (Path(st["cifar_dir"]) / f).is_file()]
        if missing:
            raise ConfigError(f"{self.key('cifar_dir')}: folder {st['cifar_dir']!r} has no "
                              f"{', '.join(missing)} (the CIFAR-10 python version: data_batch_1..5 and "
                              "test_batch; set null to skip the study)")


@register
class Sensitivity(StudyKind):
    """Protocol factors varied one at a time around the thesis's protocol (dynloss.sensitivity)."""

    name = "sensitivity"
    figure = "sensitivity"
    in_all = False  # its own target: snakemake sensitivity_mse
    field_keys = {name: f"factors.{factor}" for name, factor in (
        ("W_std", "W1_std"), ("b_std", "b_std"), ("parameterization", "parameterization"), ("dtype", "dtype"),
        ("threefry_partitionable", "threefry_partitionable"), ("mse_norm", "mse_norm"), ("data_seed", "data_seed"))}

    def cases(self):
        from .. import sensitivity

        return sensitivity.cases(self.st)

    def jobs(self) -> list[PlannedJob]:
        st, out = self.st, []
        for case in self.cases():
            v = case.value
            spec = train_spec(self.plan, st, width=int(st["width"]), steps=int(st["steps"] * v("steps_scale")),
                              dtype=str(v("dtype")), data_seed=int(v("data_seed")),
                              W_std=(float(v("W1_std")), float(v("W2_std"))), b_std=float(v("b_std")),
                              parameterization=str(v("parameterization")),
                              threefry_partitionable=bool(v("threefry_partitionable")), mse_norm=str(v("mse_norm")),
                              stop_rule=str(v("stop_rule")))
            job = TrainJob(spec=spec, seeds=tuple(range(st["seeds"])), lr=float(st["lr"] * v("lr_scale")),
                           A=(float(st["A"]),), T=(float(st["T"]),),
                           meta={**self.labels(), "case": case.slug, "factor": case.factor, "level": case.level})
            out.append(PlannedJob(self.study, case.slug, job, self.run_path(case.slug)))
        return out

    def infinite(self) -> Optional[str]:
        return f"{self.results}/{self.study}/{self.study}_infinite.nc" if self.st["infinite"] else None

    def figure_inputs(self) -> list[str]:
        return [self.dataset()] + ([self.infinite()] if self.st["infinite"] else [])

    def figure_inputs_in_process(self) -> list[str]:
        return [self.dataset()]  # run-study does not compute the infinite-width reference

    def combine(self, inputs: list[str], attrs: dict):
        from .. import sensitivity

        return sensitivity.combine(inputs, self.cases(), {}, attrs)

    def check(self) -> None:
        from ..sensitivity import check_study

        check_study(self.plan.cfg, self.study)

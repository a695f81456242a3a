"""One class per study kind: its jobs, their specs, how they combine, its figure and its checks.

A kind is registered with :func:`register`; the Snakemake rules and ``dynloss run-study`` know
nothing about kinds but what :class:`dynloss.plan.Plan` asks of them, so adding a kind is one
class here (or in any module of this package that calls :func:`register`) plus its figure module;
the Myrtle5 kind is in :mod:`.myrtle_kind`, the sensitivity kind in :mod:`.sensitivity_kind`, the dynamics ones in
:mod:`.dynamics_kinds`, the replication in :mod:`.replication_kinds`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Optional

from .. import data as data_sets
from ..errors import ConfigError
from ..jobs import TrainJob, canonical_argv, fmt, job_hash, seed_text
from ..spec import TrainSpec

#: study kind name -> class
KINDS: dict[str, type["StudyKind"]] = {}
#: job fields (dynloss.jobs.checks) set by a top-level config key rather than a study key
GLOBAL_KEYS = {"chunk_steps": "chunk_steps", "dtype": "dtype", "max_memory_gb": "max_memory_gb"}


def register(cls: type["StudyKind"]) -> type["StudyKind"]:
    """Class decorator: make ``cls`` the study kind named ``cls.name``."""
    role = cls.verdict_input
    if role is not None and not (role.isidentifier() and "_" not in role and role != "confirm"):
        raise ValueError(f"study kind {cls.name!r}: verdict_input {role!r} is not a word of letters and digits "
                         "(other than confirm)")
    KINDS[cls.name] = cls
    return cls


def fragment(text: str) -> dict:
    """A kind's schema fragment (:attr:`StudyKind.schema`) from its YAML text: the JSON schema of its
    study keys, with their defaults and descriptions."""
    import textwrap

    import yaml

    return yaml.safe_load(textwrap.dedent(text))


def with_kind_schemas(schema: dict) -> dict:
    """``schema`` (``workflow/schemas/config.schema.yaml``: the keys every config has) with what the
    registries define: the registered losses as ``$defs.loss``'s enum, the data sets' blocks as
    ``$defs.data`` (the config's, with defaults) and ``$defs.study_data`` (a study's, inheriting the
    config's), and every registered kind's own fragment (:attr:`StudyKind.schema`): its name among the
    allowed kinds, its keys (and ``data``) under ``$defs.<name>`` and the rule that applies them to a
    study of that kind. ``schema`` is not changed."""
    import copy

    from .. import losses

    out = copy.deepcopy(schema)
    defs = out.setdefault("$defs", {})
    defs["loss"] = {**defs.get("loss", {}), "type": "string", "enum": losses.names(),
                    "description": "A registered loss (dynloss.losses): "
                    + "; ".join(f"{n}: {loss.description}" for n, loss in losses.LOSSES.items())}
    defs["data"] = data_sets.schema()
    defs["study_data"] = {**data_sets.schema(with_defaults=False),
                          "description": "This study's data set and parameters over the config's `data` block "
                          "(the same set: the keys given replace the config's; another set: its defaults)."}
    if "data" in out.get("properties", {}):
        out["properties"]["data"] = {"$ref": "#/$defs/data", "default": {}}
    study = defs["study"]
    for name, kind in KINDS.items():
        if kind.schema is None or name in study["properties"]["kind"]["enum"]:
            continue
        fragment = copy.deepcopy(kind.schema)
        if kind.takes_data:
            fragment.setdefault("properties", {})["data"] = {"$ref": "#/$defs/study_data"}
        study["properties"]["kind"]["enum"].append(name)
        study["allOf"].append({"if": {"properties": {"kind": {"const": name}}}, "then": {"$ref": f"#/$defs/{name}"}})
        defs[name] = fragment
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


def study_data(plan, st: dict) -> dict:
    """The ``data:`` block of study config ``st``: the config's, with the study's own on top
    (:func:`dynloss.data.resolve`)."""
    return data_sets.resolve(plan.cfg["data"], st.get("data"))


def train_spec(plan, st: dict, **fields: Any) -> TrainSpec:
    """The spec of a training job of study config ``st`` (its data set, dtype and chunks from the plan)."""
    name, params = data_sets.job_data(study_data(plan, st))
    base = dict(loss=st["loss"], width=int(st.get("width", 1)), steps=int(st["steps"]),
                record_every=int(st.get("record_every", 100)), chunk_steps=int(plan.cfg["chunk_steps"]),
                dtype=plan.cfg["dtype"], data=name, data_params=params, stop_rule=plan.cfg.get("stop_rule", "last_T"))
    base.update(fields)
    return TrainSpec(**base)


def with_data(spec: TrainSpec, **values: Any) -> TrainSpec:
    """``spec`` with data parameters ``values`` set (e.g. a study that varies the training seed)."""
    params = {**dict(spec.data_params), **values}
    return replace(spec, data_params=tuple(params.items()))


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
    #: the JSON-schema object of the kind's study keys (with defaults and descriptions, see
    #: :func:`fragment`): :func:`with_kind_schemas` adds it to the schema file's before the config is
    #: validated, so a kind's keys are defined in its class
    schema: ClassVar[Optional[dict]] = None
    #: whether its studies train on a registered data set, chosen by a ``data:`` block of their own
    #: (:func:`study_data`)
    takes_data: ClassVar[bool] = True
    # What the workflow's rules ask of a kind (they select studies by these, never by a kind's name):
    #: the role under which the verdict table reads the study's dataset (``study``, ``dynamics``,
    #: ``thresholds``: the reproduction command's flags; a kind's own role: ``--input ROLE:NAME=PATH``),
    #: or None: the table does not read it
    verdict_input: ClassVar[Optional[str]] = None
    #: claims about this kind's data beyond the thesis's (``dynloss.verdicts.Claim``), and the measure of
    #: each ``where`` they are read at that the table does not have (``dynloss.verdicts.measures``):
    #: where -> ``fn(claim, inputs, settings, row, band) -> row``, reading ``inputs.role(verdict_input)``
    claims: ClassVar[tuple] = ()
    measures: ClassVar[dict] = {}
    #: whether the table shows those claims (as not run) when it has none of the kind's data (False: a
    #: campaign of its own, whose rows belong to its own table)
    claims_without_data: ClassVar[bool] = True
    #: whether a publication keeps a reduced copy of the study's dataset
    published: ClassVar[bool] = True
    #: whether that copy keeps only the variables without a step dimension (its final metrics)
    publishes_final_only: ClassVar[bool] = False
    #: whether the claims choose (A, T) points of its grid, confirmed with fresh seeds (rule confirm)
    chooses_points: ClassVar[bool] = False
    #: whether it fits the eta law of lambda_th (rule fit_thresholds, the thresholds table) and
    #: computes its onset definitions from the kept traces (rules onsets, merge_onsets)
    fits_eta_law: ClassVar[bool] = False
    #: whether its dataset holds the Hessian spectral densities a ``density`` figure draws
    measures_density: ClassVar[bool] = False

    def __init__(self, plan, study: str):
        self.plan, self.study = plan, study
        self.st = plan.cfg["studies"][study]

    def verdict_name(self) -> str:
        """The name the verdict table reads the study's dataset under (its claims' ``figure``)."""
        return self.study

    def publish_keep(self) -> str:
        """What a publication keeps of the study's dataset (``dynloss reduce --keep``)."""
        return "final" if self.publishes_final_only else "all"

    @property
    def results(self) -> str:
        return self.plan.results

    @property
    def enabled(self) -> bool:
        """Whether the study runs in this configuration."""
        return self.skipped_because() is None

    def skipped_because(self) -> Optional[str]:
        """Why the study does not run in this configuration (what asking for it by name says), or None."""
        return None

    def synthetic_data(self) -> Optional[dict]:
        """The sizes of the synthetic data set the study's jobs read (rule synthetic_cifar), or None."""
        return None

    def infinite_reference(self) -> bool:
        """Whether the study has an infinite-width reference (rule infinite_width)."""
        return False

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
        """The config key that sets a job field (``width`` -> ``studies.<study>.widths``, a data
        set's ``data.<key>`` -> the study's ``data:`` block where it sets the key, else the config's)."""
        if job_field in self.field_keys:
            return f"studies.{self.study}.{self.field_keys[job_field]}"
        if job_field.startswith("data."):
            own = self.st.get("data") or {}
            key = job_field.removeprefix("data.")
            return f"studies.{self.study}.{job_field}" if key in own or "name" in own else job_field
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
    schema = fragment("""
        type: object
        description: Final train/test accuracy over a (T, A) grid, one job per (width, A, T, seed block).
        additionalProperties: false
        properties:
          kind: {const: contour, description: Study kind., default: contour}
          title: {type: string, default: "", description: "Figure name; the parameter values printed under it are read from the plotted data."}
          loss: {$ref: "#/$defs/loss", default: dce}
          widths: {type: array, items: {$ref: "#/$defs/posint"}, minItems: 1, uniqueItems: true, default: [100], description: Hidden widths (one panel pair each).}
          lr: {type: number, exclusiveMinimum: 0, default: 1.0, description: Learning rate eta.}
          steps: {type: integer, minimum: 1, default: 35000, description: GD steps per run.}
          A: {$ref: "#/$defs/amplitudes", default: [1, 10]}
          T: {$ref: "#/$defs/periods", default: [100, 1000]}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 3, description: Seeds per grid point (0..seeds-1).}
          seeds_per_job: {type: integer, minimum: 1, default: 50, description: Seeds vmapped in one job (one job per seed is possible).}
          record_every: {type: integer, minimum: 1, default: 100, description: Stride of the stored loss curves.}
          grids:
            type: array
            default: []
            description: >-
              Another (A, T) grid for some widths (e.g. only a claim's region at an expensive width); the other widths
              use A and T. The combined dataset spans the union of the grids; points not run are NaN and the figure
              marks them.
            items:
              type: object
              additionalProperties: false
              required: [width, A, T]
              properties:
                width: {$ref: "#/$defs/posint"}
                A: {$ref: "#/$defs/amplitudes"}
                T: {$ref: "#/$defs/periods"}
    """)
    figure = "contour"
    aggregate_dims = ("loss", "width", "lr", "A", "T")
    verdict_input = "study"
    chooses_points = True
    publishes_final_only = True

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
    schema = fragment("""
        type: object
        description: Loss and train-accuracy curves of a static or dynamical loss, per width.
        additionalProperties: false
        properties:
          kind: {const: curves, description: Study kind., default: curves}
          title: {type: string, default: "", description: "Figure name; the parameter values printed under it are read from the plotted data."}
          loss: {$ref: "#/$defs/loss", default: mse}
          widths: {type: array, items: {$ref: "#/$defs/posint"}, minItems: 1, uniqueItems: true, default: [100, 700], description: Hidden widths.}
          lr: {type: number, exclusiveMinimum: 0, default: 0.075, description: Learning rate eta.}
          steps: {type: integer, minimum: 1, default: 50000, description: GD steps per run.}
          A: {type: number, minimum: 1, default: 1, description: Amplitude (1 = static).}
          T: {type: number, exclusiveMinimum: 0, default: 1000, description: Period (unused at A = 1).}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 3, description: Seeds per width.}
          seeds_per_job: {type: integer, minimum: 1, default: 50, description: Seeds vmapped in one job.}
          record_every: {type: integer, minimum: 1, default: 100, description: Stride of the stored curves.}
    """)
    figure = "curves"
    chooses_points = False
    publishes_final_only = False

    def infinite_reference(self) -> bool:
        from .. import losses

        # figure 4.1: the static MSE beside its infinite-width limit
        return losses.get_loss(self.st["loss"]).kernel_limit

    def grid(self) -> tuple[list[float], list[float]]:
        return [float(self.st["A"])], [float(self.st["T"])]

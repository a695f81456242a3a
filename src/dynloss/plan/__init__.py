"""The plan: a prepared config turned into studies, jobs, file names and targets. JAX-free.

Both the Snakemake rules (``workflow/rules/common.smk`` builds one :class:`Plan`) and
``dynloss run-study`` consume it, so a job is defined once. File layout under ``results``::

    {study}/runs/{stem}.nc              one training job (stems: see each kind in dynloss.plan.kinds)
    {study}/{study}.nc                  the study's combined dataset
    {study}/{study}_fit.csv             the eta-law fit of a thresholds study
    figures/{figure}.pdf, .png          the figure

Granularity (config key ``granularity``) decides how many (A, T) points a contour/curves job
trains: ``point`` (one job per point and seed block), ``width`` (every point of a width in one
vmapped job), ``study`` (every width too, one program per width inside the job); ``auto`` is
``point`` with ``accelerator: cpu`` and ``width`` otherwise (benchmarks/RESULTS.md: measurements).
"""
from __future__ import annotations

import json
import re
from typing import Optional

from .. import data as data_sets
from ..errors import ConfigError, SpecError
from ..jobs import checks, fmt
from ..spec import check_schedule_args
from .kinds import KINDS, PlannedJob, StudyKind, register, study_data  # noqa: F401  (the kind API)


def _register_every_kind() -> None:
    """Import every module of this package: a study kind in a new module here registers itself
    (``@register``) with no other file touched."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


_register_every_kind()

#: Snakemake rule names, which no study or figure may take
RESERVED_NAMES = ("all", "train_job", "onsets", "merge_onsets", "confirm", "reduce", "thresholds_table", "dynamics",
                  "synthetic_cifar", "aggregate", "fit_thresholds", "figure",
                  "reproduction", "publish", "aggregate_sensitivity", "infinite_width", "figure_sensitivity",
                  "figure_curves_infinite",
                  "sensitivity_report", "sensitivity_mse", "fig4_1_infinite")
GRANULARITIES = ("auto", "point", "width", "study")
#: study keys that change how a figure looks, never a number
COSMETIC_KEYS = ("title",)
#: the study keys that set the numbers of an infinite-width reference (``dynloss infinite``)
INFINITE_KEYS = ("kind", "loss", "width", "widths", "lr", "steps", "seeds")


class Plan:
    """Jobs, files and targets of a prepared config (:func:`dynloss.config.prepare`).

    Args:
        cfg: the prepared config.
        granularity: overrides the config's ``granularity``.
    """

    def __init__(self, cfg: dict, granularity: Optional[str] = None):
        self.cfg = cfg
        self.results = cfg["results"]
        gran = granularity or cfg.get("granularity", "auto")
        if gran not in GRANULARITIES:
            raise ConfigError(f"config key 'granularity': {gran!r} is not one of {', '.join(GRANULARITIES)}")
        if gran == "auto":
            gran = "point" if cfg.get("accelerator", "cpu") == "cpu" else "width"
        self.granularity = gran
        unknown = {st["kind"] for st in cfg["studies"].values()} - set(KINDS)
        if unknown:
            raise ConfigError(f"config key 'studies': unknown study kind {sorted(unknown)[0]!r} "
                              f"(allowed: {', '.join(KINDS)})")
        self.kinds: dict[str, StudyKind] = {n: KINDS[st["kind"]](self, n) for n, st in cfg["studies"].items()}
        self._jobs: dict[str, list[PlannedJob]] = {}

    # -- studies ---------------------------------------------------------------------------

    def study(self, name: str) -> StudyKind:
        return self.kinds[name]

    def studies(self, *kinds: str) -> list[str]:
        """Studies that run in this configuration, of the given kinds (all without arguments)."""
        return [n for n, k in self.kinds.items() if (not kinds or k.name in kinds) and k.enabled]

    def studies_with(self, capability: str) -> list[str]:
        """Studies that run whose kind has ``capability``: a :class:`StudyKind` attribute or method
        (e.g. ``fits_eta_law``, ``infinite_reference``) that is true for them. The rules select
        studies this way, never by a kind's name."""
        out = []
        for n in self.studies():
            value = getattr(self.kinds[n], capability)
            if value() if callable(value) else value:
                out.append(n)
        return out

    def skipped(self) -> dict[str, str]:
        """Studies that do not run in this configuration -> why (:meth:`StudyKind.skipped_because`)."""
        return {n: k.skipped_because() for n, k in self.kinds.items() if not k.enabled}

    def jobs(self, study: Optional[str] = None) -> list[PlannedJob]:
        """The jobs of one study, or of every study that runs."""
        if study is None:
            return [j for n in self.studies() for j in self.jobs(n)]
        if study not in self._jobs:
            self._jobs[study] = self.kinds[study].jobs()
        return self._jobs[study]

    def job(self, study: str, stem: str) -> PlannedJob:
        """The job a rule's wildcards name; ``KeyError`` naming the study if the plan has none."""
        index = getattr(self, "_index", None)
        if index is None:
            index = self._index = {(j.study, j.stem): j for j in self.jobs()}
        try:
            return index[study, stem]
        except KeyError:
            raise KeyError(f"study {study!r} has no job {stem!r} in this configuration") from None

    def job_files(self, study: str) -> list[str]:
        """The job NetCDFs a study combines (none for a study whose job writes the dataset)."""
        return self.kinds[study].combine_inputs()

    def trained_studies(self) -> list[str]:
        """Studies with jobs under ``runs/`` (every kind but dynamics)."""
        return [n for n in self.studies() if self.kinds[n].trains_runs and self.jobs(n)]

    # -- files and targets -----------------------------------------------------------------

    def dataset(self, name: str) -> str:
        return self.kinds[name].dataset()

    def figure_files(self, name: str) -> list[str]:
        return [f"{self.results}/figures/{name}.{ext}" for ext in ("pdf", "png")]

    def figure_names(self) -> list[str]:
        """The figures of the default target: the figures section, then the studies."""
        names = [n for n, f in self.cfg["figures"].items()
                 if f["kind"] != "density" or f["study"] in self.studies_with("measures_density")]
        return names + [n for n in self.studies() if self.kinds[n].figure and self.kinds[n].in_all]

    def figure_kind(self, name: str) -> str:
        if name in self.kinds:
            return self.kinds[name].figure
        return self.cfg["figures"][name]["kind"]

    def figure_inputs(self, name: str) -> list[str]:
        if name in self.kinds:
            return self.kinds[name].figure_inputs()
        fig = self.cfg["figures"][name]
        return [self.dataset(fig["study"])] if fig["kind"] == "density" else []

    def data(self, name: str) -> dict:
        """The ``data:`` block of a study (the config's, with the study's own on top), or the config's
        for a figure."""
        st = self.cfg["studies"].get(name)
        if st is None:  # a figure: the config's block, with the figure's own on top
            return data_sets.resolve(self.cfg["data"], self.cfg["figures"].get(name, {}).get("data"))
        return study_data(self, st) if self.kinds[name].takes_data else self.cfg["data"]

    def figure_options(self, name: str) -> dict:
        spec = self.cfg["studies"].get(name) or self.cfg["figures"][name]
        extra = self.kinds[name].figure_options if name in self.kinds else {}
        return {**spec, **extra, "data": self.data(name), "scale": self.cfg["scale"]}

    def extra_targets(self, name: str) -> list[str]:
        return self.kinds[name].extra_outputs() if name in self.kinds else []

    def aggregate_meta(self, name: str) -> dict:
        """What a study's combined dataset records of its configuration: everything but the
        cosmetic keys, so a title edit does not re-combine the study.

        Returns:
            ``{"study", "scale", "study_config", "data"}``.
        """
        st = {k: v for k, v in self.cfg["studies"][name].items() if k not in COSMETIC_KEYS}
        return {"study": name, "scale": self.cfg["scale"], "study_config": st, "data": self.data(name)}

    def infinite_args(self, name: str) -> list[str]:
        """The ``dynloss infinite`` arguments of a study's infinite-width reference. Its ``--meta``
        records only :data:`INFINITE_KEYS`, so a title or ``thesis_train`` edit does not rerun it."""
        st = self.cfg["studies"][name]
        widths = st["widths"] if "widths" in st else [st["width"]]
        meta = {"study": name, "scale": self.cfg["scale"],
                "study_config": {k: st[k] for k in INFINITE_KEYS if k in st}}
        return ["--widths", ",".join(map(str, widths)), "--lr", fmt(st["lr"]), "--steps", str(st["steps"]),
                "--seeds", str(st["seeds"]), "--data", json.dumps(self.data(name)), "--meta", json.dumps(meta)]

    def job_counts(self) -> dict[str, int]:
        """Training jobs of the default target (every study but those with their own target, such as
        the sensitivity studies) under each granularity: what ``snakemake -n`` reports."""
        def count(plan):
            return sum(len(plan.jobs(n)) for n in plan.studies() if plan.kinds[n].in_all)
        return {g: count(Plan(self.cfg, g)) for g in GRANULARITIES[1:]}

    # -- checks ----------------------------------------------------------------------------

    def check(self) -> None:
        """Checks a schema cannot express; :class:`ConfigError` names the key."""
        cfg = self.cfg
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
        self.check_data()
        for kind in self.kinds.values():
            kind.check()
        self.check_jobs()
        for name, fig in cfg["figures"].items():
            if fig["kind"] == "schedule":
                try:
                    check_schedule_args(fig["A"], fig["T"])
                except SpecError as exc:
                    raise ConfigError(f"config key 'figures.{name}.{exc.field}': {exc}") from None
            if fig["kind"] == "density":
                src = fig.get("study", "")
                st = cfg["studies"].get(src)
                if st is None or not self.kinds[src].measures_density:
                    raise ConfigError(f"config key 'figures.{name}.study': {src!r} is not a study that measures "
                                      "spectral densities (a dynamics study)")
                if not st["density_steps"]:
                    raise ConfigError(f"config key 'studies.{src}.density_steps': the density figure "
                                      f"{name!r} needs at least one step")

    def check_data(self) -> None:
        """The config's ``data:`` block and every study's against the data-set registry
        (:func:`dynloss.data.job_data`), naming the key."""
        blocks = [("data", self.cfg["data"])] + [(f"studies.{n}.data", self.data(n)) for n in self.cfg["studies"]
                                                 if self.kinds[n].takes_data]
        blocks += [(f"figures.{n}.data", self.data(n)) for n, fig in self.cfg["figures"].items() if fig.get("data")]
        for where, block in blocks:
            try:
                data_sets.job_data(block)
            except SpecError as exc:
                key = exc.field.removeprefix("data.")
                raise ConfigError(f"config key '{where}.{key}': {exc}") from None

    def check_jobs(self) -> None:
        """Every planned job through the checks the job itself runs before training
        (:func:`dynloss.jobs.checks.validate`, the memory budget included), so a value the job
        would refuse is refused here, naming the config key."""
        budget = float(self.cfg["max_memory_gb"])
        mode = "map" if self.cfg.get("accelerator", "cpu") == "cpu" else "vmap"
        for name in self.studies():
            kind = self.kinds[name]
            for job in self.jobs(name):
                try:
                    checks.validate(job.request, budget, mode)
                except SpecError as exc:
                    raise ConfigError(f"config key '{kind.config_key(exc.field)}': {exc} "
                                      f"(study {name!r}, job {job.stem!r})") from None

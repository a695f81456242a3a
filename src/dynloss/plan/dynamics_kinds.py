"""The study kinds of the training dynamics: one run's dynamics (figures 3.5, 4.3, 4.7) and the
curvature threshold against eta (figures 3.6, 4.4, 4.8). Registered on import (:mod:`dynloss.plan`)."""
from __future__ import annotations

from typing import Optional

from ..errors import ConfigError, SpecError
from ..jobs import Onsets, ThresholdsJob, TrainJob, fmt
from ..spec import SpectraSpec, check_cadences
from .kinds import PlannedJob, StudyKind, fragment, register, train_spec


@register
class Dynamics(StudyKind):
    """One run at every step with Hessian/NTK spectra and onsets: figures 3.5, 4.3, 4.7."""

    name = "dynamics"
    schema = fragment("""
        type: object
        description: One long run recorded at every step with Hessian and NTK spectra (panels a-g, zoom h-m).
        additionalProperties: false
        properties:
          kind: {const: dynamics, description: Study kind., default: dynamics}
          title: {type: string, default: "", description: "Figure name; the parameter values printed under it are read from the plotted data."}
          loss: {$ref: "#/$defs/loss", default: dce}
          width: {type: integer, minimum: 1, default: 100, description: Hidden width.}
          lr: {type: number, exclusiveMinimum: 0, default: 1.0, description: Learning rate eta.}
          A: {type: number, minimum: 1, default: 70, description: Amplitude.}
          T: {type: number, exclusiveMinimum: 0, default: 5000, description: "Period in steps (below steps where A > 1; see $defs.periods)."}
          steps: {type: integer, minimum: 1, default: 70000, description: GD steps.}
          seed: {type: integer, minimum: 0, maximum: 2147483647, default: 0, description: Initialisation seed.}
          hess_every: {type: integer, minimum: 1, default: 100, description: Hessian top eigenvalues every N steps.}
          hess_order: {type: integer, minimum: 1, default: 20, description: Lanczos order for the top eigenvalues (20 gives ~1e-15 relative in float64).}
          hess_k: {type: integer, minimum: 1, default: 3, description: Number of top Hessian eigenvalues.}
          ntk_every: {type: integer, minimum: 1, default: 10, description: Largest NTK eigenvalue every N steps.}
          ntk_points: {type: [integer, "null"], minimum: 1, default: null, description: NTK on the first N points (null = all; the thesis used 50).}
          density_steps: {type: array, items: {type: integer, minimum: 0}, default: [], description: Steps at which to store the Hessian eigenvalue density.}
          density_order: {type: integer, minimum: 2, default: 80, description: Lanczos order for the density.}
          density_vectors: {type: integer, minimum: 1, default: 3, description: Random start vectors averaged in the density.}
          onset_window: {type: integer, minimum: 3, default: 20, description: Window (steps) of the bifurcation-onset detector used for the zoom and the threshold line.}
          onset_floor: {type: number, minimum: 0, default: 1.0e-6, description: Amplitude floor of the onset detector (relative to L).}
          zoom_steps: {type: integer, minimum: 10, default: 400, description: Width of the zoom window (panels h-m) around the first onset.}
          onset: {type: array, items: {enum: [visible, growing, mode, apparent, ceiling]}, minItems: 1, uniqueItems: true, default: [visible], description: "Onset definitions stored and marked in the figure (dynloss.thresholds.onset)."}
          primary_onset: {enum: ["", visible, growing, mode, apparent, ceiling], default: "", description: "The definition the zoom (panels h-m) centres on; one of onset (empty: visible)."}
          zoom_hessian: {type: boolean, default: true, description: Top Hessian eigenvalues at every step of the zoom window (from a replay) for the zoom panel.}
          publish_keep: {enum: [all, verdict], default: all, description: "What a publication keeps of the run: all (its figure is drawn from it) or verdict (the traces its verdict rows read: L, hess_eig, ntk_lmax; a campaign's extra seeds: its figure is then not published, since the kept data cannot draw it)."}
          claims_as: {type: string, default: "", description: "The figure whose claims this run stands for in the verdict table (studies of one protocol with other seeds name the same figure: its rows pool their seeds); empty: the study's name."}
    """)
    figure = "dynamics"
    trains_runs = False
    verdict_input = "dynamics"

    def verdict_name(self) -> str:
        return self.st.get("claims_as") or self.study

    def publish_keep(self) -> str:
        return self.st.get("publish_keep", "all")
    measures_density = True
    field_keys = {"seeds": "seed"}

    def jobs(self) -> list[PlannedJob]:
        st = self.st
        density = {"density_steps": tuple(int(s) for s in st["density_steps"]),
                   "density_order": int(st["density_order"]), "density_vectors": int(st["density_vectors"])}
        spectra = SpectraSpec(hess_every=int(st["hess_every"]), hess_order=int(st["hess_order"]),
                              hess_k=int(st["hess_k"]), ntk_every=int(st["ntk_every"]),
                              ntk_points=st["ntk_points"] or None, **(density if st["density_steps"] else {}))
        spec = train_spec(self.plan, st, width=int(st["width"]), record_every=1, spectra=spectra)
        job = TrainJob(spec=spec, seeds=(int(st["seed"]),), lr=float(st["lr"]), A=(float(st["A"]),),
                       T=(float(st["T"]),), onsets=Onsets(int(st["onset_window"]), st["onset_floor"],
                                                          tuple(st["onset"]), st.get("primary_onset", "")),
                       zoom_steps=int(st["zoom_steps"]) if st["zoom_hessian"] else None, seed_range=False,
                       meta=self.labels())
        # the spectra run on a second thread beside the training (dynloss.engine)
        return [PlannedJob(self.study, self.study, job, self.dataset())]

    def combine_inputs(self, jobs: Optional[list[PlannedJob]] = None) -> list[str]:
        return []  # the job writes the study's dataset itself

    def check(self) -> None:
        st = self.st
        try:
            check_cadences(st["steps"], 1, st["hess_every"], st["ntk_every"], st["density_steps"])
        except SpecError as exc:
            raise ConfigError(f"{self.key(exc.field)}: {exc}") from None
        if st.get("primary_onset") and st["primary_onset"] not in st["onset"]:
            raise ConfigError(f"{self.key('primary_onset')}: {st['primary_onset']!r} is not one of "
                              f"onset {st['onset']}")


@register
class Thresholds(StudyKind):
    """lambda_th at the first bifurcation against eta: figures 3.6, 4.4, 4.8."""

    name = "thresholds"
    schema = fragment("""
        type: object
        description: Curvature threshold lambda_th at the first bifurcation versus eta, over many (A, T).
        additionalProperties: false
        properties:
          kind: {const: thresholds, description: Study kind., default: thresholds}
          title: {type: string, default: "", description: "Figure name; the parameter values printed under it are read from the plotted data."}
          loss: {$ref: "#/$defs/loss", default: dce}
          widths: {type: array, items: {$ref: "#/$defs/posint"}, minItems: 1, uniqueItems: true, default: [100], description: Hidden widths.}
          lrs: {type: array, items: {type: number, exclusiveMinimum: 0}, minItems: 1, uniqueItems: true, default: [0.5, 1.0], description: Learning rates eta.}
          A: {$ref: "#/$defs/amplitudes", default: [10, 40, 70]}
          T: {$ref: "#/$defs/periods", default: [1000, 5000]}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 1, description: Seeds per (A, T); runs per eta = len(A) x len(T) x seeds.}
          first_seed: {type: integer, minimum: 0, maximum: 2147483647, default: 0, description: "The first initialisation seed (fresh seeds: a range clear of earlier studies')."}
          seed_per_setting: {type: boolean, default: false, description: "Each (A, T) setting its own seeds (first_seed + setting x seeds + r), the same at every eta; false: every setting the seeds first_seed .. first_seed + seeds - 1."}
          runs_per_job: {type: integer, minimum: 1, default: 40, description: Runs vmapped in one job.}
          steps: {type: integer, minimum: 1, default: 70000, description: GD steps per run.}
          hess_every: {type: integer, minimum: 1, default: 100, description: Hessian cadence during training.}
          hess_order: {type: integer, minimum: 1, default: 20, description: Lanczos order.}
          onset_window: {type: integer, minimum: 3, default: 20, description: Onset detector window (steps).}
          onset_floor: {type: number, minimum: 0, default: 1.0e-6, description: Onset detector amplitude floor (relative to L).}
          onset:
            type: array
            items: {enum: [visible, growing, mode, apparent, ceiling]}
            minItems: 0
            uniqueItems: true
            default: [visible]
            description: >-
              Onset definitions stored per run as onset_step_<name> and lambda_th_<name> and fitted one row each
              (dynloss.thresholds.onset; visible = the detector above, growing = a growing period-2 component, mode = the top
              Hessian mode's updates alternate and do not shrink, from a replay; apparent = an alternation of L a
              reader of the loss panel sees; ceiling = the level at which lambda_max saturates). onset_step/lambda_th
              stay visible. Empty: the training stores only onset_step/lambda_th; with keep_traces the definitions
              are computed from the traces (rule onsets), without retraining.
          primary_onset:
            enum: [visible, growing, apparent]
            default: visible
            description: >-
              The definition whose eta law is the verdict row of the reproduction table (fixed before the runs; the others
              are reported beside it). A definition read from the loss: mode and ceiling are anchored on the curvature
              (eta * lambda_th ~ 2 by construction) and are never primary (docs/verdicts.md, 2026-12-07). It must be
              computed: listed in onset, or in analyse_onsets.
          analyse_onsets:
            type: array
            items: {enum: [visible, growing, mode, apparent, ceiling]}
            uniqueItems: true
            default: []
            description: >-
              Definitions computed after training from the kept traces (needs keep_traces), one onsets job per training
              job: changing them reruns no training.
          onset_burn_in:
            type: number
            minimum: 0
            exclusiveMaximum: 1
            default: 0
            description: >-
              The loss-based definitions of analyse_onsets (visible, growing, apparent) search from step ceil(onset_burn_in
              x T) of each run: 0.5 skips the first half of the first period, where the thesis places no bifurcation
              (docs/verdicts.md). 0: from the first step.
          onset_runs:
            type: object
            propertyNames: {enum: [visible, growing, mode, apparent, ceiling]}
            additionalProperties: {type: integer, minimum: 1}
            default: {}
            description: >-
              Apply a definition of analyse_onsets to the first N runs of each job only (job order, not chosen by result),
              e.g. {mode: 8}: mode replays and tracks every run, too slow for whole jobs on a CPU. The other runs are
              marked not analysed (onset_step -2) and left out of the fits, which say how many runs were analysed.
          keep_traces: {type: boolean, default: false, description: "Also keep each job's full-resolution loss traces (<study>/traces/), so `dynloss onsets` can re-run the definitions without retraining."}
    """)
    figure = "thresholds"
    aggregate_dims = ("loss", "width", "lr")
    verdict_input = "thresholds"
    fits_eta_law = True
    field_keys = {"width": "widths", "lr": "lrs", "trace_every": "hess_every"}

    def runs(self) -> list[tuple[float, float, int]]:
        """The (A, T, seed) runs of one eta, in job order."""
        st = self.st
        first, n = int(st.get("first_seed", 0)), int(st["seeds"])
        settings = [(float(A), float(T)) for A in st["A"] for T in st["T"]]
        step = n if st.get("seed_per_setting") else 0
        return [(A, T, first + i * step + r) for i, (A, T) in enumerate(settings) for r in range(n)]

    def jobs(self) -> list[PlannedJob]:
        st, runs = self.st, self.runs()
        k = st["runs_per_job"]
        out = []
        for w in st["widths"]:
            for lr in st["lrs"]:
                for b in range(-(-len(runs) // k)):
                    A, T, seeds = zip(*runs[b * k:(b + 1) * k])
                    stem = f"{st['loss']}_w{int(w)}_lr{fmt(lr)}_b{b}"
                    spec = train_spec(self.plan, st, width=int(w), record_every=1,
                                      spectra=SpectraSpec(hess_every=int(st["hess_every"]),
                                                          hess_order=int(st["hess_order"])))
                    traces = f"{self.results}/{self.study}/traces/{stem}.nc" if st.get("keep_traces") else None
                    job = ThresholdsJob(spec=spec, lr=float(lr), A=A, T=T, seeds=seeds,
                                        onsets=Onsets(int(st["onset_window"]), st["onset_floor"], tuple(st["onset"])),
                                        run_offset=b * k, trace_every=int(st["hess_every"]), traces_out=traces,
                                        meta=self.labels())
                    out.append(PlannedJob(self.study, stem, job, self.run_path(stem)))
        return out

    def extra_outputs(self) -> list[str]:
        return [self.fit_csv()]

    def fit_csv(self) -> str:
        return f"{self.results}/{self.study}/{self.study}_fit.csv"

    def onsets_path(self, stem: str) -> str:
        """A training job's file with every ``analyse_onsets`` definition added (rule ``merge_onsets``)."""
        return f"{self.results}/{self.study}/onsets/{stem}.nc"

    def onset_part_path(self, stem: str, name: str) -> str:
        """A training job's file with the one definition ``name`` added (rule ``onsets``): adding a
        definition to ``analyse_onsets`` computes that one only."""
        return f"{self.results}/{self.study}/onsets/{stem}/{name}.nc"

    def onset_parts(self, stem: str) -> list[str]:
        """The per-definition files of one training job, in ``analyse_onsets`` order (what
        :meth:`onsets_path` joins)."""
        return [self.onset_part_path(stem, n) for n in self.st.get("analyse_onsets", ())]

    def onset_options(self, name: str) -> str:
        """The ``dynloss onsets`` options of definition ``name`` beyond the job and traces: ``--runs N`` (config
        key ``onset_runs``) and ``--burn-in F`` (``onset_burn_in``), each only where set."""
        n, burn = self.onset_runs(name), float(self.st.get("onset_burn_in", 0))
        return (f"--runs {n} " if n else "") + (f"--burn-in {burn:g} " if burn else "")

    def onset_runs(self, name: str) -> Optional[int]:
        """How many runs of each job (the first, in job order) definition ``name`` is applied to
        (config key ``onset_runs``); ``None``: every run."""
        n = self.st.get("onset_runs", {}).get(name)
        return None if n is None or n >= self.st["runs_per_job"] else int(n)

    def combine_inputs(self, jobs: Optional[list[PlannedJob]] = None) -> list[str]:
        jobs = self.plan.jobs(self.study) if jobs is None else jobs
        if self.st.get("analyse_onsets"):
            return [self.onsets_path(j.stem) for j in jobs]
        return [j.out for j in jobs]

    def derive(self, jobs: list[PlannedJob]) -> None:
        """The ``analyse_onsets`` definitions from the kept traces, one file per (job, definition), joined
        per job (what the rules ``onsets`` and ``merge_onsets`` run); a file newer than its sources is kept."""
        import os

        from ..jobs.onsets import analyse_job, merge

        def stale(path: str, *sources: str) -> bool:
            return not os.path.exists(path) or any(os.path.getmtime(path) < os.path.getmtime(s) for s in sources)

        names = list(self.st.get("analyse_onsets", ()))
        for job in jobs if names else ():
            parts = self.onset_parts(job.stem)
            for name, part in zip(names, parts):
                if stale(part, job.out):
                    os.makedirs(os.path.dirname(part), exist_ok=True)
                    analyse_job(job.out, job.request.traces_out, [name], part, runs=self.onset_runs(name),
                                burn_in=float(self.st.get("onset_burn_in", 0)))
            if stale(self.onsets_path(job.stem), job.out, *parts):
                merge(job.out, parts, self.onsets_path(job.stem))

    def summarise(self, dataset: str) -> None:
        from .. import netcdf
        from ..thresholds.law import write_fit_csv

        write_fit_csv(netcdf.open_dataset(dataset), self.fit_csv())

    def definitions(self) -> list[str]:
        """Every definition the combined dataset holds (in training and from the traces)."""
        return list(dict.fromkeys(list(self.st["onset"]) + list(self.st.get("analyse_onsets", ()))))

    def check(self) -> None:
        self.steps_multiple_of("hess_every")
        st = self.st
        if st.get("analyse_onsets") and not st.get("keep_traces"):
            raise ConfigError(f"{self.key('analyse_onsets')}: needs keep_traces: true (the definitions are "
                              "computed from the kept traces)")
        both = set(st["onset"]) & set(st.get("analyse_onsets", ()))
        if both:
            raise ConfigError(f"{self.key('analyse_onsets')}: {sorted(both)} already in onset (computed in training)")
        extra = set(st.get("onset_runs", {})) - set(st.get("analyse_onsets", ()))
        if extra:
            raise ConfigError(f"{self.key('onset_runs')}: {sorted(extra)} not in analyse_onsets "
                              f"{list(st.get('analyse_onsets', ()))} (a subset applies to a definition computed "
                              "from the traces)")
        primary = st.get("primary_onset", "visible")
        if primary != "visible" and primary not in self.definitions():
            raise ConfigError(f"{self.key('primary_onset')}: {primary!r} is computed neither in training (onset) "
                              "nor from the traces (analyse_onsets)")

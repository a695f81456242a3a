"""The study kind of the sensitivity of the MSE results to the protocol (one factor at a time around the
thesis's, dynloss.sensitivity). Registered on import (:mod:`dynloss.plan`)."""
from __future__ import annotations

from typing import Optional

from ..jobs import TrainJob
from .kinds import PlannedJob, StudyKind, fragment, register, train_spec, with_data


@register
class Sensitivity(StudyKind):
    """Protocol factors varied one at a time around the thesis's protocol (dynloss.sensitivity.cases)."""

    name = "sensitivity"
    schema = fragment("""
        type: object
        description: >-
          One base configuration (the thesis's protocol) and factors varied one at a time around it, optionally
          crossed in pairs (dynloss.sensitivity.cases). One training job per case; outputs a (case, seed) dataset, a
          figure, a table and a written conclusion (`snakemake sensitivity_mse`).
        additionalProperties: false
        properties:
          kind: {const: sensitivity, description: Study kind., default: sensitivity}
          title: {type: string, default: "", description: Figure title.}
          loss: {$ref: "#/$defs/loss", default: mse}
          width: {type: integer, minimum: 1, default: 100, description: Hidden width.}
          lr: {type: number, exclusiveMinimum: 0, default: 0.075, description: Base learning rate eta.}
          steps: {type: integer, minimum: 1, default: 50000, description: Base GD steps.}
          A: {type: number, minimum: 1, default: 1, description: Amplitude A (1 = static).}
          T: {type: number, exclusiveMinimum: 0, default: 1000, description: Period T in steps.}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 3, description: Seeds per case (0..seeds-1), vmapped in one job.}
          record_every: {type: integer, minimum: 1, default: 100, description: Stride of the stored loss curves.}
          thesis_train: {type: [number, "null"], default: null, description: "The thesis's final train accuracy (a line in the figure, the goal in the conclusion)."}
          thesis_test: {type: [number, "null"], default: null, description: "The thesis's final test accuracy."}
          infinite: {type: boolean, default: false, description: "Add the infinite-width reference (static MSE; needs neural-tangents)."}
          control: {type: boolean, default: false, description: "The control study of the conclusion (CE: reproduces at the base)."}
          factors:
            type: object
            default: {}
            description: Factor -> levels (the base level included); the base levels are the thesis's protocol.
            additionalProperties: false
            properties:
              lr_scale: {default: [1], type: array, items: {type: number, exclusiveMinimum: 0}, minItems: 1, description: "eta x level (base 1)."}
              steps_scale: {default: [1], type: array, items: {type: integer, minimum: 1}, minItems: 1, description: "steps x level (base 1)."}
              W1_std: {default: [1], type: array, items: {type: number, exclusiveMinimum: 0}, minItems: 1, description: "Hidden-layer W_std (base 1)."}
              W2_std: {default: [1], type: array, items: {type: number, exclusiveMinimum: 0}, minItems: 1, description: "Output-layer W_std (base 1)."}
              b_std: {default: [0], type: array, items: {type: number, minimum: 0}, minItems: 1, description: "Bias init scale (base 0)."}
              parameterization: {default: [standard], type: array, items: {enum: [standard, ntk]}, minItems: 1, description: "As neural_tangents.stax defines it (base standard)."}
              dtype: {default: [float64], type: array, items: {enum: [float64, float32]}, minItems: 1, description: "Floating point (base float64)."}
              threefry_partitionable: {default: [true], type: array, items: {type: boolean}, minItems: 1, description: "jax_threefry_partitionable (base true, JAX >= 0.5's default; the thesis's JAX had false)."}
              mse_norm: {default: [listing], type: array, items: {enum: [listing, mean, half]}, minItems: 1, description: "MSE normalisation (base listing; MSE losses only)."}
              data_seed: {default: [0], type: array, items: {type: integer, minimum: 0}, minItems: 1, description: "Training-spiral noise seed (base 0; keep clear of the test seeds)."}
              stop_rule: {default: [last_T], type: array, items: {enum: [last_T, period, never]}, minItems: 1, description: "When the oscillations stop (base last_T; see the top-level key stop_rule)."}
          cross:
            type: array
            default: []
            description: "Pairs of factors crossed: [a, b] over all their levels, or {a: [levels], b: [levels]} over those listed."
            items:
              oneOf:
                - {type: array, items: {type: string}, minItems: 2, maxItems: 2}
                - {type: object, minProperties: 2, maxProperties: 2, additionalProperties: {type: array, minItems: 1}}
    """)
    figure = "sensitivity"
    in_all = False  # its own target: snakemake sensitivity_mse
    published = False
    field_keys = {name: f"factors.{factor}" for name, factor in (
        ("W_std", "W1_std"), ("b_std", "b_std"), ("parameterization", "parameterization"), ("dtype", "dtype"),
        ("threefry_partitionable", "threefry_partitionable"), ("mse_norm", "mse_norm"), ("data.train_seed", "data_seed"))}

    def cases(self):
        from ..sensitivity import cases as sens_cases

        return sens_cases.cases(self.st)

    def jobs(self) -> list[PlannedJob]:
        st, out = self.st, []
        for case in self.cases():
            v = case.value
            spec = train_spec(self.plan, st, width=int(st["width"]), steps=int(st["steps"] * v("steps_scale")),
                              dtype=str(v("dtype")),
                              W_std=(float(v("W1_std")), float(v("W2_std"))), b_std=float(v("b_std")),
                              parameterization=str(v("parameterization")),
                              threefry_partitionable=bool(v("threefry_partitionable")), mse_norm=str(v("mse_norm")),
                              stop_rule=str(v("stop_rule")))
            spec = with_data(spec, train_seed=int(v("data_seed")))
            job = TrainJob(spec=spec, seeds=tuple(range(st["seeds"])), lr=float(st["lr"] * v("lr_scale")),
                           A=(float(st["A"]),), T=(float(st["T"]),),
                           meta={**self.labels(), "case": case.slug, "factor": case.factor, "level": case.level})
            out.append(PlannedJob(self.study, case.slug, job, self.run_path(case.slug)))
        return out

    def infinite(self) -> Optional[str]:
        return f"{self.results}/{self.study}/{self.study}_infinite.nc" if self.st["infinite"] else None

    def infinite_reference(self) -> bool:
        return bool(self.st["infinite"])

    def figure_inputs(self) -> list[str]:
        return [self.dataset()] + ([self.infinite()] if self.st["infinite"] else [])

    def figure_inputs_in_process(self) -> list[str]:
        return [self.dataset()]  # run-study does not compute the infinite-width reference

    def combine(self, inputs: list[str], attrs: dict):
        from ..sensitivity.cases import combine

        return combine(inputs, self.cases(), {}, attrs)

    def check(self) -> None:
        from ..sensitivity.cases import check_study

        check_study(self.plan.cfg, self.study)

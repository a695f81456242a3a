"""The study kinds of other protocols: Myrtle5 on CIFAR-10 (figure 3.2) and the sensitivity of the
MSE results to the protocol. Registered on import (:mod:`dynloss.plan`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..jobs import MyrtleJob, TrainJob, fmt, hash_of, seed_text
from ..spec import MyrtleSpec
from .kinds import PlannedJob, StudyKind, fragment, register, seed_blocks, train_spec, with_data


@register
class Myrtle(StudyKind):
    """Myrtle5 on CIFAR-10: figure 3.2 (needs its CIFAR-10 folder, or ``synthetic``)."""

    name = "myrtle"
    schema = fragment("""
        type: object
        description: Myrtle5 on CIFAR-10 (figure 3.2), SGD with Nesterov momentum; runs only when cifar_dir is set.
        additionalProperties: false
        properties:
          kind: {const: myrtle, description: Study kind., default: myrtle}
          title: {type: string, default: "", description: "Figure name; the parameter values printed under it are read from the plotted data."}
          cifar_dir: {type: [string, "null"], default: null, description: "CIFAR-10 python-version folder (data_batch_1..5, test_batch); null skips the study; 'synthetic' generates a small synthetic set (quick and tiny scales)."}
          synthetic: {type: object, default: {image_size: 8, num_train_per_batch: 100, num_test: 200}, description: Size of the synthetic set when cifar_dir is 'synthetic'.}
          loss: {$ref: "#/$defs/loss", default: dce}
          channels: {type: integer, minimum: 1, default: 64, description: Channels of every conv layer.}
          A: {$ref: "#/$defs/amplitudes", default: [1, 10]}
          T: {$ref: "#/$defs/periods", default: [100, 1000]}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 30, description: Seeds per grid point.}
          seeds_per_job: {type: integer, minimum: 1, default: 30, description: Seeds in one job (lax.map on GPU).}
          epochs: {type: integer, minimum: 1, default: 700, description: Training epochs.}
          batch_size: {type: integer, minimum: 1, default: 512, description: Minibatch size.}
          peak_lr: {type: number, exclusiveMinimum: 0, default: 0.02, description: Learning rate at peak_epoch (linear from 0).}
          peak_epoch: {type: number, exclusiveMinimum: 0, default: 300, description: Epoch of the peak learning rate.}
          final_lr: {type: number, minimum: 0, default: 0.002, description: Learning rate at the last epoch (linear from the peak).}
          stop_epoch: {type: number, minimum: 0, default: 600, description: Epoch from which A = 1.}
          eval_every: {type: integer, minimum: 0, default: 10, description: Evaluate train/test accuracy every N epochs (0 = only at the end).}
          checkpoint_every: {type: integer, minimum: 1, default: 10, description: Checkpoint every N epochs; an interrupted job resumes from it.}
          num_train: {type: [integer, "null"], minimum: 1, default: null, description: Use only the first N training images (null = all).}
          dtype: {type: string, enum: [float32, float64], default: float32, description: Floating point type.}
    """)
    figure = "contour"
    figure_options = {"train_var": "final_train_acc", "test_var": "final_test_acc", "width_dim": "channels"}
    takes_data = False  # CIFAR-10 (dynloss.cifar), not a registered data set
    aggregate_dims = ("loss", "channels", "A", "T")
    field_keys = {"dtype": "dtype"}  # a key of the study: Myrtle5 runs float32 by default

    def skipped_because(self) -> Optional[str]:
        if self.st.get("cifar_dir"):
            return None
        return (f"study {self.study!r} needs the CIFAR-10 folder: set config key 'studies.{self.study}.cifar_dir' "
                f"(e.g. --config studies='{{{self.study}: {{cifar_dir: /path/to/cifar-10-batches-py}}}}'), "
                "see the README's Myrtle5 section")

    def synthetic_data(self) -> Optional[dict]:
        return self.st["synthetic"] if self.st["cifar_dir"] == "synthetic" else None

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

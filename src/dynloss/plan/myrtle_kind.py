"""The study kind of Myrtle5 on CIFAR-10 (figure 3.2). Registered on import (:mod:`dynloss.plan`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..jobs import MyrtleJob, fmt, hash_of, seed_text
from ..spec import MyrtleSpec
from .kinds import PlannedJob, StudyKind, fragment, register, seed_blocks


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
    takes_data = False  # CIFAR-10 (dynloss.data.cifar), not a registered data set
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
        from ..data.cifar import TEST_FILE, TRAIN_FILES  # numpy only

        missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (Path(st["cifar_dir"]) / f).is_file()]
        if missing:
            raise ConfigError(f"{self.key('cifar_dir')}: folder {st['cifar_dir']!r} has no "
                              f"{', '.join(missing)} (the CIFAR-10 python version: data_batch_1..5 and "
                              "test_batch; set null to skip the study)")

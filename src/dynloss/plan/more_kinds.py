"""The study kinds of other protocols: Myrtle5 on CIFAR-10 (figure 3.2) and the sensitivity of the
MSE results to the protocol. Registered on import (:mod:`dynloss.plan`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..jobs import MyrtleJob, TrainJob, fmt, hash_of, seed_text
from ..spec import MyrtleSpec
from .kinds import PlannedJob, StudyKind, register, seed_blocks, train_spec


@register
class Myrtle(StudyKind):
    """Myrtle5 on CIFAR-10: figure 3.2 (needs its CIFAR-10 folder, or ``synthetic``)."""

    name = "myrtle"
    figure = "contour"
    figure_options = {"train_var": "final_train_acc", "test_var": "final_test_acc", "width_dim": "channels"}
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
    figure = "sensitivity"
    in_all = False  # its own target: snakemake sensitivity_mse
    published = False
    field_keys = {name: f"factors.{factor}" for name, factor in (
        ("W_std", "W1_std"), ("b_std", "b_std"), ("parameterization", "parameterization"), ("dtype", "dtype"),
        ("threefry_partitionable", "threefry_partitionable"), ("mse_norm", "mse_norm"), ("data_seed", "data_seed"))}

    def cases(self):
        from ..sensitivity import cases as sens_cases

        return sens_cases.cases(self.st)

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

"""The replication kind: points of one protocol trained on several training spirals x fresh seeds
(docs/preregistration.md). One job per (point, spiral), its seeds vmapped; the dataset has dims
``(A, T, spiral, seed)`` so a claim reads a paired difference by (spiral, seed) and the between- and
within-spiral variances."""
from __future__ import annotations

from ..errors import ConfigError
from ..jobs import TrainJob, fmt
from .kinds import PlannedJob, StudyKind, fragment, register, train_spec


@register
class Replication(StudyKind):
    """Points of one protocol x training spirals x seeds (the confirmatory replication)."""

    name = "replication"
    schema = fragment("""
        type: object
        description: >-
          Points (A, T) of one protocol, each trained on every training spiral (data seed) with the same fresh
          initialisation seeds: one job per (point, spiral). The dataset has dims (A, T, spiral, seed).
        additionalProperties: false
        properties:
          kind: {const: replication, description: Study kind., default: replication}
          title: {type: string, default: "", description: Figure title.}
          loss: {$ref: "#/$defs/loss", default: dce}
          width: {type: integer, minimum: 1, default: 100, description: Hidden width.}
          lr: {type: number, exclusiveMinimum: 0, default: 1.0, description: Learning rate eta.}
          steps: {type: integer, minimum: 1, default: 35000, description: GD steps per run.}
          points:
            type: array
            minItems: 1
            default: [[1, 100]]
            description: "The (A, T) points, each [A, T] (A = 1: the static loss)."
            items: {type: array, items: {type: number, exclusiveMinimum: 0}, minItems: 2, maxItems: 2}
          spirals: {type: array, items: {type: integer, minimum: 0}, minItems: 1, uniqueItems: true, default: [101], description: "Training-spiral noise seeds (data.train_seed of each job); keep clear of data.test_seeds."}
          seeds: {type: integer, minimum: 1, maximum: 100000, default: 10, description: Initialisation seeds per (point, spiral).}
          first_seed: {type: integer, minimum: 0, maximum: 2147483647, default: 0, description: "The first initialisation seed (seeds first_seed .. first_seed + seeds - 1)."}
          record_every: {type: integer, minimum: 1, default: 100, description: Stride of the stored loss curves.}
    """)
    figure = None
    aggregate_dims = ("loss", "width", "lr", "A", "T", "spiral")
    verdict_input = "replication"
    publishes_final_only = True
    field_keys = {"data_seed": "spirals"}

    def points(self) -> list[tuple[float, float]]:
        return [(float(a), float(t)) for a, t in self.st["points"]]

    def jobs(self) -> list[PlannedJob]:
        st, out = self.st, []
        seeds = tuple(range(int(st["first_seed"]), int(st["first_seed"]) + int(st["seeds"])))
        for a, t in self.points():
            for spiral in st["spirals"]:
                stem = f"{st['loss']}_w{int(st['width'])}_lr{fmt(st['lr'])}_A{fmt(a)}_T{fmt(t)}_sp{int(spiral)}"
                spec = train_spec(self.plan, st, width=int(st["width"]), data_seed=int(spiral))
                job = TrainJob(spec=spec, seeds=seeds, lr=float(st["lr"]), A=(a,), T=(t,),
                               meta={**self.labels(), "spiral": int(spiral)})
                out.append(PlannedJob(self.study, stem, job, self.run_path(stem)))
        return out

    def check(self) -> None:
        self.steps_multiple_of("record_every")
        tests = {int(s) for s in self.plan.cfg["data"]["test_seeds"]}
        clash = sorted(tests & {int(s) for s in self.st["spirals"]})
        if clash:
            raise ConfigError(f"{self.key('spirals')}: {clash} are test spirals (data.test_seeds); a training spiral "
                              "must not be one")
        for i, (a, t) in enumerate(self.points()):
            if a < 1:
                raise ConfigError(f"{self.key(f'points[{i}]')}: A = {a:g} < 1")
            if a > 1 and t >= int(self.st["steps"]):
                raise ConfigError(f"{self.key(f'points[{i}]')}: T = {t:g} >= steps; the run would never oscillate")

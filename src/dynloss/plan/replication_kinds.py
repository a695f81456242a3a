"""The replication kind: points of one protocol trained on several training spirals x fresh seeds
(docs/preregistration.md). One job per (point, spiral), its seeds vmapped; the dataset has dims
``(A, T, spiral, seed)`` so a claim reads a paired difference by (spiral, seed) and the between- and
within-spiral variances."""
from __future__ import annotations

from ..errors import ConfigError
from ..jobs import TrainJob, fmt
from .kinds import PlannedJob, StudyKind, fragment, register, train_spec, with_data


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
    figure = "replication"
    aggregate_dims = ("loss", "width", "lr", "A", "T", "spiral")
    verdict_input = "replication"
    claims_without_data = False  # the confirmatory table's rows, not the exploratory one's
    publishes_final_only = True
    field_keys = {"data.train_seed": "spirals"}

    def points(self) -> list[tuple[float, float]]:
        return [(float(a), float(t)) for a, t in self.st["points"]]

    def jobs(self) -> list[PlannedJob]:
        st, out = self.st, []
        seeds = tuple(range(int(st["first_seed"]), int(st["first_seed"]) + int(st["seeds"])))
        for a, t in self.points():
            for spiral in st["spirals"]:
                stem = f"{st['loss']}_w{int(st['width'])}_lr{fmt(st['lr'])}_A{fmt(a)}_T{fmt(t)}_sp{int(spiral)}"
                spec = with_data(train_spec(self.plan, st, width=int(st["width"])), train_seed=int(spiral))
                job = TrainJob(spec=spec, seeds=seeds, lr=float(st["lr"]), A=(a,), T=(t,),
                               meta={**self.labels(), "spiral": int(spiral)})
                out.append(PlannedJob(self.study, stem, job, self.run_path(stem)))
        return out

    def check(self) -> None:
        self.steps_multiple_of("record_every")
        for i, (a, t) in enumerate(self.points()):
            if a < 1:
                raise ConfigError(f"{self.key(f'points[{i}]')}: A = {a:g} < 1")
            if a > 1 and t >= int(self.st["steps"]):
                raise ConfigError(f"{self.key(f'points[{i}]')}: T = {t:g} >= steps; the run would never oscillate")


# -- the pre-registered claims on replication data (docs/preregistration.md, H1-H17) ----------------------


def _claims() -> tuple:
    from ..verdicts.claims import CE, MSE, S34, S41, S42, S46, TEST, TRAIN, Claim, Protocol

    ce, mse100, mse700 = Protocol("dce", 100, **CE), Protocol("dmse1", 100, **MSE), Protocol("mse", 700, **MSE)
    v2 = Protocol("dmse2", 100, **MSE)
    P = "docs/preregistration.md"

    def c(key, text, p, q, where, band, value, thesis, source, A=1.0, T=0.0):
        return Claim(key, text, "replication", p, q, where, band, value, thesis, f"{P} {key.split('_')[0]}; {source}",
                     10, (A, A), (T, T))

    return (
        c("H1_ce_w100_A1_train", "CE, width 100, A = 1: train accuracy", ce, TRAIN, "rep_value", "approx", 0.65,
          "~0.65", S34),
        c("H2_ce_w100_A1_test", "CE, width 100, A = 1: test accuracy", ce, TEST, "rep_value", "approx", 0.65, "~0.65",
          S34),
        c("H3_ce_w100_osc_train", "CE, width 100, A = 15, T = 100: train accuracy", ce, TRAIN, "rep_value", "approx",
          1.0, "~1", S34, 15, 100),
        c("H4_ce_w100_osc_test", "CE, width 100, A = 20, T = 100: test accuracy", ce, TEST, "rep_value", "lower", 0.9,
          "reaches ~0.9", S34, 20, 100),
        c("H5_ce_w100_gain_train", "CE, width 100: train gain of A = 15, T = 100 over A = 1 (paired)", ce, TRAIN,
          "rep_gain", "sign", 1.0, "> 0", S34, 15, 100),
        c("H6_ce_w100_gain_test", "CE, width 100: test gain of A = 20, T = 100 over A = 1 (paired)", ce, TEST,
          "rep_gain", "sign", 1.0, "> 0", S34, 20, 100),
        c("H7_mse_w100_train", "static MSE, width 100: train accuracy", mse100, TRAIN, "rep_value", "approx", 0.8,
          "~0.8", S41),
        c("H8_mse_w100_test", "static MSE, width 100: test accuracy", mse100, TEST, "rep_value", "approx", 0.8,
          "~0.8", S42),
        c("H9_mse_w700_train_fig41", "static MSE, width 700: train accuracy (text of fig. 4.1)", mse700, TRAIN,
          "rep_value", "lower", 1.0, "reaches ~1", S41),
        c("H10_mse_w700_train_fig42", "static MSE, width 700: train accuracy (A = 1 column of fig. 4.2)", mse700,
          TRAIN, "rep_value", "approx", 0.95, "~0.95", S42),
        c("H11_mse_w700_test", "static MSE, width 700: test accuracy", mse700, TEST, "rep_value", "approx", 0.95,
          "~0.95", S42),
        c("H12_v1_w100_train", "MSE v1, width 100, A = 20, T = 1000: train accuracy", mse100, TRAIN, "rep_value",
          "lower", 0.98, "up to ~0.98", S42, 20, 1000),
        c("H13_v1_w100_test", "MSE v1, width 100, A = 20, T = 1000: test accuracy", mse100, TEST, "rep_value",
          "approx", 0.95, "~0.95", S42, 20, 1000),
        c("H14_v1_w100_gain_test", "MSE v1, width 100: test gain of A = 20, T = 1000 over A = 1 (paired)", mse100,
          TEST, "rep_gain", "gain", 0.12, "~12 %", S42, 20, 1000),
        c("H15_v2_w100_test", "MSE v2, width 100, A = 10, T = 5000: test accuracy", v2, TEST, "rep_value", "lower",
          0.97, "reaches ~0.97", S46, 10, 5000),
        c("H16_v2_w100_gain_test", "MSE v2, width 100: test gain of A = 10, T = 5000 over A = 1 (paired)", v2, TEST,
          "rep_gain", "gain", 0.1225, "12.25 %", S46, 10, 5000),
        c("H17_ce_w100_escape", "CE, width 100, A = 1: fraction of runs that escape the static plateau (train >= 0.6)",
          ce, TRAIN, "rep_escape", "sign", 1.0, "(descriptive)", S34),
    )


#: a run "escapes the static plateau" at A = 1 when its final train accuracy reaches this (preregistration H17)
ESCAPE = 0.6


def _runs(c, inputs, A: float, T: float, static: bool):
    """(name, (spiral, seed) values) of the replication dataset with the claim's protocol at point (A, T)."""
    import numpy as np

    from ..verdicts.inputs import data_set_of, same_loss, study_steps

    for name, ds in inputs.role("replication").items():
        loss = str(np.atleast_1d(ds["loss"].values)[0])
        same = same_loss(loss, c.protocol, static) and data_set_of(ds) == c.protocol.data
        if not (same and c.protocol.width in np.atleast_1d(ds["width"].values)
                and float(np.atleast_1d(ds["lr"].values)[0]) == c.protocol.lr and study_steps(ds) == c.protocol.steps):
            continue
        if A not in ds["A"].values or (A != 1.0 and T not in ds["T"].values):
            continue
        da = ds[c.quantity]
        if "diverged" in ds:
            da = da.where(~ds["diverged"].astype(bool))
        da = da.sel(A=A, T=T if A != 1.0 else ds["T"].values[0]).squeeze(drop=True)
        return name, da.transpose("spiral", "seed")
    return None, None


def spiral_estimate(values, settings):
    """The replication's estimate over (spiral, seed) values: :func:`dynloss.verdicts.stats.set_estimate`."""
    from ..verdicts import stats

    return stats.set_estimate(values, settings)


def _means_sd(v) -> float:
    """The standard deviation of the spirals' means (rows of ``v``)."""
    import numpy as np

    return float(np.std([np.nanmean(r) for r in np.asarray(v, dtype=float) if np.isfinite(r).any()], ddof=1))


def _judge(c, inputs, s, row, band, name, v, what):
    import numpy as np

    from ..verdicts.rows import judge, of

    e, within, between = spiral_estimate(v, s)
    runs = int(np.isfinite(v).sum())
    row.update({"data": name, "figure": name.split(" - ")[0], "at_A": c.A[0], "at_T": c.T[0] if c.A[0] != 1.0 else "", "n_diverged": int(v.size - runs),
                "note": f"{what}; {runs} runs ({v.shape[0]} spirals x {v.shape[1]} seeds), t-interval over the spiral "
                        f"means; between-spiral SD {between:.4f}, within-spiral SD {within:.4f}"
                        + ("" if between > 0 else f" (the spiral means' SD, {_means_sd(v):.4f}, is within what the "
                           "seeds' spread explains: the between-spiral component is estimated at 0)")})
    partly = of(e.n, c.thesis_seeds, "pre-registered spirals") if e.n < c.thesis_seeds else ""
    out = judge(row, e, band, 0, partly=partly, min_seeds=s.bootstrap_min_seeds)
    out["thesis_seeds"] = c.thesis_seeds
    out["n_seeds"] = e.n
    return out


def rep_value(c, inputs, s, row, band):
    """The claim's quantity at its point, per (spiral, seed)."""
    from ..verdicts.rows import not_run

    name, da = _runs(c, inputs, c.A[0], c.T[0], static=c.A[0] == 1.0)
    if da is None:
        return not_run(row, f"no replication data of {c.protocol} at A = {c.A[0]:g}")
    return _judge(c, inputs, s, row, band, name, da.values, "the mean over each spiral's seeds")


def rep_gain(c, inputs, s, row, band):
    """The point minus A = 1, paired by (spiral, seed)."""
    from ..verdicts.rows import not_run

    name, point = _runs(c, inputs, c.A[0], c.T[0], static=False)
    base_name, base = _runs(c, inputs, 1.0, 0.0, static=True)
    if point is None or base is None:
        return not_run(row, f"no replication data of {c.protocol} at A = {c.A[0]:g} and at A = 1")
    point, base = point.sel(spiral=base["spiral"], seed=base["seed"]), base
    return _judge(c, inputs, s, row, band, f"{name} - {base_name}" if base_name != name else name,
                  point.values - base.values, "paired by (spiral, seed): the point minus A = 1")


def rep_escape(c, inputs, s, row, band):
    """The fraction of A = 1 runs whose train accuracy reaches :data:`ESCAPE`, per spiral (descriptive)."""
    import numpy as np

    from ..verdicts.rows import not_run

    name, da = _runs(c, inputs, 1.0, 0.0, static=True)
    if da is None:
        return not_run(row, f"no replication data of {c.protocol} at A = 1")
    v = np.where(np.isfinite(da.values), (da.values >= ESCAPE).astype(float), np.nan)
    out = _judge(c, inputs, s, row, band, name, v, f"per spiral, the fraction of runs with train accuracy >= {ESCAPE}")
    return {**out, "verdict": "descriptive", "outcome": "descriptive", "seeds_to_decide": "", "leans": "",
            "p_value": ""}


Replication.claims = _claims()
Replication.measures = {"rep_value": rep_value, "rep_gain": rep_gain, "rep_escape": rep_escape}

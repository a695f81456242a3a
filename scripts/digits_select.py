"""The digits studies' widths and learning rates, by the rules docs/verdicts.md fixed before any run ("Beyond
the thesis": the widths, the learning rates and the selection runs' protocol).

Per static loss (``ce`` for ``dce``, ``mse`` for ``dmse1`` / ``dmse2``, ``hinge`` for ``dhinge``), on split 0, seeds
0-2, static training (A = 1), 5000 steps, float64, stop rule ``period``:

1. learning rate at width 64: the largest of :data:`LRS` at which every seed is stable (every recorded loss
   finite, the final loss below half the initial one), searched from the top rate down;
2. widths 2, 4, 8, ... upwards at that rate: w* = the first whose three seeds all reach train accuracy 0.99 (the
   search stops there: the rule reads no width above it); under = the largest width below w* whose mean train
   accuracy is < 0.9; over = 8 w* (at most 1024);
3. the learning-rate rule again at under, w* and over.

Each static loss's choice and runs go to ``<out>_<loss>.json`` as it finishes; ``<out>.md`` (the choices,
stamped) and ``<out>.csv`` (one row per run) are made from every part::

    python scripts/digits_select.py --losses ce,hinge --out docs/digits/selection
    python scripts/digits_select.py --losses mse --lr-roles under,w* --out docs/digits/selection
    python scripts/digits_select.py --spiral --losses hinge --out docs/digits/selection
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LRS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
WIDTHS = tuple(2 ** k for k in range(1, 11))
LOSSES = {"ce": "dce", "mse": "dmse1, dmse2", "hinge": "dhinge"}
SEEDS = (0, 1, 2)
STEPS = 5000
SPIRAL_STEPS = 35000
REACH, UNDER = 0.99, 0.9
ROLES = ("under", "w*", "over")
#: stable: the final loss below this fraction of the initial one on every seed (docs/verdicts.md, amendment of
#: 2026-12-07 23:54 UTC: a network collapsed to a constant output ends just below its initial loss)
STABLE_FRACTION = 0.5


def sweep(loss: str, width: int, lrs, rows: list, spiral: bool = False) -> dict:
    """Train every (lr, seed) of one width in one program; the per-lr stability and mean train accuracy.
    ``spiral``: the thesis's training spiral (noise seed 0) and figure 3.4's 35000 steps instead."""
    from dynloss import engine
    from dynloss.spec import RunBatch, TrainSpec

    data = dict(data="spiral", steps=SPIRAL_STEPS) if spiral else dict(
        data="digits", data_params=(("split_seed", 0),), steps=STEPS)
    spec = TrainSpec(loss=loss, width=width, record_every=100, stop_rule="period", **data)
    lr = np.repeat(np.asarray(lrs, dtype=float), len(SEEDS))
    seeds = np.tile(np.asarray(SEEDS), len(lrs))
    t0 = time.time()
    r = engine.train(spec, RunBatch.make(seeds, 1.0, 1.0, lr))
    took = time.time() - t0
    out = {}
    for i, (eta, seed) in enumerate(zip(lr, seeds)):
        stable = bool(np.all(np.isfinite(r.loss[i])) and np.isfinite(r.loss_init[i])
                      and r.loss[i, -1] < STABLE_FRACTION * r.loss_init[i])
        rows.append({"data": spec.data, "loss": loss, "width": width, "lr": float(eta), "seed": int(seed),
                     "L_init": float(r.loss_init[i]),
                     "L_final": float(r.loss[i, -1]), "final_train_acc": float(r.final_train_acc[i]),
                     "test_acc": float(r.test_acc[i]), "stable": stable})
        o = out.setdefault(float(eta), {"stable": True, "acc": []})
        o["stable"] &= stable
        o["acc"].append(float(r.final_train_acc[i]))
    each = ", ".join(f"lr {eta:g}: {'stable' if o['stable'] else 'unstable'}, mean train {np.mean(o['acc']):.3f}"
                     for eta, o in out.items())
    print(f"  {loss} width {width}: {len(lr)} runs in {took:.0f} s ({each})", file=sys.stderr, flush=True)
    return out


def largest_stable(loss: str, width: int, rows: list, spiral: bool = False) -> float:
    """The largest rate of :data:`LRS` stable on every seed, searched from the top (the same answer as training
    the whole grid; the rates below the first stable one are not run)."""
    for eta in sorted(LRS, reverse=True):
        if sweep(loss, width, (eta,), rows, spiral)[eta]["stable"]:
            return eta
    raise SystemExit(f"{loss} width {width}: no learning rate of the grid is stable: the rule has no answer")


def select(loss: str, roles=ROLES) -> tuple[dict, list]:
    """One static loss's choice and its runs; the learning-rate rule at the widths of ``roles`` only (a role
    left out is marked not run: its studies are cut)."""
    rows: list = []
    print(f"{loss}:", file=sys.stderr, flush=True)
    lr64 = largest_stable(loss, 64, rows)
    means, w_star = {}, None
    for w in WIDTHS:
        res = sweep(loss, w, (lr64,), rows)[lr64]
        means[w] = float(np.mean(res["acc"]))
        if res["stable"] and min(res["acc"]) >= REACH:
            w_star = w
            break
    if w_star is None:  # the rule has no answer: no width, no learning rate; the runs are kept
        print(f"{loss}: no width up to {WIDTHS[-1]} reaches train accuracy {REACH} on every seed", file=sys.stderr)
        return {"loss": loss, "lr64": lr64, "means": means, "w_star": None, "under": None, "over": None,
                "lrs": {}}, rows
    below = [w for w in WIDTHS if w < w_star and means[w] < UNDER]
    under = max(below) if below else None
    over = min(8 * w_star, WIDTHS[-1])
    lrs = {}
    for name, w in (("under", under), ("w*", w_star), ("over", over)):
        if w is not None and name in roles:
            lrs[name] = largest_stable(loss, w, rows)
    return {"loss": loss, "lr64": lr64, "means": means, "w_star": w_star, "under": under, "over": over,
            "lrs": lrs}, rows


def spiral_lr(loss: str) -> tuple[dict, list]:
    """The learning-rate rule on the thesis's spiral at width 100 (the hinge loss there: claims H1, H2)."""
    rows: list = []
    print(f"{loss} on the spiral:", file=sys.stderr, flush=True)
    return {"loss": loss, "lr": largest_stable(loss, 100, rows, spiral=True)}, rows


def _save(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def report(out: Path) -> str:
    """``<out>.md`` and ``<out>.csv`` from every ``<out>_*.json`` a selection wrote."""

    files = sorted(out.parent.glob(f"{out.name}_*.json"))
    parts = {p.stem[len(out.name) + 1:]: json.loads(p.read_text()) for p in files}
    rows = [r for part in parts.values() for r in part["rows"]]
    notes = [f"{k}: {part['note']}" for k, part in parts.items() if part.get("note")]
    tmp = out.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out.with_suffix(".csv"))
    lines = [
        "# Digits: the widths and learning rates chosen by the pre-registered rules", "",
        f"Rules: docs/verdicts.md, \"Beyond the thesis\" (fixed before these runs; the stability amendment of "
        f"2026-12-07 23:54 UTC). Static training (A = 1), split 0, seeds 0-2, {STEPS} steps, float64, stop rule "
        f"period. Every run: `{out.name}.csv`. No claim reads these runs. Each part: "
        f"`python scripts/digits_select.py --losses LOSS --out {out}`; this page: `--report`.", "",
        "| static loss | for | lr at width 64 | mean train accuracy by width (at that lr) | w* | under | over | "
        "lr under | lr w* | lr over | made |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, part in parts.items():
        c = part["choice"]
        if key.startswith("spiral_"):
            continue
        m = ", ".join(f"{w}: {a:.3f}" for w, a in c["means"].items())
        if c["w_star"] is None:
            lines.append(f"| {c['loss']} | {LOSSES.get(c['loss'], '')} | {c['lr64']:g} | {m} | none: no width up to "
                         f"{WIDTHS[-1]} reaches {REACH} on every seed, so the rule has no answer | - | - | - | - | - | "
                         f"{part['stamp']} |")
            continue
        lrs = " | ".join(f"{c['lrs'][k]:g}" if k in c["lrs"] else "not run (its studies cut)"
                         for k in ("under", "w*", "over"))
        lines.append(f"| {c['loss']} | {LOSSES.get(c['loss'], '')} | {c['lr64']:g} | {m} | {c['w_star']} | "
                     f"{c['under'] if c['under'] is not None else 'none'} | {c['over']} | {lrs} | {part['stamp']} |")
    lines += ["", "Stable: every recorded loss finite and the final loss below half the initial one, for every seed.",
              "A role's learning rate not run: no study of this campaign trains at that width (docs/digits.md says "
              "why).", *notes, ""]
    spiral = [p for k, p in parts.items() if k.startswith("spiral_")]
    if spiral:
        lines += ["## On the thesis's spiral (claims H1, H2)", "",
                  "The learning-rate rule at width 100 on the training spiral (noise seed 0), seeds 0-2, "
                  f"{SPIRAL_STEPS} steps (figure 3.4's protocol), float64: `--spiral --losses LOSS`.", "",
                  "| static loss | largest stable lr at width 100 | made |", "|---|---|---|"]
        lines += [f"| {p['choice']['loss']} | {p['choice']['lr']:g} | {p['stamp']} |" for p in spiral]
        lines.append("")
    text = "\n".join(lines)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(out.with_suffix(".md"))
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/digits/selection", help="output stem")
    ap.add_argument("--losses", default="ce,mse,hinge", help="static losses, one after the other")
    ap.add_argument("--lr-roles", default=",".join(ROLES), help="the widths whose learning rate is chosen "
                    "(under, w*, over; default all)")
    ap.add_argument("--spiral", action="store_true", help="the learning-rate rule on the spiral at width 100")
    ap.add_argument("--report", action="store_true", help="only write <out>.md and <out>.csv from the parts")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.report:
        import jax

        jax.config.update("jax_enable_x64", True)
        from dynloss.provenance import git_commit

        for loss in args.losses.split(","):
            choice, rows = spiral_lr(loss) if args.spiral else select(loss, tuple(args.lr_roles.split(",")))
            stamp = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()[:7]}"
            _save(out.with_name(f"{out.name}_{'spiral_' if args.spiral else ''}{loss}.json"),
                  {"choice": choice, "rows": rows, "stamp": stamp})
            print(json.dumps(choice), flush=True)
    print(report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command-line pieces of the sensitivity study (added to ``python -m dynloss`` by :mod:`dynloss.cli`).

  sensitivity-combine  the case files of one sensitivity study -> one (case, seed) dataset
  infinite             the infinite-width reference of static MSE (needs neural-tangents)
  sensitivity-report   table (CSV, Markdown) and the written conclusion of the sensitivity studies
"""
from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os

log = logging.getLogger("dynloss")


def add(sub) -> None:
    from .args import float_list, int_list, number

    p = sub.add_parser("sensitivity-combine", help="combine the case files of a sensitivity study")
    p.add_argument("runs", nargs="+", help="the case NetCDFs, in the study's case order")
    p.add_argument("--meta", required=True, help="JSON: {study, scale, study_config, data}")
    p.add_argument("--out", required=True, help="output NetCDF (written atomically)")
    p.set_defaults(func=_run_combine)

    p = sub.add_parser("infinite", help="infinite-width (analytic NTK) reference of static MSE "
                       "(needs neural-tangents)")
    p.add_argument("--widths", required=True, type=int_list("--widths"),
                   help="widths of the kernel regime (comma list)")
    p.add_argument("--lr", required=True, type=number(float, "--lr", lambda v: 0 < v < float("inf"), "a number > 0"))
    p.add_argument("--steps", required=True, type=number(int, "--steps", lambda v: v > 0, "an integer > 0"))
    p.add_argument("--seeds", type=number(int, "--seeds", lambda v: v > 0, "an integer > 0"), default=3,
                   help="prior draws of the initial function (default 3)")
    p.add_argument("--w-std", type=float_list("--w-std"), default=(1.0, 1.0), help="W1_std,W2_std (default 1,1)")
    p.add_argument("--b-std", type=number(float, "--b-std", lambda v: v >= 0, "a number >= 0"), default=0.0)
    p.add_argument("--mse-norm", choices=("listing", "mean", "half"), default="listing")
    p.add_argument("--no-ntk-limit", action="store_true", help="omit the NTK-parameterisation limit")
    p.add_argument("--data", default=None, help="JSON of the study's data block: a registered data set's name and "
                   "parameters (default: the default data set with its defaults)")
    p.add_argument("--meta", default=None, help="JSON object stored in the file's config attribute")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_run_infinite)

    p = sub.add_parser("sensitivity-report", help="table and conclusion of the sensitivity studies")
    p.add_argument("datasets", nargs="+", help="NAME=PATH of each study's combined dataset")
    p.add_argument("--infinite", nargs="*", default=[], help="NAME=PATH of infinite-width datasets")
    p.add_argument("--control", default=None, help="the control study (CE)")
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True, help="the table in Markdown")
    p.add_argument("--conclusion", required=True, help="the conclusion in Markdown")
    p.add_argument("--doc", default=None, help="also write conclusion + table here (docs/reproduction/sensitivity.md)")
    p.add_argument("--scale", default="", help="scale label")
    p.set_defaults(func=_run_report)


def _run_combine(a: argparse.Namespace) -> int:
    from .. import netcdf
    from ..sensitivity import cases as sens_cases
    from .args import CliError, check_out, parse_meta

    meta = parse_meta(a.meta)
    if "study_config" not in meta:
        raise CliError("--meta: needs study_config (the study's configuration)")
    check_out(a.out)
    missing = [p for p in a.runs if not os.path.exists(p)]
    if missing:
        raise CliError(f"runs: missing {missing[0]!r}")
    st = meta["study_config"]
    try:
        cases = sens_cases.cases(st)
        if len(cases) != len(a.runs):
            raise ValueError(f"{len(a.runs)} files for the study's {len(cases)} cases")
        ds = sens_cases.combine(a.runs, cases, {
            "study": meta.get("study", ""), "scale": meta.get("scale", ""), "loss": st["loss"], "width": st["width"],
            "lr": st["lr"], "steps": st["steps"],
            "A": st.get("A", 1), "T": st.get("T", 1000),
            "thesis_train": "" if st.get("thesis_train") is None else st["thesis_train"],
            "thesis_test": "" if st.get("thesis_test") is None else st["thesis_test"]}, meta)
    except ValueError as exc:
        raise CliError(f"runs: {exc}") from None
    netcdf.write_netcdf(ds, a.out)
    log.info("sensitivity: %d cases -> %s", len(cases), a.out)
    return 0


def _run_infinite(a: argparse.Namespace) -> int:
    from .. import netcdf
    from ..sensitivity import infinite
    from .args import CliError, check_out, parse_meta

    try:
        infinite.require()
    except infinite.MissingNeuralTangents as exc:
        raise CliError(f"infinite: {exc}") from None
    if len(a.w_std) != 2:
        raise CliError("--w-std: give two numbers W1_std,W2_std")
    from .. import data as data_sets
    from ..errors import SpecError
    from .args import json_object

    data = json_object(a.data, "--data") if a.data else {}
    try:
        name, params = data_sets.job_data(data)
    except SpecError as exc:
        raise CliError(f"--data: {exc}") from None
    meta = parse_meta(a.meta)
    check_out(a.out)
    refs = infinite.references_for(a.widths, tuple(a.w_std), a.b_std, ntk_limit=not a.no_ntk_limit)
    ds = infinite.evaluate(refs, a.lr, a.steps, list(range(a.seeds)), data, a.mse_norm)
    netcdf.stamp(ds, {**meta, "data": data_sets.get(name).attributes(dict(params))})
    netcdf.write_netcdf(ds, a.out)
    for i, r in enumerate(ds["reference"].values):
        log.info("infinite: %s: train %.3f test %.3f (eta (2/P) lambda_max = %.3g)", r,
                 float(ds["train_acc"][i].mean()), float(ds["test_acc"][i].mean()), float(ds["gd_stability"][i]))
    return 0


def _pairs(items, what: str) -> dict:
    from .. import netcdf
    from .args import CliError, name_path_pairs

    out = {}
    for name, path in name_path_pairs(items, what):
        try:
            out[name] = netcdf.open_dataset(path)
        except netcdf.CorruptFileError as exc:
            raise CliError(f"{what}: {exc}") from None
    return out


def _run_report(a: argparse.Namespace) -> int:
    from .. import files
    from ..sensitivity import report
    from .args import CliError

    datasets = _pairs(a.datasets, "datasets")
    inf = _pairs(a.infinite, "--infinite")
    if a.control and a.control not in datasets:
        raise CliError(f"--control: {a.control!r} is not one of the datasets ({', '.join(datasets)})")
    commits = sorted({str(ds.attrs.get("git_commit", "unknown")) for ds in datasets.values()})
    stamp = (f"Generated from the data by `dynloss sensitivity-report`; commit {', '.join(commits)}; "
             f"scale {a.scale or '?'}; {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    rows = report.table(datasets, inf)
    text = report.conclusion(datasets, inf, control=a.control, stamp=stamp)
    files.write_text(report.to_csv(rows), a.csv)
    md = report.to_markdown(rows)
    files.write_text(md, a.md)
    files.write_text(text, a.conclusion)
    if a.doc:
        files.write_text(text + "\n## Table\n\n" + md, a.doc)
    log.info("sensitivity report: %d rows -> %s, %s", len(rows), a.csv, a.conclusion)
    return 0

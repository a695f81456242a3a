"""``dynloss reproduction`` (the table of the thesis's claims with verdicts), ``dynloss confirm``
(fresh seeds at the grid point a claim chose) and ``dynloss law-compare`` (two publications' eta laws
side by side, per onset definition), all from :mod:`dynloss.verdicts`."""
from __future__ import annotations

import argparse
import json
import logging
import os

from .args import CliError, check_accelerator, check_path, json_object, name_path_pairs, parse_seeds


def _open_pairs(items, what: str, stack: bool = False) -> dict:
    """NAME=PATH arguments as name -> dataset; with ``stack``, datasets given under one name (runs of one
    protocol with other seeds) are joined along ``seed``, otherwise a repeated name is refused."""
    import xarray as xr

    from .. import netcdf

    out: dict = {}
    for name, path in name_path_pairs(items, what):
        try:
            ds = netcdf.open_dataset(path)
        except netcdf.CorruptFileError as exc:
            raise CliError(f"{what}: {exc}") from None
        if name in out and not stack:
            raise CliError(f"{what}: {name!r} given twice")
        out.setdefault(name, []).append(ds)
    return {n: v[0] if len(v) == 1 else xr.concat(v, dim="seed", join="outer", combine_attrs="drop_conflicts")
            for n, v in out.items()}


def _by_role(items) -> dict:
    """``--input ROLE:NAME=PATH`` arguments as role -> name -> dataset."""
    out: dict = {}
    for item in items:
        role, sep, pair = item.partition(":")
        if not sep or not role or "=" not in pair:
            raise CliError(f"--input: {item!r} is not ROLE:NAME=PATH")
        out.setdefault(role, {}).update(_open_pairs([pair], f"--input {role}"))
    return out


def _settings(text: str):
    from ..verdicts import Settings

    raw = json_object(text, "--settings")
    unknown = set(raw) - set(Settings.__dataclass_fields__)
    if unknown:
        raise CliError(f"--settings: unknown key {sorted(unknown)[0]!r} "
                       f"(allowed: {', '.join(Settings.__dataclass_fields__)})")
    return Settings.from_config(raw)


def add(sub) -> None:
    p = sub.add_parser("reproduction", help="the thesis's claims beside the measured values, with verdicts "
                       "(docs/verdicts.md)")
    p.add_argument("--study", action="append", default=[], metavar="NAME=PATH",
                   help="a combined contour or curves study dataset; repeatable "
                   "(a claim reads every one with its protocol)")
    p.add_argument("--confirm", action="append", default=[], metavar="KEY=PATH",
                   help="fresh seeds at a chosen point (dynloss confirm); repeatable")
    p.add_argument("--dynamics", action="append", default=[], metavar="NAME=PATH", help="a dynamics study dataset")
    p.add_argument("--thresholds", action="append", default=[], metavar="NAME=PATH",
                   help="a combined thresholds study dataset")
    p.add_argument("--input", action="append", default=[], metavar="ROLE:NAME=PATH",
                   help="the dataset of a study kind whose own claims read it under ROLE (StudyKind.verdict_input); "
                   "repeatable")
    p.add_argument("--primary", action="append", default=[], metavar="NAME=DEFINITION",
                   help="the primary onset definition of a thresholds study (default visible)")
    p.add_argument("--settings", default="{}", help="JSON object of verdict settings (config key verdicts)")
    p.add_argument("--csv", required=True, help="output CSV")
    p.add_argument("--html", default=None, help="output HTML table (for the report)")
    p.add_argument("--md", default=None, help="output Markdown copy of the table")
    p.add_argument("--scale", default="", help="scale label written in every row")
    p.set_defaults(func=run_reproduction)

    c = sub.add_parser("confirm", help="train fresh seeds at the grid point a claim chooses (and at A = 1 for "
                       "a gain claim), with the study's protocol")
    c.add_argument("key", help="confirm key (dynloss.verdicts.confirm_jobs)")
    c.add_argument("--study", action="append", default=[], metavar="NAME=PATH", required=True,
                   help="the study datasets the claim chooses from (as given to reproduction)")
    c.add_argument("--job", required=True, help="a training job file of the claim's protocol (its training spec)")
    c.add_argument("--seeds", type=parse_seeds, required=True, help="fresh seeds, e.g. 1000-1009")
    c.add_argument("--out", required=True, help="output NetCDF")
    c.set_defaults(func=run_confirm)

    lc = sub.add_parser("law-compare", help="the eta laws of exploratory and confirmatory thresholds data side by "
                        "side, per onset definition")
    lc.add_argument("--exploratory", action="append", default=[], metavar="PATH", required=True,
                    help="a dataset of the exploratory publication (repeatable; datasets that are not thresholds "
                    "data are skipped)")
    lc.add_argument("--confirmatory", action="append", default=[], metavar="PATH", required=True,
                    help="a thresholds dataset of the confirmatory run (repeatable)")
    lc.add_argument("--primary", action="append", default=[], metavar="LOSS:WIDTH=DEFINITION",
                    help="the primary onset definition of a (loss, width), marked in the table")
    lc.add_argument("--settings", default="{}", help="JSON object of verdict settings (config key verdicts)")
    lc.add_argument("--md", required=True, help="output Markdown table")
    lc.add_argument("--csv", default=None, help="output CSV")
    lc.set_defaults(func=run_law_compare)


def run_reproduction(a: argparse.Namespace) -> int:
    from .. import files
    from .. import verdicts as v

    for flag, path in (("--csv", a.csv), ("--html", a.html), ("--md", a.md)):
        if path:
            check_path(flag, path)
    primary = {}
    for item in a.primary:
        name, sep, definition = item.partition("=")
        if not sep:
            raise CliError(f"--primary: {item!r} is not NAME=DEFINITION")
        primary[name] = definition
    inputs = v.Inputs(studies=_open_pairs(a.study, "--study"), confirm=_open_pairs(a.confirm, "--confirm"),
                      dynamics=_open_pairs(a.dynamics, "--dynamics", stack=True),
                      thresholds=_open_pairs(a.thresholds, "--thresholds"), primary=primary,
                      other=_by_role(a.input))
    rows = v.table(inputs, a.scale, _settings(a.settings))
    note = (f"scale: {a.scale}; the rules, bands and intervals: docs/verdicts.md; estimate = mean over "
            "independent seeds (eta law: slope of log mean lambda_th vs log eta)")
    files.write_text(v.to_csv(rows), a.csv)  # every output atomic: a failure keeps the old file
    if a.html:
        files.write_text(v.to_html(rows, note), a.html)
    if a.md:
        files.write_text(v.to_markdown(rows, note), a.md)
    logging.getLogger("dynloss").info("reproduction table: %d rows (%s) -> %s", len(rows), v.summary(rows), a.csv)
    return 0


def run_confirm(a: argparse.Namespace) -> int:
    import tempfile

    from .. import jobs, netcdf
    from .. import verdicts as v
    from ..plan.kinds import with_data
    from ..spec import spec_from_dict
    from ..verdicts.inputs import choose

    claims = v.confirm_jobs().get(a.key)
    if claims is None:
        raise CliError(f"key: {a.key!r} is not a confirm key (allowed: {', '.join(v.confirm_jobs())})")
    check_path("--out", a.out)
    if not os.path.isfile(a.job):
        raise CliError(f"--job: missing {a.job!r}")
    pick = choose(claims[0], v.Inputs(studies=_open_pairs(a.study, "--study")))
    if pick is None:
        raise CliError(f"--study: no grid point of {claims[0].protocol} in the region of {a.key}")
    try:
        spec = spec_from_dict(json.loads(netcdf.open_dataset(a.job).attrs["config"])["train_spec"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CliError(f"--job: {a.job!r} has no training spec ({exc})") from None
    p = claims[0].protocol
    if (spec.loss, spec.width, spec.steps) != (p.loss, p.width, p.steps):
        raise CliError(f"--job: {a.job!r} is {spec.loss} width {spec.width} steps {spec.steps}, not {p}")
    check_accelerator()  # the fresh seeds train on the accelerator (on a GPU, one of its own)
    seeds = tuple(a.seeds)
    points = [(pick["A"], pick["T"])] + ([(1.0, pick["T"])] if any(c.where == "gain" for c in claims) else [])
    # fresh training sets too where the claim's unit is the (data set, seed) pair: each a value of the data
    # set's seed parameter (a spiral's noise seed, a split's seed)
    data_seeds, param = claims[0].fresh_data, spec.data_set().seed_param
    if data_seeds and not param:
        raise CliError(f"key: {a.key!r} asks for fresh training sets, but data set {spec.data!r} has no seed "
                       "parameter (DataSet.seed_param)")
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(a.out))) as tmp:
        outs = []
        for i, (A, T) in enumerate(points):
            for d in data_seeds or (None,):
                out = os.path.join(tmp, f"{i}_{d}.nc")
                run_spec = spec if d is None else with_data(spec, **{param: int(d)})
                jobs.run(jobs.TrainJob(spec=run_spec, seeds=seeds, lr=p.lr, A=(A,), T=(T,)), out, quiet=True)
                outs.append(out)
        ds = netcdf.combine(outs, dims=("loss", "width", "lr", "A", "T") + (("data_seed",) if data_seeds else ()),
                            attrs={"confirm_key": a.key, "claims": [c.key for c in claims]})
        ds.attrs.update(chosen_A=pick["A"], chosen_T=pick["T"], chosen_from=pick["study"],
                        chosen_mean=pick["mean"])
        netcdf.write_netcdf(ds.load(), a.out)
    logging.getLogger("dynloss").info("%s: A=%g T=%g (study mean %.4f), fresh seeds %s -> %s", a.key, pick["A"],
                                      pick["T"], pick["mean"], ",".join(map(str, seeds)), a.out)
    return 0


def run_law_compare(a: argparse.Namespace) -> int:
    from .. import files, netcdf
    from ..thresholds.onset import NAMES
    from ..verdicts import compare

    for flag, path in (("--md", a.md), ("--csv", a.csv)):
        if path:
            check_path(flag, path)
    primary = {}
    for item in a.primary:
        key, sep, definition = item.partition("=")
        loss, sep2, width = key.partition(":")
        if not (sep and sep2 and width.isdigit()):
            raise CliError(f"--primary: {item!r} is not LOSS:WIDTH=DEFINITION")
        if definition not in NAMES:
            raise CliError(f"--primary: {definition!r} is not an onset definition (allowed: {', '.join(NAMES)})")
        primary[(loss, int(width))] = definition

    def opened(paths, flag, skip):
        out = {}
        for path in paths:
            if not os.path.isfile(path):
                raise CliError(f"{flag}: missing {path!r}")
            try:
                ds = netcdf.open_dataset(path)
            except netcdf.CorruptFileError as exc:
                raise CliError(f"{flag}: {exc}") from None
            if compare.is_thresholds(ds):
                out[path] = ds
            elif not skip:
                raise CliError(f"{flag}: {path!r} is not a thresholds dataset (no lr dimension with lambda_th_*)")
        return out

    s = _settings(a.settings)
    rows = compare.side_by_side(opened(a.exploratory, "--exploratory", True),
                                opened(a.confirmatory, "--confirmatory", False), primary, s)
    files.write_text(compare.to_markdown(rows, s), a.md)
    if a.csv:
        files.write_text(compare.to_csv(rows), a.csv)
    same = sum(r["same_outcome"] == "yes" for r in rows)
    logging.getLogger("dynloss").info("eta laws side by side: %d rows, %d keep their outcome -> %s", len(rows), same,
                                      a.md)
    return 0

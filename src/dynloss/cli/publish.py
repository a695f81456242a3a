"""``dynloss publish``: the reproduction table, fit tables and figure PNGs into one stamped folder."""
from __future__ import annotations

import argparse
import json
import logging
import os

from .args import CliError, check_out, check_path


def add(sub) -> None:
    p = sub.add_parser("publish", help="copy the reproduction table, fit tables and figure PNGs into one "
                                       "folder with a stamped index README.md")
    p.add_argument("items", nargs="+", help="tables (.csv, .md), figures (.png) and reduced data (.nc) to publish")
    p.add_argument("--out", required=True, help="publication folder (e.g. docs/reproduction): one holding a "
                   "publication (manifest.json) or a new or empty folder")
    p.add_argument("--scale", required=True, help="scale of the run (for the tables' stamps)")
    p.add_argument("--label", default="", help="what makes this publication (scale and configuration)")
    p.add_argument("--overwrite", action="store_true", help="replace a publication of another label in --out")
    p.add_argument("--legacy-label", action="append", default=[], metavar="LABEL",
                   help="a publication without a manifest stamped with this label counts as this one (the label "
                   "the same configuration had before manifests); repeatable")
    p.add_argument("--readme", default=None, help="also write the verdict table between the verdict markers of "
                   "this README (from the published reproduction.csv), with the publication")
    p.add_argument("--receipt", default=None, help="also write this JSON receipt (folder, label, manifest hash) "
                   "once published: the workflow's record of the publish")
    p.set_defaults(func=_run)

    t = sub.add_parser("thresholds-table", help="Markdown table of the thresholds studies' fits, every "
                       "definition, both estimands")
    t.add_argument("fits", nargs="+", help="fit CSVs (<study>_fit.csv)")
    t.add_argument("--primary", action="append", default=[], metavar="STUDY=DEFINITION")
    t.add_argument("--md", required=True, help="output Markdown")
    t.set_defaults(func=_run_thresholds_table)

    r = sub.add_parser("reduce", help="the part of a study dataset a publication keeps, compressed")
    r.add_argument("input", help="a combined study dataset")
    r.add_argument("--keep", choices=("final", "verdict", "all"), required=True,
                   help="final: the variables without a step dimension (a contour study's final metrics); "
                   "all: everything")
    r.add_argument("--out", required=True, help="output NetCDF")
    r.set_defaults(func=_run_reduce)


def _run(a: argparse.Namespace) -> int:
    from ..verdicts import publish  # lazily: the verdicts package imports xarray

    if a.receipt:
        check_path("--receipt", a.receipt)
    try:
        index = publish.publish(a.items, a.out, a.scale, a.label, a.overwrite, readme=a.readme,
                                legacy=a.legacy_label)
    except publish.PublishError as exc:
        raise CliError(f"--out: {exc}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except FileNotFoundError as exc:  # an item or the README vanished (a WriteError is an OSError too)
        raise CliError(str(exc)) from None
    if a.receipt:
        from .. import files

        man = publish.read_manifest(a.out)
        files.write_text(json.dumps({"publication": os.path.abspath(a.out), "label": man["label"],
                                     "manifest": publish.sha256(os.path.join(a.out, publish.MANIFEST))},
                                    indent=1) + "\n", a.receipt)
    logging.getLogger("dynloss").info("published %d item(s) -> %s", len(a.items), index)
    return 0


def _run_thresholds_table(a: argparse.Namespace) -> int:
    from .. import files
    from ..verdicts import publish

    for path in a.fits:
        if not os.path.isfile(path):
            raise CliError(f"fits: missing {path!r}")
    check_out(a.md)
    primary = dict(item.partition("=")[::2] for item in a.primary)
    files.write_text(publish.thresholds_table(a.fits, primary), a.md)
    return 0


def _run_reduce(a: argparse.Namespace) -> int:
    from .. import netcdf
    from ..verdicts import publish

    if not os.path.isfile(a.input):
        raise CliError(f"input: missing {a.input!r}")
    check_out(a.out)
    try:
        ds = netcdf.open_dataset(a.input)
    except netcdf.CorruptFileError as exc:
        raise CliError(f"input: {exc}") from None
    netcdf.write_netcdf(publish.reduce(ds, keep=a.keep).load(), a.out, compress=True)
    logging.getLogger("dynloss").info("reduced %s -> %s (%.2f MB)", a.input, a.out, os.path.getsize(a.out) / 1e6)
    return 0

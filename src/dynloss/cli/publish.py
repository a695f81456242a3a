"""``dynloss publish``: the reproduction table, fit tables and figure PNGs into one stamped folder."""
from __future__ import annotations

import argparse
import logging

from .. import publish
from .args import CliError


def add_cli(sub) -> None:
    p = sub.add_parser("publish", help="copy the reproduction table, fit tables and figure PNGs into one "
                                       "folder with a stamped index README.md")
    p.add_argument("items", nargs="+", help="tables (.csv, .md) and figures (.png) to publish")
    p.add_argument("--out", required=True, help="publication folder (e.g. docs/reproduction)")
    p.add_argument("--scale", required=True, help="scale of the run (for the tables' stamps)")
    p.set_defaults(func=_run)


def _run(a: argparse.Namespace) -> int:
    try:
        index = publish.publish(a.items, a.out, a.scale)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    logging.getLogger("dynloss").info("published %d item(s) -> %s", len(a.items), index)
    return 0

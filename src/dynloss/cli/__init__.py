"""Command line: ``python -m dynloss <command> ...`` (also installed as ``dynloss``).

Commands:
  train      train a vmapped batch of runs and write one NetCDF
  thresholds runs of varied (A, T) at one eta: lambda_th at each first bifurcation
  myrtle     Myrtle5 on CIFAR-10 with a dynamical loss (SGD, Nesterov; checkpoints, resume)
  synthetic-cifar  a small synthetic folder in the CIFAR-10 python format
  run-study  one study end to end in this process, without Snakemake
  job        one job of the workflow's plan by its study and stem (what the training rules run)
  aggregate  combine job NetCDFs into one labelled study dataset
  fit-thresholds  the power law lambda_th = c eta^b with confidence intervals
  figure     render a figure (PDF and PNG) from NetCDF data
  reproduction  the thesis's claims beside the measured values, with verdicts (CSV, Markdown, HTML)
  confirm    fresh seeds at the grid point a claim chose (judged there, not on the seeds that chose it)
  law-compare  two publications' eta laws side by side, per onset definition
  publish    copy the table, fit tables and figure PNGs into docs/reproduction with a stamped index
  sensitivity-combine, infinite, sensitivity-report  the sensitivity study (dynloss.cli.sensitivity)

Every bad input ends with one line on stderr naming the argument and what is allowed, and exit
status 2; nothing is written in that case. A file that cannot be written (a full disk) ends with
one line naming the path and the reason, and exit status 1; the previous file stays as it was.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from ..errors import WriteError
from .args import CliError, Parser, parse_seeds  # noqa: F401  (the public names)

LOG_FORMAT = "[dynloss %(asctime)s] %(message)s"

#: the command modules of this package, in the order of ``--help``; each registers its subcommands with
#: ``add(subparsers)`` and imports what its commands need (JAX included) only when one runs
COMMANDS = ("training", "myrtle", "results", "verdicts", "run_study", "publish", "sensitivity", "onsets", "job")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dynloss", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"dynloss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (not the one at creation), so a
    redirected or captured stderr still gets the log lines."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    log = logging.getLogger("dynloss")
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (CliError, WriteError) as exc:
        cmd = (list(argv) if argv is not None else sys.argv[1:])[:1]
        print(f"dynloss {' '.join(cmd)}: error: {exc}".replace("  ", " "), file=sys.stderr)
        return 2 if isinstance(exc, CliError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

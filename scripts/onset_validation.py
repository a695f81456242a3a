"""Print the validation table of the onset definitions (docs/onset_validation.md).

    python scripts/onset_validation.py [--noise N]

Runs every known-answer system of :mod:`dynloss.thresholds.validation` (GD with the top Hessian eigenvector
tracked) and the false-positive count on i.i.d. noise, and prints both as Markdown.
"""
from __future__ import annotations

import argparse
import datetime
import time

from dynloss import provenance
from dynloss.thresholds import validation


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=int, default=2_000_000, help="noise samples per definition")
    a = ap.parse_args(argv)
    t0 = time.time()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Stamp: commit {provenance.git_commit()}; scale: none (toy systems, not a workflow scale); {now}\n")
    results = [validation.run_case(c) for c in validation.CASES]
    print(validation.table(results))
    print("Synthetic traces with a known answer for the reader-level and ceiling definitions:\n")
    print(validation.trace_table())
    print("| case | system |\n|---|---|")
    for c in validation.CASES:
        print(f"| {c.name} | {c.note} (eta = {c.eta}, eta*lam_i0 = {c.lam0}, eta*r_i = {c.rate}) |")
    rates = validation.noise_rates(a.noise)
    print("\n| definition | false windows on i.i.d. noise | window starts tested | rate per start |\n|---|---|---|---|")
    for name in rates:
        hits, starts = rates[name]
        rate = f"{hits / starts:.1e}" if hits else f"< {1 / starts:.1e}"
        print(f"| {name} | {hits} | {starts} | {rate} |")
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compare two results folders NetCDF by NetCDF, every variable and coordinate bit for bit.

Used to show that a refactoring changes no number: run the same studies at the same scale at two
commits, then

    python scripts/compare_results.py results_old/tiny results_new/tiny [--only fig3_4,fig3_5]

Attributes (provenance, commit, creation time) are not compared. Exit status 0 when every file
present in both folders is identical in every array (NaNs in the same places), 1 otherwise; files
present in one folder only are listed and count as a difference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality of two arrays (NaNs equal to NaNs; shapes and dtypes must match)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return a.tobytes() == b.tobytes() or bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare_files(p: Path, q: Path) -> list[str]:
    """The differences between two NetCDF files (empty: identical arrays)."""
    out = []
    with xr.open_dataset(p, engine="netcdf4") as a, xr.open_dataset(q, engine="netcdf4") as b:
        names_a, names_b = set(a.variables), set(b.variables)
        for n in sorted(names_a ^ names_b):
            out.append(f"variable {n!r} only in {'first' if n in names_a else 'second'}")
        for n in sorted(names_a & names_b):
            va, vb = a[n], b[n]
            if va.dims != vb.dims:
                out.append(f"{n}: dims {va.dims} != {vb.dims}")
            elif not same_array(np.asarray(va.values), np.asarray(vb.values)):
                out.append(f"{n}: values differ")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--only", default=None, help="comma list of study folders to compare")
    a = ap.parse_args(argv)
    first, second = Path(a.first), Path(a.second)
    only = None if a.only is None else set(a.only.split(","))

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*.nc")
                if only is None or p.relative_to(root).parts[0] in only}

    fa, fb = files(first), files(second)
    bad = 0
    for rel in sorted(fa ^ fb):
        print(f"ONLY IN {'first' if rel in fa else 'second'}: {rel}")
        bad += 1
    n_vars = 0
    for rel in sorted(fa & fb):
        diffs = compare_files(first / rel, second / rel)
        with xr.open_dataset(first / rel, engine="netcdf4") as ds:
            n_vars += len(ds.variables)
        print(f"{'DIFFERENT' if diffs else 'identical'}: {rel}" + "".join(f"\n    {d}" for d in diffs))
        bad += bool(diffs)
    print(f"{len(fa & fb)} file(s) compared, {n_vars} arrays; {bad} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

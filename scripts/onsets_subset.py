"""All onset definitions, with exact lambda_th, on a few runs of a thresholds job (from its traces).

    python scripts/onsets_subset.py TRACES.nc --runs 0,1,2,3

The same analysis as ``dynloss onsets`` (:func:`dynloss.thresholds.analyse`), restricted to the
listed runs of the job and printed rather than stored: a look at ``mode`` when replaying a whole
job cannot be afforded.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import xarray as xr

from dynloss import thresholds
from dynloss.engine import make_problem
from dynloss.spec import RunBatch, spec_from_dict


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces")
    ap.add_argument("--runs", default="0,1,2,3", help="run indices within the job (comma list)")
    a = ap.parse_args(argv)
    t0 = time.time()
    tr = xr.open_dataset(a.traces).load()
    spec = spec_from_dict(json.loads(tr.attrs["config"])["train_spec"])
    problem = make_problem(dataclasses.replace(spec, chunk_steps=500))
    idx = np.array([int(i) for i in a.runs.split(",")])
    b = RunBatch.make(tr["seed"].values[idx], tr["A"].values[idx], tr["T"].values[idx], float(tr["lr"]))
    out = thresholds.analyse(problem, b, tr["L"].values[idx])
    eta = float(tr["lr"])
    print(f"eta {eta}, runs {idx.tolist()}: A {tr['A'].values[idx].tolist()}, T {tr['T'].values[idx].tolist()}")
    for k, v in out.items():
        print(k, np.round(v, 4).tolist())
    for n in ("visible", "growing", "mode"):
        print(n, "eta*lambda_th", np.round(eta * out[f"lambda_th_{n}"], 4).tolist())
    print("job lambda_th (visible, stored in training):", np.round(tr["lambda_th"].values[idx], 6).tolist())
    print(f"{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared test settings: float64 on, one table of tolerances by dtype, fixed seeds."""
import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # tests run against the checkout, installed or not

#: numeric tolerances by dtype (neural-tangents' test_utils style)
TOL = {np.float32: 5e-3, np.float64: 1e-6}


def tol(dtype) -> float:
    return TOL[np.dtype(dtype).type]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def pytest_configure(config):
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def grid_job_files(folder, A_values, T_values, seeds=(0, 1)):
    """Small dynamical-CE training jobs, one NetCDF per (A, T), as the workflow writes them."""
    from dynloss import engine, netcdf
    from dynloss.spec import RunBatch, TrainSpec

    s = TrainSpec(loss="dce", width=8, steps=20, record_every=10, chunk_steps=20,
                        points_per_class=10, test_seeds=(1,))
    paths = []
    for A in A_values:
        for T in T_values:
            r = engine.train(s, RunBatch.make(list(seeds), A, T, 1.0))
            paths.append(netcdf.write_netcdf(netcdf.result_to_dataset(r), folder / f"A{A}_T{T}.nc"))
    return paths

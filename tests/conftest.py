"""Shared test settings: float64 on, one table of tolerances by dtype, fixed seeds, a persistent JAX
compilation cache for the session, and the tiers (markers) of tests in files other changes own."""
import os
import shutil
import sys
import tempfile
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


#: the temporary JAX compilation cache of this test session (pytest_configure), removed at its end
_JAX_CACHE: list[str] = []


def pytest_configure(config):
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    # The engine keeps its compiled programs per process by program structure (dynloss.engine.cache);
    # the persistent cache is keyed by the compiled program itself, so a test in another worker or a
    # subprocess that trains a structure an earlier test trained loads it instead of compiling it
    # again (the data are arguments, not constants, so other data seeds hit too). A temporary folder
    # per session (the workflow's jobs share one the same way, config key jax_cache); subprocesses
    # inherit it.
    # DYNLOSS_TEST_JAX_CACHE names a folder to keep instead, for the next session.
    cache = os.environ.get("DYNLOSS_TEST_JAX_CACHE")
    if not cache:
        cache = tempfile.mkdtemp(prefix="dynloss-test-jax-cache-")
        _JAX_CACHE.append(cache)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def pytest_unconfigure(config):
    for cache in _JAX_CACHE:
        shutil.rmtree(cache, ignore_errors=True)


#: Tiers (pyproject.toml's markers) of tests in files that other changes own, assigned here by node id
#: (without the parameters) so that their decorators stay theirs: the default run leaves out ``slow``
#: and ``e2e``; .ci/run runs every tier.
TIERS = {
    # a Slurm cluster runs two tiny targets beside a local run of them (about 2 min more)
    "tests/test_slurm.py::test_tiny_targets_on_slurm_equal_a_local_run": "e2e",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = TIERS.get(item.nodeid.split("[")[0])
        if tier:
            item.add_marker(getattr(pytest.mark, tier))


def grid_job_files(folder, A_values, T_values, seeds=(0, 1)):
    """Small dynamical-CE training jobs, one NetCDF per (A, T), as the workflow writes them."""
    from dynloss import engine, netcdf
    from dynloss.spec import RunBatch, TrainSpec

    s = TrainSpec(loss="dce", width=8, steps=20, record_every=10, chunk_steps=20,
                        data_params=(("points_per_class", 10), ("test_seeds", (1,))))
    paths = []
    for A in A_values:
        for T in T_values:
            r = engine.train(s, RunBatch.make(list(seeds), A, T, 1.0))
            paths.append(netcdf.write_netcdf(netcdf.result_to_dataset(r), folder / f"A{A}_T{T}.nc"))
    return paths

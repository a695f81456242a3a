"""The SLURM profile (workflow/profiles/slurm): the plugin's own checks, and a run on real Slurm.

The run needs a Slurm cluster: `bash tests/slurm/start.sh` starts a one-node one on localhost (root,
Debian packages). Without a cluster the run is skipped, unless DYNLOSS_SLURM_TEST=1, where it fails.
"""
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from test_workflow import ROOT, snakemake

PROFILE = ROOT / "workflow" / "profiles" / "slurm"
#: one training job (train_job, gpu=1), one dynamics job (gpu=1), an aggregation and two figures
TARGETS = ("fig4_1", "fig4_7")
#: the account and partition tests/slurm/start.sh adds beside the defaults (root, debug)
ACCOUNT, PARTITION = "dynloss", "gpu"
GPU_RULES = ("train_job", "dynamics")


def load_profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


class _Resources(dict):
    """A job's resources as the plugin reads them: `.get(name)` and attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Job:
    def __init__(self, resources):
        self.resources = _Resources(resources)


def test_profile_passes_the_plugins_checks_and_maps_gpu_to_gpus():
    """Each GPU rule's resources, as the profile sets them, pass the pinned plugin's slurm_extra
    check and become exactly one `--gpus=1`."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    profile = load_profile()
    assert profile["executor"] == "slurm"
    for rule in GPU_RULES:
        job = _Job({**profile["default-resources"], **profile["set-resources"][rule]})
        validate_slurm_extra(job)  # raises WorkflowError on --gpus/--gres/--account/... in slurm_extra
        assert set_gres_string(job) == " --gpus=1", rule
        assert "--gpus" not in str(job.resources.get("slurm_extra", ""))


def test_profile_documents_account_and_partition():
    """The commented account and partition lines, uncommented, are default-resources of the profile."""
    text = (PROFILE / "config.yaml").read_text()
    uncommented, n = re.subn(r"^(\s*)# (slurm_(?:account|partition): .*)$", r"\1\2", text, flags=re.M)
    assert n == 2
    defaults = yaml.safe_load(uncommented)["default-resources"]
    assert isinstance(defaults["slurm_account"], str) and isinstance(defaults["slurm_partition"], str)
    assert "slurm_account" not in load_profile()["default-resources"]  # unset unless the user sets it


def _run(cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def cluster_problem() -> str | None:
    """Why no Slurm cluster can take jobs here, or None when one can."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no Slurm client (sinfo, sbatch) on PATH"
    try:
        out = _run(["sinfo", "-h", "-N", "-o", "%t"], timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    if out.returncode != 0:
        return f"sinfo failed: {(out.stderr or out.stdout).strip()}"
    if not re.search(r"^(idle|mix|alloc)$", out.stdout, re.M):
        return f"no Slurm node is up (sinfo: {out.stdout.strip()!r})"
    if not _run(["sinfo", "-h", "-p", PARTITION, "-o", "%P"], timeout=30).stdout.strip():
        return f"the cluster has no partition {PARTITION!r}, so it is not the test cluster"
    return None


def has_accounting() -> bool:
    """Whether `sacct` answers (slurmdbd accounting on): the plugin's default status command."""
    return _run(["sacct", "-n", "-X", "-o", "JobIDRaw"], timeout=30).returncode == 0


def require_cluster():
    problem = cluster_problem()
    if problem is None:
        return
    msg = f"{problem}; start one with `bash tests/slurm/start.sh` (root)"
    if os.environ.get("DYNLOSS_SLURM_TEST") == "1":
        pytest.fail(f"DYNLOSS_SLURM_TEST=1 but {msg}")
    pytest.skip(f"no Slurm cluster reachable: {msg}, or set DYNLOSS_SLURM_TEST=1 to make this a failure")


def datasets(results: Path) -> dict[str, Path]:
    return {str(p.relative_to(results)): p for p in sorted(results.rglob("*.nc"))}


def assert_same_data(a: Path, b: Path):
    """Bitwise-equal data variables and coordinates (attributes such as `created` differ)."""
    import xarray as xr

    with xr.open_dataset(a, engine="netcdf4") as da, xr.open_dataset(b, engine="netcdf4") as db:
        assert set(da.variables) == set(db.variables), a.name
        assert dict(da.sizes) == dict(db.sizes), a.name
        for name in da.variables:
            x, y = da[name].values, db[name].values
            assert x.dtype == y.dtype and x.shape == y.shape, (a.name, name)
            same = x.tobytes() == y.tobytes() if x.dtype.kind in "biufcmM" else np.array_equal(x, y)
            assert same, f"{a.name}: variable {name!r} differs between the Slurm and the local run"


def slurm_jobs(run_id: str, accounting: bool) -> dict[str, dict]:
    """The jobs of one Snakemake run (its jobs' Slurm name), by job id: state, partition, account, gpus."""
    if accounting:
        fields = ["JobIDRaw", "State", "Partition", "Account", "AllocTRES"]
        out = _run(["sacct", "-X", "-P", "-n", "--name", run_id, "--starttime", "now-1days", "-o", ",".join(fields)])
        assert out.returncode == 0, out.stderr
        rows = [dict(zip(fields, line.split("|"))) for line in out.stdout.splitlines() if line.strip()]
        return {r["JobIDRaw"]: {"state": r["State"], "partition": r["Partition"], "account": r["Account"],
                                "gpus": re.findall(r"gres/gpu=(\d+)", r["AllocTRES"])} for r in rows}
    # no slurmdbd: slurmctld still knows finished jobs for MinJobAge seconds
    ids = _run(["squeue", "--states=all", "--noheader", "--name", run_id, "-o", "%i"]).stdout.split()
    jobs = {}
    for i in ids:
        rec = dict(kv.split("=", 1) for kv in _run(["scontrol", "-o", "show", "job", i]).stdout.split() if "=" in kv)
        jobs[i] = {"state": rec["JobState"], "partition": rec["Partition"], "account": rec["Account"],
                   "gpus": re.findall(r"gres:gpu:(\d+)", rec.get("TresPerJob", ""))}
    return jobs


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_targets_on_slurm_equal_a_local_run(tmp_path):
    require_cluster()
    accounting = has_accounting()
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    # the local run of the same targets goes on beside the Slurm run (wall time; separate caches)
    with ThreadPoolExecutor(1) as pool:
        local_run = pool.submit(snakemake, *TARGETS, "--cores", "2", "--config", "scale=tiny",
                                f"results={local}", f"jax_cache={tmp_path / 'cache_local'}", timeout=600)
        # the profile's documented keys, on the command line (which replaces the profile's list)
        resources = [f"{k}={v}" for k, v in load_profile()["default-resources"].items()]
        resources.append(f"slurm_partition={PARTITION}")
        if accounting:
            resources.append(f"slurm_account={ACCOUNT}")
            extra = []
        else:
            # without slurmdbd `sacct` fails and the plugin loses its jobs; squeue keeps them
            # (MinJobAge >= 120 s); an account cannot be set (the plugin checks it with sacctmgr)
            extra = ["--slurm-status-command", "squeue"]
        out = snakemake(
            *TARGETS,
            "--workflow-profile", str(PROFILE),
            # no conda here: Snakemake 9 has no "none" deployment method, and env-modules touches only
            # rules with an `envmodules:` directive (none), so every job runs in this environment
            "--software-deployment-method", "env-modules",
            "--default-resources", *resources, *extra,
            "--slurm-logdir", str(tmp_path / "slurm_logs"), "--slurm-keep-successful-logs",
            "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
            "--config", "scale=tiny", f"results={cluster}", f"jax_cache={tmp_path / 'cache_slurm'}",
            timeout=900,
        )
        local_run.result()
    log = out.stdout + out.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == 2, log[-3000:]  # the training and the dynamics job; the rest are localrules

    mine, theirs = datasets(cluster), datasets(local)
    assert mine.keys() == theirs.keys()
    names = {Path(k).name for k in mine}
    assert {"fig4_1.nc", "fig4_7.nc"} <= names and any("/runs/" in f"/{k}" for k in mine), names
    for key in mine:
        assert_same_data(mine[key], theirs[key])
    pngs = {p.name for p in cluster.rglob("*.png")}
    assert {"fig4_1.png", "fig4_7.png"} <= pngs

    jobs = slurm_jobs(run_id, accounting)
    assert sorted(jobs) == sorted(submitted), jobs
    for job in jobs.values():
        assert job["state"] == "COMPLETED", job
        assert job["gpus"] == ["1"], job  # the `gpu` resource became --gpus=1
        assert job["partition"] == PARTITION, job
        if accounting:
            assert job["account"] == ACCOUNT, job

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
GPU_PROFILE = ROOT / "workflow" / "profiles" / "slurm-gpu"
#: one training job, one dynamics job (each with gpu=1 on a GPU accelerator), an aggregation and two figures
TARGETS = ("fig4_1", "fig4_7")
#: the account and partition tests/slurm/start.sh adds beside the defaults (root, debug)
ACCOUNT, PARTITION = "dynloss", "gpu"
#: the rules that run JAX on the accelerator (workflow/rules/common.smk, GPU)
GPU_RULES = ("train_job", "dynamics", "onsets", "confirm")


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
    def __init__(self, resources, threads=1, name="job"):
        self.resources = _Resources(resources)
        self.threads = threads
        self.name = name


def planned_jobs(*args) -> list[_Job]:
    """The jobs a dry run of TARGETS (scale tiny) plans, with their resources as the plugin reads them."""
    out = snakemake("-n", *TARGETS, *args, "--software-deployment-method", "env-modules", timeout=600)
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout):
        head = re.match(r"(local)?rule (\w+):", block)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if not head or not res or head.group(1):
            continue
        resources = {}
        for item in res.group(1).split(", "):
            key, _, value = item.partition("=")
            resources[key] = int(value) if value.isdigit() else value
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        jobs.append(_Job(resources, int(threads.group(1)) if threads else 1, head.group(2)))
    assert jobs, out.stdout[-3000:]
    return jobs + [out.stdout + out.stderr]


def sbatch_arguments(job: _Job) -> str:
    """The sbatch call the pinned plugin would make for ``job`` (its own functions; the account left out)."""
    import logging
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm import Executor
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    validate_slurm_extra(job)  # raises WorkflowError on --gpus/--gres/--account/... in slurm_extra
    stub = SimpleNamespace(_partitions=None, _fallback_partition=None, logger=logging.getLogger("test"))
    partition = Executor.get_partition_arg(stub, job) if job.resources.get("slurm_partition") else ""
    params = {"run_uuid": "RUN", "slurm_logfile": "LOG", "comment_str": f"rule_{job.name}", "account": "",
              "partition": partition, "workdir": str(ROOT)}
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.mark.parametrize("accelerator", ["cpu", "cuda12"])
def test_the_profile_asks_for_a_gpu_on_a_gpu_accelerator_only(accelerator, tmp_path):
    """workflow/profiles/slurm: the JAX rules' jobs ask sbatch for one GPU on cuda12 and none on a CPU."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    *jobs, log = planned_jobs("--workflow-profile", str(PROFILE), "--config", "scale=tiny",
                              f"accelerator={accelerator}", f"results={tmp_path}")
    assert f"dynloss: accelerator {accelerator}," in log
    assert {j.name for j in jobs if j.name in GPU_RULES} == {"train_job", "dynamics"}
    for job in jobs:
        call = sbatch_arguments(job)
        assert (" --gpus=1" in call) == (accelerator == "cuda12" and job.name in GPU_RULES), (job.name, call)
        assert "--gres" not in call and "--gpus" not in str(job.resources.get("slurm_extra", ""))


def test_the_gpu_profile_sets_the_accelerator_and_sends_the_jax_rules_to_the_gpu_partition(tmp_path):
    """workflow/profiles/slurm-gpu planned on this host (no GPU): accelerator cuda12 from the profile, not
    detected; each JAX job's sbatch call has --gpus=1, the GPU partition and its own memory and time."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    profile = yaml.safe_load((GPU_PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and set(profile["set-resources"]) == set(GPU_RULES)
    *jobs, log = planned_jobs("--workflow-profile", str(GPU_PROFILE), "--config", "scale=tiny",
                              f"results={tmp_path}")
    assert "dynloss: accelerator cuda12, granularity width" in log  # set by the profile (no GPU here)
    assert {j.name for j in jobs if j.name in GPU_RULES} == {"train_job", "dynamics"}
    for job in jobs:
        call = sbatch_arguments(job)
        if job.name not in GPU_RULES:  # aggregation and figures (localrules, which the plan lists too)
            assert "--gpus" not in call and " -p " not in call, (job.name, call)
            continue
        assert call.endswith(" --gpus=1"), call
        assert f" -p {profile['set-resources'][job.name]['slurm_partition']} " in call, call
        assert f" --mem {job.resources['mem_mb']} " in call and f" -t {job.resources['runtime']} " in call, call
        assert job.resources["mem_mb"] != profile["default-resources"]["mem_mb"]  # the job's own estimate
        assert "--ntasks" not in call and f"--cpus-per-task={profile['default-resources']['cpus_per_task']}" in call
    # the JAX cache: the profile's configured path, in every job's environment
    cache = yaml.safe_load((GPU_PROFILE / "gpu.yaml").read_text())["jax_cache"]
    assert cache and not cache.startswith("/tmp")
    from test_accelerator import load_workflow

    _, _, _, prefix = load_workflow(scale="tiny", accelerator="cuda12", jax_cache=cache)
    assert f"export JAX_COMPILATION_CACHE_DIR={ROOT / cache};" in prefix


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
        assert job["gpus"] == [], job  # accelerator cpu (auto, no GPU on this host): no GPU asked for
        assert job["partition"] == PARTITION, job
        if accounting:
            assert job["account"] == ACCOUNT, job

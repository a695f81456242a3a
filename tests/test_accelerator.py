"""accelerator: auto picks the plan of the machine (GPU visible or not), and each training job stops
with one line when JAX gives it another backend than the one asked for."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dynloss import accelerator, config, resources
from dynloss.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
#: rules that run JAX training or replays (the accelerator's env): the onsets and confirm jobs replay or train too
TRAINING_RULES = ("train_job", "dynamics", "synthetic_cifar", "onsets", "confirm")
#: the rules that run JAX on the accelerator (synthetic_cifar writes images with numpy only)
GPU_RULES = ("train_job", "dynamics", "onsets", "confirm")
#: what nvidia-smi -L prints on each simulated machine, and its exit status
MACHINES = {"gpu": ("GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)", 0),
            "cpu": ("No devices were found", 6)}


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Make this process look like a machine with or without an NVIDIA GPU (a fake nvidia-smi)."""
    def simulate(kind: str) -> None:
        text, status = MACHINES[kind]
        exe = tmp_path / "bin" / "nvidia-smi"
        exe.parent.mkdir(exist_ok=True)
        exe.write_text(f"#!/bin/sh\necho '{text}'\nexit {status}\n")
        exe.chmod(0o755)
        monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return simulate


def load_workflow(**cfg):
    """The Snakefile loaded in this process (as a dry run would): its config, plan, rules and prefix."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
    from snakemake.shell import shell

    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(config=cfg),
                          snakefile=ROOT / "Snakefile", workdir=ROOT)
        w = wf._workflow
        return w.config, w.globals["PLAN"], {r.name: r for r in w.rules}, shell._process_prefix


@pytest.mark.parametrize("kind, expected, granularity", [("gpu", "cuda12", "width"), ("cpu", "cpu", "point")])
def test_auto_plans_for_the_machine(machine, kind, expected, granularity):
    machine(kind)
    cfg, plan, rules, prefix = load_workflow(scale="quick")
    assert cfg["accelerator"] == expected and plan.granularity == granularity
    envs = {name: Path(r.conda_env).name for name, r in rules.items() if r.conda_env}
    for name, env in envs.items():
        want = (f"{expected}.yaml" if name in TRAINING_RULES
                else "reference.yaml" if name == "infinite_width" else "cpu.yaml")
        assert env == want, (name, env)
    assert set(TRAINING_RULES) - {"confirm"} <= set(envs)  # confirm jobs exist at paper scale only
    assert f"export {accelerator.ENV}={expected};" in prefix
    assert ("export JAX_PLATFORMS=cpu" in prefix) == (expected == "cpu")


@pytest.mark.parametrize("name", ["cuda12", "cpu"])
def test_the_gpu_resource_is_declared_on_the_jax_rules_on_a_gpu_only(name):
    cfg, _, rules, prefix = load_workflow(scale="quick", accelerator=name)
    asked = {n for n, r in rules.items() if "gpu" in r.resources}
    assert asked == (set(GPU_RULES) if name == "cuda12" else set())
    assert all(rules[n].resources["gpu"] == 1 for n in asked)
    assert (f"export {accelerator.SLOTS_ENV}=" in prefix) == (name == "cuda12")


@pytest.fixture
def two_gpus(tmp_path, monkeypatch):
    """A fake nvidia-smi listing two GPUs, and no CUDA_VISIBLE_DEVICES."""
    exe = tmp_path / "bin" / "nvidia-smi"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-1)'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))
    return tmp_path / "slots"


#: a job: takes its GPU (as check_backend does first), prints it, and runs on for a while
JOB = ("import sys, time; from dynloss import accelerator; print(accelerator.assign_gpu(), flush=True); "
       "time.sleep(float(sys.argv[1]))")


def test_two_jobs_on_two_gpus_get_a_card_each(two_gpus, monkeypatch):
    monkeypatch.setenv(accelerator.SLOTS_ENV, str(two_gpus))
    assert accelerator.gpu_count() == 2
    jobs = [subprocess.Popen([sys.executable, "-c", JOB, "3"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    cards = [j.stdout.readline().strip() for j in jobs]
    assert sorted(cards) == ["0", "1"], cards
    # a third job while both run shares one and says so
    third = subprocess.run([sys.executable, "-c", JOB, "0"], capture_output=True, text=True, timeout=60)
    assert third.stdout.strip() in ("0", "1") and "all 2 GPUs are taken by other jobs" in third.stderr
    for j in jobs:
        j.wait(timeout=60)
    # their cards are free again once they end
    after = subprocess.run([sys.executable, "-c", JOB, "0"], capture_output=True, text=True, timeout=60)
    assert after.stdout.strip() == "0" and not after.stderr


def test_a_card_given_by_slurm_or_by_hand_is_kept(two_gpus, monkeypatch):
    monkeypatch.setenv(accelerator.SLOTS_ENV, str(two_gpus))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    out = subprocess.run([sys.executable, "-c", JOB + "; import os; print(os.environ['CUDA_VISIBLE_DEVICES'])", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["None", "1"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv(accelerator.SLOTS_ENV)  # outside the workflow: nothing chosen
    assert subprocess.run([sys.executable, "-c", JOB, "0"], capture_output=True, text=True,
                          timeout=60).stdout.strip() == "None"


def test_a_named_accelerator_is_not_redetected(machine):
    machine("gpu")
    raw = config.load_yaml()
    assert config.prepare(dict(raw, accelerator="cpu"))["accelerator"] == "cpu"
    assert Plan(config.prepare(dict(raw, accelerator="cpu"))).granularity == "point"


def test_hidden_gpus_are_not_visible(machine, monkeypatch):
    machine("gpu")
    assert accelerator.resolve("auto") == "cuda12"
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert accelerator.resolve("auto") == "cpu"


def test_cuda12_on_a_cpu_backend_stops_the_job_in_one_line(tmp_path):
    """The backend check of a training job, with JAX held on its CPU backend (as a CPU-only jaxlib is)."""
    out = tmp_path / "x.nc"
    env = dict(os.environ, **{accelerator.ENV: "cuda12", "JAX_PLATFORMS": "cpu",
                              "PYTHONPATH": str(ROOT / "src")})
    proc = subprocess.run([sys.executable, "-m", "dynloss", "train", "--loss", "dce", "--width", "4", "--lr", "1",
                           "--A", "1", "--T", "10", "--steps", "10", "--seeds", "0-0", "--record-every", "5",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "accelerator cuda12 was asked for" in lines[0] and "runs on cpu" in lines[0]
    assert "`bash envs/install.sh --cuda12`" in lines[0]
    assert not out.exists()


def test_the_check_passes_on_the_requested_backend(monkeypatch):
    import jax

    found = accelerator.check_backend("cpu" if jax.default_backend() == "cpu" else "cuda12")
    assert found == jax.default_backend()
    with pytest.raises(accelerator.BackendError, match="'tpu' is not one of cpu, cuda12"):
        accelerator.check_backend("tpu")


def test_training_jobs_ask_for_their_own_memory_and_time():
    cfg = config.load_config(accelerator="cpu")
    jobs = {(j.study, j.stem): j.request for j in Plan(cfg, "width").jobs() if j.study in ("fig3_4", "fig4_1")}
    mem = {k: resources.mem_mb(r, "cpu", 8.0) for k, r in jobs.items()}
    minutes = {k: resources.runtime_min(r, "cpu") for k, r in jobs.items()}
    assert len(set(mem.values())) > 1 and len(set(minutes.values())) > 1
    assert all(resources.BASE_MB["cpu"] < m <= resources.BASE_MB["cpu"] + 8000 for m in mem.values())
    wide = next(r for r in jobs.values() if r.spec.loss == "dce" and r.spec.width == 1000)
    narrow = next(r for r in jobs.values() if r.spec.loss == "dce" and r.spec.width == 100)
    assert resources.runtime_min(wide, "cpu") > 5 * resources.runtime_min(narrow, "cpu")
    assert resources.runtime_min(wide, "cuda12") < resources.runtime_min(wide, "cpu")
    assert resources.runtime_min(wide, "cpu", attempt=2) > resources.runtime_min(wide, "cpu")


def test_a_dry_run_shows_each_training_jobs_own_resources(tmp_path):
    """Figure 3.4 at paper scale: its width-100 and width-1000 jobs ask for different memory and time."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "fig3_4", "--config", "accelerator=cpu",
                          "granularity=width",
                          f"results={tmp_path}/r"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert out.returncode == 0, out.stderr[-2000:]
    jobs = re.findall(r"rule train_job:\s+output: ([^\n]*).*?resources: ([^\n]*)", out.stdout, re.S)
    lines = [res for output, res in jobs if "_grid_" in output]  # the two grid jobs (A = 1 has a point job per width)
    asked = [(re.search(r"mem_mb=(\d+)", x).group(1), re.search(r"runtime=(\d+)", x).group(1)) for x in lines]
    assert len(asked) == 2 and asked[0][0] != asked[1][0] and asked[0][1] != asked[1][1], asked


def test_every_planned_job_has_resources():
    """Every kind of job (contour, curves, thresholds, dynamics, sensitivity, Myrtle5 at tiny scale) on both
    accelerators: memory above the process's base and within the budget, at least ten minutes."""
    kinds = set()
    for scale in ("paper", "tiny"):
        for job in Plan(config.load_config(scale=scale, accelerator="cpu")).jobs():
            kinds.add(type(job.request).__name__)
            for acc in accelerator.ACCELERATORS:
                assert resources.BASE_MB[acc] < resources.mem_mb(job.request, acc, 8.0) <= resources.BASE_MB[acc] + 8000
                assert resources.runtime_min(job.request, acc) >= 10
    assert kinds == {"TrainJob", "ThresholdsJob", "MyrtleJob"}

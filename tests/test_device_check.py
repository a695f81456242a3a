"""benchmarks/device_check.py without a GPU: the dry run writes a complete report within its deadline, the
paper-job subsets are sized from the project's rates, a step never outlives its limit or the deadline, and
the float32 job starts from the float64 job's initial weights."""
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import device_check  # noqa: E402

GPU_STEPS = ("backend", "paper_w100_float64", "paper_w100_float32", "paper_w1000_float64", "paper_w1000_float32",
             "workflow")


def test_the_dry_run_writes_a_complete_report_within_its_deadline(tmp_path):
    out = tmp_path / "device_check.md"
    t0 = time.perf_counter()
    assert device_check.main(["--dry", "--out", str(out)]) == 0
    assert time.perf_counter() - t0 < device_check.DEADLINE_S
    text = out.read_text()
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC, commit \w+", text) and "`--dry` (GPU steps skipped)" in text
    assert re.search(rf"; \d+ s so far of a {device_check.DEADLINE_S:.0f} s deadline \(8 of 8 steps done\)", text)
    for name in GPU_STEPS:
        assert re.search(rf"^\| {name} \| skipped: --dry \|", text, re.M), name
        assert re.search(rf"^- {name}: `python ", text, re.M), name
    assert re.search(r"^\| plan \| ok \| .*\| dynloss: accelerator cpu, granularity point \|$", text, re.M)
    for width in device_check.WIDTHS:
        assert re.search(rf"^\| paper_w{width}_float64 \| .* sized: \d+ of the job's 4500 runs x \d+00 of its 35000 "
                         r"steps", text, re.M), width
    # the projection from the project's estimates: one row per planned study, and their total
    rows = re.findall(r"^\| (\w+) \| (\d+) \| ([\d.]+) \| project estimate \|$", text, re.M)
    assert {"fig3_4", "fig3_6", "fig4_4"} <= {r[0] for r in rows}
    total = float(re.search(r"^\| all \| \d+ \| ([\d.]+) \| \|$", text, re.M).group(1))
    assert total == pytest.approx(sum(float(r[2]) for r in rows), abs=0.1)
    # the workflow step trains and aggregates only (no figure: the GPU machine has no matplotlib)
    workflow = re.search(r"^- workflow: `(.*)`$", text, re.M).group(1)
    assert "--resources gpu=1" in workflow and "accelerator=auto" in workflow and "figures" not in workflow


def test_a_deadline_too_short_skips_the_steps_and_still_writes_the_report(tmp_path):
    out = tmp_path / "device_check.md"
    t0 = time.perf_counter()
    device_check.main(["--dry", "--deadline-s", "3", "--out", str(out)])
    assert time.perf_counter() - t0 < 60
    assert re.search(r"^\| plan \| skipped: \d+ s left before the deadline, it needs 15 s \|", out.read_text(), re.M)


def test_a_step_is_stopped_at_its_limit_or_the_time_left(tmp_path):
    slow = device_check.Step("slow", ["bash", "-c", "echo started; sleep 30 & wait"], limit_s=60, gpu=False, min_s=1)
    t0 = time.perf_counter()
    device_check.run(slow, gpu=False, dry=False, left_s=2, env={"PATH": "/usr/bin:/bin"})
    assert time.perf_counter() - t0 < 10
    assert slow.status == "timed out after 2 s" and "started" in slow.output
    failing = device_check.Step("failing", ["bash", "-c", "echo oops >&2; exit 3"], limit_s=10, gpu=False, min_s=1)
    device_check.run(failing, gpu=False, dry=False, left_s=100, env={"PATH": "/usr/bin:/bin"})
    assert failing.status == "failed (exit 3)" and "oops" in failing.output
    gpu = device_check.Step("gpu", ["true"], limit_s=10)
    device_check.run(gpu, gpu=False, dry=False, left_s=100, env={})
    assert gpu.status.startswith("skipped: no GPU visible")


@pytest.mark.parametrize("width", device_check.WIDTHS)
def test_the_subset_is_sized_from_the_estimated_rate(width):
    from dynloss import budget

    job = device_check.paper_job(width)
    rate = device_check.estimated_rate(width)
    assert rate == pytest.approx(270_000 * 100 / width)  # dynloss.resources: 45 x 6000 at width 100
    fits = budget.runs_that_fit(job.spec, job.runs(), 8.0, "vmap")
    runs, steps = device_check.size(job, 15.0, rate, 8.0)
    assert runs == fits < job.runs()  # the batch one program of the job trains on a GPU
    assert steps % job.spec.record_every == 0 and device_check.MIN_STEPS <= steps < job.spec.steps
    assert 15.0 - job.spec.record_every * runs / rate < runs * steps / rate <= 15.0
    # too little time for the fewest steps: fewer runs
    runs, steps = device_check.size(job, 0.1, rate, 8.0)
    assert steps == device_check.MIN_STEPS and runs == max(1, int(0.1 * rate / steps)) < fits
    # a long time: at most the job's steps
    assert device_check.size(job, 1e9, rate, 8.0)[1] == job.spec.steps
    spec, batch = device_check.subset(job, 10, 300)
    assert len(batch) == 10 and spec.steps == 300 and spec.dtype == job.spec.dtype
    assert spec.chunk_steps == job.spec.record_every  # chunks short enough to give a rate before the end
    assert batch.A.min() == min(job.A) and batch.A.max() == max(job.A)  # spread over the job's runs


def test_a_step_stopped_at_its_limit_keeps_the_rate_of_its_finished_chunks(tmp_path):
    c = device_check.Check(tmp_path / "r.md", tmp_path, dry=False, gpu=True, commit="x")
    record = {"width": 100, "dtype": "float64", "runs": 10, "steps": 1000, "job_runs": 4500, "job_steps": 35000,
              "estimated_rate": 270000.0}
    (tmp_path / "w100_float64.json").write_text(json.dumps(record))
    sized = device_check.Step("paper_w100_float64", ["x"], 10)
    device_check.after(c, sized)
    assert sized.notes == ["10 runs x 1000 steps sized; no rate (no chunk finished)"] and "rate" not in c.rates[0]
    (tmp_path / "w100_float64.json").write_text(json.dumps({**record, "steps_done": 400, "partial_rate": 5000.0}))
    partial = device_check.Step("paper_w100_float64", ["x"], 10)
    device_check.after(c, partial)
    assert partial.notes == ["10 runs x 1000 steps: 5,000 run-steps/s (over the first 400 of 1000 steps)"]
    device_check.project(c)  # the projection takes the partial rate
    assert c.projection_basis.startswith("float64 rates measured at width 100")
    assert "| 100 | float64 | 10 (4500) | 1000 (35000) | 5,000 | 270,000 |" in device_check.report(c)


@pytest.fixture
def x64():
    """Restore JAX's float64 mode after a test that switches it."""
    import jax

    before = bool(jax.config.jax_enable_x64)
    yield
    jax.config.update("jax_enable_x64", before)


def test_float32_starts_from_the_float64_initial_weights(x64):
    import jax
    import jax.numpy as jnp

    from dynloss import engine
    from dynloss.spec import RunBatch, TrainSpec

    spec64 = TrainSpec(loss="dce", width=8, steps=40, record_every=20, chunk_steps=40, dtype="float64",
                       data_params=(("points_per_class", 10),))
    spec32 = replace(spec64, dtype="float32")
    batch = RunBatch.make([0, 3, 5], 2.0, 20.0, 1.0)
    seeds = jnp.asarray(batch.seeds)
    leaves = device_check.float64_weights(spec64, batch.seeds)
    own64 = jax.tree_util.tree_leaves(jax.vmap(engine.make_problem(spec64).init_params)(seeds))
    for mine, theirs in zip(leaves, own64):
        np.testing.assert_array_equal(mine[batch.seeds], np.asarray(theirs))  # the engine's float64 draw
    p32 = device_check.same_init_problem(spec32, leaves)
    assert not jax.config.jax_enable_x64  # a float32 job runs without float64 mode
    cast = jax.tree_util.tree_leaves(jax.vmap(p32.init_params)(seeds))
    for c, w in zip(cast, leaves):
        assert c.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(c), w[batch.seeds].astype(np.float32))
    # the engine alone draws a float32 job's weights in float32: other weights from the same keys
    own32 = jax.tree_util.tree_leaves(jax.vmap(engine.make_problem(spec32).init_params)(seeds))
    assert not np.array_equal(np.asarray(own32[0]), np.asarray(cast[0]))
    r32 = engine.train(spec32, batch, problem=p32)
    r64 = engine.train(spec64, batch)
    diff = device_check.compare_dtypes(
        {"final_train_acc": r64.final_train_acc, "final_test_acc": r64.test_acc},
        {"final_train_acc": r32.final_train_acc, "final_test_acc": r32.test_acc})
    assert diff["final_train_acc max |f64 - f32|"] <= 0.05  # 40 steps from the same weights: the same runs


def test_the_dtype_comparison_reads_the_final_accuracies():
    diff = device_check.compare_dtypes({"final_train_acc": [1.0, 0.5, 0.9], "final_test_acc": [0.9, 0.4, 0.8]},
                                       {"final_train_acc": [1.0, 0.6, 0.9], "final_test_acc": [0.9, 0.4, np.nan]})
    assert np.isclose(diff["final_train_acc max |f64 - f32|"], 0.1)
    assert np.isclose(diff["final_train_acc mean |f64 - f32|"], 0.1 / 3)
    assert diff["final_train_acc runs differing by > 0.05"] == 1
    assert diff["final_test_acc max |f64 - f32|"] == 0 and diff["final_test_acc runs differing by > 0.05"] == 0
    with pytest.raises(ValueError, match="3 float64 runs against 2 float32 runs"):
        device_check.compare_dtypes({"final_train_acc": [1, 1, 1]}, {"final_train_acc": [1, 1]})


def test_the_projection_scales_the_estimate_by_the_measured_rates():
    est = {w: device_check.estimated_rate(w) for w in device_check.WIDTHS}
    base = {r["study"]: r for r in device_check.projection({}, 60.0)}
    same = {r["study"]: r for r in device_check.projection(dict(est), 60.0)}
    twice = {r["study"]: r for r in device_check.projection({w: 2 * r for w, r in est.items()}, 60.0)}
    assert base.keys() == same.keys() == twice.keys() and "fig3_4" in base
    for study, row in base.items():
        assert row["basis"] == "project estimate" and same[study]["basis"] == "measured rates"
        assert same[study]["hours"] == pytest.approx(row["hours"])
        train = row["hours"] * 3600 - 60.0 * row["jobs"]
        assert twice[study]["hours"] * 3600 - 60.0 * row["jobs"] == pytest.approx(train / 2)
    factor = device_check.rate_factor({100: est[100] / 2, 1000: est[1000] / 8})
    assert factor(50) == pytest.approx(2) and factor(100) == pytest.approx(2) and factor(2000) == pytest.approx(8)
    assert factor(round(10 ** 2.5)) == pytest.approx(4, rel=1e-3)  # log-linear between the measured widths


def test_the_carried_wheels_are_the_closure_of_what_the_machine_lacks():
    lock = "\n".join(["a==1 \\", "    --hash=sha256:0", "    # via -r pins.txt",
                      "b==2 \\", "    --hash=sha256:0", "    # via", "    #   a", "    #   c",
                      "c==3 \\", "    --hash=sha256:0", "    # via a",
                      "d==4 \\", "    --hash=sha256:0", "    # via b",
                      "e==5 \\", "    --hash=sha256:0", "    # via x"])
    assert device_check.closure(lock, ["a"], set()) == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert device_check.closure(lock, ["a"], {"b"}) == {"a": "1", "c": "3"}
    real = device_check.closure((ROOT / "envs" / "lock-cpu.txt").read_text(), device_check.CARRIED,
                                set(device_check.PROVIDED) | set(device_check.LEFT_OUT))
    assert {"snakemake", "netcdf4", "cftime", "jsonschema", "pyyaml", "connection-pool"} <= set(real)
    assert not set(real) & {"jax", "jaxlib", "numpy", "scipy", "xarray", "pulp", "matplotlib", "tensorflow-cpu"}


GUIDE, README = ROOT / "docs" / "guide.md", ROOT / "README.md"


def guide_counts() -> dict[str, tuple[int, int]]:
    """Granularity -> (training jobs, all jobs) of the guide's granularity table."""
    rows = re.findall(r"^\| `(point|width|study)` \| .* \| (\d+) / (\d+) \|$", GUIDE.read_text(), re.M)
    return {g: (int(t), int(n)) for g, t, n in rows}


def test_the_guides_training_job_counts_and_estimates_are_the_plans():
    summary = device_check.plan_summary()
    text = GUIDE.read_text()
    counts = {g: t for g, (t, _) in guide_counts().items()}
    assert counts == summary["training_jobs"] and set(counts) == {"point", "width", "study"}
    assert ("training jobs of the default target per granularity: "
            + ", ".join(f"{g} {n}" for g, n in counts.items()) + "`") in text
    row = re.search(r"^\| `paper`, estimated from the plan .*\| ([\d.]+) h \| ([\d.]+) h \|$", text, re.M)
    cpu, gpu = f"{summary['hours']['cpu']:.1f}", f"{summary['hours']['cuda12']:.1f}"
    assert row and row.groups() == (cpu, gpu)
    # the README's paper-scale row states both
    assert re.search(rf"^\| every figure, paper scale: .*the plan's upper bound {gpu} h / {cpu} h .*\|$",
                     README.read_text(), re.M)


@pytest.mark.slow
def test_the_guides_job_totals_are_the_dry_runs():
    for granularity, (_, total) in guide_counts().items():
        assert device_check.all_jobs(granularity) == total, granularity


def tiny_wheel(folder: Path) -> Path:
    """A wheel of one module, ``carried_marker``."""
    import zipfile

    path = folder / "carried_marker-1.0-py3-none-any.whl"
    info = "carried_marker-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("carried_marker.py", "X = 1\n")
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: carried-marker\nVersion: 1.0\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("pip", [True, False])
def test_the_install_step_adds_the_carried_wheels_to_the_machines_packages(tmp_path, pip):
    """The venv sees the running Python's packages (here this venv's yaml, through the .pth) and the
    carried wheels, installed by pip or, without pip, unpacked."""
    import os
    import site
    import subprocess

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tiny_wheel(wheels)
    venv = tmp_path / "venv"
    script = device_check.install_script(wheels, venv, os.path.realpath(sys.executable),
                                         [d for d in site.getsitepackages() if os.path.isdir(d)])
    if not pip:  # as on a Python whose venvs come without pip
        script = script.replace(" -m pip --version", " -m no_such_module --version")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert ("no pip: unpacking the wheels" in out.stdout) != pip
    assert re.search(r"^snakemake \d", out.stdout, re.M) and re.search(r"^PyYAML \d", out.stdout, re.M)
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import carried_marker, yaml; print(carried_marker.X)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "1", probe.stderr

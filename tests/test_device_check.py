"""benchmarks/device_check.py on a machine without a GPU: the GPU steps are skipped and recorded with
their commands, the plan step runs, and the float64/float32 comparison reads two job files."""
import re
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import device_check  # noqa: E402

GPU_STEPS = ("backend", "workflow", "fig3_4_w1000_float64", "fig3_4_w1000_float32", "benchmarks")


def test_without_a_gpu_the_check_plans_and_records_what_it_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible, also on a GPU machine
    out = tmp_path / "device_check.md"
    assert device_check.main(["--out", str(out), "--seeds", "3"]) == 0
    text = out.read_text()
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC, commit \w+", text) and "no GPU visible" in text
    for name in GPU_STEPS:
        assert re.search(rf"^\| {name} \| skipped: no GPU visible", text, re.M), name
    assert re.search(r"^\| plan \| ok \| .*\| dynloss: accelerator cpu, granularity point \|$", text, re.M)
    job = re.search(r"^- fig3_4_w1000_float32: `(.*)`$", text, re.M).group(1)
    # figure 3.4's whole-width job at width 1000: every (A, T) point at the paper's steps (A = 1, the same
    # run at every T, is a point job of its own)
    for arg in ("--width 1000", "--A 2,5,10,15,20,30,40,50,70", "--T 50,100,200,300,500,700,1000,2000,3500,5000",
                "--steps 35000", "--seeds 0-2", "--dtype float32"):
        assert arg in job, arg


def test_the_dtype_comparison_reads_the_final_accuracies(tmp_path):
    def write(name, train, test):
        ds = xr.Dataset({"final_train_acc": ("run", np.array(train)), "final_test_acc": ("run", np.array(test))})
        ds.to_netcdf(tmp_path / name, engine="netcdf4")
        return tmp_path / name

    diff = device_check.compare_dtypes(write("a.nc", [1.0, 0.5, 0.9], [0.9, 0.4, 0.8]),
                                       write("b.nc", [1.0, 0.6, 0.9], [0.9, 0.4, np.nan]))
    assert np.isclose(diff["final_train_acc max |f64 - f32|"], 0.1)
    assert np.isclose(diff["final_train_acc mean |f64 - f32|"], 0.1 / 3)
    assert diff["final_train_acc runs differing by > 0.05"] == 1
    assert diff["final_test_acc max |f64 - f32|"] == 0 and diff["final_test_acc runs differing by > 0.05"] == 0

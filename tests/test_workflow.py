"""The workflow itself: lint, dry runs at every scale, a tiny end-to-end run."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd=ROOT, timeout=600, check=True):
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    out = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def job_counts(text: str) -> dict[str, int]:
    """Parse the 'job  count' table of a dry run."""
    counts = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z_0-9]+)\s+(\d+)\s*", line)
        if m and m.group(1) not in ("total",):
            counts[m.group(1)] = int(m.group(2))
        if m and m.group(1) == "total":
            counts["total"] = int(m.group(2))
    return counts


def test_lint_is_clean():
    out = snakemake("--lint")
    assert "Congratulations" in out.stdout + out.stderr


@pytest.mark.parametrize("scale", ["quick", "tiny"])
def test_dry_run_builds_the_dag(scale, tmp_path):
    out = snakemake("-n", "--config", f"scale={scale}", f"results={tmp_path}/r")
    counts = job_counts(out.stdout)
    assert counts["train_point"] == {"quick": 45 - 7, "tiny": 19 - 6}[scale]
    assert counts["all"] == 1


def test_paper_scale_dag_builds_quickly(tmp_path):
    t0 = time.perf_counter()
    out = snakemake("-n", "--config", f"results={tmp_path}/r")
    elapsed = time.perf_counter() - t0
    counts = job_counts(out.stdout)
    assert counts["train_point"] == 200 + 2 + 144 + 144
    assert elapsed < 30, f"paper-scale DAG took {elapsed:.1f} s"


def test_bad_config_is_a_clear_error(tmp_path):
    out = snakemake("-n", "--config", "scale=huge", check=False)
    assert out.returncode != 0
    assert "config key 'scale': 'huge' is not one of paper, quick, tiny" in out.stdout + out.stderr

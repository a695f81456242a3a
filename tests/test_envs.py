"""The pins live in envs/pins.txt; the conda files must not drift from them."""
import re
from pathlib import Path

import pytest
import yaml

ENVS = Path(__file__).resolve().parents[1] / "envs"


def pins() -> dict[str, str]:
    out = {}
    for line in (ENVS / "pins.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[name.lower()] = version
    return out


def conda_pip_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    out = {}
    for req in pip:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)", req)
        assert m, f"{path.name}: {req!r} is not pinned with =="
        out[m.group(1).lower()] = m.group(3)
    return out


@pytest.mark.parametrize("env", ["cpu.yaml", "cuda12.yaml"])
def test_conda_envs_match_pins(env):
    p = pins()
    for name, version in conda_pip_pins(ENVS / env).items():
        assert name in p, f"{env} pins {name}, which envs/pins.txt does not list"
        assert p[name] == version, f"{env}: {name}=={version} but envs/pins.txt says {p[name]}"


def test_the_stack_is_pinned_as_documented():
    p = pins()
    assert p["jax"] == "0.5.3" and p["jaxlib"] == "0.5.3"
    assert p["neural-tangents"] == "0.6.5" and p["tf2jax"] == "0.3.6"
    assert "tensorflow-cpu" in p and "tensorflow" not in p
    assert p["snakemake"].startswith("9.")


def test_cuda_env_uses_cuda12_jax():
    env = yaml.safe_load((ENVS / "cuda12.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "jax[cuda12]==0.5.3" in pip


#: pins that are tools, plugins or the dependencies of a no-deps install, not imported by our code
NOT_IMPORTED = {"jaxlib", "netcdf4", "snakemake-executor-plugin-slurm", "pytest", "tensorflow-cpu", "frozendict",
                "dm-tree", "absl-py", "tf2jax", "snakemake"}
IMPORT_NAME = {"pyyaml": "yaml", "neural-tangents": "neural_tangents"}


def test_every_pinned_library_is_used():
    """Issue 13 item 7: a pin is there because the code imports it (pandas was pinned, never used)."""
    root = ENVS.parent
    code = "\n".join(p.read_text() for d in ("src", "tests", "benchmarks") for p in (root / d).rglob("*.py"))
    for name in set(pins()) - NOT_IMPORTED:
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        used = rf"^\s*(import|from)\s+{module}\b|importorskip\(\"{module}\"\)"
        assert re.search(used, code, re.M), f"{name} is pinned but never imported"

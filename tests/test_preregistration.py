"""The confirmatory data came after its pre-registration: every committed confirmatory data file names the
pre-registration's commit in its provenance and was created after that commit (docs/preregistration.md)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "confirmatory" / "data"
PREREG = "docs/preregistration.md"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _first_commit() -> tuple[str, dt.datetime]:
    """The commit that added the pre-registration, and its time."""
    sha, when = _git("log", "--diff-filter=A", "--format=%H %cI", "--", PREREG).splitlines()[-1].split()
    return sha, dt.datetime.fromisoformat(when)


def _files() -> list[Path]:
    return sorted(DATA.glob("*.nc")) if DATA.is_dir() else []


def test_the_preregistration_is_committed_with_its_configuration():
    try:
        sha, _ = _first_commit()
    except (subprocess.CalledProcessError, IndexError, FileNotFoundError):
        pytest.skip("not a git checkout with its history")
    files = _git("show", "--name-only", "--format=", sha).split()
    assert PREREG in files and "docs/reproduction/confirmatory.yaml" in files


@pytest.mark.skipif(not _files(), reason="no confirmatory data committed yet (docs/confirmatory/data)")
@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_every_confirmatory_file_was_made_after_the_preregistration(path):
    from dynloss import netcdf

    try:
        sha, when = _first_commit()
    except (subprocess.CalledProcessError, IndexError, FileNotFoundError):
        pytest.skip("not a git checkout with its history")
    ds = netcdf.open_dataset(path)
    prov = json.loads(ds.attrs["provenance"])
    assert "preregistration" in prov, f"{path.name}: no pre-registration in its provenance"
    named = prov["preregistration"]["commit"]
    # the commit it names is the pre-registration's (its first commit or a later, dated amendment of it)
    assert named in _git("log", "--format=%H", "--", PREREG).split(), named
    created = dt.datetime.fromisoformat(prov["created"])
    assert created > when, f"{path.name} was created at {created}, before the pre-registration ({when})"
    assert "sources_created" in ds.attrs or "sources" not in ds.attrs, f"{path.name}: its jobs' times are not kept"
    if "sources_created" in ds.attrs:  # a combined dataset: its first job too
        first = dt.datetime.fromisoformat(json.loads(ds.attrs["sources_created"])[0])
        assert first > when, f"{path.name}: a job made at {first}, before the pre-registration ({when})"

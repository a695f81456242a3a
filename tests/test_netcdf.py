import json

import numpy as np
import pytest
import xarray as xr

from conftest import grid_job_files
from dynloss import engine, files, netcdf
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec


@pytest.fixture(scope="module")
def result():
    s = TrainSpec(loss="dmse2", width=12, steps=60, record_every=1, chunk_steps=30,
                        data_params=(("points_per_class", 15), ("test_seeds", (1, 2))))
    return engine.train(s, RunBatch.make([0, 1], 5.0, 20.0, 0.05))


def test_round_trip_keeps_values_dims_and_attrs(result, tmp_path):
    ds = netcdf.result_to_dataset(result, {"study": "unit"})
    path = netcdf.write_netcdf(ds, tmp_path / "job.nc")
    back = netcdf.open_dataset(path)
    assert dict(back.sizes) == {"seed": 2, "step": 60, "class_index": 3, "test_set": 2}
    for name in ("L", "F", "dL", "train_acc", "gamma", "test_acc_each", "diverged", "diverged_step"):
        assert back[name].dims == ds[name].dims
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    assert back["diverged"].dtype == bool
    assert str(back["loss"].values) == "dmse2" and float(back["A"]) == 5.0 and int(back["width"]) == 12
    cfg = json.loads(back.attrs["config"])
    assert cfg["study"] == "unit" and cfg["train_spec"]["loss"] == "dmse2"
    prov = json.loads(back.attrs["provenance"])
    assert prov["versions"]["jax"] and prov["git_commit"] == back.attrs["git_commit"]
    assert back.attrs["created"]
    np.testing.assert_allclose(back["dL"].values[:, 1:], np.diff(back["L"].values, axis=1), rtol=1e-12)


def test_interrupted_write_leaves_no_file(result, tmp_path, monkeypatch):
    ds = netcdf.result_to_dataset(result)
    target = tmp_path / "job.nc"

    def boom(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        netcdf.write_netcdf(ds, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_old_file(result, tmp_path, monkeypatch):
    ds = netcdf.result_to_dataset(result)
    target = netcdf.write_netcdf(ds, tmp_path / "job.nc")
    before = target.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        netcdf.write_netcdf(ds, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["job.nc"]


def test_varied_batch_has_run_dimension(tmp_path):
    s = TrainSpec(loss="dce", width=8, steps=20, record_every=10, chunk_steps=20,
                        data_params=(("points_per_class", 10), ("test_seeds", (1,))))
    r = engine.train(s, RunBatch.make([0, 0], [2.0, 3.0], [10.0, 10.0], 1.0))
    ds = netcdf.result_to_dataset(r)
    assert ds["L"].dims == ("run", "step")
    np.testing.assert_array_equal(ds["A"].values, [2.0, 3.0])


def test_combine_makes_grid_dimensions(tmp_path):
    paths = grid_job_files(tmp_path, (1.0, 4.0), (5.0, 10.0))
    ds = netcdf.combine(paths)
    assert ds["test_acc"].dims == ("loss", "width", "lr", "A", "T", "seed")
    assert ds.sizes["A"] == 2 and ds.sizes["T"] == 2 and ds.sizes["seed"] == 2
    one = netcdf.open_dataset(paths[3])
    np.testing.assert_array_equal(ds["L"].sel(A=4.0, T=10.0).squeeze().values, one["L"].values)
    assert len(json.loads(ds.attrs["sources"])) == 4 and ds.attrs["git_commit"]


def test_check_writable(tmp_path):
    files.check_writable(tmp_path / "a" / "b.nc")
    with pytest.raises(OSError):
        files.check_writable(tmp_path)  # a folder
    with pytest.raises(OSError):
        files.check_writable("/proc/definitely/not/here.nc")


def _garble(path, values):
    """Flip one byte inside the stored bytes of ``values`` (float64, little endian)."""
    raw = bytearray(path.read_bytes())
    needle = np.asarray(values, "<f8").tobytes()
    at = raw.find(needle)
    assert at >= 0, "the values are not stored contiguously"
    raw[at + 3] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_garbled_file_fails_loudly_naming_it(tmp_path):
    """A flipped byte in a job's test accuracy is caught by the HDF5 checksum."""
    ds = xr.Dataset({"test_acc": (("seed",), np.array([0.123456789012345, 0.987654321098765]))},
                    coords={"seed": [0, 1]})
    target = netcdf.write_netcdf(ds, tmp_path / "job.nc")
    _garble(target, ds["test_acc"].values)
    with pytest.raises(netcdf.CorruptFileError) as err:
        netcdf.open_dataset(target)
    assert str(target) in str(err.value) and "delete it and rerun" in str(err.value)


def test_every_array_is_checksummed(result, tmp_path):
    import netCDF4

    path = netcdf.write_netcdf(netcdf.result_to_dataset(result), tmp_path / "job.nc")
    with netCDF4.Dataset(path) as nc:
        numeric = [v for v in nc.variables.values() if v.ndim and v.dtype != str]
        assert numeric and all(v.filters()["fletcher32"] for v in numeric)


def test_files_honour_the_umask(result, tmp_path):
    """mkstemp's 0600 would hide shared results from collaborators."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        a = netcdf.write_netcdf(netcdf.result_to_dataset(result), tmp_path / "a.nc")
        b = files.write_text("x", tmp_path / "b.txt")
        os.umask(0o077)
        c = files.write_text("x", tmp_path / "c.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(a.stat().st_mode) == 0o644 and stat.S_IMODE(b.stat().st_mode) == 0o644
    assert stat.S_IMODE(c.stat().st_mode) == 0o600


def test_stale_temporaries_of_the_target_are_cleaned(tmp_path):
    """A SIGKILLed writer's temporary goes at the next write of the same target;
    a live writer's, and other targets' temporaries, stay."""
    import os
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".x.nc.{dead.pid}.abcd1234.tmp"
    old_style = tmp_path / ".x.nc.k2j3h4g5.tmp"
    live = tmp_path / f".x.nc.{os.getppid()}.zzzz.tmp"
    other = tmp_path / f".y.nc.{dead.pid}.abcd1234.tmp"
    for p in (stale, old_style, live, other):
        p.write_bytes(b"partial")
    files.write_text("done", tmp_path / "x.nc")
    assert not stale.exists() and not old_style.exists()
    assert live.exists() and other.exists() and (tmp_path / "x.nc").read_text() == "done"


def test_gitignore_matches_the_temporaries(tmp_path):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = ["src/.x.nc.1234.abcd_123.tmp", "src/.fig.png.99.q1w2e3r4.png", "src/.c.npz.7.a.tmp"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=root, capture_output=True, text=True)
    assert sorted(out.stdout.split()) == sorted(names)


def test_every_file_says_its_conventions(result, tmp_path):
    back = netcdf.open_dataset(netcdf.write_netcdf(netcdf.result_to_dataset(result), tmp_path / "j.nc"))
    assert back.attrs["Conventions"] == "CF-1.10"


def test_cf_attributes(result, tmp_path):
    """Units, concise long names, descriptions, coordinates described, and a class
    dimension that ``sel`` can name."""
    back = netcdf.open_dataset(netcdf.write_netcdf(netcdf.result_to_dataset(result), tmp_path / "j.nc"))
    assert back["train_acc"].attrs["units"] == "1" and "units" not in back["L"].attrs
    assert back["step"].attrs["units"] == "steps" and back["T"].attrs["units"] == "steps"
    for name in list(back.data_vars) + ["step", "A", "T", "lr", "width", "seed"]:
        attrs = back[name].attrs
        assert attrs.get("long_name") and len(attrs["long_name"]) <= 40, name
    assert "after the update" in back["train_acc"].attrs["description"]
    assert back["gamma"].dims == ("seed", "step", "class_index")
    assert back["gamma"].sel(class_index=0).dims == ("seed", "step")


def test_density_of_a_seed_does_not_depend_on_its_job_mates():
    """The grid and broadening of a run's density are its own."""
    sp = SpectraSpec(density_steps=(9, 19), density_order=10)
    s = TrainSpec(loss="dce", width=8, steps=20, record_every=10, chunk_steps=20, data_params=(("points_per_class", 10),
                        ("test_seeds", (1,))), spectra=sp)
    together = netcdf.result_to_dataset(engine.train(s, RunBatch.make([0, 1], 5.0, 10.0, 1.0)))
    alone = netcdf.result_to_dataset(engine.train(s, RunBatch.make([1], 5.0, 10.0, 1.0)))
    np.testing.assert_allclose(together["grid"].sel(seed=1).values, alone["grid"].sel(seed=1).values, rtol=1e-12)
    np.testing.assert_allclose(together["density"].sel(seed=1).values, alone["density"].sel(seed=1).values,
                               rtol=1e-9, atol=1e-12)
    assert not np.allclose(together["grid"].sel(seed=0).values, together["grid"].sel(seed=1).values)


def _point_job(values, A=1.0) -> xr.Dataset:
    """A one-point job file's shape: a seed dimension and scalar loss, width, lr, A, T."""
    return xr.Dataset({"test_acc": (("seed",), np.asarray(values))},
                      coords={"seed": [0, 1], "loss": "dce", "width": 16, "lr": 1.0, "A": A, "T": 20.0})


def test_two_files_of_one_grid_point_do_not_combine(tmp_path):
    """Two files for the same point combined silently and the
    order of the files decided which values were kept."""
    a = netcdf.write_netcdf(_point_job([0.5, 0.6]), tmp_path / "a.nc")
    b = netcdf.write_netcdf(_point_job([0.7, 0.8]), tmp_path / "b.nc")
    other = netcdf.write_netcdf(_point_job([0.7, 0.8], A=5.0), tmp_path / "c.nc")
    assert netcdf.combine([a, other])["test_acc"].sizes["A"] == 2
    for first, second in ((a, b), (b, a)):
        with pytest.raises(ValueError, match=f"'{first}' and '{second}' both hold the run at loss=dce, "
                                             "width=16, lr=1.0, A=1.0, T=20.0, seed=0"):
            netcdf.combine([first, second, other])


def test_a_rewritten_scalar_coordinate_is_caught(tmp_path):
    """HDF5 checksums arrays only; one rewritten byte of the scalar A moved a run to
    another grid point without any error."""
    target = netcdf.write_netcdf(_point_job([0.5, 0.6], A=5.0), tmp_path / "job.nc")
    _garble(target, np.array([5.0]))
    with pytest.raises(netcdf.CorruptFileError, match="a scalar coordinate does not match its checksum"):
        netcdf.open_dataset(target)


def test_a_publication_s_outputs_do_not_mark_the_code_dirty(tmp_path):
    """The commit stamped on results is "-dirty" when the code differs from it, not when a publication
    has rewritten its tables, figures or the README (outputs); a changed source file does."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    code = "from dynloss import provenance; print(provenance.git_commit())"

    def commit() -> str:
        env = {"PYTHONPATH": str(clone / "src"), "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert not commit().endswith("-dirty")
    (clone / "README.md").write_text((clone / "README.md").read_text() + "\nchanged by a publication\n")
    assert not commit().endswith("-dirty")
    errors = clone / "src" / "dynloss" / "errors.py"
    errors.write_text(errors.read_text() + "\n# edit\n")
    assert commit().endswith("-dirty")

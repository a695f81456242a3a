import json

import numpy as np
import pytest
import xarray as xr

from conftest import grid_job_files
from dynloss import io, train


@pytest.fixture(scope="module")
def result():
    s = train.TrainSpec(loss="dmse2", width=12, steps=60, record_every=1, chunk_steps=30,
                        points_per_class=15, test_seeds=(1, 2))
    return train.train(s, train.RunBatch.make([0, 1], 5.0, 20.0, 0.05))


def test_round_trip_keeps_values_dims_and_attrs(result, tmp_path):
    ds = io.result_to_dataset(result, {"study": "unit"})
    path = io.write_netcdf(ds, tmp_path / "job.nc")
    back = io.open_dataset(path)
    assert dict(back.sizes) == {"seed": 2, "step": 60, "class": 3, "test_set": 2}
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
    ds = io.result_to_dataset(result)
    target = tmp_path / "job.nc"

    def boom(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        io.write_netcdf(ds, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_old_file(result, tmp_path, monkeypatch):
    ds = io.result_to_dataset(result)
    target = io.write_netcdf(ds, tmp_path / "job.nc")
    before = target.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        io.write_netcdf(ds, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["job.nc"]


def test_varied_batch_has_run_dimension(tmp_path):
    s = train.TrainSpec(loss="dce", width=8, steps=20, record_every=10, chunk_steps=20,
                        points_per_class=10, test_seeds=(1,))
    r = train.train(s, train.RunBatch.make([0, 0], [2.0, 3.0], [10.0, 10.0], 1.0))
    ds = io.result_to_dataset(r)
    assert ds["L"].dims == ("run", "step")
    np.testing.assert_array_equal(ds["A"].values, [2.0, 3.0])


def test_combine_makes_grid_dimensions(tmp_path):
    paths = grid_job_files(tmp_path, (1.0, 4.0), (5.0, 10.0))
    ds = io.combine(paths)
    assert ds["test_acc"].dims == ("loss", "width", "lr", "A", "T", "seed")
    assert ds.sizes["A"] == 2 and ds.sizes["T"] == 2 and ds.sizes["seed"] == 2
    one = io.open_dataset(paths[3])
    np.testing.assert_array_equal(ds["L"].sel(A=4.0, T=10.0).squeeze().values, one["L"].values)
    assert len(json.loads(ds.attrs["sources"])) == 4 and ds.attrs["git_commit"]


def test_check_writable(tmp_path):
    io.check_writable(tmp_path / "a" / "b.nc")
    with pytest.raises(OSError):
        io.check_writable(tmp_path)  # a folder
    with pytest.raises(OSError):
        io.check_writable("/proc/definitely/not/here.nc")

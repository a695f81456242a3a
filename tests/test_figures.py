"""Every renderer draws from small real data (the end-to-end workflow test covers the CLI)."""
import pytest

from conftest import grid_job_files
from dynloss import io, train
from dynloss.figures import common, renderer


@pytest.fixture(scope="module")
def dyn_ds():
    s = train.TrainSpec(loss="dce", width=10, steps=200, record_every=1, chunk_steps=100, points_per_class=15,
                        test_seeds=(1,), spectra=train.SpectraSpec(hess_every=20, hess_order=8, ntk_every=10,
                                                                   density_steps=(99, 199), density_order=12))
    return io.result_to_dataset(train.train(s, train.RunBatch.make([0], 10.0, 50.0, 1.0)))


def save(fig, tmp_path, name):
    paths = [tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"]
    common.save(fig, *paths)
    for p in paths:
        assert p.stat().st_size > 1000


def test_schedule_and_spiral(tmp_path):
    save(renderer("schedule")([], {"A": 10, "T": 100, "steps": 600, "weights": "raw"}, "t"), tmp_path, "s")
    save(renderer("spiral")([], {"data": {"test_seeds": [1]}}, ""), tmp_path, "sp")


def test_dynamics_and_density(dyn_ds, tmp_path):
    from dynloss.figures import density, dynamics

    save(dynamics.render(dyn_ds, "dyn", zoom_steps=40), tmp_path, "d")
    save(density.render(dyn_ds), tmp_path, "den")
    lo, hi, onset = dynamics.zoom_window(dyn_ds.isel(seed=0), 40)
    assert hi - lo <= 40 and onset is None  # no onset variable in this dataset


def test_contour_and_curves(tmp_path):
    paths = grid_job_files(tmp_path, (1.0, 3.0), (5.0, 10.0))
    ds = io.combine(paths)
    from dynloss.figures import contours, curves

    save(contours.render(ds, "c"), tmp_path, "c")
    save(curves.render(io.combine(paths[:1]), "cu"), tmp_path, "cu")


def test_unknown_kind():
    with pytest.raises(ValueError, match="allowed"):
        renderer("pie")


def test_save_is_atomic(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        common.save(fig, tmp_path / "f.pdf")
    assert list(tmp_path.iterdir()) == []

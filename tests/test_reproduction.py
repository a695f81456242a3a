import numpy as np
import pytest
import xarray as xr

from dynloss import reproduction


def contour(widths=(100, 1000), A=(1.0, 10.0, 40.0), T=(100.0, 1000.0), seeds=4, value=None):
    shape = (1, len(widths), 1, len(A), len(T), seeds)
    rng = np.random.RandomState(0)
    train = rng.uniform(0.4, 0.6, shape) if value is None else np.full(shape, value)
    train[:, :, :, 1, 0, :] = 0.99  # A = 10, T = 100: the best point
    test = train - 0.05
    dims = ("loss", "width", "lr", "A", "T", "seed")
    return xr.Dataset({"final_train_acc": (dims, train), "test_acc": (dims, test)},
                      coords={"loss": ["dce"], "width": list(widths), "lr": [1.0], "A": list(A),
                              "T": list(T), "seed": np.arange(seeds)})


def test_at_A_one_pools_every_T():
    ds = contour()
    c = reproduction.Claim("x", "fig3_4", 100, "final_train_acc", "at", "~0.65")
    row = reproduction.measure(c, ds)
    want = ds["final_train_acc"].sel(width=100, A=1.0).values.ravel()
    assert row["measured"] == pytest.approx(round(float(want.mean()), 4))
    assert row["n_seeds"] == 8 and row["at_A"] == 1.0


def test_best_in_region_reports_where():
    ds = contour()
    c = reproduction.Claim("x", "fig3_4", 100, "final_train_acc", "best", "~1", (5, 20), (0, 300))
    row = reproduction.measure(c, ds)
    assert row["measured"] == pytest.approx(0.99) and row["at_A"] == 10.0 and row["at_T"] == 100.0
    assert row["grid_points"] == 1 and row["spread_sd"] == pytest.approx(0.0)


def test_missing_width_or_study_leaves_the_measurement_empty():
    ds = contour(widths=(16,))
    rows = reproduction.table({"fig3_4": ds}, "tiny")
    assert all(r["measured"] == "" for r in rows)
    assert {r["scale"] for r in rows} == {"tiny"}
    assert len(rows) == len(reproduction.CLAIMS)


def test_csv_and_html():
    rows = reproduction.table({"fig3_4": contour()}, "quick")
    text = reproduction.to_csv(rows)
    assert text.splitlines()[0].startswith("claim,study,width")
    assert "<table" in reproduction.to_html(rows, "note")

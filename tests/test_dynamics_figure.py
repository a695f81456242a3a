"""Dynamics figure: onset marks per definition, the every-step Hessian of the zoom, the zoom caption."""
import numpy as np
import pytest

from dynloss import cli, netcdf
from dynloss.figures import common, dynamics


def test_zoom_text_has_no_stray_separator():
    # quick scale has no onset: the caption used to start with ", 2/eta = 44.44"
    txt = dynamics.zoom_text(10, 50, None, {}, 0.045)
    assert not any(line.startswith(",") for line in txt.splitlines())
    assert "no bifurcation detected" in txt and "44.44" in txt
    txt = dynamics.zoom_text(10, 50, 20, {"visible": (20, 1.5), "mode": (30, float("nan"))}, 1.0)
    assert "visible onset t = 20" in txt and "mode onset t = 30" in txt and ", $" not in txt.splitlines()[-1]


@pytest.fixture(scope="module")
def dyn_file(tmp_path_factory):
    """A dce run of width 100 that bifurcates near step 415, as the dynamics rule trains it."""
    out = tmp_path_factory.mktemp("dyn") / "d.nc"
    assert cli.main(["train", "--loss", "dce", "--width", "100", "--lr", "1", "--A", "20", "--T", "500",
                     "--steps", "600", "--seeds", "0", "--record-every", "1", "--chunk-steps", "300",
                     "--hess-every", "10", "--ntk-every", "10", "--test-seeds", "1", "--stop-rule", "never",
                     "--onset-window", "20", "--onset", "visible,growing,mode", "--zoom-steps", "60",
                     "--out", str(out), "-q"]) == 0
    return out


def test_zoom_hessian_is_every_step_and_equals_the_cadence(dyn_file):
    ds = netcdf.open_dataset(dyn_file)
    z = ds["hess_eig_zoom"]
    steps = z["step_zoom"].values
    assert np.array_equal(steps, np.arange(steps[0], steps[-1] + 1)) and steps.size == 61
    # where the zoom meets a cadence step, the replayed Hessian is the in-training one
    common_steps = np.intersect1d(steps, ds["step_hess"].values)
    assert common_steps.size >= 5
    for t in common_steps:
        np.testing.assert_allclose(z.sel(step_zoom=t).values, ds["hess_eig"].isel(seed=0).sel(step_hess=t).values,
                                   rtol=1e-8)
    for name in ("visible", "growing", "mode"):
        assert f"onset_step_{name}" in ds and f"lambda_th_{name}" in ds


def test_dynamics_figure_marks_every_definition(dyn_file, tmp_path):
    ds = netcdf.open_dataset(dyn_file)
    marks = dynamics.onsets(ds.isel(seed=0))
    assert set(marks) == {"visible", "growing", "mode"}
    fig = dynamics.render(ds, "t", zoom_steps=60)
    axes = fig.axes
    zoom_hess = axes[11]  # row (f)/(l): left 10, right 11
    (first, *_) = zoom_hess.get_lines()
    assert first.get_xdata().size == 61  # a curve over every step, not the cadence points
    labels = [t.get_text() for t in zoom_hess.get_legend().get_texts()]
    assert sum("lambda_{th}" in lab for lab in labels) == 3
    # the legend sits above the panel, outside the data
    assert zoom_hess.get_legend()._loc == 3 and zoom_hess.get_legend().get_bbox_to_anchor().y0 >= \
        zoom_hess.get_window_extent().y1 - 1
    common.save(fig, tmp_path / "d.png")


def test_the_stop_is_marked_and_a_spike_after_it_does_not_set_the_scale():
    """T = 7500 in 10000 steps: the weights jump to 1 at t = 2500, mid-period (stop rule last_T);
    the loss panels keep the scale of the data before it and say where the spike went."""
    import json

    import matplotlib.pyplot as plt
    import xarray as xr

    steps = np.arange(10000)
    L = 1.0 + 0.1 * np.cos(steps / 500.0)
    L[2500:2600] = 90.0  # the spike after the mid-period stop
    ds = xr.Dataset({"L": ("step", L), "F": ("step", L), "dL": ("step", np.r_[0.0, np.diff(L)]),
                     "train_acc": ("step", np.full(steps.size, 0.9)),
                     "gamma": (("step", "class_index"), np.ones((steps.size, 3)))},
                    coords={"step": steps, "A": 5.0, "T": 7500.0, "lr": 0.075, "class_index": [0, 1, 2]})
    ds.attrs["config"] = json.dumps({"train_spec": {"stop_rule": "last_T"}})
    assert dynamics.stop_step(ds) == 2500
    ds.attrs["config"] = json.dumps({"train_spec": {"stop_rule": "period"}})
    assert dynamics.stop_step(ds) == 7500
    ds.attrs["config"] = json.dumps({"train_spec": {"stop_rule": "last_T"}})
    fig = dynamics.render(ds, zoom_steps=200)
    ax = fig.axes[4]  # panel (c): L
    assert ax.get_ylim()[1] < 2.0
    assert any("after the stop: 90" in t.get_text() for t in ax.texts)
    plt.close(fig)

"""Every renderer draws from small real data (the end-to-end workflow test covers the CLI)."""
import pytest

from conftest import grid_job_files
from dynloss import engine, netcdf
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec
from dynloss.figures import common, renderer


@pytest.fixture(scope="module")
def dyn_ds():
    s = TrainSpec(loss="dce", width=10, steps=200, record_every=1, chunk_steps=100,
                  data_params=(("points_per_class", 15), ("test_seeds", (1,))),
                  spectra=SpectraSpec(hess_every=20, hess_order=8, ntk_every=10, density_steps=(99, 199),
                                      density_order=12))
    return netcdf.result_to_dataset(engine.train(s, RunBatch.make([0], 10.0, 50.0, 1.0)))


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
    ds = netcdf.combine(paths)
    from dynloss.figures import contours, curves

    save(contours.render(ds, "c"), tmp_path, "c")
    save(curves.render(netcdf.combine(paths[:1]), "cu"), tmp_path, "cu")


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


def texts(fig):
    """Every text drawn on a figure: titles, suptitle, labels, tick labels, free text."""
    fig.canvas.draw()
    out = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return [t for t in out if t]


def curves_ds(diverged=(True, True), nan_acc=False):
    """A curves dataset as training writes it for static MSE at a too-large eta: the loss NaN from
    step 30 of a diverged seed, its per-step accuracy at chance (1/3) or NaN after it."""
    import numpy as np
    import xarray as xr

    step = np.arange(4, 60, 5)
    L = np.tile(np.geomspace(1.0, 0.3, step.size), (2, 1))
    acc = np.tile(np.linspace(0.4, 0.8, step.size), (2, 1))
    for r, d in enumerate(diverged):
        if d:
            L[r, step >= 30] = np.nan
            acc[r, step >= 30] = np.nan if nan_acc else 1 / 3
    dims = ("seed", "step")
    ds = xr.Dataset({"L": (dims, L), "train_acc": (dims, acc), "diverged": ("seed", np.array(diverged)),
                     "diverged_step": ("seed", np.where(diverged, 29, -1))},
                    coords={"seed": [0, 1], "step": step, "width": 100, "lr": 5.0, "loss": "mse"})
    return ds.expand_dims(width=[100])


def test_curves_say_divergence_instead_of_chance_accuracy(tmp_path):
    """Diverged runs were drawn and averaged as 0.333 ("final mean 0.333")."""
    from dynloss.figures import curves

    for nan_acc in (False, True):  # today's chance accuracy, or NaN (the reliability work)
        fig = curves.render(curves_ds(nan_acc=nan_acc), "cu")
        titles = [ax.get_title() for ax in fig.axes]
        assert all("all 2 runs diverged" in t for t in titles) and not any("final mean" in t for t in titles)
    save(fig, tmp_path, "cu")


def test_curves_leave_one_diverged_seed_out(tmp_path):
    from dynloss.figures import curves

    ds = curves_ds(diverged=(False, True))
    fig = curves.render(ds, "cu")
    acc_title = fig.axes[1].get_title()
    assert "1 of 2 runs diverged" in acc_title and "final mean 0.8;" in acc_title
    # without the diverged variable, a NaN loss alone marks the run
    fig = curves.render(ds.drop_vars(["diverged", "diverged_step"]), "cu")
    assert "1 of 2 runs diverged" in fig.axes[1].get_title()


def test_schedule_figure_uses_the_data_class_count():
    """fig3_1 drew 3 classes while training used data.num_classes = 5."""
    fig = renderer("schedule")([], {"A": 10, "T": 50, "steps": 400, "data": {"num_classes": 5}}, "s")
    assert len(fig.axes[0].get_lines()) == 5
    assert "C = 5 classes" in fig._suptitle.get_text() if fig._suptitle else "C = 5" in fig.axes[0].get_title()


@pytest.mark.parametrize("A,T", [((5.0,), (5.0, 10.0)), ((1.0, 3.0), (5.0,)), ((5.0,), (10.0,))])
def test_one_value_grid_is_a_line_plot(tmp_path, A, T):
    """A one-value grid (A: [5]) crashed contourf with a TypeError."""
    from dynloss.figures import contours

    ds = netcdf.combine(grid_job_files(tmp_path, A, T))
    fig = contours.render(ds, "c")
    assert len(fig.axes) == 2  # two panels, no colour bars
    assert all(len(ax.get_lines()) == 1 for ax in fig.axes)
    save(fig, tmp_path, "c")


def test_titles_and_stamp_come_from_the_data(dyn_ds, tmp_path):
    """The parameter text is read from the plotted data, and a stamp says scale,
    commit and date."""
    path = netcdf.write_netcdf(dyn_ds, tmp_path / "dyn.nc")
    opts = {"T": 5000, "A": 70, "lr": 1.0, "width": 100, "scale": "quick"}  # a config that disagrees
    fig = renderer("dynamics")([str(path)], opts, "Dynamical CE: training dynamics")
    sup = fig._suptitle.get_text()
    assert sup.startswith("Dynamical CE: training dynamics\n")
    assert "T = 50;" in sup and "A = 10," in sup and "eta = 1" in sup and "width = 10" in sup
    assert "5000" not in sup and "200 steps" in sup
    save(fig, tmp_path, "dyn")
    stamp = [t for t in fig.texts if t.get_text().startswith("scale ")]
    assert len(stamp) == 1
    want_commit = dyn_ds.attrs["git_commit"][:7]
    assert f"commit {want_commit}" in stamp[0].get_text() and dyn_ds.attrs["created"][:10] in stamp[0].get_text()
    assert "scale quick" in stamp[0].get_text()


def test_synthetic_data_is_labelled():
    from dynloss.figures import describe

    ds = netcdf.xr.Dataset(coords={"channels": [8], "A": [1.0, 10.0], "T": [20.0, 50.0], "seed": [0, 1]})
    text = describe.dataset_text(ds, {"kind": "myrtle", "cifar_dir": "synthetic", "epochs": 4,
                                      "synthetic": {"image_size": 8}})
    assert "SYNTHETIC" in text and "not CIFAR-10" in text and "8x8" in text and "channels = 8" in text
    assert "CIFAR-10" == describe.data_source_text({"kind": "myrtle", "cifar_dir": "/data/cifar"})
    assert describe.values_text("A", range(1, 11)) == "A in [1, 10] (10 values)"


def test_log_ticks_at_the_plotted_values():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0.5, 0.75, 1.0, 1.5], [4, 3, 2, 1])
    common.log_ticks_at(ax, [0.5, 0.75, 1.0, 1.5], "x")
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "0.75", "1", "1.5"]
    assert ax.xaxis.get_minor_locator()() == [] or len(ax.xaxis.get_minor_locator()()) == 0
    plt.close(fig)


def test_plain_log_axis_has_no_scientific_labels(tmp_path):
    """fig4_1's loss axis printed "6x10^-1"; labels must be plain numbers."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.35, 0.5, 0.9])
    common.plain_log_axis(ax, "y")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) if t.get_text()]
    assert labels and all("times" not in s and "^" not in s for s in labels)
    assert "0.5" in labels
    plt.close(fig)


def test_schedule_legend_is_outside_the_data():
    fig = renderer("schedule")([], {"A": 10, "T": 50, "steps": 400, "data": {"num_classes": 3}}, "s")
    fig.canvas.draw()
    ax = fig.axes[0]
    leg = ax.get_legend().get_window_extent()
    box = ax.get_window_extent()
    assert leg.x0 >= box.x1  # right of the axes, over no data


def test_static_loss_title_states_no_period():
    from dynloss.figures import describe

    ds = netcdf.xr.Dataset(coords={"width": [100, 700], "lr": 0.075, "A": 1.0, "T": 1000.0, "seed": [0, 1],
                               "step": [99, 199]})
    assert describe.dataset_text(ds, {}) == "width in {100, 700}, eta = 0.075, A = 1; 200 steps; 2 seeds"


def test_contour_of_a_width_run_on_part_of_the_grid_marks_what_did_not_run():
    """Width 1000 trained on a 2 x 2 part of the 3 x 3 grid, one of its points without data: its
    panels span its own A and T, the missing point is a red cross, nothing is interpolated."""
    import numpy as np
    import xarray as xr

    from dynloss.figures import contours

    acc = np.full((2, 3, 3, 2), 0.8)
    acc[1] = np.nan
    acc[1, 1:, 1:] = 0.9
    acc[1, 2, 2] = np.nan  # width 1000 at A = 20, T = 300: not run
    acc[1, 0] = 0.6  # A = 1, trained once and shared with every T of the combined grid: not a sign of a run
    ds = xr.Dataset({"final_train_acc": (("width", "A", "T", "seed"), acc),
                     "test_acc": (("width", "A", "T", "seed"), acc)},
                    coords={"width": [100, 1000], "A": [1.0, 10.0, 20.0], "T": [50.0, 100.0, 300.0], "seed": [0, 1]})
    fig = contours.render(ds)
    ax = fig.axes[2]  # width 1000, train (the colour bars come after the panels)
    assert ax.get_title().startswith("width 1000: train")
    crosses = [c for c in ax.collections if c.get_label().endswith("not run")]
    assert len(crosses) == 1 and crosses[0].get_offsets().shape == (1, 2)
    assert tuple(crosses[0].get_offsets()[0]) == (300.0, 20.0)
    lo, hi = ax.get_xlim()
    assert lo >= 100.0 * 0.99  # T = 50 (not in width 1000's grid) is not on its axis

import numpy as np
import pytest
import xarray as xr

from dynloss import engine, netcdf, tracker
from dynloss.thresholds import law, measure, onset
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec


@pytest.fixture(scope="module")
def onset_run():
    """Dynamical CE, width 100: the first run bifurcates near step 415; the second (small eta,
    static) does not."""
    s = TrainSpec(loss="dce", width=100, steps=600, record_every=1, chunk_steps=300,
                        data_params=(("test_seeds", (1,)),), stop_rule="never",
                        spectra=SpectraSpec(hess_every=5))
    b = RunBatch.make([0, 0], [20.0, 1.0], [500.0, 500.0], [1.0, 0.05])
    return engine.make_problem(s), engine.train(s, b)


def test_onset_analysis_finds_onsets_and_exact_lambda(onset_run):
    eng, r = onset_run
    out = measure.onset_analysis(eng, r)
    found = out["onset_step"] >= 0
    assert list(found) == [True, False]
    assert 380 <= out["onset_step"][0] <= 450
    for i in np.flatnonzero(found):
        t = int(out["onset_step"][i])
        # exact lambda is the Hessian at the onset step: where the onset falls on a spectra step,
        # it equals the in-training measurement there
        steps = r.spectra_steps["hess_eig"]
        if t in steps:
            k = list(steps).index(t)
            assert out["lambda_th"][i] == pytest.approx(r.spectra["hess_eig"][i, k, 0], rel=1e-8)
        assert np.isfinite(out["lambda_th"][i]) and out["lambda_th"][i] > 0
        assert out["lambda_th_cadence"][i] == r.spectra["hess_eig"][i, np.searchsorted(steps, t, "right") - 1, 0]
    assert np.all(np.isnan(out["lambda_th"][~found]))


def test_onset_analysis_needs_every_step():
    s = TrainSpec(loss="dce", width=8, steps=20, record_every=10,
                  data_params=(("points_per_class", 10), ("test_seeds", (1,))))
    r = engine.train(s, RunBatch.make([0], 2.0, 10.0, 1.0))
    with pytest.raises(ValueError, match="record_every"):
        measure.onset_analysis(engine.make_problem(s), r)


def synthetic_study(slope=-1.0, prefactor=2.0, noise=0.05, seed=0, with_no_onset=True):
    rng = np.random.RandomState(seed)
    lrs = np.array([0.05, 0.075, 0.1, 0.125])
    n = 10
    lam = prefactor * lrs[:, None] ** slope * np.exp(noise * rng.randn(4, n))
    onset = np.full((4, n), 500)
    if with_no_onset:
        lam[0, :2] = np.nan
        onset[0, :2] = -1
    return xr.Dataset(
        {"lambda_th": (("loss", "width", "lr", "run"), lam[None, None]),
         "onset_step": (("loss", "width", "lr", "run"), onset[None, None]),
         "diverged": (("loss", "width", "lr", "run"), np.zeros((1, 1, 4, n), bool))},
        coords={"loss": ["dmse1"], "width": [100], "lr": lrs, "run": np.arange(n)})


def test_fit_recovers_the_law_and_counts_runs():
    rows = law.fit(synthetic_study())
    (row,) = rows
    assert row["n_onset"] == 38 and row["n_no_onset"] == 2 and row["n_runs"] == 40
    assert row["slope_lo"] <= -1.0 <= row["slope_hi"]
    assert row["prefactor_lo"] <= 2.0 <= row["prefactor_hi"]
    assert row["slope"] == pytest.approx(-1.0, abs=0.1) and row["r2"] > 0.9


def test_per_eta_means():
    pts = law.per_eta(synthetic_study(noise=0.0), 100)
    assert [p[0] for p in pts] == [0.05, 0.075, 0.1, 0.125]
    assert pts[1][1] == pytest.approx(2.0 / 0.075)
    assert pts[0][4] == 8


def test_thresholds_cli_end_to_end(tmp_path):
    from dynloss import cli

    outs = []
    for lr in ("1", "0.7"):
        out = tmp_path / f"lr{lr}.nc"
        assert cli.main(["thresholds", "--loss", "dce", "--width", "16", "--lr", lr, "--A", "20,70",
                         "--T", "50,100", "--seeds", "0,0", "--steps", "1500", "--hess-every", "50",
                         "--trace-every", "50", "--points-per-class", "20", "--test-seeds", "1", "--out", str(out),
                         "-q"]) == 0
        outs.append(out)
    ds = netcdf.open_dataset(outs[0])
    assert ds["lambda_th"].dims == ("run",) and float(ds["lr"]) == 1.0
    assert ds.sizes["step"] == 1500 // 50  # traces thinned to the spectra cadence
    combined = netcdf.combine(outs, dims=("loss", "width", "lr"))
    assert combined["lambda_th"].dims == ("loss", "width", "lr", "run")
    rows = law.fit(combined)
    assert rows[0]["n_runs"] == 4


def test_thresholds_cli_rejects_mismatched_lists(capsys, tmp_path):
    from dynloss import cli

    code = cli.main(["thresholds", "--loss", "dce", "--width", "8", "--lr", "1", "--A", "2,3", "--T", "10",
                     "--seeds", "0,0", "--steps", "100", "--out", str(tmp_path / "x.nc")])
    assert code == 2 and "one value per run" in capsys.readouterr().err


def test_definitions_on_a_training_run(onset_run):
    """visible is the old rule; growing and mode find the same run's instability; lambda_th of
    each definition is the exact Hessian after its onset update."""
    eng, r = onset_run
    old = measure.onset_analysis(eng, r)
    steps, lam = r.spectra_steps["hess_eig"], r.spectra["hess_eig"][:, :, 0]
    out = measure.analyse(eng, r.batch, r.loss, ("visible", "growing", "mode"), lam_steps=steps, lam_max=lam)
    assert np.array_equal(out["onset_step_visible"], old["onset_step"])
    np.testing.assert_allclose(out["lambda_th_visible"], old["lambda_th"], rtol=1e-10)
    for name in ("growing", "mode"):
        s = out[f"onset_step_{name}"]
        assert s[1] == -1  # the static run at small eta has no onset
        assert 0 <= s[0] < r.loss.shape[1]
        assert np.isfinite(out[f"lambda_th_{name}"][0]) and np.isnan(out[f"lambda_th_{name}"][1])
    # the mode onset is an instability: eta * lambda >= 2 there, not the damped 1 < eta lambda < 2
    # (measured 2.06 for this run)
    eta = r.batch.lr[0]
    assert 2.0 <= eta * out["lambda_track_mode"][0] <= 2.2
    with pytest.raises(ValueError, match="need lambda_max on the spectra cadence"):
        measure.analyse(eng, r.batch, r.loss, ("ceiling",))


def test_tracker_replays_the_training_trajectory(onset_run):
    """The tracker's gradient descent is the training step: its parameters after n updates equal
    the engine's replay to 1e-10."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from dynloss import spectra

    eng, r = onset_run
    sub = RunBatch.make([0], 20.0, 500.0, 1.0)
    n = 200
    theta0 = ravel_pytree(eng.init_params(0))[0]

    def grad_fn(theta, t, args):
        return spectra.loss_grad_at(eng, t, *args)(theta)

    tr = tracker.make_tracker(grad_fn, n)(theta0, 0, jnp.float64(1.0), (jnp.float64(20.0), jnp.float64(500.0)),
                                        jnp.ones_like(theta0), jnp.ones_like(theta0))
    want = ravel_pytree(jax.tree_util.tree_map(lambda a: a[0], engine.Replay(eng)(sub, np.array([n - 1]))))[0]
    np.testing.assert_allclose(np.asarray(tr.params), np.asarray(want), rtol=1e-10, atol=1e-12)


def test_fit_has_one_row_per_definition():
    ds = synthetic_study()
    ds["lambda_th_visible"] = ds["lambda_th"]
    ds["onset_step_visible"] = ds["onset_step"]
    ds["lambda_th_mode"] = 2 * ds["lambda_th"]
    ds["onset_step_mode"] = ds["onset_step"]
    rows = law.fit(ds)
    assert [r["onset"] for r in rows] == ["visible", "mode"]
    assert rows[1]["prefactor"] == pytest.approx(2 * rows[0]["prefactor"])
    assert rows[1]["slope"] == pytest.approx(rows[0]["slope"])
    # a dataset from before the definitions: one visible row from onset_step/lambda_th
    assert [r["onset"] for r in law.fit(synthetic_study())] == ["visible"]


def test_onset_flag_rejects_unknown_names(capsys, tmp_path):
    from dynloss import cli

    code = cli.main(["thresholds", "--loss", "dce", "--width", "8", "--lr", "1", "--A", "2", "--T", "10",
                     "--seeds", "0", "--steps", "100", "--onset", "visible,bogus", "--out", str(tmp_path / "x.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "--onset" in err and "allowed: visible, growing, mode" in err


def test_threshold_figure_draws_every_definition(tmp_path):
    from dynloss.figures import common
    from dynloss.figures import thresholds as fig_thr

    ds = synthetic_study()
    for name, k in (("visible", 1.0), ("growing", 1.3), ("mode", 1.6)):
        ds[f"lambda_th_{name}"] = k * ds["lambda_th"]
        ds[f"onset_step_{name}"] = ds["onset_step"]
    fig = fig_thr.render(ds, "t")
    ax, hx = fig.axes[:2]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in ("visible", "growing", "mode"):
        assert sum(lab.startswith(f"{name}: ") and "eta^" in lab.replace("\\", "") for lab in labels) == 1
        assert any(t.get_text().startswith(name) for t in hx.get_legend().get_texts())
    assert list(ax.get_xticks()) == [0.05, 0.075, 0.1, 0.125]
    common.save(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_onsets_command_reanalyses_a_job_from_its_traces(tmp_path, capsys):
    """`dynloss onsets` on a job's traces gives what `dynloss thresholds --onset` stores directly:
    width 16 on 60 points, where every run has a visible and a mode onset and two a growing one."""
    onsets_reanalysis(tmp_path, capsys, ["--width", "16", "--points-per-class", "20"],
                      {"visible": 3, "growing": 2, "mode": 3})


@pytest.mark.slow
def test_onsets_command_reanalyses_a_job_from_its_traces_at_width_100(tmp_path, capsys):
    """The same at width 100 on the 300 points: every run bifurcates (visible, growing) and two have a
    mode onset."""
    onsets_reanalysis(tmp_path, capsys, ["--width", "100"], {"visible": 3, "growing": 3, "mode": 2})


def onsets_reanalysis(tmp_path, capsys, size: list[str], onsets: dict[str, int]):
    """The re-analysis of three dce runs (A 20, 70, 1; T 300; 1200 steps) of the given ``size``
    flags; ``onsets``: how many of the runs have an onset of each definition at least, so that the
    comparisons compare onsets, not only "none"."""
    from dynloss import cli

    common = ["thresholds", "--loss", "dce", *size, "--lr", "1", "--A", "20,70,1", "--T", "300,300,300",
              "--seeds", "0,0,0", "--steps", "1200", "--hess-every", "50", "--trace-every", "50",
              "--test-seeds", "1", "-q"]
    direct, job, traces = tmp_path / "direct.nc", tmp_path / "job.nc", tmp_path / "traces.nc"
    assert cli.main(common + ["--onset", "visible,growing,mode", "--out", str(direct)]) == 0
    assert cli.main(common + ["--traces-out", str(traces), "--out", str(job)]) == 0
    tr = netcdf.open_dataset(traces)
    assert tr.sizes["step"] == 1200 and "L" in tr
    assert "onset_step_mode" not in netcdf.open_dataset(job)
    pristine = tmp_path / "pristine.nc"  # the job file before `onsets` rewrites it in place
    pristine.write_bytes(job.read_bytes())
    assert cli.main(["onsets", str(job), "--traces", str(traces)]) == 0
    a, b = netcdf.open_dataset(direct), netcdf.open_dataset(job)
    for name in ("visible", "growing", "mode"):
        np.testing.assert_array_equal(a[f"onset_step_{name}"].values, b[f"onset_step_{name}"].values)
        np.testing.assert_allclose(a[f"lambda_th_{name}"].values, b[f"lambda_th_{name}"].values, rtol=1e-12)
    assert b.sizes["step"] == 1200 // 50  # the job file keeps its thinned traces
    found = {name: int((b[f"onset_step_{name}"].values >= 0).sum()) for name in onsets}
    assert all(found[name] >= n for name, n in onsets.items()), found
    # one file per definition, joined, equals the joint analysis bit for bit; a subset of the runs
    # (job order) gives the same values for those runs and marks the others not analysed
    names = ("visible", "growing", "mode", "apparent", "ceiling")
    parts = [tmp_path / f"{name}.nc" for name in names]
    for name, part in zip(names, parts):
        assert cli.main(["onsets", str(pristine), "--traces", str(traces), "--onset", name, "--out", str(part),
                         "--replay-chunk", "500"]) == 0
    merged = tmp_path / "merged.nc"
    assert cli.main(["merge-onsets", str(pristine), *map(str, parts), "--out", str(merged)]) == 0
    m = netcdf.open_dataset(merged)
    assert m.attrs["onset_definitions"] == ",".join(names)
    assert set(m.data_vars) == set(b.data_vars)  # every variable a definition adds (mode: lambda_track_mode)
    for var in b.data_vars:
        assert m[var].values.tobytes() == b[var].values.tobytes(), var
    sub = tmp_path / "sub.nc"
    assert cli.main(["onsets", str(pristine), "--traces", str(traces), "--onset", "mode", "--runs", "2",
                     "--out", str(sub)]) == 0
    s = netcdf.open_dataset(sub)
    np.testing.assert_array_equal(s["onset_step_mode"].values[:2], b["onset_step_mode"].values[:2])
    np.testing.assert_array_equal(s["lambda_th_mode"].values[:2], b["lambda_th_mode"].values[:2])
    assert s["onset_step_mode"].values[2] == onset.NOT_ANALYSED and np.isnan(s["lambda_th_mode"].values[2])
    assert s.attrs["onset_runs"] == "mode:2/3"
    capsys.readouterr()
    assert cli.main(["merge-onsets", str(pristine), str(traces), "--out", str(merged)]) == 2
    assert "holds no onset definition" in capsys.readouterr().err
    assert cli.main(["onsets", str(job), "--traces", str(traces), "--runs", "0"]) == 2
    assert "--runs: 0 is not an integer >= 1" in capsys.readouterr().err
    assert cli.main(["onsets", str(job), "--traces", str(tmp_path / "none.nc")]) == 2
    assert "--traces: missing" in capsys.readouterr().err
    assert cli.main(["onsets", str(job), "--traces", str(traces), "--onset", "bogus"]) == 2
    assert "allowed: visible, growing, mode" in capsys.readouterr().err

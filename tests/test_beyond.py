"""Claims beyond the thesis (docs/verdicts.md, "Beyond the thesis"): a chosen point judged on fresh seeds on
fresh training sets, the training set as the unit; the equivalence band; their own words and section."""
import math

import numpy as np
import pytest
import xarray as xr

from dynloss import netcdf
from dynloss.verdicts import COLUMNS, Inputs, Settings, confirm_key, to_markdown
from dynloss.verdicts import stats as st
from dynloss.verdicts.claims import BEYOND_SOURCE, Claim, Protocol
from dynloss.verdicts.table import all_claims, has_runs, measure

P = Protocol("dce", 8, 0.5, 5000, data="digits")


def _study(acc, A, T, seeds=None, data="digits") -> xr.Dataset:
    acc = np.asarray(acc, float)
    coords = {"A": np.asarray(A, float), "T": np.asarray(T, float),
              "seed": np.arange(acc.shape[-1]) if seeds is None else seeds, "loss": "dce", "width": 8, "lr": 0.5}
    data_vars = {q: (("A", "T", "seed"), acc) for q in ("final_train_acc", "test_acc")}
    data_vars["diverged"] = (("A", "T", "seed"), np.zeros(acc.shape, bool))
    return netcdf.stamp(xr.Dataset(data_vars, coords=coords),
                        {"study": "s", "study_config": {"steps": 5000}, "data": {"name": data}})


def _claim(band="sign", value=1.0, sets=(101, 102, 103)) -> Claim:
    return Claim("D", "digits gain", "s", P, "test_acc", "gain", band, value, "> 0", f"{BEYOND_SOURCE}: D1", len(sets),
                 A=(1.0001, math.inf), T=(0.0, math.inf), fresh_first=3000, fresh_seeds=2, fresh_data=sets,
                 beyond=True)


def _fresh(point, static, sets, A=10.0, T=50.0) -> xr.Dataset:
    """Fresh runs at the chosen point and A = 1: (A, T, data_seed, seed)."""
    v = np.stack([np.asarray(point, float), np.asarray(static, float)])[:, None]  # (A, T, set, seed)
    coords = {"A": [A, 1.0], "T": [T], "data_seed": list(sets), "seed": [3000, 3001], "loss": "dce", "width": 8,
              "lr": 0.5}
    dims = ("A", "T", "data_seed", "seed")
    ds = xr.Dataset({"test_acc": (dims, v), "final_train_acc": (dims, v), "diverged": (dims, np.zeros(v.shape, bool))},
                    coords=coords)
    return ds.assign_attrs(chosen_A=A, chosen_T=T)


def _grid():
    acc = np.full((3, 2, 2), 0.90)
    acc[1, 1] = [0.95, 0.96]  # the best point: A = 10, T = 50
    return _study(acc, [1.0, 10.0, 20.0], [25.0, 50.0])


def test_a_gain_on_fresh_training_sets_is_a_t_interval_over_the_sets_means():
    c = _claim()
    point = [[0.95, 0.97], [0.93, 0.95], [0.96, 0.96]]
    static = [[0.92, 0.93], [0.91, 0.92], [0.93, 0.94]]
    fresh = _fresh(point, static, c.fresh_data)
    row = measure(c, Inputs(studies={"s": _grid()}, confirm={confirm_key(c): fresh}), Settings())
    diff = np.array(point) - np.array(static)
    e = st.t_interval(diff.mean(axis=1))  # the unit is the training set: its mean over seeds
    assert row["n_seeds"] == 3 and row["interval"] == "t-interval"
    assert (row["ci_lo"], row["ci_hi"]) == (round(e.lo, 4), round(e.hi, 4))
    assert row["estimate"] == pytest.approx(diff.mean(), abs=1e-4)
    assert "fresh training sets 101, 102, 103" in row["note"] and "paired by (training set, seed)" in row["note"]
    assert (row["at_A"], row["at_T"]) == (10.0, 50.0)
    # the sets' mean gains 0.035, 0.025, 0.025: the interval over 3 means lies above 0
    assert row["outcome"] == st.REPRODUCED and row["verdict"] == "holds"


def test_the_equivalence_band_holds_only_inside_the_tolerance():
    c = _claim(band="equivalence", value=0.01)
    flat = [[0.950, 0.951], [0.949, 0.950], [0.951, 0.950]]
    row = measure(c, Inputs(studies={"s": _grid()}, confirm={confirm_key(c): _fresh(flat, flat, c.fresh_data)}),
                  Settings())
    assert row["band"] == "[-0.01, 0.01]" and row["outcome"] == st.REPRODUCED and row["verdict"] == "holds"
    up = [[0.99, 0.99], [0.98, 0.99], [0.99, 0.98]]
    row = measure(c, Inputs(studies={"s": _grid()}, confirm={confirm_key(c): _fresh(up, flat, c.fresh_data)}),
                  Settings())
    assert row["outcome"] == st.NOT_REPRODUCED and row["verdict"] == "does not hold"


def test_fewer_training_sets_than_pre_registered_is_partly_run_and_undecided_reads_so():
    c = _claim(sets=(101, 102, 103, 104, 105))
    point, static = [[0.96, 0.90], [0.90, 0.95]], [[0.90, 0.93], [0.92, 0.91]]
    row = measure(c, Inputs(studies={"s": _grid()}, confirm={confirm_key(c): _fresh(point, static, (101, 102))}),
                  Settings())
    assert row["outcome"] == st.INCONCLUSIVE
    assert row["verdict"] == "partly run: undecided (2 of the 5 pre-registered training sets)"


def test_beyond_claims_are_listed_only_with_runs_of_their_loss_on_their_data_set():
    spiral = _study(np.full((1, 1, 2), 0.9), [1.0], [25.0], data="spiral")
    digits = _study(np.full((1, 1, 2), 0.9), [1.0], [25.0])
    assert not has_runs(Inputs(studies={"s": spiral}), "dce", "digits")
    assert has_runs(Inputs(studies={"s": digits}), "dce", "digits")
    assert has_runs(Inputs(studies={"s": digits}), "dmse1", "digits") is False
    without = {c.key for c in all_claims(Inputs(studies={"s": spiral}))}
    assert not any(c.beyond and c.key in without for c in all_claims())


def test_the_markdown_table_puts_beyond_rows_in_their_own_section():
    c = _claim()
    fresh = _fresh([[0.95, 0.97], [0.93, 0.95], [0.96, 0.96]], [[0.92, 0.93], [0.91, 0.92], [0.93, 0.94]],
                   c.fresh_data)
    row = measure(c, Inputs(studies={"s": _grid()}, confirm={confirm_key(c): fresh}), Settings())
    thesis = {**row, "claim": "a thesis claim", "source": "thesis sec. 3", "verdict": st.REPRODUCED}
    md = to_markdown([{k: r.get(k, "") for k in COLUMNS} for r in (thesis, row)])
    head, beyond = md.split("### Beyond the thesis")
    assert "a thesis claim" in head and "digits gain" not in head
    assert "digits gain" in beyond and "**holds**" in beyond
    assert "2 reproduced" in head  # a table with the thesis's rows counts in the shared words
    only = to_markdown([{k: row.get(k, "") for k in COLUMNS}])
    assert "Outcomes: 1 holds, 0 holds (exceeds), 0 does not hold, 0 undecided, 0 not run" in only


def test_confirm_trains_a_claims_fresh_seeds_on_each_fresh_training_set(tmp_path, monkeypatch):
    """``dynloss confirm`` for a claim with fresh training sets: each split seed's runs are those of the same
    job trained directly on that split (the data set's ``seed_param``)."""
    from dynloss import cli, engine, jobs
    from dynloss.plan.kinds import with_data
    from dynloss.spec import RunBatch, TrainSpec
    from dynloss.verdicts import beyond

    spec = TrainSpec(loss="dce", width=4, steps=40, record_every=10, data="digits", stop_rule="period")
    grid = tmp_path / "grid.nc"
    jobs.run(jobs.TrainJob(spec=spec, seeds=(0, 1), lr=0.5, A=(1.0, 3.0), T=(4.0,)), str(grid), quiet=True)
    study = netcdf.combine([str(grid)])
    study.attrs["config"] = '{"study_config": {"steps": 40}, "data": {"name": "digits"}}'
    netcdf.write_netcdf(study.load(), str(tmp_path / "study.nc"))
    c = Claim("D_t", "t", "s", Protocol("dce", 4, 0.5, 40, data="digits"), "test_acc", "gain", "sign", 1.0, "> 0",
              f"{BEYOND_SOURCE}: D1", 2, A=(1.0001, math.inf), T=(0.0, math.inf), fresh_first=3000,
              fresh_seeds=2, fresh_data=(7, 9), beyond=True)
    monkeypatch.setattr(beyond, "CLAIMS", (c,))
    out = tmp_path / "confirm.nc"
    assert cli.main(["confirm", confirm_key(c), f"--study=s={tmp_path / 'study.nc'}", "--job", str(grid),
                     "--seeds", "3000-3001", "--out", str(out)]) == 0
    with xr.open_dataset(out, engine="netcdf4") as ds:
        assert ds["data_seed"].values.tolist() == [7, 9] and ds.attrs["chosen_A"] == 3.0
        for split in (7, 9):
            direct = engine.train(with_data(spec, split_seed=split), RunBatch.make([3000, 3001], 3.0, 4.0, 0.5))
            got = ds["test_acc"].sel(A=3.0, T=4.0, data_seed=split).squeeze(drop=True).values
            assert np.array_equal(got, direct.test_acc)
    row = measure(c, Inputs(studies={"s": xr.open_dataset(tmp_path / "study.nc", engine="netcdf4")},
                            confirm={confirm_key(c): xr.open_dataset(out, engine="netcdf4")}), Settings())
    assert row["n_seeds"] == 2 and "fresh training sets 7, 9" in row["note"]

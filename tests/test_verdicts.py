"""The verdict rules (docs/verdicts.md) on synthetic data with known answers."""
import math

import numpy as np
import pytest
import xarray as xr

from dynloss import netcdf
from dynloss.verdicts import Inputs, Settings, confirm_key, table
from dynloss.verdicts import stats as st
from dynloss.verdicts.claims import Claim, LawClaim, Protocol
from dynloss.verdicts.law import slope_interval
from dynloss.verdicts.table import measure, law_row

P = Protocol("dmse2", 100, 0.075, 50000)


def study(acc: np.ndarray, A, T, loss="dmse2", width=100, name="s", steps=50000, test=None) -> xr.Dataset:
    """A combined contour study: final_train_acc (A, T, seed) at one width (and test_acc)."""
    acc = np.asarray(acc, float)
    seeds = np.arange(acc.shape[-1])
    coords = {"A": np.asarray(A, float), "T": np.asarray(T, float), "seed": seeds, "loss": loss,
              "width": width, "lr": 0.075}
    data = {"final_train_acc": (("A", "T", "seed"), acc),
            "test_acc": (("A", "T", "seed"), acc if test is None else np.asarray(test, float)),
            "diverged": (("A", "T", "seed"), np.zeros(acc.shape, bool))}
    ds = xr.Dataset(data, coords=coords)
    return netcdf.stamp(ds, {"study": name, "study_config": {"steps": steps}})


def claim(**kw) -> Claim:
    base = dict(key="k", text="t", figure="f", protocol=P, quantity="final_train_acc", where="static",
                band="approx", value=0.8, thesis="~0.8", source="s", thesis_seeds=3)
    return Claim(**{**base, **kw})


# -- outcomes and claim types --------------------------------------------------------------------


@pytest.mark.parametrize("values, band, value, expected", [
    ([0.80, 0.81, 0.79], "approx", 0.8, st.REPRODUCED),
    ([0.50, 0.51, 0.49], "approx", 0.8, st.NOT_REPRODUCED),
    ([0.70, 0.80, 0.90], "approx", 0.8, st.INCONCLUSIVE),
    ([0.96, 0.97, 0.96], "lower", 0.9, st.EXCEEDS),
    ([0.90, 0.91, 0.89], "lower", 0.9, st.REPRODUCED),
    ([0.60, 0.61, 0.62], "lower", 0.9, st.NOT_REPRODUCED),
])
def test_static_claims_get_the_outcome_their_interval_gives(values, band, value, expected):
    ds = study(np.array(values)[None, None, :], [1.0], [100.0])
    row = measure(claim(band=band, value=value), Inputs(studies={"s": ds}), Settings())
    assert row["outcome"] == expected, row
    assert row["interval"] == "t-interval" and row["n_seeds"] == 3


def test_an_inconclusive_row_says_how_many_seeds_would_decide():
    ds = study(np.array([0.70, 0.80, 0.90])[None, None, :], [1.0], [100.0])
    row = measure(claim(value=0.78), Inputs(studies={"s": ds}), Settings())
    e = st.t_interval(np.array([0.70, 0.80, 0.90]))
    assert row["outcome"] == st.INCONCLUSIVE
    assert row["seeds_to_decide"] == math.ceil(3 * (e.half / 0.03) ** 2)


def test_fewer_seeds_than_the_thesis_is_partly_run_with_what_the_data_say():
    ds = study(np.array([0.80, 0.81, 0.79])[None, None, :], [1.0], [100.0])
    row = measure(claim(thesis_seeds=50), Inputs(studies={"s": ds}), Settings())
    assert row["outcome"] == st.REPRODUCED
    assert row["verdict"] == "partly run: reproduced (3 of the thesis's 50 seeds)"


def test_no_data_with_the_protocol_is_not_run():
    ds = study(np.full((1, 1, 3), 0.8), [1.0], [100.0], steps=4000)  # another protocol (steps)
    row = measure(claim(), Inputs(studies={"s": ds}), Settings())
    assert row["verdict"] == st.NOT_RUN


# -- the unit is the seed ----------------------------------------------------------------------------


def test_A1_copies_across_T_and_across_losses_count_once():
    """A = 1 at 4 values of T (the same runs, shared by the combine) and in a static-MSE study with
    the same seeds: 3 seeds, not 12 or 15."""
    acc = np.array([0.5, 0.6, 0.7])
    v2 = study(np.broadcast_to(acc, (1, 4, 3)).copy(), [1.0], [100, 250, 500, 1000], name="v2")
    v2.attrs["static_trained_T"] = 100.0
    mse = study(acc[None, None, :], [1.0], [1000.0], loss="mse", name="mse")
    row = measure(claim(), Inputs(studies={"v2": v2, "mse": mse}), Settings())
    assert row["n_seeds"] == 3 and row["data"] == "v2"
    assert row["estimate"] == pytest.approx(0.6)
    e = st.t_interval(acc)
    assert (row["ci_lo"], row["ci_hi"]) == (round(e.lo, 4), round(e.hi, 4))


def test_combine_shares_A1_trained_at_one_T(tmp_path):
    a1 = study(np.array([0.5, 0.6])[None, None, :], [1.0], [100.0])
    a5 = study(np.array([[[0.7, 0.8], [0.9, 0.95]]]), [5.0], [100.0, 200.0])
    paths = []
    for i, ds in enumerate((a1, a5)):
        for j in range(ds.sizes["T"]):
            one = ds.isel(A=0, T=j)
            p = tmp_path / f"{i}{j}.nc"
            netcdf.write_netcdf(one, p)
            paths.append(p)
    out = netcdf.combine(paths, dims=("loss", "width", "lr", "A", "T"))
    assert out.attrs["static_trained_T"] == 100.0
    np.testing.assert_array_equal(out["final_train_acc"].sel(A=1.0, T=200.0).squeeze().values, [0.5, 0.6])


# -- intervals ------------------------------------------------------------------------------------


def test_the_bootstrap_is_seeded_and_deterministic():
    x = np.random.default_rng(3).random(12)
    a = st.mean_interval(x, Settings())
    b = st.mean_interval(x, Settings())
    c = st.mean_interval(x, Settings(seed=1))
    assert a == b and a.method == "bootstrap" and a.n == 12
    assert (a.lo, a.hi) != (c.lo, c.hi)


def test_below_the_bootstrap_threshold_a_t_interval():
    assert st.mean_interval(np.arange(9.0), Settings()).method == "t-interval"
    assert st.mean_interval(np.arange(10.0), Settings()).method == "bootstrap"


# -- chosen points are judged on fresh seeds ---------------------------------------------------------


def _grid_and_confirm(fresh_values, static_fresh=None):
    acc = np.full((3, 2, 3), 0.5)
    acc[1, 1] = [0.95, 0.96, 0.97]  # the best point: A = 10, T = 5000
    ds = study(acc, [1.0, 10.0, 20.0], [2500.0, 5000.0])
    c = claim(key="best", where="best", band="approx", value=0.98, A=(5, 15), T=(2500, 7500))
    A, T = ([10.0, 1.0], [5000.0]) if static_fresh is not None else ([10.0], [5000.0])
    vals = np.array([fresh_values] + ([static_fresh] if static_fresh is not None else []))[:, None, :]
    fresh = study(vals, A, T)
    fresh = fresh.assign_coords(seed=np.arange(1000, 1000 + vals.shape[-1]))
    fresh.attrs.update(chosen_A=10.0, chosen_T=5000.0)
    return ds, c, fresh


def test_a_best_point_is_judged_on_fresh_seeds_not_the_ones_that_chose_it():
    ds, c, fresh = _grid_and_confirm([0.90, 0.91, 0.89])
    row = measure(c, Inputs(studies={"s": ds}, confirm={confirm_key(c): fresh}), Settings())
    assert (row["at_A"], row["at_T"]) == (10.0, 5000.0)
    assert row["chosen_on"].startswith("0.9600 on 3 study seeds")
    assert row["estimate"] == pytest.approx(0.9) and row["outcome"] == st.NOT_REPRODUCED
    without = measure(c, Inputs(studies={"s": ds}), Settings())
    assert without["verdict"].startswith("partly run") and "winner's curse" in without["note"]


def test_a_gain_is_paired_by_fresh_seed():
    ds, c, fresh = _grid_and_confirm([0.90, 0.95, 0.80], static_fresh=[0.78, 0.83, 0.68])
    gain = Claim(**{**c.__dict__, "key": "gain", "where": "gain", "band": "gain", "value": 0.12})
    row = measure(gain, Inputs(studies={"s": ds}, confirm={confirm_key(gain): fresh}), Settings())
    # every paired difference is exactly 0.12: a zero-width interval inside [0.07, 0.17]
    assert row["estimate"] == pytest.approx(0.12) and row["outcome"] == st.REPRODUCED


def test_a_trend_claim_reads_the_slope_over_A():
    acc = np.array([[[0.95] * 3] * 2, [[0.9] * 3] * 2, [[0.8] * 3] * 2]) + np.arange(3) * 1e-3
    ds = study(acc, [5.0, 10.0, 20.0], [100.0, 200.0])
    c = claim(where="trend", band="sign", value=-1.0, A=(1.0001, math.inf))
    row = measure(c, Inputs(studies={"s": ds}), Settings())
    assert row["estimate"] < 0 and row["outcome"] == st.REPRODUCED


# -- the eta law -----------------------------------------------------------------------------------


def _paired_design(rng, n=40, spread=0.8, noise=0.05):
    eta = np.array([0.05, 0.075, 0.1, 0.125])
    setting = rng.normal(0, spread, n)[:, None]  # an (A, T) setting effect shared by every eta
    lam = np.exp(np.log(2.0) - np.log(eta)[None] + setting + rng.normal(0, noise, (n, 4)))
    return eta, lam


def test_the_paired_bootstrap_is_narrower_than_the_unpaired_on_a_paired_design():
    """Setting effects shared across etas cancel in the slope only when the settings are resampled
    jointly; resampled per eta they add their variance to every mean: a wider interval."""
    eta, lam = _paired_design(np.random.default_rng(0))
    s = Settings(resamples=2000)
    paired, _ = slope_interval(eta, lam, s, paired=True)
    unpaired, _ = slope_interval(eta, lam, s, paired=False)
    assert paired.lo <= -1 <= paired.hi
    assert (paired.hi - paired.lo) < 0.5 * (unpaired.hi - unpaired.lo)
    assert paired.value == unpaired.value  # the same estimand


def test_the_law_row_uses_the_primary_definition():
    eta, lam = _paired_design(np.random.default_rng(1), spread=0.3)
    ds = xr.Dataset({"lambda_th_apparent": (("run", "lr"), lam), "lambda_th": (("run", "lr"), lam * eta ** 0.3)},
                    coords={"run": np.arange(40), "lr": eta})
    lc = LawClaim("fig4_4", "law", "src")
    row = law_row(lc, Inputs(thresholds={"fig4_4": ds}, primary={"fig4_4": "apparent"}), Settings(resamples=500))
    assert "[primary onset: apparent]" in row["claim"] and row["outcome"] == st.REPRODUCED
    other = law_row(lc, Inputs(thresholds={"fig4_4": ds}, primary={"fig4_4": "visible"}), Settings(resamples=500))
    assert other["outcome"] == st.NOT_REPRODUCED  # slope -0.7


def test_runs_a_definition_was_not_applied_to_are_left_out_of_its_law_and_counts():
    """A definition applied to the first runs of each job only (``onset_runs``): the other settings
    are not in its law (not "no onset"), and the fit says how many were not analysed."""
    from dynloss.thresholds.law import fit
    from dynloss.thresholds.onset import NOT_ANALYSED
    from dynloss.verdicts.law import law_estimate

    eta, lam = _paired_design(np.random.default_rng(2), spread=0.3)
    n = lam.shape[0]
    steps = np.full(lam.shape, 1000)
    steps[1, 2] = -1  # applied, no onset
    lam_sub, steps_sub = lam.copy(), steps.copy()
    lam_sub[1, 2] = np.nan
    steps_sub[8:], lam_sub[8:] = NOT_ANALYSED, np.nan
    ds = xr.Dataset({"lambda_th_mode": (("width", "run", "lr"), lam_sub[None]),
                     "onset_step_mode": (("width", "run", "lr"), steps_sub[None])},
                    coords={"width": [100], "run": np.arange(n), "lr": eta})
    s = Settings(resamples=500)
    got = law_estimate(ds.sel(width=100), "mode", s)
    want = law_estimate(ds.sel(width=100).isel(run=slice(0, 8)), "mode", s)
    assert got["n_settings"] == 8 and got["slope"] == want["slope"] and got["n_runs"] == 8 * eta.size
    row = fit(ds)[0]
    assert (row["n_runs"], row["n_onset"], row["n_no_onset"], row["n_not_analysed"]) == (
        8 * eta.size, 8 * eta.size - 1, 1, (n - 8) * eta.size)


def test_the_width_1000_law_reads_a_subset_study_of_its_loss_and_says_partly_run():
    """Figure 3.6's law at width 1000 from a study of the same loss that ran that width (10 of the
    thesis's 40 settings): partly run; a study of another loss does not stand in."""
    from dynloss.verdicts.claims import LAW_CLAIMS

    w1000 = next(lc for lc in LAW_CLAIMS if lc.width == 1000)
    eta, lam = _paired_design(np.random.default_rng(3), n=10, spread=0.3)

    def study(loss, width):
        return xr.Dataset({"lambda_th_apparent": (("loss", "width", "run", "lr"), lam[None, None])},
                          coords={"loss": [loss], "width": [width], "run": np.arange(10), "lr": eta})

    s = Settings(resamples=500)
    other = law_row(w1000, Inputs(thresholds={"mse_w1000": study("dmse1", 1000)}, primary={"mse_w1000": "apparent"}), s)
    assert other["verdict"] == st.NOT_RUN and "width 1000" in other["note"]
    ins = Inputs(thresholds={"fig3_6": study("dce", 100), "ce_w1000": study("dce", 1000)},
                 primary={"fig3_6": "apparent", "ce_w1000": "apparent"})
    row = law_row(w1000, ins, s)
    assert row["data"] == "ce_w1000" and row["figure"] == "ce_w1000" and row["outcome"] == st.REPRODUCED
    assert row["verdict"] == f"{st.PARTLY}: {st.REPRODUCED} (10 of the thesis's 40 (A, T) settings)"
    w100 = law_row(LAW_CLAIMS[0], ins, s)
    assert w100["data"] == "fig3_6" and w100["verdict"].startswith(st.PARTLY)  # 10 settings there too


def test_the_table_has_a_row_per_claim_and_law():
    rows = table(Inputs(), "tiny")
    assert len(rows) == 43 and all(r["verdict"] == st.NOT_RUN for r in rows)


def test_a_dynamics_run_s_statistics_at_its_primary_onset():
    """NTK lambda_max halves after the onset: relative change -0.5 (a 'falls' claim); lambda_max never
    goes below 0.9 lambda_th after it: floor 0.9 (below the band [0.95, inf) of 'stays above'). One run:
    the value, no interval."""
    steps = np.arange(0, 4000, 10)
    ds = xr.Dataset({"ntk_lmax": ("step_ntk", np.where(steps < 2000, 10.0, 5.0)),
                     "hess_eig": (("step_hess", "eig"), np.where(np.arange(0, 4000, 100) < 2000, 8.0, 9.0)[:, None]),
                     "onset_step_apparent": ((), 2000), "lambda_th_apparent": ((), 10.0)},
                    coords={"step_ntk": steps, "step_hess": np.arange(0, 4000, 100)})
    ds.attrs["primary_onset"] = "apparent"
    falls = claim(figure="dyn", protocol=None, quantity="ntk_lmax", where="ntk_change", band="sign", value=-1.0,
                  thesis_seeds=1)
    row = measure(falls, Inputs(dynamics={"dyn": ds}), Settings())
    assert row["estimate"] == pytest.approx(-0.5) and row["interval"] == "none"
    assert row["outcome"] == st.INCONCLUSIVE and "apparent onset (t = 2000)" in row["note"]
    floor = claim(figure="dyn", protocol=None, quantity="hess_eig", where="lambda_floor", band="lower", value=1.0,
                  thesis_seeds=1)
    assert measure(floor, Inputs(dynamics={"dyn": ds}), Settings())["estimate"] == pytest.approx(0.9)


def test_a_width_s_own_grid_is_its_region_not_the_other_width_s_points():
    """Width 700 trained on a 2 x 2 part of width 100's 3 x 3 grid: its best point is chosen among its 4
    points and nothing is reported as not run; a NaN inside its own grid is."""
    acc = np.full((2, 3, 3, 3), 0.7)
    acc[1] = np.nan
    acc[1, 1:, 1:] = [[[0.8] * 3, [0.9] * 3], [[0.85] * 3, [0.88] * 3]]
    ds = study(acc[0], [1.0, 10.0, 20.0], [100.0, 1000.0, 5000.0]).drop_vars("width")
    ds = ds.expand_dims(width=[100, 700]).copy()
    for name in ("final_train_acc", "test_acc", "diverged"):
        ds[name] = (("width", "A", "T", "seed"), acc if name != "diverged" else np.zeros(acc.shape, bool))
    c = claim(protocol=Protocol("dmse2", 700, 0.075, 50000), where="best", value=0.9, A=(1.0001, math.inf))
    row = measure(c, Inputs(studies={"s": ds}), Settings())
    assert (row["at_A"], row["at_T"], row["region_points"]) == (10.0, 5000.0, 4)
    assert "region point(s) not run" not in row["note"]
    acc[1, 2, 2] = np.nan
    ds["final_train_acc"] = (("width", "A", "T", "seed"), acc)
    assert "1 region point(s) not run" in measure(c, Inputs(studies={"s": ds}), Settings())["note"]


# -- a study kind's own claims and measures ------------------------------------------------------


def test_a_claim_read_where_no_measure_is_defined_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"claim 'k': where='nowhere' has no measure \(known: best, final"):
        measure(claim(where="nowhere"), Inputs(), Settings())


def test_a_kind_cannot_redefine_a_measure_or_take_a_role_the_table_cannot_pass():
    from dynloss.plan import kinds
    from dynloss.verdicts.table import measures

    class Twice(kinds.StudyKind):
        name = "toy_twice"
        measures = {"static": lambda *a: {}}

    kinds.register(Twice)
    try:
        with pytest.raises(ValueError, match="study kind 'toy_twice': the measure of where='static' is already"):
            measures()
    finally:
        kinds.KINDS.pop("toy_twice")
    for role in ("my_role", "confirm", "a:b"):
        bad = type("Bad", (kinds.StudyKind,), {"name": "toy_bad", "verdict_input": role})
        with pytest.raises(ValueError, match=f"study kind 'toy_bad': verdict_input '{role}'"):
            kinds.register(bad)
        assert "toy_bad" not in kinds.KINDS

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


def _with_sd(n: int, mean: float, sd: float) -> np.ndarray:
    """n values with exactly this mean and sample standard deviation."""
    z = np.linspace(-1, 1, n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_an_inconclusive_row_says_how_many_seeds_would_decide_and_which_way_it_leans():
    """The exact count: the smallest n whose t-interval (n < 20), for data with the spread these seeds
    show, lies on the estimate's side of the nearest band edge; found here by a direct search."""
    x = np.array([0.70, 0.80, 0.90])
    ds = study(x[None, None, :], [1.0], [100.0])
    for value, lean in ((0.8, st.REPRODUCED), (0.7, st.NOT_REPRODUCED)):  # bands [0.75, 0.85] / [0.65, 0.75]
        row = measure(claim(value=value), Inputs(studies={"s": ds}), Settings())
        assert row["outcome"] == st.INCONCLUSIVE and row["leans"] == lean
        dist = 0.05
        direct = next(n for n in range(2, 20) if st.t_interval(_with_sd(n, 0.8, 0.1)).half < dist)
        assert row["seeds_to_decide"] == f"{direct} ({lean})"


def test_seeds_to_decide_switches_to_the_bootstrap_rule_at_20():
    """Past 20 seeds the interval is the bootstrap's, about the normal one: a far edge needs n with
    1.96 s / sqrt(n) < dist, checked against a direct search and against a real bootstrap at that n."""
    e = st.t_interval(_with_sd(3, 0.8, 0.1))
    need = st.seeds_to_decide(e, st.approx(0.78, 0.05))  # 0.03 from the edge
    direct = next(n for n in range(20, 1000) if 1.959964 * 0.1 / math.sqrt(n) < 0.03)
    assert need == direct == 43
    b = st.mean_interval(_with_sd(need, 0.8, 0.1), Settings())
    assert b.method == "bootstrap" and abs(b.half - 0.03) < 0.004


def test_fewer_seeds_than_the_thesis_is_partly_run_with_what_the_data_say():
    ds = study(np.array([0.80, 0.81, 0.79])[None, None, :], [1.0], [100.0])
    row = measure(claim(thesis_seeds=50), Inputs(studies={"s": ds}), Settings())
    assert row["outcome"] == st.REPRODUCED
    assert row["verdict"] == "partly run: reproduced (3 of the thesis's 50 seeds (6 %))"


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
    x = np.random.default_rng(3).random(24)
    a = st.mean_interval(x, Settings())
    b = st.mean_interval(x, Settings())
    c = st.mean_interval(x, Settings(seed=1))
    assert a == b and a.method == "bootstrap" and a.n == 24
    assert (a.lo, a.hi) != (c.lo, c.hi)


def test_below_20_seeds_a_t_interval_from_20_the_bootstrap():
    assert st.BOOTSTRAP_MIN_SEEDS == 20 and Settings().bootstrap_min_seeds == 20
    assert st.mean_interval(np.arange(19.0), Settings()).method == "t-interval"
    assert st.mean_interval(np.arange(20.0), Settings()).method == "bootstrap"


def test_a_trend_below_20_seeds_is_a_t_interval_on_per_seed_slopes():
    rng = np.random.default_rng(0)
    acc = 0.9 - 0.01 * np.array([5.0, 10.0, 20.0])[:, None, None] + rng.normal(0, 0.02, (3, 2, 10))
    ds = study(acc, [5.0, 10.0, 20.0], [100.0, 200.0])
    row = measure(claim(where="trend", band="sign", value=-1.0, A=(1.0001, math.inf), thesis_seeds=10),
                  Inputs(studies={"s": ds}), Settings())
    per_seed = [np.polyfit([5.0, 10.0, 20.0], acc[:, :, k].mean(axis=1), 1)[0] for k in range(10)]
    e = st.t_interval(np.array(per_seed))
    assert row["interval"] == "t-interval" and (row["ci_lo"], row["ci_hi"]) == (round(e.lo, 4), round(e.hi, 4))


def test_a_trend_over_less_than_the_thesis_s_range_is_partly_run_over_it():
    acc = np.array([[[0.95] * 3] * 2, [[0.9] * 3] * 2, [[0.8] * 3] * 2]) + np.arange(3) * 1e-3
    ds = study(acc, [5.0, 10.0, 20.0], [100.0, 200.0])
    c = claim(where="trend", band="sign", value=-1.0, A=(1.0001, math.inf), thesis_A=(1.0, 70.0))
    row = measure(c, Inputs(studies={"s": ds}), Settings())
    assert row["outcome"] == st.REPRODUCED
    assert row["verdict"] == "partly run: reproduced (partly run over A 5-20 of the thesis's figure's 1-70)"
    full = study(acc, [2.0, 30.0, 70.0], [100.0, 200.0])
    assert measure(c, Inputs(studies={"s": full}), Settings())["verdict"] == st.REPRODUCED


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
    assert row["verdict"] == f"{st.PARTLY}: {st.REPRODUCED} (10 of the thesis's 40 (A, T) settings (25 %))"
    w100 = law_row(LAW_CLAIMS[0], ins, s)
    assert w100["data"] == "fig3_6" and w100["verdict"].startswith(st.PARTLY)  # 10 settings there too


def test_the_table_has_a_row_per_claim_law_and_phase_claim():
    from dynloss.verdicts.claims import CLAIMS, LAW_CLAIMS, PHASE_CLAIMS

    rows = table(Inputs(), "tiny")
    assert len(rows) == len(CLAIMS) + len(LAW_CLAIMS) + len(PHASE_CLAIMS) == 64
    assert all(r["verdict"] == st.NOT_RUN for r in rows)


def test_a_dynamics_run_s_statistics_at_its_primary_onset():
    """NTK lambda_max halves after the onset: relative change -0.5 (a 'falls' claim); lambda_max never
    goes below 0.9 lambda_th after it: floor 0.9 (below the band [0.95, inf) of 'stays above'). One run:
    the value, no interval."""
    steps = np.arange(0, 4000, 10)
    ds = xr.Dataset({"ntk_lmax": ("step_ntk", np.where(steps < 2000, 10.0, 5.0)),
                     "hess_eig": (("step_hess", "eig"), np.where(np.arange(0, 4000, 100) < 2000, 8.0, 9.0)[:, None]),
                     "onset_step_apparent": ((), 2000), "lambda_th_apparent": ((), 10.0)},
                    coords={"step_ntk": steps, "step_hess": np.arange(0, 4000, 100), "T": 1000.0})
    ds.attrs["primary_onset"] = "apparent"
    falls = claim(figure="dyn", protocol=None, quantity="ntk_lmax", where="ntk_change", band="sign", value=-1.0,
                  thesis_seeds=1)
    row = measure(falls, Inputs(dynamics={"dyn": ds}), Settings())
    assert row["estimate"] == pytest.approx(-0.5) and row["interval"] == "none"
    assert row["outcome"] == st.INCONCLUSIVE and "apparent onset (t = 2000)" in row["note"]
    floor = claim(figure="dyn", protocol=None, quantity="hess_eig", where="lambda_floor", band="lower", value=1.0,
                  thesis_seeds=1)
    assert measure(floor, Inputs(dynamics={"dyn": ds}), Settings())["estimate"] == pytest.approx(0.9)
    # several seeds of one protocol (stacked along seed): the mean with a t-interval; an onset before the
    # burn-in (T / 2 = 500) counts as none, and the row is partly run over the runs with a value
    early = ds.assign(onset_step_apparent=((), 300))
    other = ds.assign(ntk_lmax=ds["ntk_lmax"] * np.where(steps < 2000, 1.0, 0.8))
    three = xr.concat([ds, other, early], dim="seed").assign_coords(seed=[2000, 2001, 2002])
    row = measure(falls, Inputs(dynamics={"dyn": three}), Settings())
    want = st.t_interval(np.array([-0.5, -0.6]))
    assert row["estimate"] == pytest.approx(want.value) and row["interval"] == "t-interval"
    assert "2 of 3 runs with a value" in row["verdict"] and "seed 2002: the primary definition" in row["note"]


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
    with pytest.raises(ValueError, match=r"claim 'k': where='nowhere' has no measure \(known: best, fall_rise, final"):
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


# -- the rules of 2026-12-07 -----------------------------------------------------------------------


def _law_ds(lam, steps=None, T=None, **defs):
    """A thresholds dataset (run, lr) with ``lambda_th_<name>`` (and onset steps) for each definition."""
    eta = np.array([0.05, 0.075, 0.1, 0.125])
    n = lam.shape[0]
    steps = np.full(lam.shape, 5000) if steps is None else steps
    data = {}
    for name, v in {"apparent": lam, **defs}.items():
        data[f"lambda_th_{name}"] = (("run", "lr"), v)
        data[f"onset_step_{name}"] = (("run", "lr"), np.where(np.isfinite(v), steps, -1))
    T = np.full(n, 2000.0) if T is None else T
    return xr.Dataset(data, coords={"run": np.arange(n), "lr": eta, "T": ("run", T), "A": ("run", np.full(n, 5.0))})


def test_a_setting_without_an_onset_at_every_eta_does_not_enter_the_law():
    """Per-eta means over different settings are not paired: a setting enters only with all etas, the row
    says how many entered, and fewer than the thesis's 40 is partly run with the fraction."""
    from dynloss.verdicts.law import _slope_and_lof, law_estimate

    eta, lam = _paired_design(np.random.default_rng(4), spread=0.3)
    holes = lam.copy()
    holes[:24, 3] = np.nan  # 24 settings miss the largest eta: 16 of 40 complete
    s = Settings(resamples=300)
    got = law_estimate(_law_ds(holes), "apparent", s)
    want = law_estimate(_law_ds(lam[24:]), "apparent", s)
    assert got["n_entered"] == 16 and got["slope"].value == want["slope"].value and got["slope"].n == 16
    assert math.isnan(_slope_and_lof(np.log(eta), holes)[0])  # a resample with a missing eta is refused
    row = law_row(LawClaim("fig4_4", "law", "src"), Inputs(thresholds={"fig4_4": _law_ds(holes)},
                                                           primary={"fig4_4": "apparent"}), s)
    assert row["verdict"].startswith(f"{st.PARTLY}: ")
    assert "16 of the thesis's 40 (A, T) settings (40 %)" in row["verdict"]


def test_onsets_before_the_burn_in_do_not_count():
    """An onset in the first half of the first period (t < T / 2) is the start of training, not a
    bifurcation of the thesis: it counts as none (and so takes its setting out of the law)."""
    from dynloss.verdicts.law import law_estimate

    eta, lam = _paired_design(np.random.default_rng(5), spread=0.3)
    steps = np.full(lam.shape, 5000)
    steps[:10, 0] = 41  # T = 2000: before 1000
    steps[10, 1] = 1000  # exactly at the burn-in: counts
    got = law_estimate(_law_ds(lam, steps), "apparent", Settings(resamples=200))
    assert got["n_burn_in"] == 10 and got["n_entered"] == 30
    none = law_estimate(_law_ds(lam, steps), "apparent", Settings(resamples=200, burn_in=0.0))
    assert none["n_burn_in"] == 0 and none["n_entered"] == 40


def test_a_curvature_anchored_definition_is_never_primary_and_disagreement_is_named():
    eta, lam = _paired_design(np.random.default_rng(6), spread=0.3)
    flat = lam * eta ** 0.5  # slope -0.5
    s = Settings(resamples=300)
    ds = _law_ds(lam, ceiling=lam, visible=flat)
    row = law_row(LawClaim("fig4_8", "law", "src"), Inputs(thresholds={"fig4_8": ds}, primary={"fig4_8": "ceiling"}),
                  s)
    assert "[primary onset: apparent]" in row["claim"] and "ceiling is curvature-anchored, never primary" in row["note"]
    assert "[definition-dependent]" in row["claim"]  # visible (loss-based) says not reproduced, apparent reproduced
    assert "ceiling*: reproduced" in row["definitions"] and "visible: not reproduced" in row["definitions"]
    agree = law_row(LawClaim("fig4_8", "law", "src"), Inputs(thresholds={"fig4_8": _law_ds(lam, visible=lam)}), s)
    assert "definition-dependent" not in agree["claim"]


def test_rows_of_one_measurement_count_once():
    from dynloss.verdicts.format import summary

    acc = np.array([0.5, 0.51, 0.49])
    ds = study(acc[None, None, :], [1.0], [100.0])
    c1 = claim(key="a", value=0.8)
    c2 = claim(key="b", value=0.9, shares="a")
    c3 = claim(key="c", value=0.5, quantity="test_acc")
    rows = table(Inputs(studies={"s": ds}), "t", claims=(c1, c2, c3), law_claims=(), phase_claims=())
    assert [r["measurement"] for r in rows] == ["m1", "m1", "m2"]
    assert [r["outcome"] for r in rows] == [st.NOT_REPRODUCED, st.NOT_REPRODUCED, st.REPRODUCED]
    assert summary(rows).startswith("1 reproduced, 0 reproduced - exceeds, 1 not reproduced, 0 inconclusive, "
                                    "0 not run (2 distinct measurements in 3 rows)")


def test_holm_on_a_known_family_marks_the_rows_that_keep_their_outcome():
    p = [0.001, 0.02, 0.012, 0.04, 0.5]
    # sorted 0.001 <= 0.05/5, 0.012 <= 0.05/4, 0.02 > 0.05/3: stop
    assert st.holm(p) == [True, False, True, False, False]
    assert st.holm([float("nan"), 0.01]) == [False, True]
    x3 = np.array([0.8, 0.81, 0.79])
    near = np.array([0.70, 0.74, 0.72])  # 0.72 against ~0.8: undecided with 3 seeds
    rows = table(Inputs(studies={"s": study(x3[None, None, :], [1.0], [100.0], test=near[None, None, :])}), "t",
                 claims=(claim(key="a"), claim(key="b", quantity="test_acc")), law_claims=(), phase_claims=())
    ps = [float(r["p_value"]) for r in rows]
    assert [r["outcome"] for r in rows] == [st.REPRODUCED, st.INCONCLUSIVE]
    assert ps[0] < 0.025 < ps[1] and st.holm(ps) == [True, False]
    assert [r["holm"] for r in rows] == ["kept", "undecided"]


def test_the_onset_phase_row_counts_onsets_after_the_burn_in_per_setting():
    from dynloss.verdicts.claims import PhaseClaim
    from dynloss.verdicts.qualitative import phase_row

    eta, lam = _paired_design(np.random.default_rng(7), n=20, spread=0.3)
    T = np.full(20, 2000.0)
    steps = np.full(lam.shape, 5500)  # phase 0.75: second half
    steps[:5, :2] = 4200  # phase 0.1: first half
    steps[5, :] = 30  # burn-in: not counted
    ds = _law_ds(lam, steps, T)
    row = phase_row(PhaseClaim("k", "fig3_6", "phase", "src"), Inputs(thresholds={"fig3_6": ds},
                                                                      primary={"fig3_6": "apparent"}), Settings())
    x = np.r_[np.full(5, 0.5), np.ones(14)]  # setting 5 has no onset after the burn-in
    assert row["estimate"] == round(x.mean(), 4) and row["n_seeds"] == 19
    assert "19 of 20 settings with an onset after the burn-in (95 %)" in row["verdict"] and "4 before it" in row["note"]


def _replication(train, test=None, A=(1.0, 15.0), T=(100.0,), loss="dce", width=100, lr=1.0, steps=35000):
    """A replication dataset: (A, T, spiral, seed)."""
    train = np.asarray(train, float)
    coords = {"A": list(A), "T": list(T), "spiral": 101 + np.arange(train.shape[2]),
              "seed": 2000 + np.arange(train.shape[3]), "loss": loss, "width": width, "lr": lr}
    ds = xr.Dataset({"final_train_acc": (("A", "T", "spiral", "seed"), train),
                     "test_acc": (("A", "T", "spiral", "seed"), train if test is None else np.asarray(test, float))},
                    coords=coords)
    return netcdf.stamp(ds, {"study": "rep", "study_config": {"steps": steps}})


def test_a_replication_row_has_the_spiral_as_its_unit_and_its_variance_components():
    """Mean of the spiral means, t-interval over spirals; the paired gain by (spiral, seed); within- and
    between-spiral SDs in the note (preregistration.md)."""
    import dynloss.plan  # noqa: F401 (registers the replication kind)
    from dynloss.plan.replication_kinds import Replication, spiral_estimate

    rng = np.random.default_rng(0)
    spiral = np.array([-0.06, -0.02, 0.02, 0.06]).reshape(1, 1, 4, 1)
    static = 0.6 + spiral + rng.normal(0, 0.01, (1, 1, 4, 5))
    osc = static + 0.3 + rng.normal(0, 0.01, (1, 1, 4, 5))
    ds = _replication(np.concatenate([static, osc]))
    ins = Inputs(other={"replication": {"rep": ds}})
    by_key = {c.key: c for c in Replication.claims}
    row = measure(by_key["H1_ce_w100_A1_train"], ins, Settings())
    means = static[0, 0].mean(axis=1)
    e = st.t_interval(means)
    assert row["estimate"] == round(e.value, 4) and (row["ci_lo"], row["ci_hi"]) == (round(e.lo, 4), round(e.hi, 4))
    assert row["n_seeds"] == 4 and row["interval"] == "t-interval" and "4 spirals x 5 seeds" in row["note"]
    assert "partly run" in row["verdict"] and "4 of the thesis's 10 pre-registered spirals (40 %)" in row["verdict"]
    _, within, between = spiral_estimate(static[0, 0], Settings())
    assert abs(within - 0.01) < 0.005 and abs(between - np.std([-0.06, -0.02, 0.02, 0.06], ddof=1)) < 0.01
    gain = measure(by_key["H5_ce_w100_gain_train"], ins, Settings())
    assert gain["estimate"] == round(float((osc - static)[0, 0].mean()), 4) and gain["outcome"] == st.REPRODUCED
    esc = measure(by_key["H17_ce_w100_escape"], ins, Settings())
    assert esc["verdict"] == "descriptive" and esc["estimate"] == round(float((static >= 0.6).mean()), 4)
    none = table(Inputs(), "t")
    assert not any(r["claim"].startswith("CE, width 100: train gain of A = 15") for r in none)  # its own table's


def test_two_publications_write_two_readme_blocks(tmp_path):
    """The confirmatory publication (folder docs/confirmatory) writes the README block named after its folder;
    the first publication (docs/reproduction) the plain one; neither touches the other's."""
    from dynloss.verdicts.publish import markers, readme_block, readme_text

    readme = tmp_path / "README.md"
    c0, c1 = markers("confirmatory")
    p0, p1 = markers("reproduction")
    readme.write_text(f"# x\n{c0}\nold c\n{c1}\n{p0}\nold p\n{p1}\n")
    csv_path = tmp_path / "t.csv"
    rows = table(Inputs(), "t")
    from dynloss.verdicts import to_csv

    csv_path.write_text(to_csv(rows))
    assert readme_block(readme, tmp_path / "confirmatory") == "confirmatory"
    assert readme_block(readme, tmp_path / "reproduction") == ""
    text = readme_text(readme, csv_path, [], "confirmatory", "docs/confirmatory")
    assert "old p" in text and "old c" not in text and "docs/confirmatory/reproduction.md" in text
    assert "Family-wise (Holm" in text
    plain = tmp_path / "R2.md"
    plain.write_text(f"{p0}\nold\n{p1}\n")
    assert readme_block(plain, tmp_path / "confirmatory") == ""  # no block of its own: the plain one


def test_a_campaign_of_its_own_names_its_claims_without_data_in_one_line():
    from dynloss.verdicts import to_markdown

    ds = study(np.array([0.80, 0.81, 0.79])[None, None, :], [1.0], [100.0])
    c1, c2 = claim(key="a", text="has data"), claim(key="b", text="no data", protocol=Protocol("dce", 5, 1.0, 9))
    listed = table(Inputs(studies={"s": ds}), "t", claims=(c1, c2), law_claims=(), phase_claims=())
    assert [r["listed"] for r in listed] == ["", ""] and "| not run |" in to_markdown(listed)
    rows = table(Inputs(studies={"s": ds}), "t", Settings(not_run_rows="summary"), claims=(c1, c2), law_claims=(),
                 phase_claims=())
    md = to_markdown(rows)
    assert [r["listed"] for r in rows] == ["", "no"] and "| not run |" not in md
    assert "Not run in this campaign (1 claims): no data." in md and "0 not run" in md


def test_a_dynamics_run_published_for_its_verdicts_keeps_the_traces_its_rows_read():
    from dynloss.verdicts.publish import VERDICT_TRACES, reduce

    steps = np.arange(10)
    ds = xr.Dataset({"L": ("step", steps * 1.0), "F": ("step", steps * 2.0), "gamma": (("step", "c"), np.ones((10, 3))),
                     "hess_eig": (("step_hess", "eig"), np.ones((2, 3))), "hess_eig_zoom": (("step_zoom", "eig"),
                     np.ones((4, 3))), "ntk_lmax": ("step_ntk", np.ones(5)), "test_acc": ((), 0.5)},
                    coords={"step": steps, "step_hess": [4, 9], "step_ntk": np.arange(5) * 2,
                            "step_zoom": np.arange(4)})
    kept = reduce(ds, keep="verdict")
    assert set(kept.data_vars) == {"test_acc", *VERDICT_TRACES} and "step_zoom" not in kept.coords
    assert set(reduce(ds, keep="final").data_vars) == {"test_acc"} and reduce(ds, keep="all") is ds


def test_a_dynamics_final_accuracy_over_seeds_says_it_has_an_interval():
    """One run: the thesis's protocol, no interval. Five seeds stacked along ``seed``: the mean with a
    t-interval, and the note says so (it no longer says 'one run')."""
    one = xr.Dataset({"train_acc": ((), 0.98)})
    final = claim(figure="dyn", protocol=None, quantity="train_acc", where="final", band="approx", value=1.0,
                  thesis_seeds=1)
    row = measure(final, Inputs(dynamics={"dyn": one}), Settings())
    assert row["interval"] == "none" and row["note"] == "one run, as in the thesis: no interval"
    acc = [0.97, 0.99, 0.98, 1.0, 0.96]
    five = xr.concat([one.assign(train_acc=((), a)) for a in acc], dim="seed").assign_coords(seed=range(2000, 2005))
    row = measure(final, Inputs(dynamics={"dyn": five}), Settings())
    assert row["estimate"] == pytest.approx(np.mean(acc)) and row["interval"] == "t-interval"
    assert row["note"] == "mean over 5 runs, t-interval"


def test_the_eta_laws_side_by_side_pair_by_loss_and_width_and_judge_each_definition():
    """Exploratory: apparent follows 1/eta, visible 1/eta^2; confirmatory: apparent 1/eta^2, visible 1/eta.
    Each definition is judged against the law band on its own side; rows pair by (loss, width); a
    dataset of another width has no partner and no row."""
    from dynloss.verdicts import compare

    eta, lam = _paired_design(np.random.default_rng(7), spread=0.3)
    steep = lam / eta[None]  # the same noise and setting effects, ~ eta^-2

    def labelled(ds, width):
        return ds.expand_dims(loss=["dmse1"], width=[width])

    old = labelled(_law_ds(lam, visible=steep), 100)
    new = labelled(_law_ds(steep, visible=lam), 100)
    other = labelled(_law_ds(lam, visible=lam), 700)
    s = Settings(resamples=300)
    rows = compare.side_by_side({"a": old, "b": other}, {"c": new}, {("dmse1", 100): "apparent"}, s)
    got = {r["definition"]: r for r in rows}
    assert [r["width"] for r in rows] == [100, 100] and set(got) == {"visible", "apparent"}
    assert got["apparent"]["exploratory"] == st.REPRODUCED and got["apparent"]["confirmatory"] == st.NOT_REPRODUCED
    assert got["visible"]["exploratory"] == st.NOT_REPRODUCED and got["visible"]["confirmatory"] == st.REPRODUCED
    assert got["apparent"]["primary"] == "yes" and got["visible"]["primary"] == ""
    assert got["apparent"]["confirmatory_slope"] == pytest.approx(-2, abs=0.05)
    assert got["apparent"]["exploratory_settings"] == "40 of 40"
    md = compare.to_markdown(rows, s)
    assert "0 of 2 (loss, width, definition) rows keep their outcome" in md


def test_law_compare_command_writes_the_table_and_refuses_what_is_not_thresholds_data(tmp_path, capsys):
    """The command pairs its files by (loss, width), skips exploratory files that are not thresholds data, refuses
    such a file as confirmatory (naming the flag) and a --primary that is not a definition, and writes nothing
    then."""
    from dynloss.cli import main

    eta, lam = _paired_design(np.random.default_rng(8), spread=0.3)
    law = _law_ds(lam, visible=lam).expand_dims(loss=["dce"], width=[100])
    paths = {}
    for name, ds in {"old": law, "new": law, "other": xr.Dataset({"final_train_acc": ("seed", [0.5, 0.6])})}.items():
        paths[name] = tmp_path / f"{name}.nc"
        netcdf.write_netcdf(ds, paths[name])
    md, out = tmp_path / "cmp.md", tmp_path / "cmp.csv"
    base = ["law-compare", "--exploratory", str(paths["old"]), "--exploratory", str(paths["other"]),
            "--md", str(md), "--csv", str(out), "--settings", '{"resamples": 200}']
    assert main(base + ["--confirmatory", str(paths["other"])]) == 2
    assert "--confirmatory" in capsys.readouterr().err and not md.exists()
    assert main(base + ["--confirmatory", str(paths["new"]), "--primary", "dce:100=nonsense"]) == 2
    assert "allowed: visible, growing" in capsys.readouterr().err and not md.exists()
    assert main(base + ["--confirmatory", str(paths["new"]), "--primary", "dce:100=apparent"]) == 0
    text = md.read_text()
    assert "| dce | 100 | apparent | yes | reproduced |" in text
    assert "2 of 2 (loss, width, definition) rows keep their outcome" in text
    assert out.read_text().splitlines()[0].startswith("loss,width,definition,primary")


def test_a_between_spiral_component_estimated_at_zero_says_why():
    """Spiral means that differ by less than the seeds' spread implies: the variance component is clipped at 0
    and the note gives the spiral means' SD beside it."""
    import dynloss.plan  # noqa: F401 (registers the replication kind)
    from dynloss.plan.replication_kinds import Replication

    rng = np.random.default_rng(1)
    static = 0.6 + rng.normal(0, 0.08, (1, 1, 10, 10))
    static -= static.mean(axis=3, keepdims=True) - 0.6  # every spiral's mean exactly 0.6
    static[0, 0, :, 0] += np.linspace(-0.003, 0.003, 10)  # means spread by ~0.0006, far below 0.08 / sqrt(10)
    ds = _replication(np.concatenate([static, static + 0.1]))
    row = measure({c.key: c for c in Replication.claims}["H1_ce_w100_A1_train"],
                  Inputs(other={"replication": {"rep": ds}}), Settings())
    sd = np.std(static[0, 0].mean(axis=1), ddof=1)
    assert "between-spiral SD 0.0000" in row["note"]
    assert f"the spiral means' SD, {sd:.4f}, is within what the seeds' spread explains" in row["note"]

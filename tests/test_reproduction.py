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


def claim(reduce, check=None, A=(1.0, 1.0), T=(0.0, float("inf")), var="final_train_acc", key="x"):
    return reproduction.Claim(key, "x", "fig3_4", 100, var, reduce, "~0.65", check or reproduction.Target(0.65),
                              "test", A, T)


def test_at_A_one_pools_every_T():
    ds = contour()
    row = reproduction.measure(claim("at"), ds)
    want = ds["final_train_acc"].sel(width=100, A=1.0).values.ravel()
    assert row["measured"] == pytest.approx(round(float(want.mean()), 4))
    # the true seed count, with the grid points pooled listed separately (issue 13 item 5)
    assert row["n_seeds"] == 4 and row["points_pooled"] == 2 and row["n_runs"] == 8 and row["at_A"] == 1.0


def test_best_in_region_reports_where():
    ds = contour()
    row = reproduction.measure(claim("best", A=(5, 20), T=(0, 300)), ds)
    assert row["measured"] == pytest.approx(0.99) and row["at_A"] == 10.0 and row["at_T"] == 100.0
    assert row["region_points"] == 1 and row["points_pooled"] == 1 and row["spread_sd"] == pytest.approx(0.0)


def test_missing_width_or_study_leaves_the_measurement_empty():
    ds = contour(widths=(16,))
    rows = reproduction.table({"fig3_4": ds}, "tiny")
    assert all(r["measured"] == "" for r in rows)
    assert {r["scale"] for r in rows} == {"tiny"}
    assert {r["verdict"] for r in rows} == {"not run"}
    assert len(rows) == len(reproduction.CLAIMS) + len(reproduction.LAW_CLAIMS)


def test_csv_and_html():
    rows = reproduction.table({"fig3_4": contour()}, "quick")
    text = reproduction.to_csv(rows)
    assert text.splitlines()[0].startswith("claim,study,width")
    assert len(text.splitlines()) == len(rows) + 1
    page = reproduction.to_html(rows, "note")
    assert "<table" in page and "<style>" in page and "class='v-not-run'" in page
    md = reproduction.to_markdown(rows, "note")
    table_lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table_lines) == len(rows) + 1 and "verdict" in table_lines[0]


def test_every_run_of_the_region_diverged_gives_a_row():
    """Issue 12 item 3: an all-NaN region was a ValueError (All-NaN slice) that killed the table."""
    ds = contour()
    ds["final_train_acc"].loc[dict(A=10.0)] = np.nan
    ds["test_acc"].loc[dict(A=10.0)] = np.nan
    c = claim("best", A=(5, 20), T=(0, 300))
    row = reproduction.measure(c, ds)
    assert row.get("measured", "") == "" and row["n_diverged"] == 4 and "all 4 runs diverged" in row["note"]
    assert reproduction.judge(c, row, {}) == "not reproduced"
    rows = reproduction.table({"fig3_4": ds}, "quick")
    assert any("diverged" in r["note"] for r in rows)


def test_diverged_variable_leaves_runs_out():
    ds = contour()
    div = xr.zeros_like(ds["final_train_acc"], dtype=bool)
    div.loc[dict(A=10.0, T=100.0, seed=0)] = True
    ds["diverged"] = div
    ds["final_train_acc"].loc[dict(A=10.0, T=100.0, seed=0)] = 0.333  # chance accuracy, not a result
    row = reproduction.measure(claim("best", A=(5, 20), T=(0, 300)), ds)
    assert row["measured"] == pytest.approx(0.99) and row["n_runs"] == 3 and row["n_diverged"] == 1
    assert row["n_seeds"] == 3 and "1 of 4 runs diverged" in row["note"]


@pytest.mark.parametrize("check,value,want", [
    (reproduction.Target(0.65), 0.66, "reproduced"),
    (reproduction.Target(0.65), 0.75, "not reproduced"),
    (reproduction.AtLeast(0.9), 0.95, "reproduced"),
    (reproduction.AtLeast(0.9), 0.9, "not reproduced"),  # the thesis says "> 0.9"
    (reproduction.Exceeds("base"), 0.8, "reproduced"),
    (reproduction.Exceeds("base"), 0.6, "not reproduced"),
    (reproduction.Below("base"), 0.6, "reproduced"),
    (reproduction.Exceeds("missing"), 0.8, "not run"),
])
def test_verdicts(check, value, want):
    c = claim("at", check)
    rows = {"base": {"measured": 0.7}, "missing": {"measured": ""}}
    assert reproduction.judge(c, {"measured": value}, rows) == want


def test_comparison_rows_in_the_table():
    """The CE width-1000 pair: the oscillation row is checked against the A = 1 row."""
    ds = contour(value=0.68)  # A = 10, T = 100 at 0.99 (test 0.94); elsewhere 0.68 (test 0.63)
    rows = {r["claim"]: r for r in reproduction.table({"fig3_4": ds}, "quick")}
    osc = rows["CE, width 1000, 5 <~ A <~ 25, T <~ 700: test accuracy"]
    base = rows["CE, width 1000, A = 1: test accuracy"]
    assert osc["measured"] == pytest.approx(0.94) and base["measured"] == pytest.approx(0.63)
    assert osc["verdict"] == base["verdict"] == "reproduced"
    assert osc["comparator"] == "m > m[ce_w1000_A1_test]"
    assert rows["CE, width 100, A = 1: train accuracy"]["verdict"] == "reproduced"  # 0.68 vs ~0.65
    assert rows["CE, width 1000, A = 1: train accuracy"]["verdict"] == "not reproduced"  # 0.68 vs ~1


FIT_COLS = ["loss", "width", "n_runs", "n_onset", "n_no_onset", "n_diverged", "slope", "slope_lo", "slope_hi",
            "n_fit", "note"]


def fit_rows(with_onset):
    rows = [{"loss": "dce", "width": "100", "n_runs": "40", "n_onset": "30", "n_no_onset": "10", "n_diverged": "0",
             "slope": "-0.98", "slope_lo": "-1.05", "slope_hi": "-0.91", "n_fit": "30", "note": ""},
            {"loss": "dce", "width": "1000", "n_runs": "40", "n_onset": "30", "n_no_onset": "10", "n_diverged": "0",
             "slope": "-0.7", "slope_lo": "-0.8", "slope_hi": "-0.6", "n_fit": "30", "note": ""},
            {"loss": "dce", "width": "1000", "n_runs": "40", "n_onset": "2", "n_no_onset": "38", "n_diverged": "0",
             "slope": "", "slope_lo": "", "slope_hi": "", "n_fit": "", "note": "need at least 3 points"},
            {"loss": "dce", "width": "all", "n_runs": "80", "n_onset": "60", "n_no_onset": "20", "n_diverged": "0",
             "slope": "-0.9", "slope_lo": "-1.2", "slope_hi": "-0.6", "n_fit": "60", "note": ""}]
    if with_onset:
        for r, o in zip(rows, ("coherent", "coherent", "loose", "coherent")):
            r["onset"] = o
    return rows


@pytest.mark.parametrize("with_onset", [False, True])
def test_eta_law_rows(with_onset, tmp_path):
    import csv

    path = tmp_path / "fig3_6_fit.csv"
    rows_in = fit_rows(with_onset)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows_in[0]))
        w.writeheader()
        w.writerows(rows_in)
    rows = reproduction.table({}, "quick", fits={"fig3_6": reproduction.read_fit_csv(path)})
    law = [r for r in rows if r["study"] == "fig3_6"]
    assert [r["width"] for r in law] == ["100", "1000", "1000"]  # the pooled "all" row is not a claim
    assert [r["verdict"] for r in law] == ["reproduced", "not reproduced", "not reproduced"]
    assert law[0]["ci_lo"] == -1.05 and law[0]["measured"] == -0.98
    assert "no fit" in law[2]["note"]
    assert ("[onset: loose]" in law[2]["claim"]) == with_onset
    others = [r for r in rows if r["study"] in ("fig4_4", "fig4_8")]
    assert len(others) == 2 and {r["verdict"] for r in others} == {"not run"}


def test_cli_writes_every_copy(tmp_path):
    from dynloss import cli, netcdf

    netcdf.write_netcdf(contour(), tmp_path / "fig3_4.nc")
    out = tmp_path / "t"
    rc = cli.main(["reproduction", f"fig3_4={tmp_path / 'fig3_4.nc'}", "--csv", f"{out}.csv", "--md", f"{out}.md",
                   "--html", f"{out}.html", "--scale", "quick"])
    assert rc == 0
    assert "reproduced" in (tmp_path / "t.md").read_text() and (tmp_path / "t.html").exists()
    assert cli.main(["reproduction", "--fit", f"fig3_6={tmp_path / 'none.csv'}", "--csv", f"{out}.csv"]) == 2

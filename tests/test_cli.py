import subprocess
import sys

import pytest

from dynloss import cli, netcdf

GOOD = ["train", "--loss", "dce", "--width", "8", "--lr", "1", "--A", "3", "--T", "20",
        "--steps", "40", "--seeds", "0-1", "--points-per-class", "10", "--test-seeds", "1", "-q"]


def run(argv, capsys):
    code = cli.main(argv)
    return code, capsys.readouterr().err


def with_arg(flag, value):
    argv = list(GOOD)
    i = argv.index(flag)
    argv[i + 1] = value
    return argv


@pytest.mark.parametrize("flag,value,message", [
    ("--loss", "huber", "--loss: unknown loss 'huber' (allowed: ce, mse, dce, dmse1, dmse2, hinge, dhinge)"),
    ("--A", "0.5", "--A: '0.5' is not allowed (a number >= 1)"),
    ("--T", "0", "--T: '0' is not allowed (a number > 0)"),
    ("--T", "-3", "--T: '-3' is not allowed (a number > 0)"),
    ("--steps", "0", "--steps: '0' is not allowed (an integer > 0)"),
    ("--width", "0", "--width: '0' is not allowed (an integer > 0)"),
    ("--width", "ten", "--width: 'ten' is not a number (an integer > 0)"),
    ("--lr", "0", "--lr: '0' is not allowed (a number > 0)"),
    ("--lr", "-1", "--lr: '-1' is not allowed (a number > 0)"),
    ("--seeds", "3-1", "--seeds: malformed seed range '3-1'"),
    ("--seeds", "a-b", "--seeds: malformed seed range 'a-b'"),
    ("--seeds", "0-1,1", "repeats a seed"),
])
def test_bad_input_exits_nonzero_with_one_line(flag, value, message, capsys, tmp_path):
    out = tmp_path / "x.nc"
    code, err = run(with_arg(flag, value) + ["--out", str(out)], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = run(GOOD + ["--out", str(blocker / "x.nc")], capsys)
    assert code == 2 and "--out: cannot write" in err and len(err.strip().splitlines()) == 1


def test_missing_required_argument(capsys):
    code, err = run(["train", "--loss", "dce"], capsys)
    assert code == 2 and "required" in err


def test_good_run_writes_labelled_netcdf(capsys, tmp_path):
    out = tmp_path / "sub" / "x.nc"
    code = cli.main(GOOD + ["--out", str(out)])
    assert code == 0
    ds = netcdf.open_dataset(out)
    assert ds["L"].dims == ("seed", "step") and list(ds["seed"].values) == [0, 1]
    assert float(ds["lr"]) == 1.0 and str(ds["loss"].values) == "dce"


def test_progress_and_eta_on_stderr(capsys, tmp_path):
    argv = [a for a in GOOD if a != "-q"] + ["--out", str(tmp_path / "y.nc"), "--record-every", "10",
                                             "--chunk-steps", "20"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "run-steps/s" in err and "ETA" in err and "wrote" in err


def test_parse_seeds():
    assert cli.parse_seeds("0-2") == [0, 1, 2]
    assert cli.parse_seeds("5") == [5]
    assert cli.parse_seeds("0-1,7") == [0, 1, 7]


def test_module_help_runs():
    out = subprocess.run([sys.executable, "-m", "dynloss", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--loss" in out.stdout and "dmse2" in out.stdout


# --- every bad input is one line and exit 2, nothing written -------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert cli.main(GOOD + ["--out", str(d / "a.nc")]) == 0
    assert cli.main(["thresholds", "--loss", "dce", "--width", "8", "--lr", "1", "--A", "2", "--T", "10",
                     "--seeds", "0", "--steps", "20", "--hess-every", "10", "--trace-every", "10",
                     "--points-per-class", "10", "--test-seeds", "1", "-q", "--out", str(d / "t.nc")]) == 0
    (d / "bad.nc").write_bytes(b"garbage, not NetCDF")
    (d / "cifar").mkdir()
    return d


TRAIN = ["train", "--loss", "dce", "--width", "8", "--lr", "1", "--steps", "20", "--seeds", "0", "-q"]
BAD_INPUT = [
    ("aggregate corrupt", ["aggregate", "{d}/bad.nc", "--out", "{d}/o.nc"], "bad.nc' is corrupt or unreadable"),
    ("aggregate duplicate", ["aggregate", "{d}/a.nc", "{d}/a.nc", "--out", "{d}/o.nc"], "is given twice"),
    ("aggregate unrelated", ["aggregate", "{d}/a.nc", "{d}/t.nc", "--out", "{d}/o.nc"], "do not combine"),
    ("figure no inputs", ["figure", "contour", "--pdf", "{d}/o.pdf"], "needs its study's NetCDF"),
    ("figure options list", ["figure", "contour", "{d}/a.nc", "--pdf", "{d}/o.pdf", "--options", "[1]"],
     "--options: must be a JSON object"),
    ("figure wrong kind", ["figure", "thresholds", "{d}/a.nc", "--pdf", "{d}/o.pdf"], "cannot draw a thresholds"),
    ("figure schedule A=0", ["figure", "schedule", "--pdf", "{d}/o.pdf", "--options",
                             '{"A": 0, "T": 10, "steps": 100}'], "--options: A must be a finite number >= 1"),
    ("huge seed range", TRAIN[:-2] + ["0-99999999999", "-q", "--out", "{d}/o.nc"],
     "--seeds: '0-99999999999' names more"),
    ("empty test seeds", TRAIN + ["--test-seeds=", "--out", "{d}/o.nc"], "--test-seeds: '' is empty"),
    ("negative test seed", TRAIN + ["--test-seeds=-1", "--out", "{d}/o.nc"], "--test-seeds: '-1' is not allowed"),
    ("infinite noise", TRAIN + ["--noise", "inf", "--out", "{d}/o.nc"], "--noise: 'inf' is not allowed"),
    ("density step flag", TRAIN + ["--density-steps", "5", "--out", "{d}/o.nc"], "--density-steps: density step 5"),
    ("synthetic-cifar onto a file", ["synthetic-cifar", "--out", "{d}/a.nc"], "--out: '{d}/a.nc' is a file"),
    ("reproduction csv a folder", ["reproduction", "--csv", "{d}"], "--csv: cannot write"),
    ("reproduction missing study", ["reproduction", "--study", "nope={d}/missing.nc", "--csv", "{d}/o.csv"],
     "--study: missing '{d}/missing.nc'"),
    ("reproduction bad settings", ["reproduction", "--settings", '{"tol": 1}', "--csv", "{d}/o.csv"],
     "--settings: unknown key 'tol'"),
    ("confirm unknown key", ["confirm", "nope", "--study", "a={d}/a.nc", "--job", "{d}/a.nc", "--seeds", "1000",
                             "--out", "{d}/o.nc"], "key: 'nope' is not a confirm key"),
    ("thresholds negative seed", ["thresholds", "--loss", "dce", "--width", "8", "--lr", "1", "--A", "2", "--T", "10",
                                  "--seeds", "-1", "--steps", "20", "--out", "{d}/o.nc"],
     "--seeds: '-1' is not allowed"),
    ("myrtle peak lr 0", ["myrtle", "--peak-lr", "0", "--cifar-dir", "{d}/cifar", "--loss", "dce", "--seeds", "0",
                          "--out", "{d}/o.nc"], "--peak-lr: peak_lr must be a finite number > 0"),
    ("width beyond memory", ["train", "--loss", "dce", "--width", "10000000", "--lr", "1", "--steps", "20",
                             "--seeds", "0", "--out", "{d}/o.nc"], "--max-memory-gb: this job needs about"),
    ("steps beyond memory", ["train", "--loss", "dce", "--width", "8", "--lr", "1", "--steps", "1000000000000",
                             "--seeds", "0", "--out", "{d}/o.nc"], "more than the budget of 8 GB"),
]


@pytest.mark.parametrize("argv,message", [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(files, argv, message, capsys, monkeypatch):
    monkeypatch.delenv("DYNLOSS_MAX_MEMORY_GB", raising=False)
    argv = [a.replace("{d}", str(files)) for a in argv]
    before = sorted(p.name for p in files.iterdir())
    code, err = run(argv, capsys)
    assert code == 2, err
    assert message.replace("{d}", str(files)) in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in files.iterdir()) == before


def test_memory_budget_is_configurable(monkeypatch):
    from dynloss import budget
    from dynloss.spec import TrainSpec

    spec = TrainSpec(loss="dce", width=100_000, steps=1000)
    need = budget.train_bytes(spec, 4) / 1e9
    assert 1 < need < 100
    budget.check(spec, 4, need * 1.01)
    with pytest.raises(budget.BudgetError, match="more than the budget"):
        budget.check(spec, 4, need * 0.99)
    monkeypatch.setenv("DYNLOSS_MAX_MEMORY_GB", "123")
    assert budget.default_budget_gb() == 123.0


def test_every_configured_job_fits_the_default_budget():
    """The budget refuses typos, not the thesis: every job at every scale fits 8 GB (as on a GPU)."""
    from dynloss import budget, config
    from dynloss.plan import Plan
    from dynloss.spec import TrainSpec

    for scale in ("paper", "quick", "tiny"):
        cfg = config.load_config(scale=scale)
        for name in Plan(cfg).studies("contour", "curves", "thresholds"):
            st = cfg["studies"][name]
            runs = st.get("seeds_per_job") or st["runs_per_job"]
            for w in st["widths"]:
                spec = TrainSpec(loss=st["loss"], width=w, steps=st["steps"],
                                       record_every=st.get("record_every", 1), chunk_steps=cfg["chunk_steps"])
                assert budget.train_bytes(spec, runs, "vmap") < budget.DEFAULT_GB * 1e9, (scale, name)


def test_version_flag(capsys):
    from dynloss import __version__

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"dynloss {__version__}"


# --- one line, never a traceback; a figure all or nothing ---


@pytest.mark.parametrize("text,message", [
    (None, "No such file or directory"),
    ("studies: [\n", "not valid YAML (line 2)"),
    ("- a list\n", "not a mapping of config keys"),
])
def test_run_study_with_a_bad_config_file_is_one_line(text, message, capsys, tmp_path):
    path = tmp_path / "my.yaml"
    if text is not None:
        path.write_text(text)
    code, err = run(["run-study", "fig4_1", "--config", str(path)], capsys)
    assert code == 2 and f"config file '{path}': " in err and message in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_a_data_seed_beyond_numpy_is_one_line(capsys, tmp_path):
    code, err = run(TRAIN + ["--data-seed", str(10 ** 20), "--out", str(tmp_path / "o.nc")], capsys)
    assert code == 2 and "--data-seed: '100000000000000000000' is not allowed (an integer in 0..4294967295)" in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("cause", ["enospc", "hdf error on a full disk"])
def test_a_full_disk_is_one_line_naming_the_path(cause, capsys, tmp_path, monkeypatch):
    """HDF5 reports a full disk as "NetCDF: HDF error"; the line says what happened, and where."""
    import errno

    import xarray as xr

    from dynloss import files

    def full(*args, **kwargs):
        if cause == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    if cause != "enospc":
        monkeypatch.setattr(files, "_free_bytes", lambda folder: 0)
    out = tmp_path / "o.nc"
    code, err = run(TRAIN + ["--out", str(out)], capsys)
    assert code == 1 and err.strip().endswith(f"error: cannot write '{out}': No space left on device"), err
    assert "Traceback" not in err and sorted(tmp_path.iterdir()) == [], err


def test_a_figure_that_cannot_be_written_keeps_neither_half(capsys, tmp_path, monkeypatch):
    """A full disk while writing the PNG left the new PDF beside no PNG."""
    import errno

    from matplotlib.figure import Figure

    savefig = Figure.savefig

    def png_fails(self, fname, *args, **kwargs):
        if str(fname).endswith(".png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", png_fails)
    pdf, png = tmp_path / "s.pdf", tmp_path / "s.png"
    code, err = run(["figure", "schedule", "--pdf", str(pdf), "--png", str(png), "--options",
                     '{"A": 3, "T": 10, "steps": 100}'], capsys)
    assert code == 1 and f"cannot write '{png}': No space left on device" in err, err
    assert sorted(tmp_path.iterdir()) == [], err

import subprocess
import sys

import pytest

from dynloss import cli, io

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
    ("--loss", "hinge", "--loss: unknown loss 'hinge' (allowed: ce, mse, dce, dmse1, dmse2)"),
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
    ds = io.open_dataset(out)
    assert ds["L"].dims == ("seed", "step") and list(ds["seed"].values) == [0, 1]
    assert float(ds["lr"]) == 1.0 and str(ds["loss"].values) == "dce"


def test_progress_and_eta_on_stderr(capsys, tmp_path):
    argv = [a for a in GOOD if a != "-q"] + ["--out", str(tmp_path / "y.nc"), "--chunk-steps", "20"]
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

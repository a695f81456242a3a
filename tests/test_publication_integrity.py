"""The publication is the product: nothing replaces, alters or mislabels it, and a publish
is all or nothing. One test (or more) per case of the issue's table; the cases that went through
Snakemake run through Snakemake here (in copies: the committed publication is never touched)."""
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dynloss import cli, config, netcdf
from dynloss.plan import stored
from dynloss.verdicts import publish

ROOT = Path(__file__).resolve().parents[1]
PUBLICATION = ROOT / "docs" / "reproduction"
CPU_PAPER = PUBLICATION / "cpu_paper.yaml"


def snakemake(*args, timeout=900):
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    out = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    out.text = out.stdout + out.stderr  # Snakemake prints a refusal on stdout, its own errors on stderr
    return out


def tree(folder: Path) -> dict:
    """Every file under ``folder`` (relative path -> SHA-256): what must not change."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def committed(tmp_path):
    """A copy of the committed paper-settings publication with its manifest (written here from its
    stamped label where the committed one predates manifests), and a copy of the README whose verdict
    block it rewrites, so that nothing of the checkout is touched."""
    pub = tmp_path / "pub"
    shutil.copytree(PUBLICATION, pub)
    if not (pub / publish.MANIFEST).exists():  # the committed one predates manifests: the one its first publish writes
        publish.write_manifest(pub, publish.publication_label(paper_config()), "paper")
    readme = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", readme)
    return pub, readme


def paper_config() -> dict:
    """The prepared config of ``--configfile docs/reproduction/cpu_paper.yaml``, merged as Snakemake merges it."""
    user = config.load_yaml(CPU_PAPER)
    shipped = config.load_yaml(config.CONFIG_PATH)
    return config.prepare(config.deep_merge(shipped, user), shipped=shipped, user=user)


def publish_from_data(pub, readme, tmp_path, *extra):
    """``snakemake publish --configfile docs/reproduction/cpu_paper.yaml --config publish_from=data`` into the
    copy ``pub``."""
    return snakemake("publish", "--cores", "1", "--configfile", str(CPU_PAPER), "--config", "publish_from=data",
                     f"publish_dir={pub}", f"publish_readme={readme}", f"results={tmp_path / 'r'}", *extra)


# -- 1: another configuration's publish is refused when the workflow plans -----------------------------------


def test_snakemake_publish_of_another_configuration_is_refused_before_any_job_runs(committed, tmp_path):
    """Row 1: another stop rule is another configuration (another label; the issue's ``stop_rule=period`` was
    another when ``last_T`` was the default, ``never`` is now); Snakemake deleted the rule's output, the index
    holding the label, before the job ran, so the publication was replaced. Now the guard reads the
    publication's manifest when the workflow plans: refused, no job run, nothing changed."""
    pub, readme = committed
    before, readme_before = tree(pub), readme.read_text()
    have = publish.existing_label(pub)
    assert paper_config()["stop_rule"] != "never"
    out = publish_from_data(pub, readme, tmp_path, "stop_rule=never")
    text = out.text
    assert out.returncode != 0, text[-3000:]
    assert have in text and "publish_overwrite" in text, text[-3000:]
    assert tree(pub) == before and readme.read_text() == readme_before
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.log"))  # no job ran


def test_the_guard_reads_the_manifest_when_planning_a_tiny_publish(tmp_path):
    """The same at the tiny scale without published data: a dry run already refuses another label, and
    publish_overwrite=true lets it through."""
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "reproduction.csv").write_text("claim,verdict\n")
    publish.write_manifest(pub, "scale paper, configuration 000000000000", "paper")
    base = ("-n", "publish", "--config", "scale=tiny", f"results={tmp_path / 'r'}", f"publish_dir={pub}")
    out = snakemake(*base)
    assert out.returncode != 0 and "holds the publication 'scale paper, configuration 000000000000'" in out.text
    assert snakemake(*base, "publish_overwrite=true").returncode == 0


# -- 2, 3: publish_from=data reads only data that match the manifest and their study -------------------------


def test_a_data_file_replaced_by_another_study_s_is_refused(committed, tmp_path):
    """Row 2: fig4_6.nc (MSE v2) copied over fig4_2.nc (MSE v1) was re-rendered as MSE v1. Now refused
    before any job runs, naming the file; with the manifest rewritten to match, the study check still
    refuses it (the file holds study fig4_6)."""
    pub, readme = committed
    shutil.copyfile(pub / "data" / "fig4_6.nc", pub / "data" / "fig4_2.nc")
    before = tree(pub)
    out = publish_from_data(pub, readme, tmp_path)
    assert out.returncode != 0
    assert "fig4_2.nc" in out.text and "differs from the manifest" in out.text, out.text[-3000:]
    assert tree(pub) == before
    publish.write_manifest(pub, publish.existing_label(pub), "paper")  # the manifest forged to match
    out = publish_from_data(pub, readme, tmp_path)
    assert out.returncode != 0 and "holds study 'fig4_6', not 'fig4_2'" in out.text, out.text[-3000:]


def test_a_value_altered_in_a_data_file_is_refused(committed, tmp_path):
    """Row 3: a value rewritten with netCDF4 in r+ mode (HDF5 rewrites its checksum with it) changed a
    verdict; the manifest's SHA-256 catches it before anything reads the file."""
    import netCDF4

    pub, readme = committed
    with netCDF4.Dataset(pub / "data" / "fig4_2.nc", "r+") as ds:
        var = ds.variables["final_train_acc"]
        values = var[:]
        values.flat[0] = 1.0 - float(values.flat[0])
        var[:] = values
    before = tree(pub)
    out = publish_from_data(pub, readme, tmp_path)
    assert out.returncode != 0
    assert "data/fig4_2.nc" in out.text and "SHA-256" in out.text, out.text[-3000:]
    assert tree(pub) == before


def test_verify_data_names_what_differs_from_the_study(tmp_path):
    """The study check on its own: loss, widths and the protocol keys a data file records."""
    ds = xr.Dataset({"final_train_acc": (("loss", "width"), np.ones((1, 1)))},
                    coords={"loss": ["dmse1"], "width": [100]},
                    attrs={"config": json.dumps({"study": "s", "study_config": {"loss": "dmse1", "lr": 0.075,
                                                                                "steps": 50000}})})
    path = netcdf.write_netcdf(ds, tmp_path / "pub" / "data" / "s.nc")
    publish.write_manifest(tmp_path / "pub", "scale x, configuration y")
    study = {"loss": "dmse1", "widths": [100, 700], "lr": 0.075, "steps": 50000}
    publish.verify_data(tmp_path / "pub", {str(path): ("s", study)}, "scale x, configuration y")
    for change, words in (({"loss": "dmse2"}, "holds loss dmse1"), ({"widths": [700]}, "holds widths [100]"),
                          ({"steps": 400}, "steps 50000")):
        with pytest.raises(publish.PublishError, match=re.escape(words)):
            publish.verify_data(tmp_path / "pub", {str(path): ("s", {**study, **change})}, "scale x, configuration y")
    with pytest.raises(publish.PublishError, match="published as 'scale x, configuration y'"):
        publish.verify_data(tmp_path / "pub", {str(path): ("s", study)}, "scale x, configuration z")


# -- 4: publish_dir is a publication or a new/empty folder ---------------------------------------------------


def test_publish_never_replaces_a_project_folder(tmp_path, monkeypatch, capsys):
    """Row 4: ``--out .`` in the repository replaced its README.md with a publication index, and
    ``--out /`` wrote /README.md. A folder that is the working directory (or above it), the repository
    root, / or a folder holding other files is refused with one line; a new folder is fine."""
    (tmp_path / "t.csv").write_text("claim,verdict\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n")
    monkeypatch.chdir(project)
    args = ["publish", str(tmp_path / "t.csv"), "--scale", "tiny", "--label", "x", "--out"]
    assert cli.main(args + ["."]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out: '.' is the working directory" in err
    assert (project / "README.md").read_text() == "# my project\n"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    assert cli.main(args + [str(other)]) == 2
    assert "holds other files (first 'notes.txt')" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    for folder in ("/", str(ROOT), str(ROOT / "docs" / "..")):
        with pytest.raises(publish.PublishError, match="root|working directory"):
            publish.check_folder(folder)
    assert cli.main(args + [str(tmp_path / "new")]) == 0


def test_a_publish_dir_that_is_not_a_publication_is_refused_when_planning(tmp_path):
    """Row 4 through the workflow: ``publish_dir=/`` and ``/etc`` passed ``snakemake -n``."""
    for folder in ("/", "/etc"):
        out = snakemake("-n", "publish", "--config", "scale=tiny", f"results={tmp_path / 'r'}", f"publish_dir={folder}")
        assert out.returncode != 0 and "config key 'publish_dir'" in out.text, out.text[-2000:]


# -- 5: the stored plan is checked ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_plan_edited_between_the_dry_run_and_the_run_trains_the_planned_job(tmp_path):
    """Row 5: ``steps`` edited in results/<scale>/.plan/<hash>.json between ``snakemake -n`` and the run
    trained 100 steps under the 200-step job's name. Now the run stores the plan again (its content is not
    its name) and the job trains what the config says."""
    base = ("--config", "scale=tiny", f"results={tmp_path / 'r'}", f"jax_cache={tmp_path / 'cache'}")
    res = tmp_path / "r" / "tiny"
    assert snakemake("-n", "fig4_1", *base).returncode == 0
    (plan,) = (res / ".plan").glob("*.json")
    cfg = json.loads(plan.read_text())
    steps = cfg["studies"]["fig4_1"]["steps"]
    cfg["studies"]["fig4_1"]["steps"] = steps // 2
    plan.write_text(json.dumps(cfg, indent=1))
    out = snakemake("fig4_1", "--cores", "1", *base)
    assert out.returncode == 0, out.text[-3000:]
    (job,) = (res / "fig4_1" / "runs").glob("*.nc")
    assert int(netcdf.open_dataset(job).attrs["steps"]) == steps


def test_an_edited_plan_is_refused_and_stored_again(tmp_path, capsys):
    """The smaller test of row 5: ``dynloss job`` refuses a plan whose content is not its name (and a plan
    that is not a config at all, ``--plan <(echo '[1]')``), and storing the config again rewrites it."""
    cfg = config.load_config(scale="tiny", results=str(tmp_path / "r"))
    path = Path(stored.store(cfg))
    text = path.read_text()
    path.write_text(text.replace(f'"steps": {cfg["studies"]["fig4_1"]["steps"]}', '"steps": 100', 1))
    out = str(tmp_path / "x.nc")
    assert cli.main(["job", "fig4_1", "--plan", str(path), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plan:" in err and "is not its name" in err
    assert stored.store(cfg) == str(path) and path.read_text() == text
    assert stored.load(str(path)) == json.loads(text)


def test_aggregate_refuses_a_job_file_of_another_job(tmp_path, monkeypatch, capsys):
    """A job file whose stored job hash differs from the plan's (trained from an edited plan before this
    check) is refused by aggregate, naming it."""
    from dynloss.plan import Plan

    cfg = config.load_config(scale="tiny", results=str(tmp_path / "r"))
    plan = Plan(cfg)
    job = plan.jobs("fig4_1")[0]
    ds = xr.Dataset({"final_train_acc": (("seed",), np.ones(2))}, coords={"seed": [0, 1], "loss": "mse", "width": 16},
                    attrs={"config": json.dumps({"job_hash": "0" * len(job.hash)})})
    netcdf.write_netcdf(ds, job.out)
    monkeypatch.setenv(stored.ENV, stored.store(cfg))
    meta = json.dumps(plan.aggregate_meta("fig4_1"))
    assert cli.main(["aggregate", job.out, "--out", str(tmp_path / "c.nc"), "--meta", meta]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was written by another job" in err and job.out in err
    ds.attrs["config"] = json.dumps({"job_hash": job.hash})
    netcdf.write_netcdf(ds, job.out)
    assert cli.main(["aggregate", job.out, "--out", str(tmp_path / "c.nc"), "--meta", meta]) == 0


def test_stale_plans_are_pruned(tmp_path):
    """Plans piled up, one per config, never removed: those unused for STALE_DAYS days go when another is
    stored; a recent one stays."""
    cfg = config.load_config(scale="tiny", results=str(tmp_path / "r"))
    old = Path(stored.store(config.load_config(scale="tiny", results=str(tmp_path / "r"), chunk_steps=40)))
    recent = Path(stored.store(config.load_config(scale="tiny", results=str(tmp_path / "r"), chunk_steps=60)))
    past = time.time() - 3650 * 86400  # unused for ten years: stale by any measure
    os.utime(old, (past, past))
    path = stored.store(cfg)
    assert not old.exists() and recent.exists() and Path(path).exists()


# -- 6, 7: all or nothing ------------------------------------------------------------------------------------


def _publication(tmp_path, n=24, size=1 << 21):
    """Items of a publication (tables and sizeable data files) and the folder holding its previous version."""
    src = tmp_path / "items"
    src.mkdir()
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        p = src / f"d{i:02d}.nc"
        p.write_bytes(rng.bytes(size))
        items.append(p)
    (src / "reproduction.csv").write_text("claim,verdict\nnew,reproduced\n")
    items.append(src / "reproduction.csv")
    pub = tmp_path / "pub"
    old = tmp_path / "old"
    old.mkdir()
    (old / "reproduction.csv").write_text("claim,verdict\nold,inconclusive\n")
    for i in range(n):
        (old / f"d{i:02d}.nc").write_bytes(b"old" * 10)
    assert cli.main(["publish", *map(str, [old / "reproduction.csv", *sorted(old.glob("*.nc"))]), "--out", str(pub),
                     "--scale", "paper", "--label", "L"]) == 0
    (pub / "commands.md").write_text("how it was run\n")  # a file of the folder that no publish makes
    return items, pub


def test_a_killed_publish_leaves_the_previous_publication(tmp_path):
    """Row 6: SIGKILL of the process group during ``dynloss publish`` left the index deleted and three
    figures new. Killed at every moment this test catches (as soon as anything beside or in the folder
    changes, then later), the folder is the previous publication or the new one, whole."""
    items, pub = _publication(tmp_path)
    previous = tree(pub)
    seen = {"previous": 0, "new": 0}
    cmd = [sys.executable, "-m", "dynloss", "publish", *map(str, items), "--out", str(pub), "--scale", "paper",
           "--label", "L"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for delay in (0.0, 0.05, 0.2, None):
        start = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while delay is not None and proc.poll() is None:  # wait for the publish to start writing
            now = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
            if now != start or tree(pub) != previous:
                time.sleep(delay)
                break
            time.sleep(0.002)
        if delay is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        state = tree(pub)
        if state == previous:
            seen["previous"] += 1
        else:
            assert "commands.md" in state and state["reproduction.csv"] == hashlib.sha256(
                items[-1].read_bytes()).hexdigest(), "a half-updated publication"
            assert all(state[f"data/{p.name}"] == hashlib.sha256(p.read_bytes()).hexdigest() for p in items[:-1])
            assert publish.read_manifest(pub)["files"]["README.md"] == state["README.md"]
            seen["new"] += 1
            break
    assert seen["previous"] >= 1 and seen["new"] == 1, seen
    assert not list(tmp_path.glob(".pub.staging.*")), "the killed publish's staging folder is cleaned up"


def test_without_an_exchange_a_publish_killed_between_its_two_renames_is_put_back(tmp_path, monkeypatch):
    """Where the filesystem cannot swap two folders in one step, the swap is two renames; a publish killed
    between them leaves the previous publication aside, and the next publish puts it back first."""
    items, pub = _publication(tmp_path, n=2, size=100)
    previous = tree(pub)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".pub.staging.{int(dead.stdout)}.0000.old"
    os.rename(pub, aside)  # the state a kill between the renames leaves
    monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    assert cli.main(["publish", str(tmp_path / "items" / "reproduction.csv"), "--out", str(pub), "--scale", "paper",
                     "--label", "another"]) == 2  # the previous publication is back, and guarded
    assert tree(pub) == previous and not aside.exists()
    assert cli.main(["publish", *map(str, items), "--out", str(pub), "--scale", "paper", "--label", "L"]) == 0
    assert tree(pub)["reproduction.csv"] == publish.sha256(items[-1]) and not list(tmp_path.glob(".pub.staging.*"))


def test_a_full_disk_leaves_the_previous_publication(tmp_path, monkeypatch, capsys):
    """Row 7: a full disk during publish left a new reproduction.csv beside the old figures and index.
    Now the failure is one line (exit 1) and the folder is the previous publication, whole."""
    items, pub = _publication(tmp_path, n=4, size=1000)
    previous = tree(pub)
    copies = {"n": 0}
    real_copyfile = shutil.copyfile

    def full_after_two(src, dst, *a, **k):
        copies["n"] += 1
        if copies["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_copyfile(src, dst, *a, **k)

    monkeypatch.setattr(shutil, "copyfile", full_after_two)
    capsys.readouterr()
    rc = cli.main(["publish", *map(str, items), "--out", str(pub), "--scale", "paper", "--label", "L"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "No space left on device" in err, err
    assert tree(pub) == previous
    assert not list(tmp_path.glob(".pub.staging.*"))


def test_a_legacy_publication_is_accepted_once_and_gets_its_manifest(tmp_path):
    """A publication from before manifests (an index with a stamped label) is a publication of that label:
    the same label republishes into it and writes the manifest, which holds every item's SHA-256 and keeps
    the files no publish made."""
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "README.md").write_text(f"# old index\n\n{publish.LABEL_MARK}scale paper, configuration abc -->\n")
    (pub / "commands.md").write_text("how\n")
    (tmp_path / "reproduction.csv").write_text("claim,verdict\n")
    args = ["publish", str(tmp_path / "reproduction.csv"), "--out", str(pub), "--scale", "paper", "--label"]
    assert cli.main(args + ["scale paper, configuration other"]) == 2
    assert cli.main(args + ["scale paper, configuration abc"]) == 0
    man = publish.read_manifest(pub)
    assert man["label"] == "scale paper, configuration abc" and man["configuration"] == "abc"
    assert man["files"]["reproduction.csv"] == publish.sha256(pub / "reproduction.csv")
    assert man["kept"] == {"commands.md": publish.sha256(pub / "commands.md")}


# -- 8, 9, 11: configuration -----------------------------------------------------------------------------------


#: seven levels of eight aliases: 8^7 (two million) values once expanded, a few hundred bytes of YAML
BOMB = "[" + ", ".join(f"&l{i} [{', '.join([f'*l{i - 1}' if i else '1'] * 8)}]" for i in range(7)) + "]"


@pytest.mark.parametrize("where", ["studies", "top"])
def test_a_yaml_alias_bomb_is_refused_at_once_naming_the_file(tmp_path, where):
    """Row 8: nested aliases under ``scales.<name>.studies`` grew to 2.8 GB before a MemoryError (at the top
    level to 1.16 GB before a refusal). Now refused in seconds, naming the file."""
    text = (f"scales:\n  tiny:\n    studies:\n      fig4_1:\n        junk: {BOMB}\n" if where == "studies"
            else f"junk: {BOMB}\n")
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match="aliases"):
        config.load_yaml(path)
    t0 = time.perf_counter()
    out = snakemake("-n", "--configfile", str(path), "--config", "scale=tiny", f"results={tmp_path / 'r'}", timeout=300)
    elapsed = time.perf_counter() - t0
    assert out.returncode != 0 and str(path) in out.text and "aliases" in out.text, out.text[-2000:]
    assert elapsed < 60, elapsed


def test_publish_overwrite_true_from_the_command_line_is_a_boolean(tmp_path):
    """Row 9: ``--config publish_overwrite=true`` (the guide's spelling) was "'true' is not of type
    'boolean'"; ``true``/``false`` are booleans now, anything else is refused naming the key."""
    base = ("-n", "publish", "--config", "scale=tiny", f"results={tmp_path / 'r'}", f"publish_dir={tmp_path / 'p'}")
    assert snakemake(*base, "publish_overwrite=true").returncode == 0
    assert snakemake(*base, "publish_overwrite=false").returncode == 0
    out = snakemake(*base, "publish_overwrite=maybe")
    assert out.returncode != 0 and "config key 'publish_overwrite'" in out.text


@pytest.mark.parametrize("setting, key", [
    ("verdicts: {fresh_seed_offset: 1}\n", "verdicts.fresh_seed_offset"),
    ("verdicts: {resamples: 1000000000000}\n", "verdicts.resamples"),
    ("publish_readme: /nonexistent/README.md\n", "publish_readme"),
])
def test_bad_verdict_and_publish_settings_are_refused_when_planning(tmp_path, setting, key):
    """Row 11: fresh seeds overlapping the study's (tiny: seeds 0-1), 10^12 resamples and a missing
    publish_readme passed the dry run and failed (or mislabelled) at the end."""
    path = tmp_path / "c.yaml"
    path.write_text(setting)
    out = snakemake("-n", "publish", "--configfile", str(path), "--config", "scale=tiny", f"results={tmp_path / 'r'}",
                    f"publish_dir={tmp_path / 'p'}")
    assert out.returncode != 0 and f"config key '{key}'" in out.text, out.text[-2000:]


# -- 10: every subcommand's bad input is one line ------------------------------------------------------------


def _garbled(tmp_path) -> Path:
    ds = xr.Dataset({"final_train_acc": (("A", "T", "seed"), np.ones((1, 1, 2)))},
                    coords={"A": [1.0], "T": [10.0], "seed": [0, 1]})
    path = netcdf.write_netcdf(ds, tmp_path / "flipped.nc")
    data = bytearray(path.read_bytes())
    data[1] ^= 0xFF  # the HDF5 signature
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("case", ["job-plan-not-a-config", "onsets-empty", "merge-onsets-empty", "aggregate-folder",
                                  "figure-flipped", "fit-thresholds-flipped"])
def test_bad_files_are_one_line_and_exit_2(tmp_path, case, capsys):
    """Row 10: these were Python tracebacks (``figure`` opened its input with xr.open_dataset, bypassing the
    checked reader)."""
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    plan = tmp_path / "63"
    plan.write_text("[1]\n")
    out = str(tmp_path / "o.nc")
    argv = {
        "job-plan-not-a-config": ["job", "fig4_1", "--plan", str(plan), "--out", out],
        "onsets-empty": ["onsets", str(empty), "--traces", str(empty), "--onset", "visible", "--out", out],
        "merge-onsets-empty": ["merge-onsets", str(empty), str(empty), "--out", out],
        "aggregate-folder": ["aggregate", str(tmp_path), "--out", out],
        "figure-flipped": ["figure", "contour", str(_garbled(tmp_path)), "--pdf", str(tmp_path / "f.pdf")],
        "fit-thresholds-flipped": ["fit-thresholds", str(_garbled(tmp_path)), "--csv", str(tmp_path / "f.csv")],
    }[case]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err


# -- 12: corrupt-file advice by origin -----------------------------------------------------------------------


def test_a_corrupt_committed_data_file_is_restored_from_git_not_rerun(tmp_path):
    """Row 12: a truncated committed data file was refused with "delete it and rerun snakemake", which
    cannot remake committed data; the advice now fits the file's origin."""
    repo = tmp_path / "repo"
    ds = xr.Dataset({"x": (("i",), np.arange(3.0))})
    committed_file = netcdf.write_netcdf(ds, repo / "docs" / "reproduction" / "data" / "fig.nc")
    result = netcdf.write_netcdf(ds, repo / "results" / "fig.nc")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "docs"], check=True)
    subprocess.run(git + ["commit", "-qm", "data"], check=True)
    for path in (committed_file, result):
        path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(netcdf.CorruptFileError) as err:
        netcdf.open_dataset(committed_file)
    message = str(err.value)
    assert "restore it from git" in message and "checkout HEAD -- docs/reproduction/data/fig.nc" in message
    assert "delete it" not in message
    with pytest.raises(netcdf.CorruptFileError) as err:
        netcdf.open_dataset(result)
    assert "delete it and rerun" in str(err.value) and "git" not in str(err.value)

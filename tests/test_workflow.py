"""The workflow itself: lint, dry runs at every scale, a tiny end-to-end run."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd=ROOT, timeout=600, check=True):
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    out = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def job_counts(text: str) -> dict[str, int]:
    """Parse the 'job  count' table of a dry run."""
    counts = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z_0-9]+)\s+(\d+)\s*", line)
        if m and m.group(1) not in ("total",):
            counts[m.group(1)] = int(m.group(2))
        if m and m.group(1) == "total":
            counts["total"] = int(m.group(2))
    return counts


def test_lint_is_clean():
    out = snakemake("--lint")
    assert "Congratulations" in out.stdout + out.stderr


def confirm_keys(cfg, contours):
    """The claims' fresh-seed jobs whose protocol (loss, width, lr, steps) a contour study runs."""
    from dynloss.verdicts import confirm_jobs

    def runs(p):
        return any(cfg["studies"][n]["loss"] == p.loss and p.width in cfg["studies"][n]["widths"]
                   and float(cfg["studies"][n]["lr"]) == p.lr and cfg["studies"][n]["steps"] == p.steps
                   for n in contours)
    return [k for k, claims in confirm_jobs().items() if runs(claims[0].protocol)]


def expected_jobs(scale):
    from dynloss import config
    from dynloss.plan import Plan

    cfg = config.load_config(scale=scale)
    plan = Plan(cfg)
    kinds = {k: plan.studies(k) for k in ("contour", "curves", "dynamics", "thresholds", "myrtle")}
    n_figures = len(cfg["figures"]) + sum(len(v) for v in kinds.values())
    synthetic = [n for n in kinds["myrtle"] if cfg["studies"][n]["cifar_dir"] == "synthetic"]
    trained = kinds["contour"] + kinds["curves"] + kinds["myrtle"] + kinds["thresholds"]
    return {
        "train_job": sum(len(plan.jobs(n)) for n in trained),
        "synthetic_cifar": len(synthetic),
        "dynamics": len(kinds["dynamics"]),
        "aggregate": len(kinds["contour"] + kinds["curves"] + kinds["myrtle"] + kinds["thresholds"]),
        "fit_thresholds": len(kinds["thresholds"]),
        # one onsets job per (training job, definition), one merge per training job
        "onsets": sum(len(plan.jobs(n)) * len(cfg["studies"][n]["analyse_onsets"]) for n in kinds["thresholds"]),
        "merge_onsets": sum(len(plan.jobs(n)) for n in kinds["thresholds"] if cfg["studies"][n]["analyse_onsets"]),
        "confirm": len(confirm_keys(cfg, kinds["contour"])),
        "figure": n_figures,
        "reproduction": 1,
        "all": 1,
    }


@pytest.mark.parametrize("scale", ["quick", "tiny"])
def test_dry_run_builds_the_dag(scale, tmp_path):
    out = snakemake("-n", "--config", f"scale={scale}", f"results={tmp_path}/r")
    counts = job_counts(out.stdout)
    want = expected_jobs(scale)
    assert {k: counts.get(k, 0) for k in want} == want
    assert counts["total"] == sum(want.values())


def test_paper_scale_dag_builds_quickly(tmp_path):
    t0 = time.perf_counter()
    out = snakemake("-n", "--config", f"results={tmp_path}/r")
    elapsed = time.perf_counter() - t0
    counts = job_counts(out.stdout)
    want = expected_jobs("paper")
    # contour/curves points, A = 1 once per width (2 x (1 + 9 x 10) + 2 + 2 x (1 + 7 x 9) twice) and thresholds
    # blocks (8 + 4 + 4); no Myrtle5 job (no CIFAR-10 folder configured); beyond the thesis: 6 digits contours of
    # 1 + 4 x 3 points, the hinge on the spiral (1 + 4 x 4) and the digits eta law of 4 etas; the fresh seeds of
    # 13 chosen points of the thesis's claims and 5 of the claims beyond it
    assert counts["train_job"] == 182 + 2 + 128 + 128 + 8 + 4 + 4 + 6 * 13 + 17 + 4 == want["train_job"]
    assert counts["confirm"] == 13 + 5 == want["confirm"]
    assert counts["total"] == sum(want.values())
    assert elapsed < 30, f"paper-scale DAG took {elapsed:.1f} s"


def test_a_results_path_with_a_space_stays_one_argument(tmp_path):
    """Every path in a shell rule is quoted, so a ``results`` folder
    with a space is one argument (not "unrecognized arguments" and a stray file). The rules of
    workflow/rules/report.smk (reproduction, publish) are another change's."""
    import shlex

    res = tmp_path / "with space"
    out = snakemake("-n", "-p", "--config", "scale=tiny", f"results={res}", "--", "all", "sensitivity_mse",
                    "fig4_1_infinite")
    commands = ["python -m dynloss " + line.split("python -m dynloss ", 1)[1]
                for line in out.stdout.splitlines() if "python -m dynloss " in line]
    checked = [c for c in commands if c.split()[3] not in ("reproduction", "publish")]
    assert {c.split()[3] for c in checked} >= {"job", "aggregate", "fit-thresholds", "figure",
                                               "sensitivity-combine", "infinite", "sensitivity-report"}
    for command in checked:
        assert not [t for t in shlex.split(command) if t.startswith("space/")], command


@pytest.mark.slow  # in-process: tests/test_config.py, test_invalid_config_is_rejected_with_its_key[scale]
def test_bad_config_is_a_clear_error(tmp_path):
    out = snakemake("-n", "--config", "scale=huge", check=False)
    assert out.returncode != 0
    assert "config key 'scale': 'huge' is not one of paper, quick, tiny" in out.stdout + out.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The whole DAG at the tiny scale, once for the tests below."""
    base = tmp_path_factory.mktemp("tiny")
    res = base / "results"
    args = ("--config", "scale=tiny", f"results={res}", f"jax_cache={base / 'cache'}")
    snakemake("--cores", "2", *args, timeout=900)
    return res / "tiny", args  # every scale has its own folder


@pytest.mark.e2e
def test_tiny_run_renders_every_figure_and_the_table(tiny_run):
    from dynloss import config

    res, _ = tiny_run
    cfg = config.load_config(scale="tiny")
    # the sensitivity studies have their own target (sensitivity_mse; tests/test_sensitivity.py)
    names = list(cfg["figures"]) + [n for n, st in cfg["studies"].items() if st["kind"] != "sensitivity"]
    assert "fig3_2" in names  # Myrtle5 on the synthetic set at this scale
    for name in names:
        for ext in ("pdf", "png"):
            p = res / "figures" / f"{name}.{ext}"
            assert p.exists() and p.stat().st_size > 1000, p
    rows = (res / "reproduction.csv").read_text().splitlines()
    assert rows[0].startswith("claim,") and len(rows) > 10
    assert (res / "reproduction.html").exists() and (res / "reproduction.md").exists()
    assert "verdict" in rows[0].split(",")
    for name in ("fig3_6", "fig4_4", "fig4_8"):
        assert (res / name / f"{name}_fit.csv").read_text().startswith("loss,width,n_runs")


@pytest.mark.e2e
def test_tiny_run_datasets_have_the_documented_dims(tiny_run):
    from dynloss import netcdf

    res, _ = tiny_run
    contour = netcdf.open_dataset(res / "fig4_2" / "fig4_2.nc")
    assert contour["test_acc"].dims == ("loss", "width", "lr", "A", "T", "seed")
    assert contour["L"].dims == ("loss", "width", "lr", "A", "T", "seed", "step")
    assert contour.attrs["git_commit"] and "config" in contour.attrs
    thr = netcdf.open_dataset(res / "fig3_6" / "fig3_6.nc")
    assert thr["lambda_th"].dims == ("loss", "width", "lr", "run")
    dyn = netcdf.open_dataset(res / "fig4_7" / "fig4_7.nc")
    assert dyn["hess_eig"].dims == ("seed", "step_hess", "eig")
    assert dyn["ntk_lmax"].dims == ("seed", "step_ntk")
    assert dyn["dL"].dims == ("seed", "step") and "onset_step" in dyn and "lambda_th" in dyn


@pytest.mark.e2e
def test_deleting_a_figure_reruns_only_that_figure(tiny_run):
    res, args = tiny_run
    (res / "figures" / "fig3_1.pdf").unlink()
    out = snakemake("-n", "fig3_1", *args)
    counts = job_counts(out.stdout)
    assert counts.get("figure") == 1 and counts["total"] == 2  # the figure and its named target
    snakemake("--cores", "1", "fig3_1", *args)
    assert (res / "figures" / "fig3_1.pdf").exists()
    assert "Nothing to be done" in snakemake("-n", *args).stdout + snakemake("-n", *args).stderr


@pytest.mark.e2e
def test_report_builds(tiny_run, tmp_path):
    _, args = tiny_run
    report = tmp_path / "report.html"
    snakemake("--report", str(report), *args)
    text = report.read_text(errors="ignore")
    assert report.stat().st_size > 100_000 and "reproduction" in text


def test_run_study_without_snakemake(tmp_path, capsys):
    """`dynloss run-study` runs a study's jobs in one process and renders the same files."""
    from dynloss import cli, netcdf

    assert cli.main(["run-study", "fig4_8", "--scale", "tiny", "--results", str(tmp_path / "r")]) == 0
    res = tmp_path / "r" / "tiny"
    ds = netcdf.open_dataset(res / "fig4_8" / "fig4_8.nc")
    assert ds["lambda_th"].dims == ("loss", "width", "lr", "run")
    assert (res / "fig4_8" / "fig4_8_fit.csv").exists()
    assert (res / "figures" / "fig4_8.png").stat().st_size > 1000
    # a second call finds every job done and only recombines
    assert cli.main(["run-study", "fig4_8", "--scale", "tiny", "--results", str(tmp_path / "r")]) == 0
    assert "done already" in capsys.readouterr().err
    assert cli.main(["run-study", "nope", "--scale", "tiny"]) == 2


def planned_outputs(*args, force=True):
    """Every output and log a dry run would write (absolute paths)."""
    out = snakemake("-n", *(["--forceall"] if force else []), *args).stdout
    paths = set()
    for line in out.splitlines():
        key, _, rest = line.strip().partition(":")
        if key in ("output", "log") and rest.strip():
            paths |= {Path(p.strip()).resolve() for p in rest.split(",")}
    return paths


@pytest.mark.e2e
def test_scales_never_share_a_file(tiny_run):
    """After a tiny run, quick and paper plan nothing inside the tiny results, and
    the tiny run's outputs are still up to date afterwards; tiny plans nothing outside its folder."""
    res, args = tiny_run
    base = res.parent
    rest = [a for a in args if not a.startswith("scale=")]
    tiny = planned_outputs(*args)
    assert tiny and all(base / "tiny" in p.parents for p in tiny)
    for scale in ("quick", "paper"):
        other = planned_outputs(*rest, f"scale={scale}")
        assert other and all(base / scale in p.parents for p in other), scale
        assert not tiny & other
        plain = snakemake("-n", *rest, f"scale={scale}").stdout
        assert str(res) not in plain
    again = snakemake("-n", *args)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.e2e
def test_a_cosmetic_edit_reruns_nothing(tiny_run, tmp_path):
    """A new title reruns only the figure; one more A value adds jobs and
    reruns no existing job; another chunk_steps reruns nothing."""
    import yaml

    res, args = tiny_run
    title = tmp_path / "title.yaml"
    title.write_text(yaml.safe_dump({"studies": {"fig4_2": {"title": "A new title"}}}))
    counts = job_counts(snakemake("-n", "--configfile", str(title), *args).stdout)
    assert counts.get("train_job", 0) == 0 and counts.get("aggregate", 0) == 0
    assert counts.get("figure") == 1, counts
    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump({"scales": {"tiny": {"studies": {"fig4_2": {"A": [1, 5, 7]}}}}}))
    counts = job_counts(snakemake("-n", "--configfile", str(more), *args).stdout)
    assert counts.get("train_job") == 2  # the two new (A = 7, T) points, nothing else
    runs = {p.name for p in planned_outputs("--configfile", str(more), *args, force=False)
            if p.parent.name == "runs"}
    assert runs and all("_A7_" in n for n in runs), runs
    # chunk_steps is an execution setting (tests/test_by_reference.py): changing it reruns nothing
    out = snakemake("-n", *args, "chunk_steps=1000").stdout
    assert "Nothing to be done" in out, job_counts(out)


def test_run_study_reruns_a_job_whose_spec_changed(tmp_path, capsys):
    """A job file made with other steps is not reused under the new config."""
    import yaml

    from dynloss import cli, config, netcdf

    res = tmp_path / "r"
    assert cli.main(["run-study", "fig4_1", "--scale", "tiny", "--results", str(res)]) == 0
    assert int(netcdf.open_dataset(res / "tiny" / "fig4_1" / "fig4_1.nc")["step"][-1]) == 199
    cfg = config.load_yaml()
    cfg["studies"]["fig4_1"]["steps"] = 400
    path = tmp_path / "more_steps.yaml"
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert cli.main(["run-study", "fig4_1", "--config", str(path), "--scale", "tiny", "--results", str(res)]) == 0
    assert "done already" not in capsys.readouterr().err
    ds = netcdf.open_dataset(res / "tiny" / "fig4_1" / "fig4_1.nc")
    assert int(ds["step"][-1]) == 399 and ds.sizes["step"] == 400 // 20


@pytest.mark.slow  # in-process: tests/test_plan.py, test_a_study_without_its_data_names_the_key_to_set
def test_missing_cifar_dir_names_the_key(tmp_path):
    """At paper scale without CIFAR-10, `snakemake fig3_2` says what to set."""
    out = snakemake("-n", "fig3_2", "--config", f"results={tmp_path}/r", check=False)
    assert out.returncode != 0 and "studies.fig3_2.cifar_dir" in out.stdout + out.stderr


@pytest.mark.slow  # in-process: tests/test_config.py, test_duplicate_yaml_keys_are_refused
def test_duplicate_keys_in_a_config_file_are_refused(tmp_path):
    """Snakemake's loader keeps the last of two equal keys; the workflow refuses."""
    path = tmp_path / "dup.yaml"
    path.write_text("studies:\n  fig4_1:\n    steps: 400\n    steps: 800\n")
    out = snakemake("-n", "--configfile", str(path), "--config", "scale=tiny", f"results={tmp_path}/r", check=False)
    assert out.returncode != 0 and "'steps': given twice" in out.stdout + out.stderr


def test_publishing_from_the_published_data_trains_nothing(tmp_path):
    """publish_from=data: the tables and figures are made from publish_dir/data, never from training
    (here the data files only need to exist and hold their study, in a publication with a manifest: a dry run)."""
    import json

    import xarray as xr

    from dynloss import config, netcdf
    from dynloss.plan import Plan
    from dynloss.verdicts import publish

    cfg = config.load_config(scale="tiny")
    plan = Plan(cfg)
    data = tmp_path / "pub" / "data"
    for n in plan.studies("contour", "curves", "dynamics", "thresholds", "myrtle"):
        netcdf.write_netcdf(xr.Dataset(attrs={"config": json.dumps({"study": n})}), data / f"{n}.nc")
    publish.write_manifest(tmp_path / "pub", publish.publication_label(cfg), "tiny")
    out = snakemake("-n", "publish", "--config", "scale=tiny", f"results={tmp_path}/r", "publish_from=data",
                    f"publish_dir={tmp_path}/pub")
    counts = job_counts(out.stdout)
    assert counts["publish"] == 1 and counts["reproduction"] == 1 and counts["figure"] >= 10
    assert not {"train_job", "dynamics", "aggregate", "onsets", "reduce", "confirm"} & set(counts), counts


def test_a_user_value_equal_to_the_shipped_one_reaches_the_jobs(tmp_path):
    """``--config chunk_steps=10000`` at the tiny scale (whose own
    value is 200) is the user's choice, not silently the scale's."""
    from dynloss.plan import Plan, stored

    snakemake("-n", "--config", "scale=tiny", "chunk_steps=10000", f"results={tmp_path}/r", "--", "fig4_2")
    (plan,) = (tmp_path / "r" / "tiny" / ".plan").glob("*.json")  # what the jobs read (dynloss job)
    chunks = {j.request.spec.chunk_steps for j in Plan(stored.load(str(plan))).jobs("fig4_2")}
    assert chunks == {10000}, chunks


def test_the_corrupt_file_advice_remakes_the_file(tmp_path):
    """"Delete it and rerun" did nothing when the figure made from
    the file was up to date (Snakemake does not remake a missing intermediate file then); the
    command the message gives does."""
    import shlex

    from dynloss import netcdf

    args = ("--config", "scale=tiny", f"results={tmp_path}")
    res = tmp_path / "tiny"
    job = res / "fig4_1" / "runs" / "mse_w16_lr0.075_A1_T1000_s0-1.nc"
    for i, path in enumerate([job, res / "fig4_1" / "fig4_1.nc", res / "figures" / "fig4_1.pdf",
                              res / "figures" / "fig4_1.png"]):  # up to date, oldest first
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"corrupt")
        os.utime(path, (1e9 + i, 1e9 + i))
    assert "Nothing to be done" in snakemake("-n", *args, "--", "fig4_1").stdout
    with pytest.raises(netcdf.CorruptFileError) as err:
        netcdf.open_dataset(job)
    command = re.search(r"`(snakemake [^`]*)`", str(err.value)).group(1)
    job.unlink()
    assert "Nothing to be done" in snakemake("-n", *args, "--", "fig4_1").stdout  # the plain rerun
    targets = [t for t in shlex.split(command)[1:] if not t.startswith("-") and not t.isdigit()]
    assert targets == [str(job)]
    assert job_counts(snakemake("-n", *args, "--", *targets).stdout) == {"train_job": 1, "total": 1}


@pytest.mark.e2e
def test_a_title_or_thesis_edit_of_a_sensitivity_study_recomputes_nothing(tmp_path):
    """A title edit of a sensitivity study or of fig4_1 reran the
    infinite-width reference, the combine and the report; now it redraws the figures only. A
    ``thesis_train`` edit recombines and rewrites the report (both carry the value) but does not
    rerun the reference."""
    import yaml

    args = ("--config", "scale=tiny", f"results={tmp_path / 'r'}", f"jax_cache={tmp_path / 'cache'}", "--",
            "sensitivity_mse", "fig4_1_infinite")
    snakemake("--cores", "2", *args, timeout=1200)
    edits = {"title": {"sens_mse_w100": {"title": "New"}, "fig4_1": {"title": "New"}},
             "thesis": {"sens_mse_w100": {"thesis_train": 0.5}}}
    reran = {}
    for name, studies in edits.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"studies": studies}))
        counts = job_counts(snakemake("-n", "--configfile", str(path), *args).stdout)
        reran[name] = {k for k, v in counts.items() if v and k not in ("total", "sensitivity_mse", "fig4_1_infinite")}
    assert reran["title"] == {"figure_sensitivity", "figure_curves_infinite"}, reran
    assert reran["thesis"] == {"aggregate_sensitivity", "figure_sensitivity", "sensitivity_report"}, reran

"""A rule hands a training job over by reference: ``dynloss job STUDY STEM`` reads it from the
stored plan (dynloss.plan.stored) and runs exactly the planned request; the job's identity (what
reruns it, and its hash) leaves execution settings such as ``chunk_steps`` out."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace

import pytest
import xarray as xr

from dynloss import cli, config, jobs
from dynloss.plan import Plan
from dynloss.plan import stored

#: sha256 over ``{"study/stem": job hash}`` of every job of the shipped config, computed at commit
#: 38fa0de (before jobs were handed over by reference and chunk_steps left the hash): a job file
#: or Snakemake record made then is still recognised as the same job
HASHES_AT_38FA0DE = {"paper": "c262639e6d98504e"}


def _digest(plan: Plan) -> str:
    h = {f"{j.study}/{j.stem}": j.hash for j in plan.jobs()}
    return hashlib.sha256(json.dumps(h, sort_keys=True).encode()).hexdigest()[:16]


def _mid_period(job) -> bool:
    """Whether a run of the job has A > 1 and a period T that does not divide its steps."""
    r = job.request
    if not hasattr(r, "spec") or not hasattr(r.spec, "stop_rule"):
        return False
    pairs = zip(r.A, r.T) if hasattr(r, "run_offset") else ((a, t) for a in r.A for t in r.T)
    return any(float(a) != 1.0 and r.spec.steps % float(t) for a, t in pairs)


#: config.yaml's studies at 38fa0de
STUDIES_AT_38FA0DE = ["fig3_4", "fig4_1", "fig4_2", "fig4_6", "fig3_5", "fig4_3", "fig4_7", "fig3_2", "fig3_6",
                      "fig4_4", "fig4_8", "sens_mse_w100", "sens_mse_w700", "sens_mse1", "sens_mse2", "sens_ce"]


def test_paper_job_hashes_are_those_of_the_jobs_computed_before():
    """Under the earlier stop rule (last_T) every paper job has the hash it had at 38fa0de; with the default
    since 2026-12-07 (period) exactly the jobs with a run whose T does not divide its steps change (they make
    other runs), and every other job keeps its hash (the two rules make the same runs there)."""
    # the studies of 38fa0de (config.yaml's later ones, the digits and the hinge, are not part of that digest)
    before = Plan(config.load_config(scale="paper", stop_rule="last_T", only_studies=STUDIES_AT_38FA0DE))
    assert len(before.jobs()) == 506
    assert _digest(before) == HASHES_AT_38FA0DE["paper"]
    now = Plan(config.load_config(scale="paper", only_studies=STUDIES_AT_38FA0DE))
    assert now.cfg["stop_rule"] == "period"
    old = {f"{j.study}/{j.stem}": j.hash for j in before.jobs()}
    changed = {f"{j.study}/{j.stem}" for j in now.jobs() if j.hash != old[f"{j.study}/{j.stem}"]}
    mid = {f"{j.study}/{j.stem}" for j in now.jobs() if _mid_period(j)}
    assert changed == mid and len(mid) > 10
    assert all(j.request.spec.stop_rule == "period" for j in now.jobs() if _mid_period(j))


@pytest.mark.parametrize("scale", ["paper", "tiny"])
def test_chunk_steps_changes_no_job_identity(scale):
    """Every accepted chunk length trains the same bits (tests/test_engine.py::
    test_every_accepted_chunk_length_gives_the_same_bits), so it is an execution setting: the
    jobs run with the new value, but their hash and identity, what reruns them, stay."""
    base = config.load_config(scale=scale)
    other = config.load_config(scale=scale, chunk_steps=4 * base["chunk_steps"])
    a, b = Plan(base).jobs(), Plan(other).jobs()
    assert [j.stem for j in a] == [j.stem for j in b]
    changed = 0
    for x, y in zip(a, b):
        assert x.hash == y.hash and x.identity() == y.identity(), x.stem
        spec = getattr(x.request, "spec", None)
        if hasattr(spec, "chunk_steps"):
            assert y.request.spec.chunk_steps == 4 * spec.chunk_steps
            changed += 1
    assert changed > 20
    # what does determine the numbers still changes the hash
    steps = copy.deepcopy(base)
    steps["studies"]["fig4_2"]["steps"] *= 2
    assert Plan(steps).jobs("fig4_2")[0].hash != Plan(base).jobs("fig4_2")[0].hash


def test_the_stored_plan_gives_back_every_job(tmp_path):
    cfg = config.load_config(scale="paper", results=str(tmp_path / "r"))
    path = stored.store(cfg)
    assert stored.store(cfg) == path  # one file per config, written once
    again = Plan(stored.load(path))
    for x, y in zip(Plan(cfg).jobs(), again.jobs(), strict=True):
        assert (x.study, x.stem, x.out, x.request) == (y.study, y.stem, y.out, y.request)
    assert stored.store(config.load_config(scale="paper", results=str(tmp_path / "r"), chunk_steps=20000)) != path


def _tiny(tmp_path):
    cfg = config.load_config(scale="tiny", results=str(tmp_path / "r"))
    return cfg, stored.store(cfg)


def test_dynloss_job_trains_what_its_command_line_trains(tmp_path):
    """The by-reference route and the hand-written ``dynloss train`` of the same job give the same
    file, array for array."""
    cfg, path = _tiny(tmp_path)
    job = Plan(cfg).jobs("fig4_2")[0]
    assert cli.main(["job", "fig4_2", job.stem, "--plan", path, "--out", job.out, "--quiet"]) == 0
    by_hand = str(tmp_path / "by_hand.nc")
    assert cli.main([job.command, *job.argv(), "--out", by_hand, "--quiet"]) == 0
    with xr.open_dataset(job.out, engine="netcdf4") as a, xr.open_dataset(by_hand, engine="netcdf4") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
        assert a.attrs["config"] == b.attrs["config"]  # the same job, the same hash


def test_dynloss_job_errors_name_the_argument(tmp_path, capsys):
    cfg, path = _tiny(tmp_path)
    job = Plan(cfg).jobs("fig4_2")[0]
    cases = [
        (["fig4_2", job.stem, "--plan", str(tmp_path / "none.json")], "--plan: cannot read the stored config"),
        (["nosuch", job.stem, "--plan", path], "study: no study 'nosuch'"),
        (["fig4_2", "nosuch", "--plan", path], "stem: study 'fig4_2' has no job 'nosuch'"),
        (["fig4_2", "--plan", path], "stem: study 'fig4_2' has"),
    ]
    for argv, message in cases:
        assert cli.main(["job", *argv, "--out", job.out]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert cli.main(["job", "fig4_2", job.stem, "--plan", path, "--out", str(tmp_path / "x.nc")]) == 2
    assert "--out: " in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_a_canonical_argument_keeps_its_place():
    spec = Plan(config.load_config(scale="tiny")).jobs("fig4_2")[0].request
    argv = replace(spec, spec=replace(spec.spec, chunk_steps=40)).argv()
    out = jobs.canonical_argv(argv)
    i = argv.index("--chunk-steps")
    assert argv[i + 1] == "40" and out[i + 1] == "10000"
    assert [a for k, a in enumerate(out) if k != i + 1] == [a for k, a in enumerate(argv) if k != i + 1]

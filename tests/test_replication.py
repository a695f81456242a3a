"""The replication kind: points x training spirals x fresh seeds, one job per (point, spiral), combined
along ``spiral`` (docs/preregistration.md)."""
from __future__ import annotations

import pytest
import yaml

from dynloss import cli, config, netcdf
from dynloss.errors import ConfigError
from dynloss.plan import Plan

STUDY = {"kind": "replication", "loss": "dce", "width": 8, "lr": 1.0, "steps": 200, "record_every": 20,
         "points": [[1, 50], [5, 50]], "spirals": [101, 102], "seeds": 2, "first_seed": 2000}


def _cfg(tmp_path, **study):
    raw = config.load_yaml(config.CONFIG_PATH)
    user = {"only_studies": ["rep"], "studies": {"rep": {**STUDY, **study}}, "results": str(tmp_path / "r")}
    return config.prepare(config.deep_merge(raw, user), user=user), user


def test_one_job_per_point_and_spiral_with_the_fresh_seeds_and_only_its_studies(tmp_path):
    cfg, _ = _cfg(tmp_path)
    assert list(cfg["studies"]) == ["rep"] and "fig_density" not in cfg["figures"]
    jobs = Plan(cfg).jobs()
    assert [j.stem for j in jobs] == ["dce_w8_lr1_A1_T50_sp101", "dce_w8_lr1_A1_T50_sp102",
                                      "dce_w8_lr1_A5_T50_sp101", "dce_w8_lr1_A5_T50_sp102"]
    assert {j.request.spec.data_values()["train_seed"] for j in jobs} == {101, 102}
    assert all(j.request.seeds == (2000, 2001) for j in jobs)


@pytest.mark.parametrize("study, key", [({"spirals": [1, 101]}, "studies.rep.spirals"),
                                        ({"points": [[5, 200]]}, "studies.rep.points[0]")])
def test_a_test_spiral_or_a_period_as_long_as_the_run_is_refused(tmp_path, study, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        _cfg(tmp_path, **study)


def test_only_studies_names_an_unknown_study(tmp_path):
    raw = config.load_yaml(config.CONFIG_PATH)
    with pytest.raises(ConfigError, match="config key 'only_studies': 'nope' is not a study"):
        config.prepare({**raw, "only_studies": ["nope"], "results": str(tmp_path)})


@pytest.mark.slow
def test_the_study_trains_and_combines_along_spiral(tmp_path):
    cfg, user = _cfg(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(user))
    assert cli.main(["run-study", "rep", "--config", str(path), "--results", str(tmp_path / "r")]) == 0
    ds = netcdf.open_dataset(Plan(cfg).study("rep").dataset())
    assert dict(ds["final_train_acc"].sizes) == {"loss": 1, "width": 1, "lr": 1, "A": 2, "T": 1, "spiral": 2,
                                                 "seed": 2}
    assert list(ds["spiral"].values) == [101, 102] and list(ds["seed"].values) == [2000, 2001]
    # two spirals give two data sets: the same seeds train differently
    a1 = ds["final_train_acc"].sel(A=1.0).squeeze()
    assert not (a1.sel(spiral=101).values == a1.sel(spiral=102).values).all()

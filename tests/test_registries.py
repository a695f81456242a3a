"""The loss and data-set registries are the one list: a loss or a data set registered here, in this test
module only, runs config -> job -> study dataset -> figure with no other file touched; the schema's
enums and the error messages list what is registered; and no code outside the registries, the thesis's
claims and the configs branches on a loss's or a data set's name."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from dynloss import cli, config, data, losses
from dynloss.errors import ConfigError, SpecError
from dynloss.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dynloss"


@pytest.fixture
def hinge():
    """A static multi-class hinge loss and its dynamical twin, registered for one test."""
    jnp = losses.jnp

    @losses.register("t_hinge", weights="none", static="t_hinge", description="multi-class hinge (test only)")
    def t_hinge(f, Y, w):
        margin = f - jnp.sum(f * Y, axis=-1, keepdims=True) + 1.0
        return jnp.mean(jnp.sum(jnp.maximum(margin, 0.0) * (1.0 - Y), axis=-1))

    @losses.register("t_dhinge", weights="normalised", static="t_hinge", description="dynamical hinge (test only)")
    def t_dhinge(f, Y, w):
        margin = f - jnp.sum(f * Y, axis=-1, keepdims=True) + 1.0
        return jnp.mean(jnp.sum(Y * w, axis=-1) * jnp.sum(jnp.maximum(margin, 0.0) * (1.0 - Y), axis=-1))

    yield "t_dhinge"
    losses.LOSSES.pop("t_hinge")
    losses.LOSSES.pop("t_dhinge")


@pytest.fixture
def blobs():
    """Gaussian blobs in three dimensions, two classes, registered for one test."""

    @data.register
    class Blobs(data.DataSet):
        name = "t_blobs"
        description = "two Gaussian blobs in 3-d (test only)"
        params = (data.Param("blob_points", 12, "Points per blob.", minimum=2),
                  data.Param("blob_seed", 0, "Seed of the training blobs.", minimum=0),
                  data.Param("blob_tests", (1, 2), "Seeds of the test blobs.", kind="ints", minimum=0))

        def check(self, values):
            if values["blob_seed"] in values["blob_tests"]:
                raise SpecError("data.blob_seed", "blob_seed is a test seed")

        def num_classes(self, values):
            return 2

        def input_dim(self, values):
            return 3

        def train_size(self, values):
            return 2 * values["blob_points"]

        def test_sets(self, values):
            return list(values["blob_tests"])

        def load(self, values):
            def draw(seed):
                rng = np.random.RandomState(seed)
                n = values["blob_points"]
                x = np.concatenate([rng.randn(n, 3) - 1.0, rng.randn(n, 3) + 1.0])
                labels = np.repeat(np.arange(2), n)
                return data.Dataset(x, labels, np.eye(2)[labels])
            return draw(values["blob_seed"]), [draw(s) for s in values["blob_tests"]]

    yield "t_blobs"
    data.DATASETS.pop("t_blobs")


def _config_with(tmp_path, name: str, study: dict) -> Path:
    """The shipped config with one more study, the only one planned."""
    cfg = config.load_yaml()
    cfg["studies"][name] = study
    cfg["only_studies"] = [name]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run_study(tmp_path, name: str, study: dict):
    path = _config_with(tmp_path, name, study)
    results = tmp_path / "results"
    assert cli.main(["run-study", name, "--config", str(path), "--scale", "tiny", "--results", str(results)]) == 0
    cfg = config.load_config(path, scale="tiny", results=str(results))
    return Plan(cfg), results / "tiny"


def _parses_back(job) -> None:
    from dynloss.cli.training import train_job

    args = cli.build_parser().parse_args([job.command, *job.argv(), "--out", "x.nc"])
    assert train_job(args) == job.request


def test_a_loss_registered_in_a_test_module_runs_config_to_figure(tmp_path, hinge):
    import xarray as xr

    study = {"kind": "curves", "loss": hinge, "widths": [8], "lr": 0.1, "steps": 40, "A": 3, "T": 20, "seeds": 2,
             "seeds_per_job": 2, "record_every": 10}
    plan, res = _run_study(tmp_path, "t_loss", study)
    assert config.load_schema()["$defs"]["loss"]["enum"][-2:] == ["t_hinge", "t_dhinge"]
    [job] = plan.jobs("t_loss")
    _parses_back(job)
    with xr.open_dataset(res / "t_loss" / "t_loss.nc") as ds:
        assert str(np.atleast_1d(ds["loss"].values)[0]) == hinge
        assert np.isfinite(ds["L"].values).all() and not np.array_equal(ds["L"].values, ds["F"].values)
    assert all((res / "figures" / f"t_loss.{ext}").stat().st_size > 1000 for ext in ("pdf", "png"))


def test_a_data_set_registered_in_a_test_module_runs_config_to_figure(tmp_path, blobs):
    import xarray as xr

    study = {"kind": "curves", "loss": "mse", "widths": [8], "lr": 0.05, "steps": 40, "seeds": 2, "seeds_per_job": 2,
             "record_every": 10, "data": {"name": blobs, "blob_points": 6}}
    plan, res = _run_study(tmp_path, "t_data", study)
    [job] = plan.jobs("t_data")
    spec = job.request.spec
    assert (spec.data, spec.data_values()) == (blobs, {"blob_points": 6, "blob_seed": 0, "blob_tests": (1, 2)})
    assert job.argv()[job.argv().index("--data"):][:8] == ["--data", blobs, "--blob-points", "6", "--blob-seed", "0",
                                                            "--blob-tests", "1,2"]
    _parses_back(job)
    with xr.open_dataset(job.out) as ds:
        assert ds["test_set"].values.tolist() == [1, 2] and ds.sizes["class_index"] == 2
        assert json.loads(ds.attrs["data"]) == {"name": blobs, "blob_points": 6, "blob_seed": 0, "blob_tests": [1, 2]}
    with xr.open_dataset(res / "t_data" / "t_data.nc") as ds:
        assert json.loads(ds.attrs["config"])["data"]["name"] == blobs
    assert all((res / "figures" / f"t_data.{ext}").stat().st_size > 1000 for ext in ("pdf", "png"))
    # the data set is part of the job's identity: the same study on the spiral is another job
    other = Plan(config.load_config(_config_with(tmp_path, "t_data", {**study, "data": {}}), scale="tiny"))
    assert other.jobs("t_data")[0].hash != job.hash


def test_a_study_inherits_the_config_s_data_block_and_overrides_keys(tmp_path):
    cfg = config.load_yaml()
    cfg["data"]["noise"] = 0.3
    cfg["studies"]["fig4_1"]["data"] = {"train_seed": 9}
    cfg["only_studies"] = ["fig4_1", "fig4_2"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    plan = Plan(config.load_config(path, scale="tiny"))
    own, inherited = plan.jobs("fig4_1")[0].request.spec, plan.jobs("fig4_2")[0].request.spec
    assert own.data_values()["train_seed"] == 9 and own.data_values()["noise"] == 0.3
    assert inherited.data_values()["train_seed"] == 0 and inherited.data_values()["noise"] == 0.3
    assert plan.aggregate_meta("fig4_1")["data"]["train_seed"] == 9


def test_the_registries_names_are_the_schema_s_enums_and_the_errors_lists(tmp_path, blobs):
    schema = config.load_schema()
    assert schema["$defs"]["loss"]["enum"] == list(losses.LOSSES)
    assert schema["$defs"]["data"]["properties"]["name"]["enum"] == list(data.DATASETS) == [*data.names()[:-1], blobs]
    assert data.names()[0] == "spiral"  # the thesis's first
    allowed_losses = ", ".join(losses.LOSSES)
    with pytest.raises(ConfigError, match=re.escape(f"'studies.t.loss': 'nope' is not one of {list(losses.LOSSES)}")):
        config.load_config(_config_with(tmp_path, "t", {"kind": "curves", "loss": "nope"}), scale="tiny")
    unknown = f"'studies.t.data.name': 'nope' is not one of {data.names()}"
    with pytest.raises(ConfigError, match=re.escape(unknown)):
        config.load_config(_config_with(tmp_path, "t", {"kind": "curves", "data": {"name": "nope"}}), scale="tiny")
    with pytest.raises(ConfigError, match=r"^config key 'studies.t.data.noise': data set 't_blobs' has no parameter "
                                          r"'noise' \(allowed: blob_points, blob_seed, blob_tests\)"):
        config.load_config(_config_with(tmp_path, "t", {"kind": "curves", "data": {"name": blobs, "noise": 0.1}}),
                           scale="tiny")
    with pytest.raises(cli.CliError, match=re.escape(f"unknown loss 'nope' (allowed: {allowed_losses})")):
        from dynloss.cli.args import check_loss
        check_loss("nope")


@pytest.mark.parametrize("argv,message", [
    (["--T", "1000", "--A", "5", "--steps", "200"], "--T: T = 1000 is not below steps = 200, so A = 5 never acts"),
    (["--blob-points", "4"], "--blob-points: not a parameter of data set 'spiral'"),
    (["--data", "t_blobs", "--blob-seed", "1"], "--blob-seed: blob_seed is a test seed"),
])
def test_the_command_line_refuses_what_the_config_refuses_naming_the_flag(argv, message, blobs, tmp_path, capsys):
    base = ["train", "--loss", "dce", "--width", "8", "--lr", "1", "--steps", "200", "--seeds", "0",
            "--out", str(tmp_path / "o.nc")]
    args = dict(zip(base[1::2], base[2::2]))
    args.update(dict(zip(argv[::2], argv[1::2])))
    code = cli.main([base[0], *[v for kv in args.items() for v in kv]])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "o.nc").exists()


def _literals(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for e in node.elts for v in _literals(e)]
    return []


def branches_on_a_name(source: str, names: set[str], loss_names: set[str]) -> list[int]:
    """Lines of ``source`` that compare with a registered name (``loss == "dce"``, ``name in ("spiral",)``)
    or hold a table keyed by loss names (a copy of the registry, such as the static twins)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(v in names for o in (node.left, *node.comparators) for v in _literals(o)):
                lines.append(node.lineno)
        elif isinstance(node, ast.Dict):
            if sum(v in loss_names for k in node.keys if k is not None for v in _literals(k)) >= 2:
                lines.append(node.lineno)
    return lines


#: where a name may be branched on: the registries, the thesis's claims and this project's own (beyond it)
ALLOWED = ("losses/", "data/", "verdicts/claims.py", "verdicts/beyond.py")


def test_no_code_outside_the_registries_and_the_claims_branches_on_a_loss_or_data_set_name():
    """A new loss or data set behaves as the registry describes it (static twin, kernel limit, class count,
    ...): no module outside the registries and the thesis's claims compares with a registered name, and
    no rule does (the configs name them, which is what they are for)."""
    names, loss_names = set(losses.LOSSES) | set(data.DATASETS), set(losses.LOSSES)
    found = [f"{p.relative_to(ROOT)}:{line}" for p in SRC.rglob("*.py")
             if not str(p.relative_to(SRC)).startswith(ALLOWED)
             for line in branches_on_a_name(p.read_text(), names, loss_names)]
    quoted = "|".join(sorted(names))
    rule = re.compile(rf"(==|!=|\bin)\s*[\(\[]?\s*[\"']({quoted})[\"']|[\"']({quoted})[\"']\s*(==|!=|\bin\b)")
    for p in [*(ROOT / "workflow" / "rules").glob("*.smk"), ROOT / "Snakefile"]:
        found += [f"{p.relative_to(ROOT)}:{i}" for i, line in enumerate(p.read_text().splitlines(), 1)
                  if rule.search(line)]
    assert not found, found
    # the check finds what it looks for
    assert branches_on_a_name('if st["loss"] == "dce":\n    pass\n', names, loss_names) == [1]
    assert branches_on_a_name('x = name in ("spiral", "other")\n', names, loss_names) == [1]
    assert branches_on_a_name('STATIC = {"dce": "ce", "mse": "mse"}\n', names, loss_names) == [1]
    assert branches_on_a_name('x = loss.static == other\n', names, loss_names) == []
    assert rule.search('if wildcards.loss == "dmse2":') and not rule.search('loss="dce"')


def test_the_verdicts_read_a_claim_s_rows_from_its_data_set_only():
    """A study with the thesis's protocol on another data set is not evidence for a claim about the spiral."""
    import xarray as xr

    from dynloss.verdicts.claims import Protocol
    from dynloss.verdicts.inputs import matches

    p = Protocol("dce", 100, 1.0, 35000)
    assert p.data == data.DEFAULT

    def study(block):
        ds = xr.Dataset(coords={"loss": "dce", "width": [100], "lr": 1.0})
        ds.attrs["config"] = json.dumps({"study_config": {"steps": 35000}, "data": block})
        return ds

    assert matches(study({"noise": 0.2}), p, static=False)  # a block without a name: the default data set
    assert matches(study({"name": "spiral"}), p, static=False)
    assert not matches(study({"name": "t_blobs"}), p, static=False)
    assert not matches(study({"name": "t_blobs"}), p, static=True)

"""The planning layer (dynloss.plan, dynloss.jobs): JAX-free, one definition of every job, open to
new study kinds; and the package's shape (no import cycle)."""
from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynloss import cli, config, jobs
from dynloss.cli.myrtle import myrtle_job
from dynloss.cli.training import thresholds_job, train_job
from dynloss.plan import GRANULARITIES, Plan

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dynloss"


def _assert_imports_no_jax(code: str) -> None:
    """Run ``code`` in a fresh interpreter; it must not have imported jax, jaxlib or matplotlib."""
    check = ("\nimport sys\n"
             "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'matplotlib'))\n"
             "print(bad[:5])\n"
             "sys.exit(1 if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]


def test_planning_does_not_import_jax():
    """Preparing the config and listing every job of the paper plan never starts JAX (Snakemake
    evaluates the DAG with this code)."""
    _assert_imports_no_jax("from dynloss import config, jobs\n"
                           "from dynloss.plan import Plan\n"
                           "cfg = config.load_config(scale='paper')\n"
                           "for g in ('point', 'width', 'study'):\n"
                           "    plan = Plan(cfg, g)\n"
                           "    assert plan.jobs() and all(j.argv() for j in plan.jobs())\n"
                           "    plan.figure_names(); [plan.figure_options(n) for n in plan.figure_names()]")


def test_building_the_command_line_parser_does_not_import_jax():
    """`dynloss <command> --help` and a bad flag answer without starting JAX: the parsers import it only
    when a command runs."""
    _assert_imports_no_jax("from dynloss import cli\ncli.build_parser()")


def _parse(job) -> object:
    args = cli.build_parser().parse_args([job.command, *job.argv(), "--out", "x.nc"])
    return {"train": train_job, "thresholds": thresholds_job, "myrtle": myrtle_job}[job.command](args)


@pytest.mark.parametrize("scale", ["paper", "tiny"])
def test_every_job_parses_back_from_its_command_line(scale):
    """A rule runs ``dynloss <command> <argv>``; run-study runs the request itself: the command
    line must describe exactly that request, for every job of every granularity."""
    cfg = config.load_config(scale=scale)
    n = 0
    for g in GRANULARITIES[1:]:
        for job in Plan(cfg, g).jobs():
            assert _parse(job) == job.request, (job.study, job.stem)
            assert jobs.hash_of(_parse(job)) == job.hash
            n += 1
    assert n > 90  # every job of every kind (myrtle: tiny scale, synthetic CIFAR-10)


def test_granularity_changes_the_job_count_not_the_runs():
    cfg = config.load_config(scale="paper")
    counts = Plan(cfg).job_counts()
    assert counts["point"] > counts["width"] > counts["study"]
    for name in Plan(cfg).studies("contour", "curves"):
        runs = {g: sum(j.request.runs() for j in Plan(cfg, g).jobs(name)) for g in GRANULARITIES[1:]}
        assert len(set(runs.values())) == 1, (name, runs)
    assert Plan(dict(cfg, accelerator="cpu")).granularity == "point"
    assert Plan(dict(cfg, accelerator="cuda12")).granularity == "width"
    with pytest.raises(config.ConfigError, match="granularity.*'pixel' is not one of"):
        Plan(cfg, "pixel")


def test_granularity_is_a_validated_config_key():
    raw = config.load_yaml()
    with pytest.raises(config.ConfigError, match="'granularity'"):
        config.prepare(dict(raw, granularity="pixel"))
    assert config.prepare(dict(raw, granularity="width"))["granularity"] == "width"


# -- a new study kind is one class ---------------------------------------------------------------


def _best_lr(claim, inputs, settings, row, band):
    """The toy kind's measure: the final train accuracy at the learning rate with the best mean, per seed."""
    from dynloss.verdicts import measures, stats

    ds = inputs.role("toy").get(claim.figure)
    if ds is None:
        return measures.not_run(row, f"study {claim.figure} not run")
    acc = ds["final_train_acc"].squeeze(("loss", "width", "A", "T"))
    best = acc.isel(lr=int(np.argmax(acc.mean("seed").values)))
    return measures.judge({**row, "data": claim.figure}, stats.t_interval(best.values), band, claim.thesis_seeds)


def test_a_study_without_its_data_names_the_key_to_set():
    """In-process twin of tests/test_workflow.py's dry run of `snakemake fig3_2` without CIFAR-10:
    the paper scale skips Myrtle5 and says which key to set; the tiny scale's synthetic set runs."""
    why = Plan(config.load_config()).study("fig3_2").skipped_because()
    assert "config key 'studies.fig3_2.cifar_dir'" in why
    assert Plan(config.load_config(scale="tiny")).study("fig3_2").skipped_because() is None


def test_a_toy_study_kind_runs_through_the_plan(tmp_path):
    """A kind defined here (a learning-rate sweep at one (A, T)), with its schema fragment and its own
    claim, plugs in before validation: a config with a study of it validates (defaults filled, a bad key
    refused naming it), `dynloss run-study` trains, combines and checks it through the plan, and
    `dynloss reproduction` gives its claim a row measured the kind's way, with nothing else changed (it
    has no figure module, so no figure)."""
    import csv

    import yaml

    from dynloss import netcdf, verdicts
    from dynloss.plan import kinds

    @kinds.register
    class LrSweep(kinds.StudyKind):
        name = "toy_lr_sweep"
        aggregate_dims = ("loss", "width", "lr", "A", "T")
        verdict_input = "toy"
        claims = (verdicts.Claim("toy_best_lr", "toy: train accuracy at the best eta", "toy", None,
                                 "final_train_acc", "best_lr", "lower", 0.0, "> 0", "this test", 2),)
        measures = {"best_lr": _best_lr}
        schema = {"type": "object", "additionalProperties": False, "properties": {
            "kind": {"const": "toy_lr_sweep"}, "title": {"type": "string", "default": ""},
            "loss": {"$ref": "#/$defs/loss", "default": "ce"},
            "width": {"$ref": "#/$defs/posint", "default": 8},
            "steps": {"$ref": "#/$defs/posint", "default": 40},
            "record_every": {"$ref": "#/$defs/posint", "default": 20},
            "lrs": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1,
                    "default": [0.5, 1.0]}}}

        def jobs(self):
            out = []
            for lr in self.st["lrs"]:
                spec = kinds.train_spec(self.plan, self.st, width=self.st["width"])
                job = jobs.TrainJob(spec=spec, seeds=(0, 1), lr=float(lr), meta=self.labels())
                stem = f"{self.st['loss']}_lr{jobs.fmt(lr)}"
                out.append(kinds.PlannedJob(self.study, stem, job, self.run_path(stem)))
            return out

    try:
        raw = config.load_yaml()
        raw.update(studies={"toy": {"kind": "toy_lr_sweep", "width": 8}}, figures={}, scales={})
        path = tmp_path / "toy.yaml"
        path.write_text(yaml.safe_dump(raw))
        cfg = config.load_config(path, results=str(tmp_path / "r"))
        assert cfg["studies"]["toy"]["lrs"] == [0.5, 1.0] and cfg["studies"]["toy"]["steps"] == 40  # defaults
        with pytest.raises(config.ConfigError, match=r"studies.toy.*'lr' was unexpected"):
            config.prepare({**raw, "studies": {"toy": {"kind": "toy_lr_sweep", "lr": 1.0}}})
        plan = Plan(cfg)
        assert "toy" in plan.studies("toy_lr_sweep") and "toy" not in plan.figure_names()
        todo = plan.jobs("toy")
        assert [j.stem for j in todo] == ["ce_lr0.5", "ce_lr1"]
        assert cli.main(["run-study", "toy", "--config", str(path), "--results", str(tmp_path / "r")]) == 0
        kind = plan.study("toy")
        ds = netcdf.open_dataset(kind.dataset())
        assert ds["train_acc"].sizes == {"loss": 1, "width": 1, "lr": 2, "A": 1, "T": 1, "seed": 2, "step": 2}
        np.testing.assert_array_equal(ds["lr"].values, [0.5, 1.0])
        assert plan.job_files("toy") == [j.out for j in todo] and kind.dataset().endswith("/toy/toy.nc")
        table = tmp_path / "table.csv"
        for extra in ([], ["--input", f"toy:toy={kind.dataset()}"]):
            assert cli.main(["reproduction", *extra, "--csv", str(table)]) == 0
            with open(table) as f:
                row = next(r for r in csv.DictReader(f) if r["claim"] == "toy: train accuracy at the best eta")
            if not extra:
                assert row["verdict"] == "not run" and row["note"] == "study toy not run"
        best = ds["final_train_acc"].mean("seed").max().item()
        assert row["verdict"].startswith("reproduced") and row["n_seeds"] == "2"  # every accuracy is above 0
        assert float(row["estimate"]) == round(best, 4)
        assert "toy_best_lr" not in {c.key for c in verdicts.CLAIMS}  # the kind's own, not the thesis's
    finally:
        kinds.KINDS.pop("toy_lr_sweep", None)


# -- the same runs at every granularity ------------------------------------------------------------


def test_a_whole_width_job_equals_its_per_point_jobs(tmp_path, monkeypatch, caplog):
    """One job over every (A, T) point of a width gives the same per-run numbers as one
    job per point (same seeds), also when the memory budget slices it into batches of runs, and
    all combine into the same study dataset. A = 1 (the static loss, the same run for every T)
    is trained once, at the first T, and shared by the combined dataset."""
    from dynloss import budget, netcdf
    from dynloss.engine import batch_mode

    cfg = config.load_config(scale="tiny", results=str(tmp_path))
    cfg["studies"]["fig3_4"].update(widths=[8], steps=60, record_every=20, A=[1, 5, 10], T=[20, 50])
    combined = {}
    for g in ("point", "width", "sliced"):
        plan = Plan(dict(cfg, results=str(tmp_path / g)), "width" if g == "sliced" else g)
        todo = plan.jobs("fig3_4")
        assert len(todo) == (5 if g == "point" else 2)  # A = 1 once (T = 20), then A 5, 10 x T 20, 50
        assert [(j.request.A, j.request.T) for j in todo if 1.0 in j.request.A] == [((1.0,), (20.0,))]
        if g == "sliced":  # a budget that fits 3 of the job's 8 runs: batches of 3, 3 and 2
            spec = todo[0].request.spec
            gb = budget.train_bytes(spec, 3, batch_mode(spec)) / 1e9
            monkeypatch.setenv(budget.ENV, repr(gb * 1.000001))
            assert budget.runs_that_fit(spec, 8, budget.default_budget_gb(), batch_mode(spec)) == 3
        caplog.clear()
        logger = logging.getLogger("dynloss")  # it may not propagate (dynloss.cli.main)
        logger.addHandler(caplog.handler)
        try:
            with caplog.at_level("INFO", logger="dynloss"):
                for job in todo:
                    jobs.run(job.request, job.out, quiet=True)
        finally:
            logger.removeHandler(caplog.handler)
        assert ("8 runs in 3 batches of at most 3" in caplog.text) == (g == "sliced")
        combined[g] = netcdf.combine([j.out for j in todo], dims=plan.study("fig3_4").aggregate_dims)
    a = combined["point"]
    assert a.attrs["static_trained_T"] == 20.0
    acc = a["final_train_acc"].sel(A=1.0).squeeze()
    np.testing.assert_array_equal(acc.sel(T=50.0).values, acc.sel(T=20.0).values)
    for g in ("width", "sliced"):
        b = combined[g]
        assert set(a.data_vars) == set(b.data_vars)
        for name in a.data_vars:
            assert a[name].dims == b[name].dims, name
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{g}: {name}")
        for name in a.coords:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{g}: {name}")


# -- the package's shape -----------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (also inside functions)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports only for type checkers never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    out = {m for m in out if m in modules and m != me}
    # importing a.b.c runs the __init__ of a.b first (unless the importer lives inside a.b)
    for m in list(out):
        parts = m.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if not (me == parent or me.startswith(parent + ".")):
                out.add(parent)
    return out - {"dynloss"}


def test_no_import_cycle_inside_the_package():
    files = sorted(SRC.rglob("*.py"))
    modules = {_module_name(p) for p in files}
    graph = {_module_name(p): _imports(p, modules) for p in files}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check above can fail: two modules that import each other are reported."""
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import x\n")
    modules = {"dynloss.a", "dynloss.b"}
    global SRC
    old, SRC = SRC, tmp_path / "dynloss"
    try:
        SRC.mkdir()
        for n in ("a", "b"):
            (SRC / f"{n}.py").write_text((tmp_path / f"{n}.py").read_text())
        ga = _imports(SRC / "a.py", modules)
        gb = _imports(SRC / "b.py", modules)
    finally:
        SRC = old
    assert ga == {"dynloss.b"} and gb == {"dynloss.a"}


def _edited_plan(name: str, **changes) -> Plan:
    cfg = config.load_yaml()
    cfg["studies"][name].update(changes)
    return Plan(config.prepare(cfg))


@pytest.mark.parametrize("name,thesis", [("sens_mse_w100", {"thesis_train": 0.5}), ("fig4_1", {})])
def test_a_title_or_thesis_value_edit_reruns_no_computation(name, thesis):
    """The infinite-width reference's arguments and the combine's
    metadata (what the rules pass, so what Snakemake compares to decide a rerun) ignore the title;
    the reference ignores ``thesis_train`` too (the combined dataset carries it to the report)."""
    before = _edited_plan(name)
    assert _edited_plan(name, title="another", **thesis).infinite_args(name) == before.infinite_args(name)
    assert _edited_plan(name, title="another").aggregate_meta(name) == before.aggregate_meta(name)


def test_every_kind_answers_the_run_study_steps():
    """`run-study` asks every kind the same questions (no branch on its name): which files combine from
    a subset of its jobs, and what its figure reads in process."""
    plan = Plan(config.load_config(scale="tiny"))
    for name in plan.studies():
        kind = plan.study(name)
        jobs = plan.jobs(name)
        assert isinstance(kind.combine_inputs(jobs[:1]), list) and isinstance(kind.combine_inputs(), list)
        assert kind.figure_inputs_in_process()
        assert kind.trains_runs == bool(kind.combine_inputs(jobs)), name


def test_no_rule_or_module_branches_on_a_study_kind_s_name():
    """The rules and the package outside dynloss.plan select studies by what their kind can do
    (``Plan.studies_with``), never by its name, so a new kind with the same capabilities gets the
    same rules: no ``studies_of(``, no ``st["kind"] ==``, no comparison with a kind's name."""
    import re

    from dynloss.plan import KINDS

    names = "|".join(KINDS)
    pattern = re.compile(rf"studies_of\(|\[\"kind\"\]\s*(==|!=|in\b)|\.name\s*(==|!=)\s*\"({names})\"|"
                         rf"(==|!=)\s*\"({names})\"|\bstudies\(\"({names})\"")
    files = [*(ROOT / "workflow" / "rules").glob("*.smk"), ROOT / "Snakefile",
             *(p for p in SRC.rglob("*.py") if p.parent.name != "plan")]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
    # the check finds what it looks for
    assert pattern.search('if kind != "contour":') and pattern.search('studies_of("thresholds")')


def test_the_rules_capabilities_select_the_studies_they_did_by_name():
    plan = Plan(config.load_config(scale="tiny"))
    assert plan.studies_with("fits_eta_law") == plan.studies("thresholds")
    assert plan.studies_with("chooses_points") == plan.studies("contour")
    assert plan.studies_with("published") == plan.studies("contour", "curves", "dynamics", "thresholds", "myrtle")
    assert plan.studies_with("publishes_final_only") == plan.studies("contour")
    assert plan.studies_with("measures_density") == plan.studies("dynamics")
    assert plan.studies_with("synthetic_data") == plan.studies("myrtle")
    assert plan.studies_with("infinite_reference") == (
        [n for n in plan.studies("curves") if plan.cfg["studies"][n]["loss"] == "mse"]
        + [n for n in plan.studies("sensitivity") if plan.cfg["studies"][n]["infinite"]])
    assert plan.studies_with("infinite_reference")
    flags = {n: plan.study(n).verdict_input for n in plan.studies_with("verdict_input")}
    assert flags == {**{n: "study" for n in plan.studies("contour", "curves")},
                     **{n: "dynamics" for n in plan.studies("dynamics")},
                     **{n: "thresholds" for n in plan.studies("thresholds")}}


def test_a_kind_s_study_keys_are_defined_in_its_class_only():
    """The schema file holds the keys every config has; each kind's keys come from its class."""
    import yaml

    from dynloss.plan import KINDS

    raw = yaml.safe_load(config.SCHEMA_PATH.read_text())
    assert not set(KINDS) & set(raw["$defs"])
    merged = config.load_schema()
    assert merged["$defs"]["study"]["properties"]["kind"]["enum"] == list(KINDS)
    for name, kind in KINDS.items():
        own = {k: v for k, v in merged["$defs"][name]["properties"].items() if k != "data"}
        assert own == kind.schema["properties"] and kind.schema["properties"]["kind"]["const"] == name
        # a study of a kind that trains on a registered data set may name its own (dynloss.data)
        assert ("data" in merged["$defs"][name]["properties"]) == kind.takes_data, name

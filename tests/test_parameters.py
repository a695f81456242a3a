"""One default and one set of bounds per job parameter: the dataclasses (dynloss.spec, dynloss.jobs) hold
the defaults, the command line reads them, and the config schema must agree, field by field.

(That every value a job refuses the config refuses first, at and beyond each bound, through both
paths, is tests/test_job_checks.py.)"""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from dynloss import cli, config
from dynloss.cli.training import thresholds_job, train_job
from dynloss.jobs.definition import Onsets, ThresholdsJob
from dynloss.myrtle.spec import MyrtleSpec
from dynloss.spec import SpectraSpec, TrainSpec

SCHEMA = config.load_schema()  # the file's keys and every study kind's
#: config key -> (dataclass, field) where the names differ
ALIAS = {"onset_window": (Onsets, "window"), "onset_floor": (Onsets, "floor")}
#: (schema section, key): why its default differs from the dataclass's, by design
BY_DESIGN = {
    ("dynamics", "hess_every"): "a plain training job measures no spectra; a dynamics study does",
    ("dynamics", "ntk_every"): "as hess_every",
    ("thresholds", "hess_every"): "as hess_every; the thresholds command's own default (checked below)",
    ("top", "stop_rule"): "the workflow runs the thesis code's rule (period, since 2026-12-07); a hand-written "
                          "dynloss train/thresholds keeps last_T, so a job's command line (no --stop-rule for last_T) "
                          "means what it meant before",
}


#: (schema section, key): why its minimum differs from the command line's, by design
BOUNDS_BY_DESIGN = {
    ("dynamics", "hess_every"): "0 turns spectra off for `dynloss train`; a dynamics study measures them",
    ("dynamics", "ntk_every"): "as hess_every",
}
#: the commands whose flags a schema section's keys become
COMMANDS = {"thresholds": ("thresholds",), "myrtle": ("myrtle",), "top": ("train", "thresholds")}


def _defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _sections() -> dict[str, dict]:
    """Schema sections that describe job parameters: the top level and each study kind (a data set's
    parameters are one definition, :class:`dynloss.data.Param`: see the data tests below)."""
    out = {"top": SCHEMA["properties"]}
    out.update({k: v["properties"] for k, v in SCHEMA["$defs"].items() if "properties" in v and k != "data"})
    return out


def _field_of(section: str, key: str):
    if key == "data":
        return None  # the data block: a data set's name and parameters (TrainSpec.data, data_params), below
    if key in ALIAS:
        return ALIAS[key]
    classes = (MyrtleSpec,) if section == "myrtle" else (TrainSpec, SpectraSpec, Onsets)
    for cls in classes:
        if key in _defaults(cls):
            return cls, key
    return None


def _pairs():
    """(section, key, schema property, dataclass, field) for every schema key that is a job field."""
    out = []
    for section, props in _sections().items():
        for key, prop in props.items():
            found = _field_of(section, key) if isinstance(prop, dict) and "default" in prop else None
            if not found:
                continue
            grid = isinstance(prop["default"], list) and not isinstance(_defaults(found[0])[found[1]], tuple)
            if not grid:  # a study's list of values (its grid) is not one job's value
                out.append((section, key, prop, *found))
    return out


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def test_the_walk_finds_the_parameters_that_drifted_before():
    """The pairs below are the ones that had drifted (density_vectors 3 vs 1, onset_window); the walk
    must reach them or the test above it proves nothing."""
    keys = {(s, k) for s, k, *_ in _pairs()}
    assert {("dynamics", "density_vectors"), ("dynamics", "onset_window"), ("thresholds", "onset_window"),
            ("thresholds", "hess_order"), ("dynamics", "hess_order"), ("top", "chunk_steps"),
            ("contour", "record_every")} <= keys, keys


@pytest.mark.parametrize("section,key,prop,cls,name", _pairs(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_schema_default_is_the_dataclass_default(section, key, prop, cls, name):
    want = _defaults(cls)[name]
    if (section, key) in BY_DESIGN:
        assert _plain(prop["default"]) != _plain(want), f"{section}.{key} agrees now: drop it from BY_DESIGN"
        return
    assert _plain(prop["default"]) == _plain(want), (f"config key {section}.{key}: schema default "
                                                     f"{prop['default']!r}, {cls.__name__}.{name} {want!r}")


@pytest.mark.parametrize("section,key,prop,cls,name", [p for p in _pairs() if "minimum" in p[2]],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_schema_minimum_is_the_command_line_s(section, key, prop, cls, name):
    """The flag of a schema key with a minimum accepts it and refuses just below it (the parser's own check)."""
    flag = "--" + {"num_classes": "classes"}.get(key, key).replace("_", "-")
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    commands = [c for c in COMMANDS.get(section, ("train",)) if any(flag in a.option_strings for a in subs[c]._actions)]
    if not commands:
        pytest.skip(f"{flag}: no command-line flag (a config-only key)")
    lo = prop["minimum"]
    below = lo - 1 if prop.get("type") == "integer" else lo - 1e-9
    for command in commands:
        action = next(a for a in subs[command]._actions if flag in a.option_strings)
        action.type(str(lo))  # accepted
        if (section, key) in BOUNDS_BY_DESIGN:
            action.type(str(below))  # the command line accepts more, by design
            continue
        with pytest.raises(argparse.ArgumentTypeError):
            action.type(str(below))


def _parse(argv):
    return cli.build_parser().parse_args(argv)


def test_a_train_command_without_options_is_the_dataclass_defaults():
    job = train_job(_parse(["train", "--loss", "dce", "--width", "8", "--lr", "1", "--steps", "1000",
                            "--seeds", "0", "--out", "x.nc"]))
    want = TrainSpec(loss="dce", width=8, steps=1000)  # record_every: the largest divisor <= 100, 100 here
    assert job.spec == want and job.spec.spectra == SpectraSpec() and job.onsets is None


def test_a_thresholds_command_without_options_is_the_dataclass_and_schema_defaults():
    job = thresholds_job(_parse(["thresholds", "--loss", "dce", "--width", "8", "--lr", "1", "--steps", "1000",
                                 "--A", "5", "--T", "100", "--seeds", "0", "--out", "x.nc"]))
    base = TrainSpec(loss="dce", width=8, steps=1000)
    assert (job.spec.chunk_steps, job.spec.dtype, job.spec.data) == (base.chunk_steps, base.dtype, base.data)
    assert job.spec.data_values() == base.data_values() == base.data_set().defaults()
    assert job.onsets == Onsets() and job.trace_every == _defaults(ThresholdsJob)["trace_every"]
    assert job.spec.spectra.hess_order == SpectraSpec().hess_order
    assert job.spec.spectra.hess_every == SCHEMA["$defs"]["thresholds"]["properties"]["hess_every"]["default"]


def _data_params():
    from dynloss import data

    return [(ds, p) for ds in data.DATASETS.values() for p in ds.params]


@pytest.mark.parametrize("ds,param", _data_params(), ids=lambda v: getattr(v, "key", getattr(v, "name", "")))
def test_a_data_parameter_s_schema_and_flags_come_from_its_one_definition(ds, param):
    """The config's ``data:`` block and the ``dynloss train`` / ``thresholds`` flags of a data set are derived
    from its parameters (dynloss.data.Param): the same default, the same bounds."""
    then = next(rule["then"] for rule in SCHEMA["$defs"]["data"]["allOf"]
                if rule["if"]["properties"]["name"]["const"] == ds.name)
    prop = then["properties"][param.key]
    assert _plain(prop["default"]) == _plain(param.default) and prop["description"] == param.help
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for command in ("train", "thresholds"):
        action = next(a for a in subs[command]._actions if param.option in a.option_strings)
        assert action.type(param.text(param.default)) == param.default
        if param.minimum is not None:
            below = param.minimum - (1 if param.kind != "float" else 1e-9)
            with pytest.raises(argparse.ArgumentTypeError):
                action.type(param.text((below,) if param.kind == "ints" else below))

"""Config schema: defaults filled, each invalid config rejected with its key named."""
import copy
from pathlib import Path

import pytest

from dynloss import config
from dynloss.jobs import fmt, seed_text
from dynloss.plan import RESERVED_NAMES, Plan
from dynloss.plan.kinds import seed_blocks


@pytest.fixture(scope="module")
def base():
    return config.load_yaml()


@pytest.mark.parametrize("scale", ["paper", "quick", "tiny"])
def test_every_scale_validates(base, scale):
    cfg = copy.deepcopy(base)
    cfg["scale"] = scale
    out = config.prepare(cfg)
    assert out["scale"] == scale
    for name in out["studies"]:
        assert "kind" in out["studies"][name]


def test_defaults_are_filled(base):
    cfg = copy.deepcopy(base)
    cfg["studies"]["extra"] = {"kind": "contour", "loss": "dmse1"}
    out = config.prepare(cfg)
    st = out["studies"]["extra"]
    assert st["widths"] == [100] and st["seeds_per_job"] == 50 and st["record_every"] == 100
    assert out["data"]["test_seeds"] == [1, 2, 3, 4, 5]


def test_schema_gives_every_key_a_description_and_default():
    schema = config.load_schema()

    def walk(node, path):
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                for k, sub in props.items():
                    if path.endswith("$defs.study") and k == "kind":
                        continue  # the discriminator: required, so no default
                    if path.endswith("$defs.figure") and k == "kind":
                        continue
                    if path.endswith("$defs.study_data") or sub == {"$ref": "#/$defs/study_data"}:
                        continue  # a study's data block: what it leaves out is the config's block's
                    assert "description" in sub or "$ref" in sub, f"{path}.{k} has no description"
                    if k in node.get("required", ()):
                        continue  # a key that must be given (the items of a study's grids) has no default
                    assert "default" in sub, f"{path}.{k} has no default"
            for k, v in node.items():
                walk(v, f"{path}.{k}")

    walk(schema, "")


def with_change(base, keys, value):
    cfg = copy.deepcopy(base)
    node = cfg
    for k in keys[:-1]:
        node = node[k]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return cfg


CASES = [
    (("studies", "fig3_4", "lr"), -1, "studies.fig3_4.lr"),
    (("studies", "fig3_4", "loss"), "huber", "studies.fig3_4.loss"),
    (("studies", "fig3_4", "A"), [0.5, 2], "studies.fig3_4.A.0"),
    (("studies", "fig3_4", "T"), [0, 100], "studies.fig3_4.T.0"),
    (("studies", "fig3_4", "widths"), [], "studies.fig3_4.widths"),
    (("studies", "fig3_4", "seeds"), 0, "studies.fig3_4.seeds"),
    (("studies", "fig3_4", "lrr"), 1.0, "studies.fig3_4"),
    (("studies", "fig3_4", "kind"), "scatter", "studies.fig3_4.kind"),
    (("studies", "fig3_4", "steps"), 35050, "studies.fig3_4.steps"),
    (("studies", "fig3_5", "hess_every"), 15, "studies.fig3_5.hess_every"),
    (("studies", "fig3_5", "density_steps"), [100], "studies.fig3_5.density_steps"),
    (("studies", "fig4_4", "lrs"), [0.05, -0.1], "studies.fig4_4.lrs.1"),
    (("dtype",), "float16", "dtype"),
    (("data", "num_classes"), 1, "data.num_classes"),
    (("data", "test_seeds"), [], "data.test_seeds"),
    (("scale",), "huge", "scale"),
    (("figures", "fig3_1", "weights"), "softmax", "figures.fig3_1.weights"),
    (("figures", "fig_density", "study"), "fig3_4", "figures.fig_density.study"),
    (("chunk_steps",), 0, "chunk_steps"),
    (("unknown_top",), 1, "<root>"),
]


@pytest.mark.parametrize("keys,value,named", CASES, ids=[".".join(c[0]) for c in CASES])
def test_invalid_config_is_rejected_with_its_key(base, keys, value, named):
    cfg = with_change(base, keys, value)
    with pytest.raises(config.ConfigError) as err:
        config.prepare(cfg)
    assert f"config key '{named}'" in str(err.value)


def test_scale_override_of_unknown_study_is_named(base):
    cfg = copy.deepcopy(base)
    cfg["scale"] = "quick"
    cfg["scales"]["quick"]["studies"]["fig9_9"] = {"steps": 10}
    with pytest.raises(config.ConfigError, match="scales.quick.studies.fig9_9"):
        config.prepare(cfg)


def test_job_expansion_counts(base):
    cfg = config.prepare(dict(base, scale="paper"))
    plan = Plan(cfg, "point")
    # widths x (A = 1 once + the other A x T), 50 seeds per job: A = 1 is the same run at every T
    assert len(plan.jobs("fig3_4")) == 2 * (1 + 9 * 10)
    jobs = plan.jobs("fig4_2")
    assert len(jobs) == 2 * (1 + 7 * 9) and {j.request.seeds for j in jobs} == {(0, 1, 2)}
    assert len(plan.study("fig4_4").runs()) == 40
    # the same grid in one job per width, or one per study (and the A = 1 point job of each width)
    assert len(Plan(cfg, "width").jobs("fig3_4")) == 2 + 2 and len(Plan(cfg, "study").jobs("fig3_4")) == 1 + 2


def test_fmt_and_seed_blocks():
    assert fmt(1.0) == "1" and fmt(0.075) == "0.075" and fmt(2500) == "2500"
    blocks = lambda *a: [seed_text(b) for b in seed_blocks(*a)]  # noqa: E731
    assert blocks(50, 50) == ["0-49"]
    assert blocks(5, 2) == ["0-1", "2-3", "4-4"]
    assert blocks(3, 1) == ["0-0", "1-1", "2-2"]
    assert seed_text([4], as_range=False) == "4" and seed_text([0, 3, 7]) == "0,3,7"


# --- the user's explicit values win over the scale's --------------------------


@pytest.mark.parametrize("scale", ["tiny", "quick"])
def test_user_values_win_over_the_scale(base, scale):
    cfg = copy.deepcopy(base)
    cfg.update(scale=scale, chunk_steps=400)
    cfg["studies"]["fig4_1"]["steps"] = 400
    out = config.prepare(cfg)
    assert out["chunk_steps"] == 400 and out["studies"]["fig4_1"]["steps"] == 400
    # untouched keys keep the scale's values
    assert out["studies"]["fig4_1"]["seeds"] == base["scales"][scale]["studies"]["fig4_1"]["seeds"]


def test_scale_values_apply_when_the_user_sets_nothing(base):
    out = config.prepare(dict(copy.deepcopy(base), scale="tiny"))
    assert out["chunk_steps"] == 200 and out["studies"]["fig4_1"]["steps"] == 200


def test_a_users_own_scale_value_beats_their_base_value(base):
    cfg = copy.deepcopy(base)
    cfg["scale"] = "tiny"
    cfg["studies"]["fig4_1"]["steps"] = 400
    cfg["scales"]["tiny"]["studies"]["fig4_1"]["steps"] = 100
    cfg["scales"]["tiny"]["studies"]["fig4_1"]["record_every"] = 20
    assert config.prepare(cfg)["studies"]["fig4_1"]["steps"] == 100


# --- results per scale ---------------------------------------------------------


def test_results_are_per_scale(base):
    got = {s: config.prepare(dict(copy.deepcopy(base), scale=s, results="out"))["results"]
           for s in ("paper", "quick", "tiny")}
    assert got == {"paper": "out/paper", "quick": "out/quick", "tiny": "out/tiny"}
    tiny = config.prepare(dict(copy.deepcopy(base), scale="tiny", results="out"))
    assert all(p.startswith("out/tiny/") for p in Plan(tiny).job_files("fig3_6"))


# --- bad input refused up front -----------------------------------------------


BAD = [
    ("whole-number float", lambda c: c["studies"]["fig3_4"].update(seeds=3.0), "studies.fig3_4.seeds"),
    ("float width", lambda c: c["studies"]["fig3_4"].update(widths=[100.0]), "studies.fig3_4.widths.0"),
    ("study named like a figure", lambda c: c["studies"].update(fig3_1=dict(c["studies"]["fig4_1"])),
     "studies.fig3_1"),
    ("study named like a rule", lambda c: c["studies"].update(all=dict(c["studies"]["fig4_1"])), "studies.all"),
    ("figure named like a rule", lambda c: c["figures"].update(figure=dict(c["figures"]["fig3_3"])),
     "figures.figure"),
    ("study name not a word", lambda c: c["studies"].update({"a/b": dict(c["studies"]["fig4_1"])}),
     "studies.a/b"),
]


@pytest.mark.parametrize("change,named", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_refused_naming_the_key(base, change, named):
    cfg = copy.deepcopy(base)
    change(cfg)
    with pytest.raises(config.ConfigError) as err:
        config.prepare(cfg)
    assert f"config key '{named}'" in str(err.value)


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("scale: tiny\nstudies:\n  fig4_1:\n    steps: 10\n    steps: 20\n")
    with pytest.raises(config.ConfigError, match="'steps': given twice"):
        config.load_yaml(path)


def test_cifar_dir_without_batch_files_is_refused(base, tmp_path):
    cfg = copy.deepcopy(base)
    cfg["studies"]["fig3_2"]["cifar_dir"] = str(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"")
    with pytest.raises(config.ConfigError, match="studies.fig3_2.cifar_dir.*no data_batch_2"):
        config.prepare(cfg)


def test_one_value_grid_is_accepted(base):
    """One value of A (or T) is a line, not a contour: accepted (the figure draws it as a line)."""
    cfg = copy.deepcopy(base)
    cfg["studies"]["fig4_2"]["A"] = [5]
    assert len(Plan(config.prepare(cfg), "point").jobs("fig4_2")) == 2 * 9


# --- a job's arguments are what determines its numbers ---


def test_job_arguments_ignore_cosmetic_and_grid_edits(base):
    def argv(cfg, stem):
        return Plan(config.prepare(dict(cfg, scale="tiny")), "point").job("fig4_2", stem).argv()

    stem = Plan(config.prepare(dict(copy.deepcopy(base), scale="tiny")), "point").jobs("fig4_2")[0].stem
    edited = copy.deepcopy(base)
    edited["studies"]["fig4_2"]["title"] = "another title"
    edited["scales"]["tiny"]["studies"]["fig4_2"]["A"] = [1, 5, 9]
    assert argv(edited, stem) == argv(copy.deepcopy(base), stem)
    steps = copy.deepcopy(base)
    steps["scales"]["tiny"]["studies"]["fig4_2"]["steps"] = 400
    assert argv(steps, stem) != argv(copy.deepcopy(base), stem)


def test_myrtle_checkpoint_is_keyed_by_the_job(base):
    def checkpoint(cfg):
        cfg = config.prepare(dict(cfg, scale="tiny"))
        return Plan(cfg).jobs("fig3_2")[0].request.checkpoint

    same = checkpoint(copy.deepcopy(base))
    assert checkpoint(copy.deepcopy(base)) == same
    longer = copy.deepcopy(base)
    longer["scales"]["tiny"]["studies"]["fig3_2"]["epochs"] = 3
    assert checkpoint(longer) != same
    every = copy.deepcopy(base)
    every["scales"]["tiny"]["studies"]["fig3_2"]["checkpoint_every"] = 2
    assert checkpoint(every) == same  # where and how often it saves does not change the numbers


def test_every_workflow_rule_name_is_reserved():
    """A study named like any rule of the workflow is refused (RESERVED_NAMES must list them all)."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in [root / "Snakefile", *sorted((root / "workflow/rules").glob("*.smk"))])
    rules = set(re.findall(r"^rule (\w+):", text, flags=re.M))
    assert rules and rules <= set(RESERVED_NAMES), sorted(rules - set(RESERVED_NAMES))


# --- nothing written elsewhere, nothing mislabelled, nothing refused late ---


def test_a_scale_name_is_a_plain_folder_name(base):
    """A scale named ``tiny/../paper`` would write into results/paper."""
    cfg = copy.deepcopy(base)
    cfg["scales"]["tiny/../paper"] = cfg["scales"]["tiny"]
    cfg["scale"] = "tiny/../paper"
    with pytest.raises(config.ConfigError, match=r"^config key 'scales.tiny/../paper': a scale's name"):
        config.prepare(cfg)


def test_a_period_as_long_as_the_run_is_refused(base):
    """With T >= steps the last period (A = 1) is the whole run: bitwise static, so
    labelling it A = 5 would be wrong."""
    cfg = copy.deepcopy(base)
    cfg["scale"] = "tiny"
    cfg["scales"]["tiny"]["studies"]["fig4_2"].update(A=[5], T=[100000], steps=200)
    with pytest.raises(config.ConfigError, match=r"^config key 'studies.fig4_2.T': T = 100000 is not below "
                                                 r"steps = 200, so A = 5 never acts"):
        config.prepare(cfg)
    cfg["scales"]["tiny"]["studies"]["fig4_2"].update(A=[1], T=[100000])  # a static run, labelled so
    config.prepare(cfg)


def test_the_training_spiral_is_not_a_test_spiral(base):
    """Test accuracy measured on the training spiral is not a test."""
    cfg = copy.deepcopy(base)
    cfg["data"]["train_seed"] = 3
    with pytest.raises(config.ConfigError, match=r"^config key 'data.train_seed': train_seed 3 is also a test seed"):
        config.prepare(cfg)


def test_a_huge_seed_count_is_refused_before_planning(base):
    """``seeds: 1e9`` would list 10^9 seeds while planning."""
    cfg = copy.deepcopy(base)
    cfg["studies"]["fig3_4"]["seeds"] = 10 ** 9
    with pytest.raises(config.ConfigError, match=r"^config key 'studies.fig3_4.seeds': 1000000000 is greater"):
        config.prepare(cfg)


def test_results_that_is_a_file_is_refused(base, tmp_path):
    """``results`` pointing to a file is one line naming the key, not a traceback."""
    (tmp_path / "f").write_text("")
    with pytest.raises(config.ConfigError, match=r"^config key 'results': '.*f' is a file, not a folder"):
        config.prepare(dict(copy.deepcopy(base), results=str(tmp_path / "f")))


def test_one_user_factor_replaces_that_factor_only(base):
    """At a non-paper scale, setting one sensitivity factor kept the scale's other factors
    out and brought back the paper scale's whole list."""
    cfg = copy.deepcopy(base)
    cfg["scale"] = "tiny"
    cfg["studies"]["sens_mse_w100"]["factors"]["lr_scale"] = [1, 3]
    factors = config.prepare(cfg)["studies"]["sens_mse_w100"]["factors"]
    # the scale's factors, the user's lr_scale, and the schema's default for a factor neither names
    assert factors == {**base["scales"]["tiny"]["studies"]["sens_mse_w100"]["factors"], "lr_scale": [1, 3],
                       "stop_rule": ["last_T"]}


def test_a_user_value_equal_to_the_shipped_one_still_wins(base):
    """``--config chunk_steps=10000`` or a study's ``steps: 50000`` (the shipped values)
    were replaced by the scale's; Snakemake passes what the user set as ``user``."""
    cfg = copy.deepcopy(base)
    cfg["scale"] = "tiny"
    user = {"scale": "tiny", "chunk_steps": 10000, "studies": {"fig4_1": {"steps": 50000}}}
    out = config.prepare(cfg, user=user)
    assert out["chunk_steps"] == 10000 and out["studies"]["fig4_1"]["steps"] == 50000
    assert out["studies"]["fig4_1"]["seeds"] == base["scales"]["tiny"]["studies"]["fig4_1"]["seeds"]


def test_the_publication_config_plans_every_claim_s_protocol():
    """docs/reproduction/cpu_paper.yaml (over config.yaml, as `--configfile` gives it): valid, and every
    claim with a protocol this CPU campaign runs has the studies it reads."""
    from dynloss.verdicts import CLAIMS

    cfg = copy.deepcopy(config.load_yaml())
    extra = config.load_yaml(config.CONFIG_PATH.parent / "docs" / "reproduction" / "cpu_paper.yaml")
    studies = extra.pop("studies")
    cfg.update(extra)
    for name, st in studies.items():
        cfg["studies"][name] = {**cfg["studies"].get(name, {}), **st} if "kind" not in st else st
    prepared = config.prepare(cfg, user={"studies": studies, **extra})
    plan = Plan(prepared)
    runs = {(st["loss"], w) for n, st in prepared["studies"].items() if st["kind"] == "contour" for w in st["widths"]}
    runs |= {(st["loss"], w) for n, st in prepared["studies"].items() if st["kind"] == "curves" for w in st["widths"]}
    wanted = {(c.protocol.loss, c.protocol.width) for c in CLAIMS if c.protocol is not None and c.where != "static"}
    assert wanted <= runs, wanted - runs
    assert prepared["granularity"] == "point" and plan.granularity == "point"
    assert prepared["studies"]["fig4_4"]["analyse_onsets"] == ["visible", "growing", "mode", "apparent", "ceiling"]


def test_an_onset_subset_names_a_definition_of_analyse_onsets(base):
    """``onset_runs`` limits a definition computed from the traces; one not computed, an unknown
    name or a count below 1 is refused naming the key."""
    cfg = copy.deepcopy(base)
    cfg["studies"]["fig4_4"]["analyse_onsets"] = ["visible", "apparent"]
    cfg["studies"]["fig4_4"]["primary_onset"] = "apparent"
    cfg["studies"]["fig4_4"]["onset_runs"] = {"mode": 8}
    with pytest.raises(config.ConfigError, match=r"studies.fig4_4.onset_runs.*\['mode'\] not in analyse_onsets"):
        config.prepare(cfg)
    for bad in ({"bogus": 3}, {"apparent": 0}):
        cfg["studies"]["fig4_4"]["onset_runs"] = bad
        with pytest.raises(config.ConfigError, match=r"studies.fig4_4.onset_runs"):
            config.prepare(cfg)
    cfg["studies"]["fig4_4"]["onset_runs"] = {"apparent": 8}
    plan = Plan(config.prepare(cfg))
    assert plan.study("fig4_4").onset_runs("apparent") == 8 and plan.study("fig4_4").onset_runs("visible") is None

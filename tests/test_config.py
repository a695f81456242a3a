"""Config schema: defaults filled, each invalid config rejected with its key named."""
import copy

import pytest

from dynloss import config, studies


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
                    assert "description" in sub or "$ref" in sub, f"{path}.{k} has no description"
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
    (("studies", "fig3_4", "loss"), "hinge", "studies.fig3_4.loss"),
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
    assert len(studies.point_jobs(cfg, "fig3_4")) == 2 * 10 * 10  # widths x A x T, 50 seeds per job
    jobs = studies.point_jobs(cfg, "fig4_2")
    assert len(jobs) == 2 * 8 * 9 and {j.seeds for j in jobs} == {"0-2"}
    assert len(studies.threshold_runs(cfg["studies"]["fig4_4"])) == 40


def test_fmt_and_seed_blocks():
    assert studies.fmt(1.0) == "1" and studies.fmt(0.075) == "0.075" and studies.fmt(2500) == "2500"
    assert studies.seed_blocks(50, 50) == ["0-49"]
    assert studies.seed_blocks(5, 2) == ["0-1", "2-3", "4-4"]
    assert studies.seed_blocks(3, 1) == ["0-0", "1-1", "2-2"]

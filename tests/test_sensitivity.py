"""The sensitivity study: the engine's protocol options, the case expansion, combine, table and the
written conclusion (dynloss.sensitivity.cases, dynloss.sensitivity.report), and the CLI's errors."""
import copy
import dataclasses
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from dynloss import cli, engine, losses, models
from dynloss.engine import problem as problem_mod
from dynloss.sensitivity import cases as sens_cases
from dynloss.sensitivity import report
from dynloss.spec import RunBatch, TrainSpec
from dynloss.config import ConfigError, load_config


# --- engine options: defaults unchanged ------------------------------------------------------

#: final static loss of two seeds after 200 steps (width 16, eta 0.075, float64), computed with the
#: code before the protocol options existed (commit 8119dba) on the project's 2-core machine; the
#: default spec must give the same bits
BEFORE = {
    "mse": ([0.6472947574722777, 0.6471082411104137], [0.5126666666666667, 0.438]),
    "dmse2": ([0.6516449294315949, 0.6525564026294032], [0.45933333333333337, 0.4373333333333333]),
    "ce": ([1.081908914962253, 1.0806961429451987], [0.382, 0.4086666666666668]),
}


@pytest.mark.parametrize("loss", sorted(BEFORE))
def test_default_spec_gives_the_numbers_of_before(loss):
    spec = TrainSpec(loss=loss, width=16, steps=200, record_every=20, chunk_steps=100)
    r = engine.train(spec, RunBatch.make([0, 1], A=5 if loss == "dmse2" else 1, T=50, lr=0.075))
    final_L, test = BEFORE[loss]
    assert r.loss[:, -1].tolist() == final_L
    assert r.test_acc.tolist() == test


# --- engine options: each does what it says ----------------------------------------------------


def _final(spec, lr=0.075, seeds=(0, 1)):
    return engine.train(spec, RunBatch.make(list(seeds), lr=lr))


def test_mse_norm_is_a_learning_rate_factor():
    """GD on s * L at eta equals GD on L at s * eta: the normalisations only rescale eta."""
    base = dict(loss="mse", width=16, steps=100, record_every=10, chunk_steps=100)
    half = _final(TrainSpec(mse_norm="half", **base), lr=0.1)
    plain = _final(TrainSpec(**base), lr=0.05)
    np.testing.assert_allclose(half.loss, 0.5 * plain.loss, rtol=1e-10)
    np.testing.assert_array_equal(half.train_acc, plain.train_acc)
    mean = _final(TrainSpec(mse_norm="mean", **base), lr=0.3)
    plain3 = _final(TrainSpec(**base), lr=0.1)
    np.testing.assert_allclose(mean.loss, plain3.loss / 3, rtol=1e-10)


def test_mse_norm_factors():
    assert losses.mse_norm_factor("listing", 3) == 1.0
    assert losses.mse_norm_factor("mean", 3) == pytest.approx(1 / 3)
    assert losses.mse_norm_factor("half", 3) == 0.5
    f, y = jnp.array([[0.2, 0.5, -1.0]]), jnp.array([[0.0, 1.0, 0.0]])
    sq = float(jnp.sum((f - y) ** 2))
    mean = losses.with_mse_norm(losses.get_loss("mse"), "mean", 3)
    assert float(mean.fn(f, y, None)) == pytest.approx(float(jnp.mean((f - y) ** 2)))  # mean over samples and classes
    half = losses.with_mse_norm(losses.get_loss("mse"), "half", 3)
    assert float(half.fn(f, y, None)) == pytest.approx(sq / 2)  # eq. 3.11, 1/(2N) with N = 1
    assert losses.with_mse_norm(losses.get_loss("ce"), "listing", 3) is losses.get_loss("ce")


@pytest.mark.parametrize("field,value,match", [
    ("mse_norm", "half", "MSE losses only"),
    ("mse_norm", "sum", "mse_norm must be one of"),
    ("W_std", (1.0,), "W_std must be two numbers"),
    ("W_std", (1.0, -1.0), "W_std must be two numbers"),
    ("b_std", -0.1, "b_std must be"),
    ("parameterization", "mup", "parameterization must be one of"),
    ("threefry_partitionable", "yes", "threefry_partitionable"),
])
def test_protocol_options_are_validated(field, value, match):
    from dynloss.jobs import TrainJob, checks

    spec = TrainSpec(loss="ce", width=8, steps=10, record_every=10, **{field: value})
    with pytest.raises(ValueError, match=match):
        checks.validate(TrainJob(spec=spec, seeds=(0,), lr=1.0))


def test_w_std_per_layer_and_b_std_scale_the_init():
    a = models.mlp(64, W_std=(2.0, 0.5), b_std=0.3).init(jax.random.PRNGKey(3), 2, jnp.float64)
    b = models.mlp(64).init(jax.random.PRNGKey(3), 2, jnp.float64)
    np.testing.assert_allclose(a[0][0], 2.0 * b[0][0], rtol=1e-14)
    np.testing.assert_allclose(a[2][0], 0.5 * b[2][0], rtol=1e-14)
    assert np.all(b[0][1] == 0) and np.std(np.asarray(a[0][1])) > 0.1


def test_threefry_flag_is_set_per_engine_and_restored():
    default = problem_mod._THREEFRY_DEFAULT
    base = dict(loss="mse", width=8, steps=10, record_every=10, chunk_steps=10,
                data_params=(("points_per_class", 10), ("test_seeds", (1,))))
    other = engine.make_problem(TrainSpec(threefry_partitionable=not default, **base))
    p_other = other.init_params(0)
    assert bool(jax.config.jax_threefry_partitionable) is (not default)
    again = engine.make_problem(TrainSpec(**base))  # None: this process's default, not the last job's
    assert bool(jax.config.jax_threefry_partitionable) is default
    p_default = again.init_params(0)
    assert not np.allclose(p_other[0][0], p_default[0][0])


# --- the NTK parameterisation against neural-tangents ----------------------------------------------


@pytest.fixture(scope="module")
def nt():
    return pytest.importorskip("neural_tangents")


@pytest.mark.nt
@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_mlp_equals_stax_in_both_parameterisations(nt, parameterization):
    stax = nt.stax
    w1, w2, b = 1.7, 0.6, 0.2
    init_nt, apply_nt, _ = stax.serial(
        stax.Dense(64, W_std=w1, b_std=b, parameterization=parameterization), stax.Relu(),
        stax.Dense(3, W_std=w2, b_std=b, parameterization=parameterization))
    m = models.mlp(64, 3, W_std=(w1, w2), b_std=b, parameterization=parameterization)
    x = jnp.asarray(np.random.RandomState(0).randn(20, 2))
    for seed in (0, 5):
        _, p_nt = init_nt(jax.random.PRNGKey(seed), (-1, 2))
        p = m.init(jax.random.PRNGKey(seed), 2, jnp.float64)
        for a, c in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(p_nt)):
            np.testing.assert_allclose(np.ravel(a), np.ravel(c), rtol=1e-14)
        np.testing.assert_allclose(m.apply(p, x), apply_nt(p_nt, x), rtol=1e-12)


# --- cases, job arguments, config checks ------------------------------------------------------------


@pytest.fixture(scope="module")
def paper():
    return load_config()


def test_cases_one_at_a_time_with_a_shared_base_and_crossed_pairs():
    st = {"factors": {"lr_scale": [1, 2, 4], "dtype": ["float64", "float32"]}, "cross": [["lr_scale", "dtype"]]}
    slugs = [c.slug for c in sens_cases.cases(st)]
    assert slugs == ["base", "lr_scale-2", "lr_scale-4", "dtype-float32", "lr_scale-2__dtype-float32",
                     "lr_scale-4__dtype-float32"]
    c = sens_cases.cases(st)[4]
    assert (c.factor, c.level, c.value("lr_scale"), c.value("dtype"), c.value("b_std")) == \
        ("lr_scale*dtype", "2*float32", 2, "float32", 0.0)


def test_crossed_pair_with_listed_levels():
    st = {"factors": {"lr_scale": [1, 2, 4], "steps_scale": [1, 2, 4]},
          "cross": [{"lr_scale": [2], "steps_scale": [1, 4]}]}
    slugs = [c.slug for c in sens_cases.cases(st)]
    # lr 2 x steps 1 is the single-factor case lr_scale-2 already: no duplicate
    assert slugs[-2:] == ["steps_scale-4", "lr_scale-2__steps_scale-4"] and len(slugs) == len(set(slugs)) == 6


def test_sensitivity_target_dry_run(tmp_path):
    import subprocess
    import sys as _sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([_sys.executable, "-m", "snakemake", "-n", "sensitivity_mse", "fig4_1_infinite", "--config",
                          "scale=tiny", f"results={tmp_path}/r"], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    cfg = load_config(scale="tiny")
    n_cases = sum(len(sens_cases.cases(st)) for st in cfg["studies"].values() if st["kind"] == "sensitivity")
    from dynloss.plan import Plan

    n_curves = len(Plan(cfg).jobs("fig4_1"))  # fig4_1_infinite draws figure 4.1's own runs too
    assert re.search(rf"train_job\s+{n_cases + n_curves}\b", text)
    for rule in ("aggregate_sensitivity", "infinite_width", "figure_sensitivity", "sensitivity_report",
                 "figure_curves_infinite"):
        assert rule in text


def test_train_args_apply_each_factor(paper):
    from dynloss.plan import Plan

    plan = Plan(paper)

    def arg(slug, flag):
        a = plan.job("sens_mse_w100", slug).argv()
        return a[a.index(flag) + 1]

    assert arg("base", "--lr") == "0.075" and arg("lr_scale-8", "--lr") == "0.6"
    assert arg("steps_scale-4", "--steps") == "200000"
    assert arg("W2_std-2", "--w-std") == "1,2"
    assert arg("parameterization-ntk", "--parameterization") == "ntk"
    assert arg("threefry_partitionable-false", "--threefry-partitionable") == "false"
    assert arg("data_seed-6", "--data-seed") == "6" and arg("base", "--data-seed") == "0"
    assert arg("mse_norm-half", "--mse-norm") == "half"
    # the arguments parse and build the job they name
    job = plan.job("sens_mse_w100", "W1_std-2")
    a = cli.build_parser().parse_args(["train", *job.argv(), "--out", "x.nc"])
    assert cli.args.protocol_kwargs(a)["W_std"] == (2.0, 1.0)
    assert cli.training.train_job(a) == job.request


def _with_study(paper, **changes):
    cfg = copy.deepcopy(paper)
    cfg["studies"]["sens_mse_w100"].update(changes)
    return cfg


@pytest.mark.parametrize("changes,key", [
    ({"factors": {"data_seed": [0, 1]}, "cross": []}, "factors.data_seed"),
    ({"cross": [["lr_scale", "dtype"]], "factors": {"lr_scale": [1, 2]}}, "cross"),
    ({"loss": "ce", "infinite": False, "factors": {"mse_norm": ["listing", "half"]}}, "factors.mse_norm"),
    ({"loss": "dmse1"}, "infinite"),
    ({"factors": {"steps_scale": [1, 2]}, "steps": 150}, "factors.steps_scale"),
])
def test_config_errors_name_the_key(paper, changes, key):
    from dynloss.plan import Plan

    with pytest.raises(ConfigError, match=f"studies.sens_mse_w100.{key}'"):
        Plan(_with_study(paper, **changes)).check()


# --- combine, table, conclusion -------------------------------------------------------------------


def _dataset(name, loss, cases_train, thesis_train, thesis_test=None):
    """A combined dataset with the given per-case train accuracies (3 seeds, +-0.01 spread)."""
    cases = list(cases_train)
    tr = np.array([[v - 0.01, v, v + 0.01] for v in cases_train.values()])
    ds = xr.Dataset({"final_train_acc": (("case", "seed"), tr), "test_acc": (("case", "seed"), tr - 0.05),
                     "final_L": (("case", "seed"), 1 - tr),
                     "diverged": (("case", "seed"), np.zeros_like(tr, bool))},
                    coords={"case": [c.replace("=", "-") for c in cases], "seed": [0, 1, 2],
                            "factor": ("case", [c.split("=")[0] for c in cases]),
                            "level": ("case", [c.split("=")[-1] for c in cases])})
    ds.attrs.update({"loss": loss, "width": 100, "thesis_train": thesis_train,
                     "thesis_test": "" if thesis_test is None else thesis_test, "study": name})
    return ds


def test_conclusion_names_the_smallest_change_and_checks_the_control():
    mse = _dataset("m", "mse", {"base": 0.58, "lr_scale=2": 0.70, "lr_scale=4": 0.79, "lr_scale=8": 0.85,
                                "steps_scale=4": 0.78, "lr_scale*steps_scale=2*4": 0.9}, 0.8)
    ce = _dataset("c", "ce", {"base": 0.62, "lr_scale=4": 0.40, "steps_scale=4": 0.63}, 0.65, 0.65)
    text = report.conclusion({"m": mse, "c": ce}, control="c")
    # reach = >= 0.8 - 0.03: steps x4 (0.78, its factor's first level) before lr x4 (0.79, its
    # factor's second level; lr x8 is not named: x4 reaches first); single changes before the pair
    assert "Smallest change reaching the thesis's value: **steps_scale = 4**: train 0.780 (0.008)" in text
    assert "Other factors' smallest levels that reach it: lr_scale = 4 (train 0.790 (0.008)); " \
        "lr_scale*steps_scale = 2*4 (train 0.900 (0.008))." in text
    assert "(steps_scale = 4) on the CE control (c): train 0.630 (0.008), test 0.580 (0.008) vs base train " \
        "0.620 (0.008), test 0.570 (0.008): the CE results are kept." in text
    assert "(lr_scale = 4) on the CE control (c): train 0.400 (0.008), test 0.350 (0.008) vs base train " \
        "0.620 (0.008), test 0.570 (0.008): the CE results are **not** kept." in text
    assert "CE control (c) has no case lr_scale*steps_scale = 2*4" in text
    assert "Reproduction (base protocol): train 0.580 (0.008)" in text
    none = _dataset("m", "mse", {"base": 0.58, "lr_scale=2": 0.60}, 0.95)
    text = report.conclusion({"m": none})
    assert "No change of the configured ones reaches ~0.950" in text and "0.600 (0.008) at lr_scale = 2" in text


def test_table_rows_and_markdown():
    ds = _dataset("m", "mse", {"base": 0.5, "dtype=float32": 0.6}, 0.8)
    inf = xr.Dataset({"train_acc": (("reference", "seed"), [[0.7, 0.7, 0.7]]),
                      "test_acc": (("reference", "seed"), [[0.4, 0.4, 0.4]])},
                     coords={"reference": ["kernel regime, standard, width 100"], "seed": [0, 1, 2]})
    rows = report.table({"m": ds}, {"m": inf})
    assert [(r["factor"], r["level"]) for r in rows] == [("base", "base"), ("dtype", "float32"),
                                                         ("infinite width", "kernel regime, standard, width 100")]
    assert rows[1]["train_mean"] == pytest.approx(0.6) and rows[2]["width"] == "inf"
    md = report.to_markdown(rows)
    assert md.count("\n") == 5 and "| m | mse | 100 | dtype | float32 | 0.600 |" in md


def test_combine_matches_files_to_cases_not_positions(tmp_path):
    """The case files come in any order (Snakemake's, or a JSON round trip that sorts the factors):
    each is matched to its case by the case it records."""
    from dynloss import netcdf

    st = {"factors": {"lr_scale": [1, 8], "W1_std": [1, 2]}}
    cs = sens_cases.cases(st)
    spec = TrainSpec(loss="mse", width=8, steps=20, record_every=10, chunk_steps=20,
                     data_params=(("points_per_class", 10), ("test_seeds", (1,))))
    paths = {}
    for c in cs:
        case_spec = dataclasses.replace(spec, W_std=(float(c.value("W1_std")), 1.0))
        r = engine.train(case_spec, RunBatch.make([0, 1], lr=0.075 * c.value("lr_scale")))
        ds = netcdf.result_to_dataset(r, {"case": c.slug})
        paths[c.slug] = str(netcdf.write_netcdf(ds, tmp_path / f"job{len(paths)}.nc"))
    final_L = {k: netcdf.open_dataset(p)["L"].isel(step=-1).values for k, p in paths.items()}
    ds = sens_cases.combine(list(reversed(paths.values())), cs, {"loss": "mse", "thesis_train": 0.8},
                             {"study_config": st})
    assert ds.sizes == {"case": 3, "seed": 2}
    assert list(ds["case"].values) == ["base", "lr_scale-8", "W1_std-2"]
    assert list(ds["factor"].values) == ["base", "lr_scale", "W1_std"]
    assert len({float(v[0]) for v in final_L.values()}) == 3  # three distinct runs
    for slug in paths:
        np.testing.assert_array_equal(ds["final_L"].sel(case=slug).values, final_L[slug])
    assert ds.attrs["thesis_train"] == 0.8 and json.loads(ds.attrs["config"])["study_config"] == st
    with pytest.raises(ValueError, match="3 cases"):
        sens_cases.combine(list(paths.values())[:2], cs, {})


# --- CLI --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra,flag", [
    (["--w-std", "1"], "--w-std"),
    (["--loss", "ce", "--mse-norm", "half"], "--mse-norm"),
    (["--mse-norm", "sum"], "--mse-norm"),
    (["--parameterization", "mup"], "--parameterization"),
])
def test_cli_bad_protocol_flags_exit_2(tmp_path, capsys, extra, flag):
    args = ["train", "--loss", "mse", "--width", "8", "--lr", "0.1", "--steps", "10", "--seeds", "0",
            "--out", str(tmp_path / "x.nc")]
    if "--loss" in extra:
        args[2] = extra[1]
        extra = extra[2:]
    assert cli.main(args + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0]
    assert not (tmp_path / "x.nc").exists()

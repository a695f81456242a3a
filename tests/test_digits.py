"""The digits data set (docs/verdicts.md, "Beyond the thesis"): a stratified, seeded, disjoint split of
scikit-learn's 1797 images, pixels / 16; the class weights of C = 10 against the thesis code's loop; the
hinge losses; a digits job through the workflow's job code equals the engine run directly."""
from __future__ import annotations

import numpy as np
import pytest

from dynloss import data as data_mod
from dynloss.data.digits import N_IMAGES, digits, split


def test_the_split_is_stratified_seeded_and_disjoint():
    labels = digits(np.arange(N_IMAGES)).labels
    train, test = split(0)
    assert len(train) + len(test) == N_IMAGES and not set(train) & set(test)
    assert len(test) == 450  # ceil(0.25 x 1797), what the registry's test_size says without scikit-learn
    assert data_mod.get("digits").test_size({"split_seed": 0, "test_fraction": 0.25}) == len(test)
    per_class = np.bincount(labels)
    held = np.bincount(labels[test], minlength=10)
    assert np.all(np.abs(held - 0.25 * per_class) <= 1)  # every class a quarter, to the image
    again = split(0)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    other = split(1)
    assert not np.array_equal(other[1], test) and np.all(np.abs(np.bincount(labels[other[1]]) - 0.25 * per_class) <= 1)


def test_pixels_are_scaled_by_a_fixed_rule_into_the_unit_interval():
    from sklearn.datasets import load_digits

    raw = load_digits()
    d = digits(np.arange(N_IMAGES))
    assert np.array_equal(d.x, raw.data / 16.0) and d.x.min() == 0.0 and d.x.max() == 1.0
    assert np.array_equal(d.onehot.argmax(1), raw.target)


def test_the_data_set_records_its_split():
    ds = data_mod.get("digits")
    values = ds.values({"split_seed": 3})
    attrs = ds.attributes(values)
    train, test = split(3, 0.25)
    assert attrs["train_indices"] == train.tolist() and attrs["test_indices"] == test.tolist()
    with pytest.raises(Exception, match="test_fraction"):
        ds.values({"test_fraction": 0.9})


def test_ten_class_weights_follow_the_thesis_code_loop():
    """The thesis's loop: the weighted class c advances c = (c + 1) % C at each period's end; within a period
    its weight is the triangle 1 -> A -> 1, the others 1; Gamma = C G / sum G. With C = 10 a full cycle is 10 T."""
    from dynloss.schedules import normalised_weights, raw_weights

    A, T, C = 7.0, 20, 10
    steps = np.arange(0, 12 * T)
    want_raw = np.ones((steps.size, C))
    for i, t in enumerate(steps):
        c = (t // T) % C
        tm = t % T
        m = 2 * (A - 1) / T
        want_raw[i, c] = 1 + m * tm if tm < T / 2 else 2 * A - m * tm - 1
    got_raw = np.asarray(raw_weights(steps, A, float(T), C))
    assert np.allclose(got_raw, want_raw, rtol=0, atol=1e-5)
    got = np.asarray(normalised_weights(steps, A, float(T), C))
    assert np.allclose(got, C * want_raw / want_raw.sum(1, keepdims=True), rtol=0, atol=1e-5)
    peaks = got_raw[T // 2 :: T].argmax(1)  # the weighted class at the middle of each period
    assert np.array_equal(peaks, np.arange(12) % 10)  # each class once per 10 T, then round again


def test_a_digits_job_through_the_workflow_equals_the_engine_run_directly(tmp_path):
    """config (a study's data block) -> planned job -> job file -> study dataset and figure, at tiny size; the
    job file's numbers are those of ``engine.train`` on the same spec, bit for bit."""
    import json

    import xarray as xr
    import yaml

    from dynloss import cli, config, engine
    from dynloss.plan import Plan
    from dynloss.spec import RunBatch

    cfg = config.load_yaml()
    cfg["studies"]["t_digits"] = {"kind": "curves", "loss": "dhinge", "widths": [8], "lr": 0.1, "steps": 40,
                                  "A": 3, "T": 4, "seeds": 2, "seeds_per_job": 2, "record_every": 10,
                                  "data": {"name": "digits", "split_seed": 2}}
    cfg["only_studies"] = ["t_digits"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    results = tmp_path / "results"
    assert cli.main(["run-study", "t_digits", "--config", str(path), "--scale", "tiny", "--results", str(results)]) == 0
    [job] = Plan(config.load_config(path, scale="tiny", results=str(results))).jobs("t_digits")
    spec = job.request.spec
    assert spec.data == "digits" and spec.num_classes == 10
    direct = engine.train(spec, RunBatch.make([0, 1], 3.0, 4.0, 0.1))
    with xr.open_dataset(job.out) as ds:
        assert ds.sizes["class_index"] == 10 and ds["test_set"].values.tolist() == [0]
        assert np.array_equal(ds["L"].values, direct.loss) and np.array_equal(ds["F"].values, direct.dyn_loss)
        assert np.array_equal(ds["train_acc"].values, direct.train_acc)
        assert np.array_equal(ds["test_acc_each"].values, direct.test_acc_each)
        attrs = json.loads(ds.attrs["data"])
        assert attrs["test_indices"] == split(2)[1].tolist() and attrs["name"] == "digits"
    assert (results / "tiny" / "figures" / "t_digits.png").stat().st_size > 1000


def test_the_hinge_hessian_is_the_network_curvature_weighted_by_the_loss_gradient():
    """The hinge is piecewise linear in the outputs: away from an exactly met margin its second derivative in f
    is zero, so the Hessian of F in the parameters is sum_k dF/df_k Hess f_k (no Gauss-Newton part)."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from dynloss import losses, models
    from dynloss.schedules import normalised_weights

    from jax.experimental import enable_x64

    with enable_x64():  # float64 in this test only
        train = digits(split(0)[0][:40])
        x, Y = jnp.asarray(train.x), jnp.asarray(train.onehot)
        model = models.mlp(6, 10)
        params = model.init(jax.random.PRNGKey(0), 64, jnp.float64)
        flat, unravel = ravel_pytree(params)
        w = normalised_weights(7, 5.0, 20.0, 10)
        F = losses.get_loss("dhinge").fn
        f = model.apply(params, x)
        margins = f - jnp.sum(f * Y, axis=-1, keepdims=True) + 1.0
        assert float(jnp.min(jnp.abs(jnp.where(Y > 0, 1.0, margins)))) > 1e-6  # no margin exactly met
        assert float(jnp.max(jnp.abs(jax.hessian(lambda o: F(o, Y, w))(f)))) == 0.0
        g = jax.grad(lambda o: F(o, Y, w))(f)
        H = jax.hessian(lambda p: F(model.apply(unravel(p), x), Y, w))(flat)
        H_net = jax.hessian(lambda p: jnp.sum(g * model.apply(unravel(p), x)))(flat)
        assert float(jnp.max(jnp.abs(H))) > 1e-3
        np.testing.assert_allclose(np.asarray(H), np.asarray(H_net), rtol=0, atol=1e-12)


def test_a_schedule_figure_draws_the_classes_of_its_data_block(tmp_path):
    """fig_digits_schedule names the digits: C = 10 in its options; an unknown data set is refused naming the key."""
    import yaml

    from dynloss import config
    from dynloss.errors import ConfigError
    from dynloss.figures.describe import options_text
    from dynloss.plan import Plan

    plan = Plan(config.load_config(scale="quick"))
    options = plan.figure_options("fig_digits_schedule")
    assert data_mod.num_classes(options["data"]) == 10 and "C = 10 classes" in options_text("schedule", options)
    assert data_mod.num_classes(plan.figure_options("fig3_1")["data"]) == 3
    cfg = config.load_yaml()
    cfg["figures"]["fig_digits_schedule"]["data"] = {"name": "nope"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"'figures.fig_digits_schedule.data.name': unknown data set 'nope' "
                                          r"\(allowed: spiral, digits"):
        config.load_config(path, scale="quick")


def test_a_campaign_of_spiral_studies_draws_no_digits_figure():
    """only_studies keeps the figures of the data sets its studies use: the confirmatory campaign (spiral only)
    plans no digits schedule; a campaign with a digits study does."""
    from dynloss import config

    cfg = config.load_yaml()
    cfg["only_studies"] = ["fig3_4"]
    assert "fig_digits_schedule" not in config.prepare(dict(cfg))["figures"]
    cfg = config.load_yaml()
    cfg["studies"]["t_digits"] = {"kind": "curves", "loss": "dce", "data": {"name": "digits"}}
    cfg["only_studies"] = ["t_digits"]
    assert "fig_digits_schedule" in config.prepare(cfg)["figures"]

"""Myrtle5 training on (synthetic) CIFAR-10: spec, schedules, optimiser, training, seeds,
checkpoint/resume, NetCDF output (dynloss.myrtle) and the command line (dynloss.cli.myrtle).
The network itself is tested in test_models.py."""
import argparse
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tol
from dynloss import cli, myrtle, netcdf
from dynloss.data import cifar
from dynloss.cli import myrtle as myrtle_cli
from dynloss.errors import SpecError


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def _same(a, b):
    return all(x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
               for x, y in zip(_leaves(a), _leaves(b)))


# ------------------------------------------------------------------------------------------
# Schedules and the optimiser


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lr_schedule_thesis_values(dtype):
    spe = myrtle.MyrtleSpec().steps_per_epoch(50000)
    assert spe == 97  # floor: the incomplete last batch is dropped
    lr = myrtle.make_lr_schedule(0.02, 300, 0.002, 700, spe)
    t = jnp.asarray(np.array([0, 150, 300, 500, 700]) * spe, dtype)
    got = np.asarray(lr(t))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, [0.0, 0.01, 0.02, 0.011, 0.002], rtol=tol(dtype) / 10, atol=1e-9)
    assert np.asarray(lr(jnp.asarray(1, dtype))) > 0
    # the peak is a corner: lower on both sides
    a, b = np.asarray(lr(jnp.asarray([299 * spe, 301 * spe], dtype)))
    assert a < 0.02 and b < 0.02


def test_amplitude_one_from_stop_epoch():
    spec = myrtle.MyrtleSpec(A=10.0, T=50.0)
    spe = 97
    stop = spec.stop_step(spe)
    assert stop == 600 * spe
    for loss in ("dce", "dmse1", "dmse2"):
        w = myrtle.make_class_weights(loss, jnp.float32(10.0), jnp.float32(50.0), 10, stop)
        before = np.asarray(w(jnp.arange(stop - 100, stop, dtype=jnp.int32)))
        after = np.asarray(w(jnp.arange(stop, stop + 500, dtype=jnp.int32)))
        assert np.abs(before - 1).max() > 1  # still oscillating
        np.testing.assert_array_equal(after, 1.0)
    never = myrtle.make_class_weights("dce", 10.0, 50.0, 10, None)
    assert np.abs(np.asarray(never(jnp.int32(stop + 25))) - 1).max() > 1
    static = myrtle.make_class_weights("ce", 10.0, 50.0, 10, stop)
    np.testing.assert_array_equal(np.asarray(static(jnp.int32(25))), 1.0)


# The commit before the switch to optax (aaeb7bf) trained with a hand-written schedule and update;
# they are kept here as the reference the optax-based training is compared with.


def _previous_lr(peak_lr, peak_epoch, final_lr, epochs, steps_per_epoch):
    up = peak_lr / float(peak_epoch)
    down = (final_lr - peak_lr) / max(float(epochs - peak_epoch), 1e-12)

    def lr(t):
        e = t / float(steps_per_epoch)
        return jnp.where(e <= peak_epoch, up * e, peak_lr + down * (e - peak_epoch))

    return lr


def _previous_update(params, mom, grads, lr, momentum, nesterov=True):
    mom = jax.tree_util.tree_map(lambda m, g: g + momentum * m, mom, grads)
    step = jax.tree_util.tree_map(lambda m, g: g + momentum * m, mom, grads) if nesterov else mom
    return jax.tree_util.tree_map(lambda p, s: p - lr * s, params, step), mom


def _previous_sgd(spec, steps_per_epoch):
    """The previous training's optimiser as an optax transformation (same arithmetic, same order)."""
    optax = pytest.importorskip("optax")
    lr = _previous_lr(spec.peak_lr, spec.peak_epoch, spec.final_lr, spec.epochs, steps_per_epoch)
    dtype = jnp.dtype(spec.dtype)

    def init(params):
        return jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros((), jnp.int32)

    def update(grads, state, params=None):
        # _previous_update's arithmetic with the step returned as -(lr s): optax.apply_updates
        # then computes p + (-(lr s)), which is p - lr s bit for bit
        mom, count = state
        mu, rate = spec.momentum, lr(count.astype(dtype))
        mom = jax.tree_util.tree_map(lambda m, g: g + mu * m, mom, grads)
        step = jax.tree_util.tree_map(lambda m, g: g + mu * m, mom, grads) if spec.nesterov else mom
        return jax.tree_util.tree_map(lambda s: -(rate * s), step), (mom, count + 1)

    return optax.GradientTransformation(init, update)


@pytest.mark.parametrize("nesterov", [True, False])
def test_optax_sgd_is_the_previous_update_bitwise(nesterov):
    # optax.sgd: m <- g + mu m; p <- p + (-lr) (g + mu m): negation and IEEE addition make this
    # p - lr (g + mu m) exactly, so for the same learning rate the update is unchanged bit for bit
    optax = pytest.importorskip("optax")
    rng = np.random.RandomState(0)
    params = {"w": jnp.asarray(rng.randn(3, 4)), "b": jnp.asarray(rng.randn(4))}
    lr = myrtle.make_lr_schedule(0.5, 2, 0.05, 6, 1)
    opt = optax.sgd(learning_rate=lr, momentum=0.9, nesterov=nesterov)
    state = opt.init(params)
    ref, ours = params, params
    mom = jax.tree_util.tree_map(jnp.zeros_like, params)
    for t in range(6):
        grads = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.randn(*a.shape)), params)
        updates, state = opt.update(grads, state, ours)
        ours = optax.apply_updates(ours, updates)
        ref, mom = _previous_update(ref, mom, grads, lr(t), 0.9, nesterov)
    for a, b in zip(_leaves(ref), _leaves(ours)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("corners", [(0.02, 300, 0.002, 700, 97), (0.1, 1, 0.01, 4, 10)])
def test_lr_schedule_equals_the_previous_formula_to_rounding(corners):
    # optax's linear schedule computes I + (E - I)(1 - t/N)-style expressions, the previous one
    # (peak/peak_epoch) * t/spe: the same line in another float order. Every float32 step of the
    # schedule agrees to within 2 ulp of peak_lr (2 * eps * peak_lr; measured: <= 1.6 ulp), the
    # rounding of one or two float32 operations on values of the size of peak_lr.
    peak_lr, peak_epoch, final_lr, epochs, spe = corners
    t = jnp.arange(epochs * spe + 1, dtype=jnp.float32)
    new = np.asarray(myrtle.make_lr_schedule(*corners)(t), np.float64)
    old = np.asarray(_previous_lr(*corners)(t), np.float64)
    assert np.abs(new - old).max() <= 2 * np.finfo(np.float32).eps * peak_lr


def test_spec_validation():
    from dynloss.jobs import MyrtleJob, checks

    with pytest.raises(SpecError, match="unknown loss") as err:  # the job checks read the loss registry
        checks.validate(MyrtleJob(spec=myrtle.MyrtleSpec(loss="nope"), seeds=(0,), cifar_dir="c"))
    assert err.value.field == "loss"
    for field, bad, pattern in (("A", 0.5, "A must"), ("T", 0.0, "T must"),
                                ("peak_epoch", 800, "peak_epoch"), ("batch_size", 0, "batch_size"),
                                ("dtype", "float16", "dtype"), ("batch", "pmap", "batch"),
                                ("momentum", 1.0, "momentum"), ("eval_every", -1, "eval_every"),
                                ("conv_vjp", "fft", "conv_vjp"), ("stop_epoch", -1.0, "stop_epoch")):
        with pytest.raises(SpecError, match=pattern) as err:
            dataclasses.replace(myrtle.MyrtleSpec(), **{field: bad}).validate()
        assert err.value.field == field
    with pytest.raises(SpecError, match="batch_size") as err:
        myrtle.MyrtleSpec(batch_size=512).steps_per_epoch(100)
    assert err.value.field == "batch_size"
    np.testing.assert_array_equal(myrtle.MyrtleSpec(epochs=25, eval_every=10).eval_epochs(), [10, 20, 25])
    np.testing.assert_array_equal(myrtle.MyrtleSpec(epochs=5, eval_every=0).eval_epochs(), [5])


def test_batch_modes_are_the_shared_names_with_auto_map():
    from dynloss import spec as spec_mod

    # one definition, beside the spiral's spec, with the shared dtype and batch-mode names
    assert myrtle.MyrtleSpec is spec_mod.MyrtleSpec
    with pytest.raises(SpecError, match="batch must be one of auto, vmap, map"):
        myrtle.MyrtleSpec(batch="wide").validate()
    with pytest.raises(SpecError, match="dtype must be one of float64, float32"):
        myrtle.MyrtleSpec(dtype="float16").validate()
    # Myrtle5's auto is map on every backend (the spiral engine's picks vmap on accelerators)
    assert [myrtle.resolve_batch(m) for m in spec_mod.BATCH_MODES] == ["map", "vmap", "map"]


def test_progress_line_format():
    lines = []
    report = myrtle.epoch_progress_logger(2, 1000, "job: ", emit=lines.append, min_interval=0)
    report(3, 10, 6.0)
    assert lines == ["job: epoch 3/10 (30%)  0.5 epochs/s  1,000 run-images/s  elapsed 0:00:06  "
                     "ETA 0:00:14"]


# ------------------------------------------------------------------------------------------
# Training on synthetic 8x8 images (fast; global pooling makes the network size-agnostic)

SEEDS = [0, 1]
SPEC = myrtle.MyrtleSpec(loss="dce", A=5.0, T=8.0, channels=8, epochs=4, batch_size=32,
                         peak_lr=0.1, peak_epoch=1, final_lr=0.01, stop_epoch=3, eval_every=1)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    return cifar.write_synthetic_cifar(tmp_path_factory.mktemp("myrtle") / "cifar",
                                       num_train_per_batch=64, num_test=128, image_size=8, seed=0)


@pytest.fixture(scope="module")
def data(cifar_dir):
    return cifar.load_cifar10(cifar_dir)


@pytest.fixture(scope="module")
def full(data):
    """The uninterrupted reference run (seeds side by side, the backend's batch mode)."""
    return myrtle.train_myrtle(SPEC, SEEDS, data)


def test_learns_better_than_chance(full):
    assert full.complete and full.steps_per_epoch == 10 and full.num_train == 320
    assert full.train_loss.shape == (2, 4) and np.all(np.isfinite(full.train_loss))
    assert np.all(full.train_loss[:, -1] < full.train_loss[:, 0])
    # chance is 0.1
    assert np.all(full.final("train_acc") > 0.35) and np.all(full.final("test_acc") > 0.35)
    assert not full.diverged.any()
    # the amplitude stops at epoch 3: F = L there (dce with Gamma = 1)
    np.testing.assert_array_equal(full.train_F[:, 3], full.train_loss[:, 3])
    assert np.all(full.train_F[:, 0] != full.train_loss[:, 0])
    np.testing.assert_allclose(full.lr, [0.0, 0.1, 0.07, 0.04], rtol=1e-6)


def test_deterministic(full, data):
    again = myrtle.train_myrtle(SPEC, SEEDS, data)
    for k in myrtle.METRICS:
        np.testing.assert_array_equal(getattr(again, k), getattr(full, k))
    assert _same(again.params, full.params)


def test_training_equals_the_previous_optimiser_to_rounding(full, data):
    """The optax-based training against the previous hand-written schedule and update.

    The update is the same arithmetic (test_optax_sgd_is_the_previous_update_bitwise); the
    learning rates differ by at most 2 ulp of peak_lr (test_lr_schedule_equals_the_previous_formula_
    to_rounding), and those float32 rounding differences are all that separates the two runs.
    Tolerances: after 40 SGD steps the losses agree to 1e-6 relative and the parameters to 1e-5
    of each layer's largest weight, about 10 and 100 float32 eps (measured on CPU: 6.5e-8 and
    2.4e-7, i.e. 0.5 and 2 eps); the accuracies to one image. The reference reproduces the
    previous commit's numbers bit for bit, and the tiny-scale figure-3.2 study gave
    bitwise-identical NetCDF files before and after the switch.
    """
    previous = myrtle.train_myrtle(SPEC, SEEDS, data, optimizer=_previous_sgd(SPEC, full.steps_per_epoch))
    for k in ("train_loss", "train_F"):
        np.testing.assert_allclose(getattr(full, k), getattr(previous, k), rtol=1e-6, err_msg=k)
    for k in ("train_acc", "test_acc"):
        np.testing.assert_allclose(getattr(full, k), getattr(previous, k), atol=1 / full.num_test, err_msg=k)
    for a, b in zip(_leaves(full.params), _leaves(previous.params)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_seeds_batched_equal_seeds_one_at_a_time(full, data):
    # the default mode (lax.map over seeds) is bitwise equal to single-seed runs
    one = myrtle.train_myrtle(SPEC, [1], data)
    for k in myrtle.METRICS:
        np.testing.assert_array_equal(getattr(one, k)[0], getattr(full, k)[1])
    assert _same(jax.tree_util.tree_map(lambda a: a[1:], full.params), one.params)
    # vmap batches the convolutions differently (grouped): equal to float32 rounding
    spec = dataclasses.replace(SPEC, batch="vmap")
    both = myrtle.train_myrtle(spec, SEEDS, data)
    single = myrtle.train_myrtle(spec, [1], data)
    np.testing.assert_allclose(both.train_loss[1], single.train_loss[0], rtol=1e-5)
    np.testing.assert_allclose(both.train_loss, full.train_loss, rtol=1e-5)
    for a, b in zip(_leaves(both.params), _leaves(single.params)):
        np.testing.assert_allclose(a[1], b[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both.test_acc[1], single.test_acc[0], atol=2 / full.num_test)


def test_xla_conv_gradients_train_the_same(full, data):
    # the accelerator path (autodiff convolutions) on CPU: same run up to float32 rounding
    xla = myrtle.train_myrtle(dataclasses.replace(SPEC, conv_vjp="xla"), [0], data)
    np.testing.assert_allclose(xla.train_loss[0], full.train_loss[0], rtol=1e-4)
    np.testing.assert_allclose(xla.test_acc[0], full.test_acc[0], atol=2 / full.num_test)


def test_resume_after_interrupt_is_bitwise(full, data, tmp_path):
    ck = tmp_path / "ck" / "run.npz"
    part = myrtle.train_myrtle(SPEC, SEEDS, data, checkpoint=ck, checkpoint_every=2,
                               interrupt_after=3)
    assert part.epochs_done == 3 and not part.complete
    np.testing.assert_array_equal(part.train_loss[:, :3], full.train_loss[:, :3])
    with np.load(ck) as z:  # the "kill" came after epoch 3; the last checkpoint is epoch 2
        assert int(z["epoch"]) == 2
        assert np.isnan(z["metric_train_loss"][:, 2:]).all()
    assert not list(ck.parent.glob(".*.tmp"))  # atomic writes leave no temporary files
    resumed = myrtle.train_myrtle(SPEC, SEEDS, data, checkpoint=ck, checkpoint_every=2)
    assert resumed.complete
    for k in myrtle.METRICS:
        np.testing.assert_array_equal(getattr(resumed, k), getattr(full, k), err_msg=k)
    assert _same(resumed.params, full.params)
    # a finished checkpoint returns its results without training
    done = myrtle.train_myrtle(SPEC, SEEDS, data, checkpoint=ck)
    assert done.timings["train_s"] == 0.0
    np.testing.assert_array_equal(done.test_acc, full.test_acc)
    assert _same(done.params, full.params)
    # a checkpoint of another run is refused, naming what differs
    with pytest.raises(myrtle.CheckpointError, match=r"spec\.loss"):
        myrtle.train_myrtle(dataclasses.replace(SPEC, loss="ce"), SEEDS, data, checkpoint=ck)
    with pytest.raises(myrtle.CheckpointError, match="seeds"):
        myrtle.train_myrtle(SPEC, [0, 2], data, checkpoint=ck)
    ck.write_bytes(b"garbage")
    with pytest.raises(myrtle.CheckpointError, match="cannot read"):
        myrtle.train_myrtle(SPEC, SEEDS, data, checkpoint=ck)


def test_dataset_round_trip(full, tmp_path):
    ds = myrtle.result_to_dataset(full, {"study": "fig3.2"})
    path = netcdf.write_netcdf(ds, tmp_path / "out.nc")
    back = netcdf.open_dataset(path)
    assert dict(back.sizes) == {"seed": 2, "epoch": 4}
    assert back["train_acc"].dims == ("seed", "epoch")
    for name, value in (("loss", "dce"), ("A", 5.0), ("T", 8.0), ("channels", 8)):
        assert back[name].ndim == 0 and back[name].item() == value
    np.testing.assert_array_equal(back["test_acc"].values, full.test_acc)
    np.testing.assert_array_equal(back["final_test_acc"].values, full.test_acc[:, -1])
    assert '"study": "fig3.2"' in back.attrs["config"] and "myrtle_spec" in back.attrs["config"]
    assert back.attrs["steps_per_epoch"] == 10 and "git_commit" in back.attrs


# ------------------------------------------------------------------------------------------
# Command line


@pytest.fixture(autouse=True)
def _restore_xla_flags(monkeypatch):
    # the myrtle command may add the deterministic-GPU flag to XLA_FLAGS: keep it to the test
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


def test_ensure_deterministic_xla(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=true --other")
    assert myrtle.ensure_deterministic_xla()
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
    assert not myrtle.ensure_deterministic_xla()  # the user's explicit choice stands
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"


def _parser():
    parser = cli.Parser(prog="dynloss")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    myrtle_cli.add(sub)
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def _argv(cifar_dir, out, *extra):
    return ["myrtle", "--cifar-dir", str(cifar_dir), "--loss", "dce", "--A", "5", "--T", "8",
            "--seeds", "0-1", "--epochs", "4", "--channels", "8", "--batch-size", "32",
            "--peak-lr", "0.1", "--peak-epoch", "1", "--final-lr", "0.01", "--stop-epoch", "3",
            "--eval-every", "1", "--out", str(out), "-q", *extra]


def test_cli_writes_the_same_numbers(cifar_dir, full, tmp_path):
    out = tmp_path / "x.nc"
    ck = tmp_path / "ck.npz"
    assert _run(_argv(cifar_dir, out, "--checkpoint", str(ck), "--checkpoint-every", "2")) == 0
    ds = netcdf.open_dataset(out)
    np.testing.assert_array_equal(ds["train_loss"].values, full.train_loss)
    np.testing.assert_array_equal(ds["seed"].values, SEEDS)
    assert ck.exists()


@pytest.mark.parametrize("extra, flag", [
    (["--loss", "nope"], "--loss"),
    (["--epochs", "0"], "--epochs"),
    (["--A", "0.5"], "--A"),
    (["--seeds", "3-1"], "--seeds"),
    (["--peak-epoch", "9"], "--peak-epoch"),
    (["--num-train", "1000"], "--num-train"),
    (["--batch-size", "400"], "--batch-size"),
    (["--dtype", "float16"], "--dtype"),
])
def test_cli_errors_name_the_argument(cifar_dir, tmp_path, extra, flag):
    out = tmp_path / "x.nc"
    with pytest.raises(cli.CliError) as err:
        _run(_argv(cifar_dir, out, *extra))
    msg = str(err.value)
    assert flag in msg and "\n" not in msg
    assert not out.exists()


def test_cli_missing_cifar_dir(tmp_path):
    with pytest.raises(cli.CliError, match="--cifar-dir: .*data_batch_1"):
        _run(_argv(tmp_path / "absent", tmp_path / "x.nc"))


def test_cli_exit_status_and_one_line(cifar_dir, tmp_path, capsys, monkeypatch):
    # through cli.main, as the lead will register it: one line on stderr, exit status 2
    assert cli.main(_argv(cifar_dir, tmp_path / "x.nc", "--batch", "pmap")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dynloss myrtle: error:") and "--batch" in err and "\n" not in err


def test_add_on_a_plain_argparse_parser():
    parser = argparse.ArgumentParser()
    myrtle_cli.add(parser.add_subparsers())
    args = parser.parse_args(["myrtle", "--cifar-dir", "d", "--loss", "ce", "--out", "o.nc"])
    assert (args.epochs, args.channels, args.batch_size, args.peak_lr, args.stop_epoch) == \
        (700, 64, 512, 0.02, 600.0)


def test_diverged_seed_has_nan_accuracy_from_its_divergence_epoch():
    """For Myrtle5: chance accuracy of NaN parameters is not stored as a number."""
    spec = myrtle.MyrtleSpec(loss="dce", epochs=4)
    loss = np.array([[1.0, 0.9, np.nan, np.nan], [1.0, 0.8, 0.7, 0.6]])
    acc = np.full((2, 4), 0.1)
    r = myrtle.MyrtleResult(spec=spec, seeds=np.array([0, 1]), epochs_done=4, train_loss=loss, train_F=loss,
                            train_acc=acc, test_acc=acc, lr=np.ones(4), steps_per_epoch=1, num_train=10,
                            num_test=10)
    ds = myrtle.result_to_dataset(r)
    assert ds["diverged_epoch"].values.tolist() == [3, -1]
    np.testing.assert_array_equal(np.isnan(ds["test_acc"].values[0]), [False, False, True, True])
    assert np.all(ds["train_acc"].values[1] == 0.1)

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import engine, losses, models, progress
from dynloss.engine import plan as plan_mod
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec
from conftest import tol

SMALL = dict(width=16, data_params=(("points_per_class", 20), ("test_seeds", (1, 2))))


def spec(**kw):
    base = dict(loss="dce", steps=120, record_every=10, chunk_steps=40, **SMALL)
    base.update(kw)
    return TrainSpec(**base)


def reference_loop(s: TrainSpec, seed, A, T, lr):
    """Plain per-step GD with jax.grad (thesis eq. 2.8): metrics after the update of step t."""
    d, _ = s.data_set().load(s.data_values())
    x, y = jnp.asarray(d.x), jnp.asarray(d.onehot)
    m = models.mlp(s.width, s.num_classes, fast=False)
    p = m.init(jax.random.PRNGKey(seed), 2, jnp.float64)
    loss = losses.get_loss(s.loss)
    static = losses.get_loss(loss.static)
    total = s.steps if s.stop_rule != "never" else None
    out = {"L": [], "F": [], "acc": [], "gamma": []}
    for t in range(s.steps):
        w = loss.class_weights(t, A, T, s.num_classes, total)
        g = jax.grad(lambda q: loss.fn(m.apply(q, x), y, w))(p)
        p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
        f = m.apply(p, x)
        out["L"].append(float(static.fn(f, y, w)))
        out["F"].append(float(loss.fn(f, y, w)))
        out["acc"].append(float(losses.accuracy(f, y)))
        out["gamma"].append(np.asarray(w))
    return {k: np.asarray(v) for k, v in out.items()}, p


@pytest.mark.parametrize("name,lr", [("dce", 1.0), ("dmse1", 0.075), ("dmse2", 0.075), ("mse", 0.1)])
def test_engine_matches_reference_loop(name, lr):
    s = spec(loss=name, steps=60, record_every=1, chunk_steps=20)
    ref, _ = reference_loop(s, seed=3, A=5.0, T=20.0, lr=lr)
    r = engine.train(s, RunBatch.make([3], 5.0, 20.0, lr))
    np.testing.assert_array_equal(r.steps, np.arange(60))
    np.testing.assert_allclose(r.loss[0], ref["L"], rtol=1e-9)
    np.testing.assert_allclose(r.dyn_loss[0], ref["F"], rtol=1e-9)
    np.testing.assert_allclose(r.train_acc[0], ref["acc"], atol=1e-12)
    np.testing.assert_allclose(r.gamma[0], ref["gamma"], rtol=1e-12)


def test_records_at_stride_end_with_last_step():
    r = engine.train(spec(), RunBatch.make([0], 3.0, 30.0, 1.0))
    np.testing.assert_array_equal(r.steps, np.arange(9, 120, 10))
    assert r.loss.shape == (1, 12) and r.gamma.shape == (1, 12, 3)
    assert r.final_train_acc[0] == r.train_acc[0, -1]


@pytest.mark.parametrize("mode", ["vmap", "map"])
def test_batch_equals_runs_one_at_a_time(mode):
    s = spec(steps=200, record_every=5, batch=mode)
    seeds, A, T, lr = [0, 1, 2], [1.0, 4.0, 9.0], [30.0, 50.0, 70.0], [1.0, 0.5, 0.8]
    batch = engine.train(s, RunBatch.make(seeds, A, T, lr))
    for i in range(3):
        one = engine.train(s, RunBatch.make([seeds[i]], A[i], T[i], lr[i]))
        for name in ("loss", "dyn_loss", "train_acc", "gamma", "test_acc_each"):
            np.testing.assert_allclose(getattr(batch, name)[i], getattr(one, name)[0], rtol=1e-9, atol=1e-12)


def test_same_seed_twice_gives_identical_numbers():
    s = spec()
    b = RunBatch.make([4, 5], 3.0, 40.0, 1.0)
    r1, r2 = engine.train(s, b), engine.train(s, b)
    for name in ("loss", "dyn_loss", "train_acc", "test_acc_each"):
        np.testing.assert_array_equal(getattr(r1, name), getattr(r2, name))


def test_chunking_does_not_change_results():
    b = RunBatch.make([0, 1], 3.0, 40.0, 1.0)
    r1 = engine.train(spec(chunk_steps=40), b)
    r2 = engine.train(spec(chunk_steps=120), b)
    np.testing.assert_allclose(r1.loss, r2.loss, rtol=1e-12)


def test_huge_lr_is_flagged_diverged_without_exception():
    s = spec(loss="dmse1", steps=200, record_every=1, chunk_steps=50)
    r = engine.train(s, RunBatch.make([0, 0], 1.0, 50.0, [0.05, 100.0]))
    assert list(r.diverged) == [False, True]
    k = r.diverged_step[1]
    assert 0 <= k < 200
    assert np.all(np.isfinite(r.loss[1, :k])) and np.all(np.isnan(r.loss[1, k + 1:]))
    assert not np.isfinite(r.loss[1, k])
    assert np.isnan(r.final_train_acc[1]) and np.isnan(r.test_acc[1])
    assert np.all(np.isfinite(r.loss[0])) and r.diverged_step[0] == -1


def test_last_period_stops_oscillating():
    s = spec(steps=120, record_every=1, chunk_steps=60)
    r = engine.train(s, RunBatch.make([0], 6.0, 30.0, 1.0))
    np.testing.assert_array_equal(r.gamma[0, 90:], 1.0)
    assert r.gamma[0, :90].max() > 1.5
    r = engine.train(spec(steps=120, record_every=1, chunk_steps=60, stop_rule="never"),
                    RunBatch.make([0], 6.0, 30.0, 1.0))
    assert r.gamma[0, 90:].max() > 1.5


def test_float32_runs_in_float32():
    # compare the first steps only: lr = 1 amplifies rounding differences over many steps
    s = spec(dtype="float32", steps=40, record_every=1)
    r = engine.train(s, RunBatch.make([0, 1], 3.0, 40.0, 1.0))
    assert r.loss.dtype == np.float32 and r.gamma.dtype == np.float32
    r64 = engine.train(spec(steps=40, record_every=1), RunBatch.make([0, 1], 3.0, 40.0, 1.0))
    np.testing.assert_allclose(r.loss[:, :5], r64.loss[:, :5], rtol=tol(np.float32))


def test_training_learns_something():
    # static MSE at a small learning rate: the loss must fall monotonically
    s = TrainSpec(loss="mse", width=100, steps=1000, record_every=100, chunk_steps=1000,
                        data_params=(("test_seeds", (1,)),))
    r = engine.train(s, RunBatch.make([0], 1.0, 100.0, 0.075))
    assert r.loss[0, 0] < 0.6 * r.loss_init[0]
    assert np.all(np.diff(r.loss[0]) < 0)


def test_an_unknown_loss_is_refused_naming_the_registered_ones():
    """The job checks read the loss registry (dynloss.losses); the engine's lookup refuses it too."""
    from dynloss.errors import SpecError
    from dynloss.jobs import TrainJob, checks

    with pytest.raises(SpecError, match=f"unknown loss 'nope' \\(allowed: {', '.join(losses.LOSSES)}\\)") as exc:
        checks.validate(TrainJob(spec=spec(loss="nope"), seeds=(0,), lr=1.0))
    assert exc.value.field == "loss"
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        engine.make_problem(spec(loss="nope"))


@pytest.mark.parametrize("kw,match", [
    (dict(width=0), "width"),
    (dict(steps=0), "steps"),
    (dict(steps=125), "multiple"),
    (dict(dtype="float16"), "dtype"),
    (dict(batch="pmap"), "batch"),
    (dict(spectra=SpectraSpec(hess_every=15)), "divide"),
    (dict(spectra=SpectraSpec(ntk_every=20, ntk_points=10_000)), "ntk_points"),
])
def test_spec_validation_names_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        spec(**kw).validate()


@pytest.mark.parametrize("kw,match", [
    (dict(A=0.5), "A must"), (dict(T=0.0), "T must"), (dict(lr=-1.0), "lr must"),
    (dict(lr=[1.0, 2.0, 3.0]), "one value per seed"),
])
def test_run_batch_validation(kw, match):
    args = dict(A=1.0, T=10.0, lr=1.0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        RunBatch.make([0, 1], **args)


def test_progress_is_reported():
    seen = []
    engine.train(spec(), RunBatch.make([0], 2.0, 40.0, 1.0), progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [40, 80, 120] and all(s[1] == 120 for s in seen)
    msgs = []
    rep = progress.progress_logger(2, "x: ", emit=msgs.append, min_interval=0)
    rep(50, 100, 2.0)
    assert "step 50/100" in msgs[0] and "50 run-steps/s" in msgs[0] and "ETA 0:00:02" in msgs[0]


def test_replay_reproduces_the_recorded_trajectory():
    s = spec(steps=120, record_every=1, chunk_steps=50)
    b = RunBatch.make([0, 1, 2], [3.0, 6.0, 9.0], [30.0, 40.0, 50.0], [1.0, 0.5, 0.8])
    problem = engine.make_problem(s)
    replay = engine.Replay(problem)
    r = engine.train(s, b)
    targets = np.array([0, 57, 119])
    params = replay(b, targets)
    static = losses.get_loss("ce")
    for i, t in enumerate(targets):
        p = jax.tree_util.tree_map(lambda a: a[i], params)
        got = float(static.fn(problem.model.apply(p, problem.x), problem.y, None))
        assert got == pytest.approx(r.loss[i, t], rel=1e-12)
    with pytest.raises(ValueError, match="targets"):
        replay(b, np.array([0, 1, 120]))


REPLAY_SCRIPT = """
import numpy as np, jax
from dynloss import engine, losses
from dynloss.spec import RunBatch, TrainSpec
s = TrainSpec(loss="dce", width=16, steps=300, record_every=1, chunk_steps=100,
              data_params=(("points_per_class", 20), ("test_seeds", (1,))))
b = RunBatch.make([0, 0], [20.0, 20.0], [50.0, 100.0], 0.5)
problem = engine.make_problem(s)
p = engine.Replay(problem)(b, np.array([250, 120]))
print([float(losses.get_loss("ce").fn(problem.model.apply(jax.tree_util.tree_map(lambda a: a[i], p), problem.x),
                                       problem.y, None)) for i in range(2)])
"""


def test_replay_survives_the_cache(tmp_path):
    """The workflow shares JAX's persistent compilation cache between jobs: a replay whose
    executable comes from the cache must give the same parameters as a fresh compile."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    outs = [subprocess.run([sys.executable, "-c", REPLAY_SCRIPT], env=env, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1] for _ in range(2)]
    assert any((tmp_path / "cache").iterdir()), "the cache was not used"
    assert outs[0] == outs[1]


def test_plan_pipelines_measurements_and_bounds_snapshots(monkeypatch):
    """With spectra, chunks are short enough to overlap training and measuring, the last is one
    top cadence, and the parameter snapshots of a chunk fit the budget; without, chunk_steps."""
    plain = engine.make_problem(spec(steps=400, chunk_steps=100))
    assert plan_mod.plan(plain) == [100] * 4
    sp = SpectraSpec(ntk_every=10, hess_every=20)
    problem = engine.make_problem(spec(steps=1000, chunk_steps=1000, spectra=sp))
    cadences = [10, 20]
    lengths = plan_mod.plan(problem, cadences)
    assert sum(lengths) == 1000 and all(n % 20 == 0 for n in lengths)
    assert len(lengths) >= plan_mod.PIPELINE_CHUNKS and lengths[-1] == 20
    monkeypatch.setattr(plan_mod, "SNAPSHOT_BYTES", 5 * plan_mod.snapshot_bytes_per_step(problem, cadences, 4) * 20)
    lengths = plan_mod.plan(problem, cadences, 4)
    assert max(lengths) == 100 and sum(lengths) == 1000


def test_diverged_run_has_nan_accuracy_not_chance():
    """After the loss turns NaN the accuracy is NaN, not the 1/C of argmax(NaN)."""
    s = TrainSpec(loss="mse", width=100, steps=200, record_every=20, chunk_steps=200,
                        data_params=(("points_per_class", 20), ("test_seeds", (1,))))
    r = engine.train(s, RunBatch.make([0, 1], 1.0, 1000.0, [5.0, 0.01]))
    assert r.diverged.tolist() == [True, False]
    after = r.steps >= r.diverged_step[0]
    assert after.any() and np.all(np.isnan(r.train_acc[0, after]))
    assert np.all(np.isfinite(r.train_acc[0, ~after])) and np.all(np.isfinite(r.train_acc[1]))
    assert np.isnan(r.final_train_acc[0]) and np.isnan(r.test_acc[0])


def test_every_accepted_chunk_length_gives_the_same_bits():
    """A chunk of one cadence shifts losses by one ulp, so the job
    checks refuse it; every chunk_steps they accept trains bitwise the same run."""
    from dynloss.errors import SpecError
    from dynloss.jobs import TrainJob, checks

    b = RunBatch.make([0, 1], 5.0, 50.0, 0.075)
    base = dict(loss="dmse2", width=16, steps=400, record_every=20,
                data_params=(("points_per_class", 30), ("test_seeds", (1,))))
    whole = engine.train(TrainSpec(**base, chunk_steps=400), b).loss
    for chunk in (40, 60, 120):
        checks.validate(TrainJob(spec=TrainSpec(**base, chunk_steps=chunk), seeds=(0, 1), lr=0.075, A=(5.0,),
                                 T=(50.0,)))
        np.testing.assert_array_equal(engine.train(TrainSpec(**base, chunk_steps=chunk), b).loss, whole)
    with pytest.raises(SpecError, match="chunk_steps=20 must be a multiple"):
        checks.validate(TrainJob(spec=TrainSpec(**base, chunk_steps=20), seeds=(0, 1), lr=0.075, A=(5.0,), T=(50.0,)))

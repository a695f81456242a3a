"""The engine compiles once per program structure: the data and the per-run values are arguments of
the compiled programs (never constants compiled in), which are cached by the spec's static fields
and the shapes (dynloss.engine.cache)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss import engine
from dynloss.engine.program import chunk_fn
from dynloss.spec import RunBatch, SpectraSpec, TrainSpec

SPEC = TrainSpec(loss="dce", width=16, steps=300, record_every=10, chunk_steps=100,
                 data_params=(("points_per_class", 20), ("test_seeds", (1, 2))))
#: the same structure: other data and test spirals (same count), seeds, A, T and eta
OTHER_DATA = dict(train_seed=13, noise=0.3, test_seeds=(4, 5))
DATA_KEYS = ("points_per_class", "num_classes", "noise", "train_seed", "test_seeds")


def replaced(spec: TrainSpec, **changes) -> TrainSpec:
    """``spec`` with fields and data parameters (the spiral's, into ``data_params``) changed."""
    data = {**dict(spec.data_params), **{k: v for k, v in changes.items() if k in DATA_KEYS}}
    rest = {k: v for k, v in changes.items() if k not in DATA_KEYS}
    return dataclasses.replace(spec, data_params=tuple(data.items()), **rest)

#: JAX's lowerings to XLA and its backend compiles in this process (jax.monitoring events)
EVENTS = {"/jax/core/compile/jaxpr_to_mlir_module_duration": 0, "/jax/core/compile/backend_compile_duration": 0}


def _count(event: str, duration: float, **kwargs) -> None:
    if event in EVENTS:
        EVENTS[event] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


def counts() -> tuple:
    return tuple(EVENTS.values()) + (engine.PROGRAMS.stats.compiles,)


def arrays(r: engine.TrainResult) -> dict:
    out = {k: getattr(r, k) for k in ("loss", "dyn_loss", "train_acc", "gamma", "loss_init", "test_acc_each",
                                      "diverged_step")}
    out.update({f"spectra/{k}": v for k, v in r.spectra.items()})
    return out


def assert_bitwise(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_a_second_job_of_the_same_structure_compiles_nothing_and_gives_its_own_numbers():
    engine.train(SPEC, RunBatch.make([0, 1], 10.0, 40.0, 1.0))  # compiles (or finds) the programs
    before = counts()
    other = replaced(SPEC, **OTHER_DATA)
    batch = RunBatch.make([7, 8], [5.0, 3.0], [20.0, 60.0], [0.5, 2.0])
    cached = engine.train(other, batch)
    assert counts() == before  # nothing traced, lowered or compiled
    assert cached.timings["compile_s"] < 0.05
    # the programs read the data from their arguments: the numbers are those of compiling for this job
    engine.PROGRAMS.clear()
    fresh = engine.train(other, batch)
    assert counts()[-1] > before[-1]
    assert_bitwise(arrays(cached), arrays(fresh))
    assert not np.array_equal(cached.loss, engine.train(SPEC, batch).loss)  # and the data do matter


@pytest.mark.parametrize("change", [dict(width=17), dict(loss="dmse1"), dict(chunk_steps=50),
                                    dict(test_seeds=(1, 2, 3)), dict(record_every=20)],
                         ids=lambda c: next(iter(c)))
def test_a_different_structure_compiles(change):
    engine.train(SPEC, RunBatch.make([0, 1], 10.0, 40.0, 1.0))
    before = counts()
    engine.train(replaced(SPEC, **change), RunBatch.make([0, 1], 10.0, 40.0, 1.0))
    after = counts()
    assert after[0] > before[0] and after[-1] > before[-1]  # lowered anew (XLA's own compile may be a
    # hit of the persistent compilation cache that the tests share)


def test_more_runs_is_another_structure():
    engine.train(SPEC, RunBatch.make([0, 1], 10.0, 40.0, 1.0))
    before = counts()
    engine.train(SPEC, RunBatch.make([0, 1, 2], 10.0, 40.0, 1.0))
    assert counts()[-1] > before[-1]


def test_spectra_and_replay_of_a_second_job_compile_nothing():
    sp = SpectraSpec(hess_every=10, hess_order=8, ntk_every=5, ntk_points=10, density_steps=(49,),
                     density_order=8, density_vectors=2)
    spec = TrainSpec(loss="dmse2", width=8, steps=100, record_every=1, chunk_steps=50,
                     data_params=(("points_per_class", 10), ("test_seeds", (1,))), spectra=sp)
    engine.Replay(engine.make_problem(spec))(RunBatch.make([0], 4.0, 20.0, 0.05), np.array([30]))
    engine.train(spec, RunBatch.make([0], 4.0, 20.0, 0.05))
    before = counts()
    other = replaced(spec, train_seed=5, test_seeds=(2,))
    batch = RunBatch.make([3], 2.0, 10.0, 0.1)
    r = engine.train(other, batch)
    params = engine.Replay(engine.make_problem(other))(batch, np.array([30]))
    assert counts() == before
    assert set(r.spectra) == {"hess_eig", "ntk_lmax", "ritz_values", "ritz_weights"}
    engine.PROGRAMS.clear()
    assert_bitwise(arrays(r), arrays(engine.train(other, batch)))
    again = engine.Replay(engine.make_problem(other))(batch, np.array([30]))
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(again)):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("field,value,same", [
    ("train_seed", 9, True), ("noise", 0.1, True), ("test_seeds", (7, 8), True), ("data", "digits", False),
    ("test_seeds", (1,), False), ("width", 32, False), ("loss", "dmse2", False), ("dtype", "float32", False),
    ("chunk_steps", 150, False), ("record_every", 30, False), ("batch", "vmap", False),
    ("stop_rule", "never", False), ("steps", 600, False), ("points_per_class", 21, False),
    ("spectra", SpectraSpec(hess_every=10), False), ("parameterization", "ntk", False),
    ("W_std", (1.0, 2.0), False),
])
def test_the_structure_key_leaves_out_only_the_data_values(field, value, same):
    base = engine.make_problem(SPEC)
    other = engine.make_problem(replaced(SPEC, **{field: value}) if field != "data" else
                                dataclasses.replace(SPEC, data=value, data_params=()))
    assert (base.key() == other.key()) is same
    hash(other.key())


def test_no_data_value_is_compiled_into_the_training_program():
    problem = engine.make_problem(SPEC)
    batch = RunBatch.make([0, 1], 10.0, 40.0, 1.0)
    text = jax.jit(chunk_fn(problem.structure(), 100, (), "map")).lower(
        engine.initial_carry(problem, batch), jnp.int32(0), engine.run_args(problem, batch), problem.data).as_text()
    shapes = {"x".join(map(str, a.shape)) for a in problem.data}  # e.g. 60x2, 2x60x3
    consts = [line for line in text.splitlines() if "constant" in line
              and any(f"tensor<{s}x" in line for s in shapes)]
    assert not consts, consts[:3]


def test_a_builder_reading_the_closed_over_data_fails_to_trace():
    """What the programs close over holds shapes, not values (Problem.structure)."""
    structure = engine.make_problem(SPEC).structure()
    assert isinstance(structure.x, jax.ShapeDtypeStruct)
    with pytest.raises(TypeError):
        jax.jit(lambda a: a + structure.x)(jnp.zeros(structure.x.shape, structure.x.dtype))

"""Lanczos accuracy vs dense eigh (width 100, float64): python benchmarks/lanczos_accuracy.py

The numbers quoted in benchmarks/RESULTS.md (section spectra) come from this script.
"""
import jax
import jax.numpy as jnp
import numpy as np
# float64 on before the imports below (they may build arrays): hence the late imports
jax.config.update("jax_enable_x64", True)
from jax.flatten_util import ravel_pytree  # noqa: E402
from dynloss import spectra  # noqa: E402
from dynloss.engine import initial_carry, make_problem, run_args  # noqa: E402
from dynloss.engine.program import chunk_program  # noqa: E402
from dynloss.spec import RunBatch, TrainSpec  # noqa: E402
for loss, A, T, lr in [("dce", 10.0, 500.0, 1.0), ("dmse1", 40.0, 500.0, 0.045), ("dmse2", 5.0, 500.0, 0.075)]:
    spec = TrainSpec(loss=loss, width=100, steps=1200, record_every=100, chunk_steps=1200)
    problem = make_problem(spec)
    b = RunBatch.make([0], A, T, lr)
    carry = initial_carry(problem, b)
    carry, _ = chunk_program(problem, 1200, (), "map")(carry, jnp.int32(0), run_args(problem, b))
    params = jax.tree_util.tree_map(lambda a: a[0], carry.params)
    t = 1199
    fun, unravel = spectra.loss_at(problem, t, A, T)
    flat, _ = ravel_pytree(params)
    H = jax.hessian(fun)(flat)
    ev = np.sort(np.linalg.eigvalsh(np.asarray(H)))[::-1]
    v0 = jax.random.normal(jax.random.PRNGKey(0), flat.shape)
    print(loss, "top5 dense:", ev[:5], "bottom:", ev[-2:])
    for order in (10, 20, 30, 40, 60, 80):
        top = np.asarray(spectra.top_eigenvalues(spectra.hvp(fun, flat), v0, order, 3))
        rel = np.abs(top - ev[:3]) / np.abs(ev[:3])
        print(f"  order {order}: rel err {rel}")

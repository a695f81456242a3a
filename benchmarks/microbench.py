#!/usr/bin/env python
"""Where a CPU step goes: per-operation costs inside a compiled ``lax.scan`` (float64).

    python benchmarks/microbench.py

The profile evidence quoted for the unmet CPU targets: an elementwise pass over a
300 x 100 array, the two matrix products of the MLP step, a whole step at width 4 (the fixed cost)
and 100, the NTK Gram of 50 points, its top eigenvalue by eigvalsh and by unrolled Lanczos, one
Hessian-vector product (through ``apply`` and through the MLP's pullback, each with its
linearisation), and a large matmul for scale.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

from jax.flatten_util import ravel_pytree  # noqa: E402

from dynloss import losses, models, spectra  # noqa: E402
from dynloss.data import spiral as data  # noqa: E402
from dynloss.engine import make_problem  # noqa: E402
from dynloss.spec import TrainSpec  # noqa: E402


def bench(name, body, init, n=300, flops=None):
    f = jax.jit(lambda c: jax.lax.scan(lambda c, _: (body(c), None), c, None, length=n)[0])
    jax.block_until_ready(f(init))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(f(init))
        best = min(best, (time.perf_counter() - t0) / n)
    extra = f"  {flops / best / 1e9:6.1f} GFLOP/s" if flops else ""
    print(f"{name:42s} {best * 1e6:9.1f} us{extra}")


def nudge(tree, value):  # keeps the measured computation inside the loop
    return jax.tree_util.tree_map(lambda a: a * (1 + 1e-12 * value), tree)


def main():
    z = jnp.ones((300, 100))
    bench("elementwise pass 300x100", lambda c: c * 0.99, z)
    bench("(300x100)@(100x9)", lambda c: (c[0], c[1] * (1 + 1e-12 * (c[0] @ c[1]).sum())),
          (z, jnp.ones((100, 9))), flops=2 * 300 * 100 * 9)
    bench("(9x300)@(300x100)", lambda c: (c[0], c[1] * (1 + 1e-12 * (c[1].T @ c[0]).sum())),
          (z, jnp.ones((300, 9))), flops=2 * 300 * 100 * 9)
    big = jnp.ones((512, 512)) * 1e-3
    bench("(512x512)@(512x512)", lambda c: c @ c, big, n=30, flops=2 * 512 ** 3)
    d = data.spiral()
    x, y = jnp.asarray(d.x), jnp.asarray(d.onehot)
    w = jnp.array([2.0, 0.5, 0.5])
    loss = losses.get_loss("dce")
    for width in (4, 100):
        m = models.mlp(width)
        p = m.init(jax.random.PRNGKey(0), 2, jnp.float64)

        def step(q, m=m):
            f, vjp = m.pullback(q, x)
            g = jax.grad(loss.fn)(f, y, w)
            return jax.tree_util.tree_map(lambda a, b: a - b, q, vjp(g)[0])

        bench(f"GD step, width {width} (fast pullback)", step, p)
    m = models.mlp(100)
    p = m.init(jax.random.PRNGKey(0), 2, jnp.float64)
    x50 = x[:50]
    bench("NTK Gram of 50 points (closed form)", lambda q: nudge(q, m.ntk(q, x50)[0, 0]), p)
    bench("  + top eigenvalue by eigvalsh", lambda q: nudge(q, spectra.ntk_lmax(m, q, x50, "eigh")), p)
    bench("  + top eigenvalue by unrolled Lanczos 10", lambda q: nudge(q, spectra.ntk_lmax(m, q, x50)), p)
    flat, unravel = ravel_pytree(p)

    def fun(v):
        return loss.fn(m.apply(unravel(v), x), y, w)

    bench("Hessian-vector product (603 parameters)", lambda v: v + 1e-9 * spectra.hvp(fun, v)(v), flat)
    problem = make_problem(TrainSpec(loss="dce", width=100, steps=100))
    bench("  through the MLP's pullback (training's)",
          lambda v: v + 1e-9 * spectra.hessian_hvp(problem, unravel(v), 0, 10.0, 500.0)[1](v), flat)


if __name__ == "__main__":
    main()

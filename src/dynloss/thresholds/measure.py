"""The curvature threshold lambda_th at the first bifurcation, per run, and its law in eta.

For a batch trained with the loss recorded at every step (:func:`dynloss.engine.train`):

1. the onset step ``t*`` of each run is found on its static-loss trace L(t) by
   :func:`dynloss.thresholds.bifurcation.detect_onsets` (period-2 oscillation; parameters ``window``, ``floor``);
2. ``lambda_th`` is the largest Hessian eigenvalue of F(., t*) at the parameters after update
   ``t*``, computed exactly there: each run is replayed from its initialisation to ``t*`` with the
   training step function (:class:`dynloss.engine.Replay`) and Lanczos is run on the replayed
   state. So ``lambda_th`` carries no error from the spectra cadence; its error is the Lanczos error
   (order 20: ~1e-15 relative, see :mod:`dynloss.spectra`) and the detector's localisation of
   ``t*`` (tested to a few steps on synthetic traces) times the drift of lambda per step. The
   cadence estimate (the last measurement at or before ``t*``) is stored beside it as
   ``lambda_th_cadence``; their difference bounds the cadence error the exact value removes.
3. :func:`fit` regresses ``log lambda_th = a + b log eta`` over the runs with an onset (the
   thesis's ``lambda_th ~ 1/eta``, eq. 3.10).

The analyses take the job's :class:`dynloss.engine.Problem` and, optionally, a
:class:`dynloss.engine.Replay` of it (one per job shares its compiled replay program; by
default each call builds its own).
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import spectra, tracker
from ..engine import Problem, Replay, TrainResult, batch_mode, over_runs, run_args
from ..spec import RunBatch
from . import bifurcation
from . import onset as onset_mod


def _hessian_at(problem: Problem, params, t: np.ndarray, batch: RunBatch, order: int, k: int) -> np.ndarray:
    """Top-``k`` Hessian eigenvalues of F(., t[r]) at ``params[r]`` for each run (batched)."""
    v0 = spectra.start_vector(problem, jax.random.PRNGKey(problem.spec.spectra.lanczos_seed))
    args = run_args(problem, batch)

    def single(p, t_r, a):
        return spectra.hessian_top(problem, p, t_r, a.A, a.T, order, k, v0)

    fn = jax.jit(over_runs(single, (0, 0, 0), batch_mode(problem.spec)))
    return np.asarray(fn(params, jnp.asarray(t, jnp.int32), args))


def onset_analysis(problem: Problem, result: TrainResult, window: int = 20, floor: float = 1e-6,
                   start: int = 0, replay: Optional[Replay] = None) -> dict[str, np.ndarray]:
    """Onset step, exact ``lambda_th`` and the cadence estimate for every run of ``result``.

    Args:
        problem: the job's problem (built from ``result.spec``).
        result: the trained batch; needs the loss at every step (``record_every == 1``).
        window, floor, start: of :func:`dynloss.thresholds.bifurcation.detect_onsets`.
        replay: the job's replay (default: a new one).

    Returns:
        ``{"onset_step", "lambda_th", "lambda_th_cadence"}``, each (R,); runs without an
        onset get -1 and NaN.
    """
    if result.spec.record_every != 1:
        raise ValueError("onset analysis needs the loss at every step (record_every = 1)")
    R = len(result.batch)
    onsets = bifurcation.detect_onsets(result.loss, window=window, floor=floor, start=start)
    lam = np.full(R, np.nan)
    lam_cad = np.full(R, np.nan)
    hit = np.flatnonzero(onsets >= 0)
    if hit.size:
        b = result.batch
        sub = RunBatch(b.seeds[hit], b.A[hit], b.T[hit], b.lr[hit])
        params = (replay or Replay(problem))(sub, onsets[hit])
        order = max(problem.spec.spectra.hess_order, 20)
        lam[hit] = _hessian_at(problem, params, onsets[hit], sub, order, 1)[:, 0]
    if "hess_eig" in result.spectra:
        steps = result.spectra_steps["hess_eig"]
        for r in hit:
            lam_cad[r] = bifurcation.lambda_at_onset(steps, result.spectra["hess_eig"][r, :, 0], int(onsets[r]))
    return {"onset_step": onsets.astype(np.int64), "lambda_th": lam, "lambda_th_cadence": lam_cad}


def _lambda_at(problem: Problem, replay: Replay, batch: RunBatch, onsets: np.ndarray) -> np.ndarray:
    """Exact top Hessian eigenvalue after update ``onsets[r]`` (NaN where ``onsets[r] < 0``)."""
    lam = np.full(len(batch), np.nan)
    hit = np.flatnonzero(onsets >= 0)
    if hit.size:
        b = batch
        sub = RunBatch(b.seeds[hit], b.A[hit], b.T[hit], b.lr[hit])
        params = replay(sub, onsets[hit])
        order = max(problem.spec.spectra.hess_order, 20)
        lam[hit] = _hessian_at(problem, params, onsets[hit], sub, order, 1)[:, 0]
    return lam


def mode_tracks(problem: Problem, batch: RunBatch, centre: np.ndarray, before: int = onset_mod.BEFORE,
                after: int = onset_mod.AFTER, replay: Optional[Replay] = None) -> list:
    """Replay each run with an anchor step and track its top Hessian eigenvector over updates
    ``centre - before .. centre + after`` (clipped to the run; one compiled tracker of fixed
    length for all runs), started from the top Lanczos vector (order 20) there.

    Args:
        problem: the job's problem (its spec is the training spec of the runs).
        batch: the runs.
        centre: anchor step per run (:func:`dynloss.thresholds.onset.mode_anchor`; -1: not tracked).
        before, after: steps tracked before and after it.
        replay: the job's replay (default: a new one).

    Returns:
        One :class:`dynloss.tracker.ModeTrack` per run (``None`` where not tracked).
    """
    from jax.flatten_util import ravel_pytree

    steps = problem.spec.steps
    n = min(before + after + 1, steps)
    tracks: list = [None] * len(batch)
    hit = np.flatnonzero(centre >= 0)
    if not hit.size:
        return tracks
    t0 = np.clip(centre[hit] - before, 0, steps - n)
    b = batch
    sub = RunBatch(b.seeds[hit], b.A[hit], b.T[hit], b.lr[hit])
    # parameters before update t0: after update t0 - 1 (the initialisation for t0 = 0)
    init = jax.vmap(problem.init_params)(jnp.asarray(sub.seeds))
    replayed = (replay or Replay(problem))(sub, np.maximum(t0 - 1, 0)) if np.any(t0 > 0) else init
    start = jax.tree_util.tree_map(lambda p, q: jnp.where(
        jnp.asarray(t0 > 0).reshape((-1,) + (1,) * (p.ndim - 1)), p, q), replayed, init)

    def grad_fn(theta, t, args):
        A, T = args
        return spectra.loss_grad_at(problem, t, A, T)(theta)

    track = tracker.make_tracker(grad_fn, n)
    r = spectra.start_vector(problem, jax.random.PRNGKey(problem.spec.spectra.lanczos_seed))

    @jax.jit
    def first_vector(theta, t, args):
        lin = jax.linearize(lambda th: grad_fn(th, t, args), theta)[1]
        return tracker.top_pair(lin, r, 20)[1]

    for i, run in enumerate(hit):
        theta = ravel_pytree(jax.tree_util.tree_map(lambda a: a[i], start))[0]
        args = (jnp.asarray(sub.A[i], problem.dtype), jnp.asarray(sub.T[i], problem.dtype))
        v0 = first_vector(theta, jnp.int32(t0[i]), args)
        tracks[run] = track(theta, int(t0[i]), jnp.asarray(sub.lr[i], problem.dtype), args, v0, r)
    return tracks


def hessian_window(problem: Problem, batch: RunBatch, lo: int, hi: int, k: int = 3,
                   order: int = 20, replay: Optional[Replay] = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` Hessian eigenvalues of F(., t) after every update ``t = lo .. hi`` of the first
    run of ``batch``, from a replay (so a zoom panel is a curve, not the spectra cadence).

    Args:
        problem: the run's problem.
        batch: the run (only the first is used).
        lo, hi: first and last step (``0 <= lo <= hi < steps``).
        k, order: eigenvalues kept and Lanczos order.
        replay: the job's replay (default: a new one).

    Returns:
        ``(steps (n,), eigenvalues (n, k))``, descending per step.
    """
    from jax.flatten_util import ravel_pytree

    if not 0 <= lo <= hi < problem.spec.steps:
        raise ValueError(f"window {lo}..{hi} outside 0..{problem.spec.steps - 1}")
    one = RunBatch(batch.seeds[:1], batch.A[:1], batch.T[:1], batch.lr[:1])
    params = jax.tree_util.tree_map(lambda a: a[0], (replay or Replay(problem))(one, np.array([lo])))
    theta, _ = ravel_pytree(params)
    A, T, lr = (jnp.asarray(v[0], problem.dtype) for v in (one.A, one.T, one.lr))
    v0 = spectra.start_vector(problem, jax.random.PRNGKey(problem.spec.spectra.lanczos_seed))
    order = min(order, theta.shape[0])

    @jax.jit
    def run(theta):
        def body(th, t):
            grad = spectra.loss_grad_at(problem, t, A, T)
            eig = spectra.top_eigenvalues(spectra.grad_hvp(grad, th), v0, order, k)
            # the next state: update t + 1 with the weights of step t + 1 (the training step)
            return th - lr * spectra.loss_grad_at(problem, t + 1, A, T)(th), eig
        return jax.lax.scan(body, theta, jnp.arange(lo, hi + 1, dtype=jnp.int32))[1]

    return np.arange(lo, hi + 1), np.asarray(run(theta))


def analyse(problem: Problem, batch: RunBatch, loss: np.ndarray, names=onset_mod.NAMES,
            window: int = 20, floor: float = 1e-6, replay: Optional[Replay] = None,
            lam_steps: Optional[np.ndarray] = None, lam_max: Optional[np.ndarray] = None,
            starts: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """Onset step and ``lambda_th`` of every run under each named definition.

    Args:
        problem: the job's problem.
        batch: the runs.
        loss: (R, steps) static loss at every step (the training trace).
        names: definitions (:data:`dynloss.thresholds.onset.NAMES`). ``mode`` replays the runs around
            :func:`dynloss.thresholds.onset.mode_anchor` (:func:`mode_tracks`); ``mode`` and ``ceiling``
            need the spectra cadence (``lam_steps``, ``lam_max``).
        window, floor: window and floor of ``visible`` and ``growing``.
        replay: the job's replay (default: a new one, shared by the definitions).
        lam_steps, lam_max: (n,) steps and (R, n) lambda_max of the spectra cadence.
        starts: (R,) first step each run's loss-based definitions (visible, growing, apparent) may find
            (the burn-in); default 0.

    Returns:
        ``{"onset_step_<name>": (R,) int (-1: none), "lambda_th_<name>": (R,) float (NaN: none)}``
        for each name (exact, replayed lambda_max at the onset; for ``ceiling`` its level), plus
        ``lambda_track_mode`` (the tracked eigenvalue at the ``mode`` onset).

    Raises:
        ValueError: ``mode`` or ``ceiling`` without the spectra cadence.
    """
    names = onset_mod.check_names(names)
    if ({"mode", "ceiling"} & set(names)) and lam_max is None:
        raise ValueError("onset definitions mode and ceiling need lambda_max on the spectra cadence (hess_eig)")
    replay = replay or Replay(problem)
    loss = np.asarray(loss, dtype=float)
    R = len(batch)
    found: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    starts = np.zeros(R, dtype=np.int64) if starts is None else np.asarray(starts, dtype=np.int64)
    if "visible" in names:
        found["visible"] = np.array([onset_mod.visible(row, window, floor, start=int(s0))
                                     for row, s0 in zip(loss, starts)], dtype=np.int64)
    if "growing" in names:
        found["growing"] = np.array([onset_mod.growing(row, window, floor, start=int(s0))
                                     for row, s0 in zip(loss, starts)], dtype=np.int64)
    if "apparent" in names:
        found["apparent"] = np.array([onset_mod.apparent(row, start=int(s0)) for row, s0 in zip(loss, starts)],
                                     dtype=np.int64)
    if "mode" in names:
        anchor = np.array([onset_mod.mode_anchor(lam_steps, lam_max[r], float(batch.lr[r])) for r in range(R)])
        tracks = mode_tracks(problem, batch, anchor, replay=replay)
        found["mode"] = np.array([t.onset() if t is not None else -1 for t in tracks], dtype=np.int64)
        out["lambda_track_mode"] = np.array([t.lam_at(int(s)) if t is not None and s >= 0 else np.nan
                                             for t, s in zip(tracks, found["mode"])])
    replayed = [n for n in names if n in onset_mod.REPLAYED]
    if replayed:  # one replay for every (definition, run) with an onset: the runs repeated per definition
        stacked = np.concatenate([found[n] for n in replayed])
        rep = RunBatch(*(np.tile(v, len(replayed)) for v in (batch.seeds, batch.A, batch.T, batch.lr)))
        lam = _lambda_at(problem, replay, rep, stacked).reshape(len(replayed), R)
        for i, name in enumerate(replayed):
            out[f"onset_step_{name}"] = found[name]
            out[f"lambda_th_{name}"] = lam[i]
    if "ceiling" in names:
        pairs = [onset_mod.ceiling(lam_steps, lam_max[r]) for r in range(R)]
        out["onset_step_ceiling"] = np.array([p[0] for p in pairs], dtype=np.int64)
        out["lambda_th_ceiling"] = np.array([p[1] for p in pairs])
    out = {k: out[k] for k in [f"{p}_{n}" for n in names for p in ("onset_step", "lambda_th")]
           + [k for k in out if k.startswith("lambda_track")]}
    assert all(v.shape == (R,) for v in out.values())
    return out


def cadence_of(ds: xr.Dataset) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """``(steps (n,), lambda_max (R, n))`` of a job dataset's spectra cadence (``(None, None)``
    without ``hess_eig``), runs in the order of its run (or seed) dimension."""
    if "hess_eig" not in ds:
        return None, None
    h = ds["hess_eig"].isel(eig=0)
    run = "seed" if "seed" in h.dims else "run"
    return ds["step_hess"].values, h.transpose(run, "step_hess").values


def analyse_dataset(problem: Problem, batch: RunBatch, loss: np.ndarray, ds: xr.Dataset, names,
                    window: int, floor: float, replay: Optional[Replay] = None,
                    burn_in: float = 0.0) -> dict[str, np.ndarray]:
    """:func:`analyse` with the spectra cadence of a job dataset ``ds``; ``visible`` is the job's
    ``onset_step``/``lambda_th`` (the same rule, already replayed exactly) where it has them and no burn-in
    applies. ``burn_in``: the loss-based definitions search from step ceil(burn_in x T) of each run."""
    steps, lam = cadence_of(ds)
    names = onset_mod.check_names(names)
    known = "visible" in names and "onset_step" in ds and "lambda_th" in ds and not burn_in
    rest = [n for n in names if n != "visible" or not known]
    starts = np.ceil(burn_in * np.asarray(batch.T, dtype=float)).astype(np.int64) if burn_in else None
    out = analyse(problem, batch, loss, rest, window=window, floor=floor, replay=replay,
                  lam_steps=steps, lam_max=lam, starts=starts) if rest else {}
    if known:  # the training's onset_step/lambda_th are the visible rule, exact: not replayed again
        out = {"onset_step_visible": ds["onset_step"].values.astype(np.int64),
               "lambda_th_visible": ds["lambda_th"].values.astype(float), **out}
    return out


def add_definitions(ds: xr.Dataset, found: dict[str, np.ndarray], window: int, floor: float) -> xr.Dataset:
    """Attach the per-definition onset variables of :func:`analyse` along the run dimension.

    Args:
        ds: a thresholds job dataset (``run`` or ``seed`` dimension).
        found: the output of :func:`analyse`.
        window, floor: the parameters used.

    Returns:
        ``ds`` with the variables and the definitions' parameters as attributes.
    """
    run = "seed" if "seed" in ds.dims else "run"
    for key, values in found.items():
        ds[key] = ((run,), values)
        name = key.rsplit("_", 1)[1]
        doc = DEFINITION_DOCS.get(key.rsplit("_", 1)[0], "")
        if key == "lambda_th_ceiling":
            doc = "level at which lambda_max saturates (spectra cadence)"
        ds[key].attrs["long_name"] = doc + f" ({name} definition, dynloss.thresholds.onset.{name})"
    ds.attrs["onset_definitions"] = ",".join(k[len("onset_step_"):] for k in found if k.startswith("onset_step_"))
    ds.attrs["onset_params"] = (f"window={window} floor={floor} growing: min_rate={onset_mod.MIN_RATE} "
                                f"level={onset_mod.LEVEL}; mode: run={onset_mod.RUN} before={onset_mod.BEFORE} "
                                f"after={onset_mod.AFTER} order={onset_mod.ORDER} mix={onset_mod.MIX} "
                                f"anchor={onset_mod.MODE_ANCHOR}; apparent: level={onset_mod.APPARENT_LEVEL} "
                                f"hold={onset_mod.APPARENT_HOLD}; ceiling: tol={onset_mod.CEILING_TOL} "
                                f"hold={onset_mod.CEILING_HOLD}")
    return ds


DEFINITION_DOCS = {
    "onset_step": "first bifurcation step, -1 if none",
    "lambda_th": "largest Hessian eigenvalue of F after the onset update (exact: replayed state)",
    "lambda_track": "tracked top Hessian eigenvalue before the onset update",
}


ONSET_DOCS = {
    "onset_step": "first step of a period-2 oscillation of L (first bifurcation), -1 if none",
    "lambda_th": "largest Hessian eigenvalue of F at the onset step (exact: replayed state)",
    "lambda_th_cadence": "largest Hessian eigenvalue at the last spectra step <= onset",
}


def add_onsets(ds: xr.Dataset, onsets: dict[str, np.ndarray], window: int, floor: float) -> xr.Dataset:
    """Attach the onset variables along the dataset's run (or seed) dimension."""
    run = "seed" if "seed" in ds.dims else "run"
    for name, values in onsets.items():
        ds[name] = ((run,), values)
        ds[name].attrs["long_name"] = ONSET_DOCS[name]
    ds.attrs["onset_window"] = int(window)
    ds.attrs["onset_floor"] = float(floor)
    return ds


#: variables a traces file keeps at full resolution (what re-analysing the onsets needs)
TRACE_VARS = ("L", "diverged", "diverged_step", "hess_eig", "onset_step", "lambda_th", "lambda_th_cadence")


def traces_dataset(ds: xr.Dataset) -> xr.Dataset:
    """The per-step static loss of every run (all steps), its cadence spectra and the job's
    attributes: enough to re-run any onset definition, and to replay the runs, without training.

    Args:
        ds: a thresholds job's dataset before :func:`compact_dataset`.

    Returns:
        The subset of ``ds`` named in :data:`TRACE_VARS`, with the same coordinates and attributes.
    """
    return ds[[v for v in TRACE_VARS if v in ds]]


def compact_dataset(ds: xr.Dataset, trace_every: int) -> xr.Dataset:
    """Keep the per-run results and the spectra; thin the per-step traces to every
    ``trace_every``-th step (a thresholds job records all 70000 steps of 40 runs)."""
    keep_steps = ds["step"].values[trace_every - 1::trace_every]
    out = ds.sel(step=keep_steps)
    return out.drop_vars([v for v in ("dL",) if v in out])

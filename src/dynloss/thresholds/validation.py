"""Systems with a known onset, on which the definitions of :mod:`dynloss.thresholds.onset` are validated.

Each system is gradient descent on a separable loss of ``d`` coordinates,

    L(theta, t) = sum_i lam_i(t) (theta_i^2 / 2 + kappa theta_i^3 / 3) - f(t) theta_0,
    lam_i(t) = lam_i0 + r_i t,

so at ``theta = 0`` the Hessian is ``diag(lam_i(t))`` and linear theory is exact there: coordinate
``i`` flips sign while ``1 < eta lam_i < 2`` and shrinks, and grows once ``eta lam_i > 2``. The
true onset is the first step at which ``eta max_i lam_i(t) >= 2`` (none when it never is). The
cubic term (``kappa``) lets the loss feel the sign of a coordinate: with ``kappa = 0`` the loss
has no period-2 component at all, and only ``mode`` can see the instability. ``f(t)`` kicks
coordinate 0 (a damped mode kept alive by the trajectory).

:func:`run_case` runs a :class:`Case` through the tracker of :mod:`dynloss.thresholds.onset` (the same code
the training runs use) and applies every definition; :func:`noise_rates` measures the false
positives on noise; :func:`table` is the validation table of ``docs/onset_validation.md``
(``python scripts/onset_validation.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .. import tracker
from . import onset


@dataclass(frozen=True)
class Case:
    """One known-answer system (see the module docstring); ``kick_every = 0``: no forcing."""

    name: str
    eta: float
    lam0: tuple[float, ...]  # eta * lam_i0 is given, not lam_i0 (see lam_at)
    rate: tuple[float, ...]  # eta * r_i per step
    x0: tuple[float, ...]
    steps: int
    kappa: float = 1.0
    kick_every: int = 0
    kick: float = 0.0
    note: str = ""
    cap: float = float("inf")  # eta * lam_i saturates at cap (a ceiling)

    def lam_at(self, t: np.ndarray) -> np.ndarray:
        """Curvatures ``lam_i(t)``, shape (len(t), d)."""
        t = np.asarray(t, dtype=float)[:, None]
        return np.minimum(np.asarray(self.lam0)[None] + np.asarray(self.rate)[None] * t, self.cap) / self.eta

    def ceiling_truth(self) -> int:
        """First step at which ``eta max_i lam_i`` reaches ``cap`` (-1: never in the run)."""
        lam = self.lam_at(np.arange(self.steps)).max(axis=1) * self.eta
        hit = np.flatnonzero((lam >= self.cap) | np.isclose(lam, self.cap, rtol=1e-12))
        return int(hit[0]) if hit.size else -1

    def truth(self) -> int:
        """First step with ``eta max_i lam_i(t) >= 2``, -1 if none within ``steps``."""
        lam = self.lam_at(np.arange(self.steps)).max(axis=1) * self.eta
        hit = np.flatnonzero(lam >= 2.0)
        return int(hit[0]) if hit.size else -1


def loss_fn(case: Case):
    """``(theta, t, args) -> L(theta, t)`` of ``case`` (``args`` unused)."""
    lam0 = jnp.asarray(case.lam0) / case.eta
    rate = jnp.asarray(case.rate) / case.eta

    def L(theta, t, args):
        lam = jnp.minimum(lam0 + rate * t, case.cap / case.eta)
        force = 0.0
        if case.kick_every:
            force = jnp.where(t % case.kick_every == 0, case.kick, 0.0)
        return jnp.sum(lam * (theta**2 / 2 + case.kappa * theta**3 / 3)) - force * theta[0]

    return L


@dataclass(frozen=True)
class CaseResult:
    """Onsets of every definition on one case, with the truth and the errors."""

    case: Case
    truth: int
    found: dict = field(default_factory=dict)  # name -> onset step (-1: none)

    def error(self, name: str) -> float:
        """``found - truth`` in steps (NaN when either is missing); ``ceiling`` against the step
        the curvature reaches its cap."""
        f = self.found[name]
        truth = self.case.ceiling_truth() if name == "ceiling" else self.truth
        return float(f - truth) if f >= 0 and truth >= 0 else float("nan")

    def eta_lam(self, name: str) -> float:
        """``eta max_i lam_i`` at the found onset (NaN if none)."""
        f = self.found[name]
        if f < 0:
            return float("nan")
        return float(self.case.lam_at([f]).max() * self.case.eta)


def run_case(case: Case, window: int = 20, floor: float = 1e-6) -> CaseResult:
    """GD on ``case`` with the top eigenvector tracked; onsets of every definition.

    Args:
        case: the system.
        window, floor: the loss-trace definitions' window and floor (their defaults).

    Returns:
        The onsets and the truth.
    """
    jax.config.update("jax_enable_x64", True)
    L = loss_fn(case)
    grad = jax.grad(L)
    track = tracker.make_tracker(grad, case.steps, loss_fn=L)
    d = len(case.x0)
    v0 = np.ones(d) / np.sqrt(d)
    r = np.random.RandomState(0).randn(d)
    tr = track(jnp.asarray(case.x0, jnp.float64), 0, jnp.float64(case.eta), (), jnp.asarray(v0), jnp.asarray(r))
    cadence = np.arange(0, case.steps, CADENCE)
    found = {"visible": onset.visible(tr.loss, window, floor),
             "growing": onset.growing(tr.loss, window, floor),
             "mode": tr.onset(),
             "apparent": onset.apparent(tr.loss),
             "ceiling": onset.ceiling(cadence, tr.lam[cadence])[0]}
    return CaseResult(case, case.truth(), found)


#: spectra cadence of the thresholds studies (steps between lambda_max samples), used for ``ceiling``
CADENCE = 100


#: the validation cases (parameters fixed before any training result was looked at)
CASES = (
    Case("ramp", eta=0.1, lam0=(1.99, 1.9), rate=(1e-5, 0.0), x0=(0.05, 0.1), steps=3000,
         note="one mode ramps slowly through eta lam = 2; a stable mode (eta mu = 1.9) beside it"),
    Case("ramp-fast", eta=0.02, lam0=(1.985,), rate=(2e-5,), x0=(0.05,), steps=2500,
         note="one mode, faster ramp"),
    Case("ramp-quadratic", eta=0.1, lam0=(1.99, 1.9), rate=(1e-5, 0.0), x0=(0.05, 0.1), steps=3000,
         kappa=0.0, note="as ramp, pure quadratic: the loss has no period-2 component"),
    Case("damped-kicked", eta=0.1, lam0=(1.95,), rate=(0.0,), x0=(0.01,), steps=4000,
         kick_every=4, kick=0.01, note="eta lam = 1.95, kicked every 4 steps: damped, kept alive"),
    Case("damped-kicked-10", eta=0.1, lam0=(1.98,), rate=(0.0,), x0=(0.01,), steps=4000,
         kick_every=10, kick=0.01, note="eta lam = 1.98, kicked every 10 steps"),
    Case("damped-resonant", eta=0.1, lam0=(1.5,), rate=(0.0,), x0=(0.01,), steps=4000,
         kick_every=2, kick=0.01, note="eta lam = 1.5 driven at period 2: a steady oscillation "
         "whose update projections alternate with ratio exactly -1"),
    Case("two-mode", eta=0.1, lam0=(1.99, 1.97), rate=(1e-6, 3e-5), x0=(0.05, 0.05), steps=2500,
         note="the second mode (faster ramp) overtakes the first at step 690 and crosses 2 first"),
    Case("saturating", eta=0.1, lam0=(1.0,), rate=(2e-4,), x0=(0.05,), steps=10000, cap=1.9,
         note="eta lam ramps from 1 and saturates at 1.9 from step 4500: a ceiling, no instability"),
    Case("rising", eta=0.1, lam0=(0.5,), rate=(1.4e-4,), x0=(0.05,), steps=10000,
         note="eta lam ramps from 0.5 through 2 at step 10714 (after the run): no ceiling, no instability"),
)


@dataclass(frozen=True)
class TraceCase:
    """A synthetic loss trace or lambda_max series with a known answer for ``apparent`` or ``ceiling``."""

    name: str
    definition: str  # apparent | ceiling
    truth: int  # the step it must fire at (-1: it must not fire)
    note: str
    within: int = 0  # steps the onset may be off the truth (ceiling: the tolerance band's width)


def _trace(case: TraceCase):
    t = np.arange(4000)
    if case.name == "sub-level alternation":
        return t, 2.0 + 0.0025 * (-1.0) ** t * (t >= 500)
    if case.name == "brief alternation":
        return t, 2.0 + 0.02 * (-1.0) ** t * ((t >= 500) & (t < 550))
    if case.name == "sustained alternation":
        return t, 2.0 - 1e-4 * t + 0.02 * (-1.0) ** t * (t >= 500)
    s = np.arange(0, 20000, CADENCE)
    if case.name == "plateau":
        return s, np.minimum(5.0 + s / 1000.0, 15.0)
    if case.name == "steady rise":
        return s, 5.0 + s / 1000.0
    if case.name == "spikes over a level":  # CE-like: lambda_max jumps past the level at bifurcations
        lam = np.minimum(5.0 + s / 1000.0, 15.0)
        return s, np.where(s % 5000 == 4000, 19.0, lam)
    raise KeyError(case.name)


TRACE_CASES = (
    TraceCase("sub-level alternation", "apparent", -1, "alternation of 0.25 % of L from step 500 (below the level)"),
    TraceCase("brief alternation", "apparent", -1, "alternation of 2 % of L for 50 steps (not held)"),
    TraceCase("sustained alternation", "apparent", 500, "alternation of 2 % of a falling L from step 500"),
    TraceCase("plateau", "ceiling", 10000, "lambda_max rises from 5 (slope 1e-3 per step) and stays at 15 from "
              "step 10000; the 2 % band is entered 300 steps before", within=300),
    TraceCase("steady rise", "ceiling", -1, "lambda_max rises through the run"),
    TraceCase("spikes over a level", "ceiling", -1, "as plateau, but jumps to 19 once per 5000 steps"),
)


def run_trace_case(case: TraceCase) -> tuple[int, float]:
    """``(step, value)`` found by the case's definition (value: the ceiling level, or NaN)."""
    steps, y = _trace(case)
    if case.definition == "apparent":
        return onset.apparent(y), float("nan")
    return onset.ceiling(steps, y)


def trace_table() -> str:
    """Markdown table of :data:`TRACE_CASES`: truth, found, and whether they agree."""
    rows = ["| definition | case | must | found | agrees |", "|---|---|---|---|---|"]
    for c in TRACE_CASES:
        step, value = run_trace_case(c)
        must = "not fire" if c.truth < 0 else f"fire at {c.truth}" + (f" +- {c.within}" if c.within else "")
        got = "none" if step < 0 else f"{step}" + (f" (level {value:.4g})" if np.isfinite(value) else "")
        ok = step == c.truth if c.truth < 0 or step < 0 else abs(step - c.truth) <= c.within
        rows.append(f"| {c.definition} | {c.name}: {c.note} | {must} | {got} | {'yes' if ok else 'NO'} |")
    return "\n".join(rows) + "\n"


def noise_rates(n: int = 2_000_000, window: int = 20, floor: float = 1e-6, seed: int = 0) -> dict:
    """False positives on i.i.d. Gaussian noise, per window start.

    ``visible`` and ``growing`` run on a slowly decaying loss plus noise (traces of 10000
    steps, restarted after each hit); ``mode`` on i.i.d. projections (its rule needs no trend).

    Args:
        n: number of noise samples per definition.
        window, floor: the loss-trace definitions' window and floor.
        seed: random seed.

    Returns:
        ``{name: (hits, starts)}``.
    """
    rng = np.random.RandomState(seed)
    out = {}
    m = 10_000
    t = np.arange(m)
    for name in onset.TRACE_ONLY:
        hits = starts = 0
        for _ in range(n // m):
            trace = 1.0 + np.exp(-t / 5000.0) + 1e-3 * rng.randn(m)
            s = 0
            while True:
                f = {"visible": lambda: onset.visible(trace, window, floor, s),
                     "growing": lambda: onset.growing(trace, window, floor, s),
                     "apparent": lambda: onset.apparent(trace, start=s)}[name]()
                if f < 0:
                    starts += m - window - s
                    break
                hits += 1
                starts += f + 1 - s
                s = f + 1
        out[name] = (hits, starts)
    p = rng.randn(n)
    ok = (p[1:] * p[:-1] < 0) & (np.abs(p[1:]) >= np.abs(p[:-1]))
    full = np.convolve(ok.astype(int), np.ones(onset.RUN, int), "valid") == onset.RUN
    out["mode"] = (int(full.sum()), int(full.size))
    return out


def table(results: list[CaseResult]) -> str:
    """Markdown table: per case, the truth and each definition's onset, error and eta*lambda."""
    head = ("| case | truth (step) | ceiling truth (step) | "
            + " | ".join(f"{n}: step, error, eta*lam" for n in onset.NAMES)
            + " |\n|---|---|---|" + "---|" * len(onset.NAMES) + "\n")
    rows = []
    for r in results:
        cells = []
        for n in onset.NAMES:
            f = r.found[n]
            if f < 0:
                cells.append("none")
            else:
                err = r.error(n)
                cells.append(f"{f}, {'n/a' if np.isnan(err) else f'{err:+.0f}'}, {r.eta_lam(n):.4f}")
        truth = "none" if r.truth < 0 else str(r.truth)
        cap = r.case.ceiling_truth()
        rows.append(f"| {r.case.name} | {truth} | {'none' if cap < 0 else cap} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"

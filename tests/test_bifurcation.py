"""Onset detection of the period-2 instability, and the power-law fit of lambda_th(eta)."""
import time

import numpy as np
import pytest
from scipy import stats

from dynloss.thresholds import bifurcation as bif

N = 70000
W = 20


def smooth(n=N, tau=5000.0):
    return np.exp(-np.arange(n) / tau)


def burst(t0, amp, growth=1.0, n=N, tau=5000.0):
    """Smooth decay plus ``amp growth^(t-t0) (-1)^t`` for ``t >= t0``."""
    t = np.arange(n)
    k = np.clip(t - t0, 0, None)
    return smooth(n, tau) + (t >= t0) * amp * growth**k * (-1.0) ** t


# ----------------------------------------------------------------------------- clean bursts

@pytest.mark.parametrize("t0", [500, 4321, 30000, 69000])
@pytest.mark.parametrize("amp,growth", [(1e-4, 1.0), (1e-3, 1.0), (1e-5, 1.002), (1e-4, 1.02)])
def test_burst_found_at_its_start(t0, amp, growth):
    # growing ones stop 400 steps after t0 (bounded); sustained ones run to the end
    loss = burst(t0, amp, growth, n=min(N, t0 + 400) if growth > 1 else N)
    # exact: the window starting at t0 is the first whose e values all carry the oscillation
    # (e(t0-1) has only half of it: its log is 1.1 below the line, more than tol)
    assert bif.detect_onset(loss) == t0
    assert bif.detect_onset(loss, window=40) == t0
    noisy = loss + 1e-6 * np.random.default_rng(t0).standard_normal(loss.size)
    assert abs(bif.detect_onset(noisy) - t0) <= 2


def test_burst_below_floor_found_when_it_crosses_the_floor():
    t0, amp, g, floor = 2000, 1e-9, 1.01, 1e-6
    loss = burst(t0, amp, g)[:5000]
    # for t = t0 + k, |e(t)| = amp g^k (1 + (g + 1/g)/2) must exceed floor * max|L| = floor L(t-1)
    k = np.arange(1, 3000)
    t = t0 + k
    cross = t[np.flatnonzero(amp * g**k * (1 + (g + 1 / g) / 2) > floor * smooth()[t - 1])[0]]
    found = bif.detect_onset(loss, floor=floor)
    assert cross - 2 <= found <= cross + 2, (found, cross)
    assert found > t0 + 300  # the floor matters here


def test_start_skips_a_transient_burst():
    t = np.arange(N)
    on = ((t >= 100) & (t < 600)) | (t >= 9000)
    loss = smooth() + on * 1e-3 * (-1.0) ** t
    assert abs(bif.detect_onset(loss) - 100) <= 2
    assert abs(bif.detect_onset(loss, start=1000) - 9000) <= 2
    assert bif.detect_onset(loss[:8000], start=1000) == -1


def test_onset_index_is_a_loss_step_and_respects_start():
    loss = burst(0, 1e-3)
    assert bif.detect_onset(loss) in (1, 2)  # e(t) needs both neighbours: t >= 1
    assert bif.detect_onset(loss, start=777) in (777, 778)


def loss_from_e(e, L0=1.0, L1=1.0):
    """The trace whose period-2 component is ``e`` (``L(t+1) = 2 L(t) - L(t-1) - 2 e(t)``)."""
    L = np.empty(e.size + 2)
    L[0], L[1] = L0, L1
    for t in range(1, e.size + 1):
        L[t + 1] = 2 * L[t] - L[t - 1] - 2 * e[t - 1]
    return L


@pytest.mark.parametrize("h,found", [(0.2, True), (0.4, False)])
def test_coherence_tolerance(h, found):
    """|e| wobbling by a factor exp(+-h) around a steady level: accepted iff h < tol = 0.3."""
    t = np.arange(1, 3001)
    e = 1e-3 * (-1.0) ** t * np.exp(h * np.where((t // 2) % 2 == 0, 1.0, -1.0))
    loss = loss_from_e(e)
    np.testing.assert_allclose(bif.period2_amplitude(loss)[1:-1], np.abs(e), rtol=1e-9)
    onset = bif.detect_onset(loss)
    assert (1 <= onset <= 4) if found else onset == -1, onset
    assert bif.detect_onset(loss, tol=h + 0.1) in range(1, 5)


# ----------------------------------------------------------------------------- no oscillation

@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("base", ["flat", "decreasing"])
def test_iid_noise_is_not_an_onset(seed, base):
    rng = np.random.default_rng(seed)
    level = np.ones(N) if base == "flat" else smooth()
    loss = level + 1e-3 * rng.standard_normal(N)
    assert bif.detect_onset(loss) == -1


@pytest.mark.parametrize("noise", ["uniform", "laplace", "student3"])
def test_non_gaussian_noise_is_not_an_onset(noise):
    rng = np.random.default_rng(11)
    draw = {"uniform": lambda: rng.uniform(-1, 1, N), "laplace": lambda: rng.laplace(size=N),
            "student3": lambda: rng.standard_t(3, N)}[noise]
    assert bif.detect_onsets(1.0 + 1e-3 * np.stack([draw(), draw()])).tolist() == [-1, -1]


def test_sign_alternation_alone_would_fire_on_noise():
    """Why rules 3-4: on i.i.d. noise e alternates over 20 steps ~1e-3 per start."""
    rng = np.random.default_rng(0)
    loss = 1.0 + 1e-3 * rng.standard_normal(N)
    e = loss[1:-1] - 0.5 * (loss[:-2] + loss[2:])
    f = np.where(np.arange(1, N - 1) % 2 == 0, e, -e) > 0
    runs = np.lib.stride_tricks.sliding_window_view(f, W)
    n_alt = int((runs.all(1) | (~runs).all(1)).sum())
    assert n_alt > 10  # many alternating windows ...
    assert bif.detect_onset(loss) == -1  # ... none of them coherent and non-decaying


def test_monotone_decrease_is_not_an_onset():
    assert bif.detect_onset(smooth()) == -1
    t = np.arange(N)
    assert bif.detect_onset(1.0 / (1.0 + t / 100.0)) == -1
    assert bif.detect_onset(np.exp(-t / 50.0) + 1e-3) == -1  # fast then flat


def test_slow_sinusoid_is_not_an_onset():
    t = np.arange(N)
    assert bif.detect_onset(1.0 + 0.5 * np.sin(2 * np.pi * t / 5000.0)) == -1
    assert bif.detect_onset(smooth() * (1.0 + 0.3 * np.sin(2 * np.pi * t / 5000.0))) == -1


def test_converged_loss_with_rounding_noise_is_not_an_onset():
    rng = np.random.default_rng(3)
    loss = 0.25 + 1e-16 * rng.standard_normal(N)
    assert bif.detect_onset(loss) == -1
    # exact alternation at rounding level also stays below the floor
    assert bif.detect_onset(0.25 + 1e-16 * (-1.0) ** np.arange(N)) == -1
    assert bif.detect_onset(np.full(N, 0.25)) == -1


def test_decaying_period2_is_not_an_onset():
    """A stable mode with 1 < eta lambda < 2 overshoots: period-2 that decays is no bifurcation."""
    t = np.arange(N)
    loss = smooth() + 1e-2 * 0.999**t * (-1.0) ** t
    assert bif.detect_onset(loss) == -1
    assert bif.detect_onset(loss[:3000][::-1].copy()) in (1, 2)  # time-reversed: it grows


def test_growing_oscillation_emerges_from_noise():
    rng = np.random.default_rng(5)
    t0, amp, g, sigma = 10000, 1e-6, 1.005, 1e-4
    loss = burst(t0, amp, g)[:12000] + sigma * rng.standard_normal(12000)
    found = bif.detect_onset(loss)
    # after it starts, and before the oscillation is 100 noise sd's
    assert t0 < found < t0 + np.log(100 * sigma / amp) / np.log(g), found


# ----------------------------------------------------------------------------- NaN / divergence

def test_nan_after_divergence():
    loss = burst(3000, 1e-4, 1.05, n=5000)
    loss[3300:] = np.nan  # overflowed
    assert abs(bif.detect_onset(loss) - 3000) <= 2
    loss[3300] = np.inf
    assert abs(bif.detect_onset(loss) - 3000) <= 2
    # smooth blow-up then NaN: a divergence without oscillation is not an onset
    div = np.exp((np.arange(5000) - 3000.0) / 50.0)
    div[4000:] = np.nan
    assert bif.detect_onset(div) == -1
    # NaN before the burst: the trace ends there
    cut = burst(3000, 1e-3, n=5000)
    cut[2000] = np.nan
    assert bif.detect_onset(cut) == -1
    assert bif.detect_onset(np.full(100, np.nan)) == -1
    assert bif.detect_onset(np.ones(5)) == -1


# ----------------------------------------------------------------------------- gradient descent

def gd_ramp(eta, delta0, eta_r, n_after=1500, x0=0.05, kappa=1.0, y0=0.0, eta_mu=1.9):
    """GD on ``L = lam(t) (x^2/2 + kappa x^3/3) + mu (y^2/2 + kappa y^3/3)``, lam(t) = lam0 + r t.

    The cubic term makes the valley asymmetric: a pure quadratic ``lam x^2 / 2`` is blind to the
    sign of x, so its loss shows no period-2 component at all (see the test below). At ``x = 0``
    the curvature is ``lam(t)``, so the linear theory is unchanged: ``x`` flips sign and shrinks
    while ``1 < eta lam < 2`` and grows once ``eta lam > 2``, at ``t* = (2/eta - lam0) / r``.
    ``eta lam0 = 2 - delta0``: a small ``delta0`` and slow ramp ``eta r`` keep x at ~1e-4 at t*
    (it shrinks by ``exp(-delta0^2 / (2 eta r))``), so the oscillation beats the curvature
    ``~eta r L`` of the smooth envelope there. ``y`` is a stable direction with
    ``eta mu = 1.9``: it also flips sign but decays.
    """
    lam0 = (2.0 - delta0) / eta
    r = eta_r / eta
    tstar = (2.0 / eta - lam0) / r
    n = int(tstar) + n_after
    lam = lam0 + r * np.arange(n)
    mu = eta_mu / eta
    x, y = x0, y0
    loss = np.empty(n)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(n):
            loss[t] = lam[t] * (x * x / 2 + kappa * x**3 / 3) + mu * (y * y / 2 + kappa * y**3 / 3)
            x = x - eta * lam[t] * (x + kappa * x * x)
            y = y - eta * mu * (y + kappa * y * y)
    return loss, lam, tstar, r


CASES = [  # eta, delta0, eta*r, y0
    (0.1, 0.01, 1e-5, 0.0),
    (0.02, 0.015, 2e-5, 0.0),
    (0.1, 0.01, 1e-5, 0.1),
    (0.02, 0.015, 2e-5, 0.2),
]


@pytest.mark.parametrize("eta,delta0,eta_r,y0", CASES)
def test_gd_on_ramped_curvature_onset_at_theory(eta, delta0, eta_r, y0):
    loss, lam, tstar, r = gd_ramp(eta, delta0, eta_r, y0=y0)
    onset = bif.detect_onset(loss)
    # the first window with a non-decaying fit straddles t*: onset ~ t* - W/2
    assert abs(onset - tstar) <= 2 * W, (onset, tstar)
    assert lam[onset] * eta == pytest.approx(2.0, abs=2 * W * r * eta)
    steps = np.arange(0, loss.size, 100)
    lam_cad = bif.lambda_at_onset(steps, lam[steps], onset)
    assert lam_cad <= lam[onset]
    assert abs(lam_cad - 2.0 / eta) <= r * 100 + 2 * W * r


def test_gd_threshold_scales_as_one_over_eta():
    etas, lam_th = [], []
    for eta, delta0, eta_r, _ in CASES[:2]:
        loss, lam, _, _ = gd_ramp(eta, delta0, eta_r)
        etas.append(eta)
        lam_th.append(lam[bif.detect_onset(loss)])
    etas, lam_th = np.array(etas), np.array(lam_th)
    np.testing.assert_allclose(lam_th * etas, 2.0, atol=2e-3)
    # two points give the exact line: slope -1 to the same accuracy
    b = np.diff(np.log(lam_th)) / np.diff(np.log(etas))
    assert b[0] == pytest.approx(-1.0, abs=2e-3)


def test_gd_without_growth_check_would_fire_early():
    """The ramp is meaningful: before t* the loss already alternates (decaying), above floor."""
    loss, lam, tstar, r = gd_ramp(0.1, 0.01, 1e-5, y0=0.1)
    e = loss[1:-1] - 0.5 * (loss[:-2] + loss[2:])
    pre = slice(100, int(tstar) - 3 * W)
    f = np.where(np.arange(1, loss.size - 1) % 2 == 0, e, -e)[pre]
    assert np.all(f > 0) or np.all(f < 0)  # alternates all along
    assert np.all(np.abs(e[pre]) > 1e-6 * np.abs(loss[pre]))  # above the floor
    assert abs(bif.detect_onset(loss) - tstar) <= 2 * W


def test_pure_quadratic_loss_has_no_period2():
    loss, _, _, _ = gd_ramp(0.1, 0.01, 1e-5, kappa=0.0)
    assert bif.detect_onset(loss) == -1  # L = lam x^2/2 is blind to the sign flips of x


# ----------------------------------------------------------------------------- batch, speed, API

def test_detect_onsets_batch_matches_rows_and_is_fast():
    rng = np.random.default_rng(9)
    t0s = rng.integers(1000, 60000, 40)
    losses = np.stack([burst(t0, 1e-4) + 1e-6 * rng.standard_normal(N) for t0 in t0s])
    losses[::2] = 1.0 + 1e-3 * rng.standard_normal((20, N))  # half without an onset
    t_start = time.perf_counter()
    found = bif.detect_onsets(losses)
    elapsed = time.perf_counter() - t_start
    assert found.shape == (40,) and found.dtype.kind == "i"
    assert np.all(found[::2] == -1)
    assert np.all(np.abs(found[1::2] - t0s[1::2]) <= 2)
    assert found.tolist() == [bif.detect_onset(row) for row in losses]
    assert elapsed < 10.0  # ~0.02 s per trace here


def test_detect_onset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1-D"):
        bif.detect_onset(np.ones((3, 3)))
    with pytest.raises(ValueError, match="window"):
        bif.detect_onset(np.ones(100), window=2)
    with pytest.raises(ValueError, match="start"):
        bif.detect_onset(np.ones(100), start=-1)
    with pytest.raises(ValueError, match="floor"):
        bif.detect_onset(np.ones(100), floor=-1.0)
    with pytest.raises(ValueError, match="2-D"):
        bif.detect_onsets(np.ones(100))


def test_period2_amplitude():
    t = np.arange(10)
    loss = 1.0 + 0.5 * t + 0.1 * (-1.0) ** t  # linear trend is removed exactly
    a = bif.period2_amplitude(loss)
    assert a.shape == loss.shape and np.isnan(a[0]) and np.isnan(a[-1])
    np.testing.assert_allclose(a[1:-1], 0.2, rtol=1e-12)
    a = bif.period2_amplitude(np.array([1.0, 2.0, np.nan, 4.0, 5.0]))
    assert np.isnan(a).all()
    assert np.isnan(bif.period2_amplitude(np.ones(2))).all()


def test_lambda_at_onset():
    steps = np.array([0, 100, 200, 300])
    eig = np.array([1.0, 2.0, 3.0, 4.0])
    assert bif.lambda_at_onset(steps, eig, 0) == 1.0
    assert bif.lambda_at_onset(steps, eig, 199) == 2.0
    assert bif.lambda_at_onset(steps, eig, 200) == 3.0
    assert bif.lambda_at_onset(steps, eig, 10**6) == 4.0
    assert np.isnan(bif.lambda_at_onset(steps, eig, -1))
    assert np.isnan(bif.lambda_at_onset(steps + 50, eig, 10))
    with pytest.raises(ValueError):
        bif.lambda_at_onset(steps, eig[:3], 5)


# ----------------------------------------------------------------------------- power law

ETAS = np.array([0.01, 0.02, 0.05, 0.1])


def synthetic(seed, sigma=0.05, b=-1.0, c=2.0, reps=10):
    rng = np.random.default_rng(seed)
    eta = np.repeat(ETAS, reps)
    return eta, c * eta**b * np.exp(sigma * rng.standard_normal(eta.size))


def test_power_law_recovers_slope_and_prefactor():
    eta, lam = synthetic(0)
    fit = bif.fit_power_law(eta, lam)
    assert fit.n == 40 and fit.level == 0.95
    assert fit.slope_ci[0] < -1.0 < fit.slope_ci[1]
    assert fit.prefactor_ci[0] < 2.0 < fit.prefactor_ci[1]
    assert fit.slope == pytest.approx(-1.0, abs=0.05)
    assert fit.prefactor == pytest.approx(2.0, rel=0.1)
    assert fit.prefactor == pytest.approx(np.exp(fit.intercept), rel=1e-12)
    assert fit.r2 > 0.99
    assert bif.fit_power_law(*synthetic(0, sigma=0.01)).r2 > 0.999
    np.testing.assert_allclose(fit.predict(ETAS), fit.prefactor * ETAS**fit.slope, rtol=1e-12)


def test_power_law_matches_scipy_linregress():
    eta, lam = synthetic(1, sigma=0.2)
    fit = bif.fit_power_law(eta, lam, level=0.9)
    ref = stats.linregress(np.log(eta), np.log(lam))
    q = stats.t.ppf(0.95, eta.size - 2)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-10)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-10)
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-10)
    np.testing.assert_allclose(fit.slope_ci, ref.slope + np.array([-1, 1]) * q * ref.stderr,
                               rtol=1e-10)
    np.testing.assert_allclose(fit.intercept_ci,
                               ref.intercept + np.array([-1, 1]) * q * ref.intercept_stderr,
                               rtol=1e-10)
    # the band at eta = 1 (log eta = 0) is the intercept's interval
    lo, hi = fit.band(np.array([1.0]))
    np.testing.assert_allclose([lo[0], hi[0]], fit.prefactor_ci, rtol=1e-10)
    lo, hi = fit.band(ETAS)
    assert np.all(lo < fit.predict(ETAS)) and np.all(fit.predict(ETAS) < hi)
    # narrowest at the mean log eta
    grid = np.exp(np.linspace(np.log(0.005), np.log(0.2), 101))
    lo, hi = fit.band(grid)
    k = np.argmin(np.log(hi / lo))
    assert abs(np.log(grid[k]) - fit.log_eta_mean) <= np.diff(np.log(grid))[0]


def test_power_law_interval_coverage():
    seeds = range(100, 300)
    fits = [bif.fit_power_law(*synthetic(s, sigma=0.1)) for s in seeds]
    cover_b = np.mean([f.slope_ci[0] < -1.0 < f.slope_ci[1] for f in fits])
    cover_c = np.mean([f.prefactor_ci[0] < 2.0 < f.prefactor_ci[1] for f in fits])
    eta0 = np.array([0.03])
    cover_band = np.mean([(lambda lo, hi: lo[0] < 2.0 / eta0[0] < hi[0])(*f.band(eta0))
                          for f in fits])
    for cover in (cover_b, cover_c, cover_band):
        assert 0.9 <= cover <= 0.99, (cover_b, cover_c, cover_band)


def test_power_law_drops_unusable_points_and_rejects_bad_input():
    eta, lam = synthetic(2)
    lam = lam.copy()
    lam[:3] = [np.nan, 0.0, -1.0]
    fit = bif.fit_power_law(eta, lam)
    assert fit.n == 37
    assert fit == bif.fit_power_law(eta[3:], lam[3:])
    with pytest.raises(ValueError, match="at least 3"):
        bif.fit_power_law([0.1, 0.2, 0.3], [1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="eta are equal"):
        bif.fit_power_law([0.1] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="same size"):
        bif.fit_power_law([0.1, 0.2, 0.3], [1.0, 2.0])
    exact = bif.fit_power_law(ETAS, 2.0 / ETAS)
    assert exact.slope == pytest.approx(-1.0, abs=1e-12)
    assert exact.prefactor == pytest.approx(2.0, rel=1e-12)
    assert exact.r2 == pytest.approx(1.0, abs=1e-12)


def test_mean_ci():
    mean, lo, hi = bif.mean_ci([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half), rel=1e-12)
    assert bif.mean_ci([1.0, 2.0, 3.0, np.nan]) == pytest.approx((mean, lo, hi), rel=1e-12)
    m, lo1, hi1 = bif.mean_ci([5.0])
    assert m == 5.0 and np.isnan(lo1) and np.isnan(hi1)
    assert all(np.isnan(v) for v in bif.mean_ci([]))
    _, lo9, hi9 = bif.mean_ci([1.0, 2.0, 3.0], level=0.9)
    assert lo < lo9 < hi9 < hi
    rng = np.random.default_rng(4)
    cover = np.mean([(lambda m, a, b: a < 1.0 < b)(*bif.mean_ci(1.0 + rng.standard_normal(10)))
                     for _ in range(400)])
    assert 0.92 <= cover <= 0.98

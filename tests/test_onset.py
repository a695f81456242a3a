"""The onset definitions on systems with a known answer (dynloss.thresholds.validation) and on synthetic traces."""
import numpy as np
import pytest

from dynloss import tracker
from dynloss.thresholds import bifurcation, onset, validation

RESULTS = {}


def result(name):
    if name not in RESULTS:
        case = next(c for c in validation.CASES if c.name == name)
        RESULTS[name] = validation.run_case(case)
    return RESULTS[name]


@pytest.mark.parametrize("name", ["ramp", "ramp-fast"])
def test_ramped_curvature_growing_and_mode_at_the_crossing(name):
    r = result(name)
    assert r.truth > 0
    for d in ("growing", "mode"):
        assert abs(r.error(d)) <= 3, (d, r.found, r.truth)
    # visible is the old rule: near the crossing, within its window
    assert abs(r.error("visible")) <= 40


def test_pure_quadratic_only_mode_sees_the_instability():
    r = result("ramp-quadratic")
    assert r.found["visible"] == -1 and r.found["growing"] == -1
    assert abs(r.error("mode")) <= 3


@pytest.mark.parametrize("name", ["damped-kicked", "damped-kicked-10"])
def test_forced_damped_mode_is_not_an_onset(name):
    r = result(name)
    assert r.truth == -1
    assert r.found["growing"] == -1 and r.found["mode"] == -1


def test_resonant_drive_visible_fires_growing_does_not():
    """eta lam = 1.5 driven at period 2: a steady, visible, non-growing oscillation."""
    r = result("damped-resonant")
    assert r.found["visible"] >= 0
    assert r.found["growing"] == -1


def test_two_modes_mode_follows_the_one_that_crosses_first():
    r = result("two-mode")
    assert r.truth == 1000
    assert abs(r.error("mode")) <= 3
    # the loss-based definitions see the second mode only once it has grown
    for d in ("visible", "growing"):
        assert r.found[d] == -1 or r.found[d] > r.truth


def test_tracker_eigenvalue_is_the_top_curvature():
    case = next(c for c in validation.CASES if c.name == "two-mode")
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    L = validation.loss_fn(case)
    tr = tracker.make_tracker(jax.grad(L), 1500)(jnp.asarray(case.x0), 0, jnp.float64(case.eta), (),
                                                jnp.ones(2), jnp.asarray([0.3, -1.0]))
    # the Hessian is diag(lam_i (1 + 2 kappa theta_i)); from step 800 on |theta| < 1e-4
    top = case.lam_at(np.arange(1500)).max(axis=1)
    assert np.allclose(tr.lam[800:], top[800:], rtol=1e-3)
    # the tracked vector follows the mode that overtakes (at step 690) from 1e-3 of mixing
    assert abs(tr.v[1]) > 0.999


def test_growing_rejects_steady_and_decaying_period2_that_visible_accepts():
    t = np.arange(3000)
    smooth = 1.0 + np.exp(-t / 2000)
    steady = smooth + 1e-3 * (-1.0) ** t * (t >= 1000)
    assert abs(onset.visible(steady) - 1000) <= 2
    assert onset.growing(steady) == -1


def test_growing_is_backdated_to_where_growth_began():
    t = np.arange(3000)
    smooth = 1.0 + np.exp(-t / 2000)
    t0 = 1500
    amp = 1e-5 * np.exp(0.005 * np.abs(t - t0))  # decays into t0, grows after it
    trace = smooth + amp * (-1.0) ** t
    assert abs(onset.growing(trace) - t0) <= 1
    # visible takes the first non-decaying window, which starts before the minimum
    assert t0 - 20 <= onset.visible(trace) < t0 - 1


def test_mode_rule():
    p = 0.1 * (-1.05) ** np.arange(40)
    p[:10] = 0.1 * (-0.9) ** np.arange(10)
    assert onset.mode(p) == 9
    assert onset.mode(0.1 * (-0.99) ** np.arange(100)) == -1
    assert onset.mode(np.full(30, 0.1) * (-1.0) ** np.arange(30)) == 0  # ratio exactly -1 counts (>= 1)
    assert onset.mode(np.ones(40)) == -1
    with pytest.raises(ValueError, match="run"):
        onset.mode(p, run=0)


def test_noise_false_positive_rates():
    rates = validation.noise_rates(n=200_000)
    hits_v, starts_v = rates["visible"]
    hits_g, starts_g = rates["growing"]
    assert starts_v > 1e5 and starts_g > 1e5
    assert hits_g <= hits_v <= 1  # growing's windows are a subset of visible's
    hits_m, starts_m = rates["mode"]
    # 2^-8 / 9! = 1.1e-8 per start: expected 2e-3 hits in 2e5 starts
    assert hits_m == 0 and starts_m > 1.9e5


def test_check_names():
    assert onset.check_names(["mode", "visible", "mode"]) == ("visible", "mode")
    with pytest.raises(ValueError, match=r"studies.x.onset: 'bogus' is not an onset definition "
                                         r"\(allowed: visible, growing, mode, apparent, ceiling\)"):
        onset.check_names(["visible", "bogus"], "studies.x.onset")
    with pytest.raises(ValueError, match="allowed"):
        onset.check_names([])


def test_window_fits_reproduce_visible():
    rng = np.random.RandomState(3)
    t = np.arange(4000)
    trace = 1 + np.exp(-t / 3000) + 1e-4 * (-1.0) ** t * np.exp(0.002 * (t - 2000)) * (t > 2000) \
        + 1e-9 * rng.randn(t.size)
    assert onset.visible(trace) == bifurcation.detect_onset(trace) > 0


def test_config_onset_key_is_validated_and_reaches_the_job():
    import copy

    from dynloss import config
    from dynloss.plan import Plan

    raw = config.load_yaml()
    cfg = copy.deepcopy(raw)
    cfg["studies"]["fig4_4"]["onset"] = ["visible", "bogus"]
    with pytest.raises(config.ConfigError, match=r"studies\.fig4_4\.onset.*'bogus' is not one of "
                                                 r"\['visible', 'growing', 'mode', 'apparent', 'ceiling'\]"):
        config.prepare(cfg)
    cfg = config.prepare(copy.deepcopy(raw))
    st = cfg["studies"]["fig4_4"]
    # the shipped thresholds studies train with no definition and keep their traces; the definitions
    # are computed from the traces (rule onsets)
    assert st["onset"] == [] and st["keep_traces"] is True
    assert st["analyse_onsets"] == ["visible", "growing", "apparent", "ceiling", "mode"]
    plan = Plan(cfg)
    job = plan.jobs("fig4_4")[0]
    assert plan.job_files("fig4_4")[0] == f"{cfg['results']}/fig4_4/onsets/{job.stem}.nc"
    cfg["studies"]["fig4_4"].update(onset=["visible", "growing", "mode"], analyse_onsets=[])
    args = Plan(cfg).jobs("fig4_4")[0].argv()
    assert args[args.index("--onset") + 1] == "visible,growing,mode"
    args = job.argv()
    assert args[args.index("--traces-out") + 1] == f"{cfg['results']}/fig4_4/traces/{job.stem}.nc"


# -- apparent, ceiling and the mode anchor (fixed 2026-12-02) ---------------------------------------


@pytest.mark.parametrize("case", validation.TRACE_CASES, ids=lambda c: c.name)
def test_reader_level_and_ceiling_known_answers(case):
    step, level = validation.run_trace_case(case)
    if case.truth < 0:
        assert step == -1
    else:
        assert abs(step - case.truth) <= case.within
        if case.definition == "ceiling":
            assert level == pytest.approx(15.0)


def test_ceiling_finds_a_saturating_curvature_and_nothing_on_a_rise():
    r = validation.run_case(next(c for c in validation.CASES if c.name == "saturating"))
    assert -200 <= r.error("ceiling") <= 0  # inside the 2 % band before the cap (step 4500)
    rising = validation.run_case(next(c for c in validation.CASES if c.name == "rising"))
    assert rising.found["ceiling"] == -1


def test_apparent_needs_a_coherent_alternation():
    t = np.arange(2000)
    rng = np.random.default_rng(0)
    noisy = 2.0 + 0.05 * rng.standard_normal(t.size)  # large but incoherent
    assert onset.apparent(noisy) == -1
    assert onset.apparent(2.0 + 0.05 * (-1.0) ** t * (t >= 700), start=800) == 800


def test_mode_anchor_is_the_first_sample_past_the_level():
    s = np.arange(0, 5000, 100)
    lam = np.linspace(10, 25, s.size)
    i = int(np.flatnonzero(0.1 * lam >= onset.MODE_ANCHOR)[0])
    assert onset.mode_anchor(s, lam, 0.1) == s[i]
    assert onset.mode_anchor(s, lam, 0.01) == -1

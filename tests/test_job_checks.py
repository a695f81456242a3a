"""One set of job checks (dynloss.jobs.checks) for the command line and the config: every job field,
at and beyond its bounds, gets the same verdict from ``config.prepare`` (what ``snakemake -n``
runs) as from the job's own command line, and a refusal names the config key or the flag."""
from __future__ import annotations

import copy

import pytest

from dynloss import cli, config
from dynloss.cli.args import check_budget
from dynloss.cli.myrtle import myrtle_job
from dynloss.cli.training import thresholds_job, train_job
from dynloss.plan import Plan

BUILD = {"train": train_job, "thresholds": thresholds_job, "myrtle": myrtle_job}
BIG = 10 ** 9


@pytest.fixture(scope="module")
def tiny():
    """The tiny scale's config and the argv of the first job of each study."""
    raw = config.load_yaml()
    raw["scale"] = "tiny"
    plan = Plan(config.prepare(copy.deepcopy(raw)))
    first = {name: plan.jobs(name)[0] for name in plan.studies()}
    return raw, {name: (job.command, job.argv()) for name, job in first.items()}


def _set(raw: dict, key: str, value) -> dict:
    """``raw`` with the config key ``key`` (a study key lands in the tiny scale, so it wins)."""
    cfg = copy.deepcopy(raw)
    path = key.split(".")
    node = cfg["scales"]["tiny"] if path[0] in ("studies", "chunk_steps") else cfg
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    return cfg


def _config_verdict(raw: dict, key: str, value):
    try:
        config.prepare(_set(raw, key, value))
    except config.ConfigError as exc:
        return str(exc)
    return None


def _cli_verdict(command: str, argv: list[str], flag: str, text: str, monkeypatch):
    """The verdict of ``dynloss <command>`` on ``argv`` with ``flag`` set to ``text``: its parser,
    its job checks and its memory budget, everything it runs before training."""
    monkeypatch.delenv("DYNLOSS_MAX_MEMORY_GB", raising=False)
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = text
    else:
        argv += [flag, text]
    try:
        args = cli.build_parser().parse_args([command, *argv, "--out", "x.nc"])
        job = BUILD[command](args)
        if command != "myrtle":
            check_budget(args, job)
    except cli.CliError as exc:
        return str(exc)
    return None


#: what a refusal names when it is not the key or flag that was set: the memory budget, and the
#: dynamics study's hess_k (its hess_order is the other bound of the same check)
NAMED = {BIG: ("max_memory_gb", "--max-memory-gb"), 10 ** 12: ("max_memory_gb", "--max-memory-gb"),
         "studies.fig3_5.hess_order": ("studies.fig3_5.hess_k", "--hess-k")}

# (study, config key, value, flag, flag text, refused)
CASES = [
    # a contour study's jobs (fig3_4, tiny: width 16, A 1, T 20, 200 steps, record_every 20)
    ("fig3_4", "studies.fig3_4.lr", 1e300, "--lr", "1e300", False),
    ("fig3_4", "studies.fig3_4.lr", float("inf"), "--lr", "inf", True),
    ("fig3_4", "studies.fig3_4.lr", 0, "--lr", "0", True),
    ("fig3_4", "studies.fig3_4.A", [1], "--A", "1", False),
    ("fig3_4", "studies.fig3_4.A", [float("nan")], "--A", "nan", True),
    ("fig3_4", "studies.fig3_4.A", [0.999], "--A", "0.999", True),
    ("fig3_4", "studies.fig3_4.A", [1, 1], "--A", "1,1", True),
    ("fig3_4", "studies.fig3_4.T", [1e-9], "--T", "1e-9", False),
    ("fig3_4", "studies.fig3_4.T", [float("inf")], "--T", "inf", True),
    ("fig3_4", "studies.fig3_4.T", [20, 20], "--T", "20,20", True),
    ("fig3_4", "studies.fig3_4.widths", [1], "--width", "1", False),
    ("fig3_4", "studies.fig3_4.widths", [BIG], "--width", str(BIG), True),
    ("fig3_4", "studies.fig3_4.widths", [16, 16], "--width", "16,16", True),
    ("fig3_4", "studies.fig3_4.steps", 60, "--steps", "60", False),
    ("fig3_4", "studies.fig3_4.steps", 10 ** 12, "--steps", str(10 ** 12), True),
    ("fig3_4", "studies.fig3_4.record_every", 200, "--record-every", "200", False),
    ("fig3_4", "studies.fig3_4.record_every", 0, "--record-every", "0", True),
    ("fig3_4", "chunk_steps", 40, "--chunk-steps", "40", False),
    ("fig3_4", "chunk_steps", 30, "--chunk-steps", "30", True),
    ("fig3_4", "chunk_steps", 20, "--chunk-steps", "20", True),
    ("fig3_4", "chunk_steps", 0, "--chunk-steps", "0", True),
    ("fig3_4", "data.train_seed", 2 ** 32 - 1, "--data-seed", str(2 ** 32 - 1), False),
    ("fig3_4", "data.train_seed", 2 ** 32, "--data-seed", str(2 ** 32), True),
    ("fig3_4", "data.train_seed", 1, "--data-seed", "1", True),
    ("fig3_4", "data.test_seeds", [2 ** 32 - 1], "--test-seeds", str(2 ** 32 - 1), False),
    ("fig3_4", "data.test_seeds", [2 ** 32], "--test-seeds", str(2 ** 32), True),
    ("fig3_4", "data.test_seeds", [2, 2], "--test-seeds", "2,2", True),
    ("fig3_4", "data.noise", 1e300, "--noise", "1e300", False),
    ("fig3_4", "data.noise", float("inf"), "--noise", "inf", True),
    ("fig3_4", "data.points_per_class", 1, "--points-per-class", "1", False),
    ("fig3_4", "data.points_per_class", 0, "--points-per-class", "0", True),
    ("fig3_4", "data.num_classes", 2, "--classes", "2", False),
    ("fig3_4", "data.num_classes", 1, "--classes", "1", True),
    # a dynamics study's job (fig3_5, tiny: hess_every 20, hess_order 10, ntk_every 10, 400 steps)
    ("fig3_5", "studies.fig3_5.seed", 2 ** 31 - 1, "--seeds", str(2 ** 31 - 1), False),
    ("fig3_5", "studies.fig3_5.seed", 3 * BIG, "--seeds", str(3 * BIG), True),
    ("fig3_5", "studies.fig3_5.hess_k", 10, "--hess-k", "10", False),
    ("fig3_5", "studies.fig3_5.hess_k", 11, "--hess-k", "11", True),
    ("fig3_5", "studies.fig3_5.hess_order", 3, "--hess-order", "3", False),
    ("fig3_5", "studies.fig3_5.hess_order", 2, "--hess-order", "2", True),
    ("fig3_5", "studies.fig3_5.ntk_points", 300, "--ntk-points", "300", False),
    ("fig3_5", "studies.fig3_5.ntk_points", 301, "--ntk-points", "301", True),
    ("fig3_5", "studies.fig3_5.onset_window", 3, "--onset-window", "3", False),
    ("fig3_5", "studies.fig3_5.onset_window", 2, "--onset-window", "2", True),
    ("fig3_5", "studies.fig3_5.onset_floor", 0, "--onset-floor", "0", False),
    ("fig3_5", "studies.fig3_5.onset_floor", float("inf"), "--onset-floor", "inf", True),
    ("fig3_5", "studies.fig3_5.zoom_steps", 10, "--zoom-steps", "10", False),
    ("fig3_5", "studies.fig3_5.zoom_steps", 9, "--zoom-steps", "9", True),
    ("fig3_5", "studies.fig3_5.density_order", 2, "--density-order", "2", False),
    ("fig3_5", "studies.fig3_5.density_order", 1, "--density-order", "1", True),
    ("fig3_5", "studies.fig3_5.density_vectors", 0, "--density-vectors", "0", True),
    ("fig3_5", "studies.fig3_5.lr", float("inf"), "--lr", "inf", True),
    ("fig3_5", "studies.fig3_5.T", float("inf"), "--T", "inf", True),
    ("fig3_5", "studies.fig3_5.A", float("nan"), "--A", "nan", True),
    ("fig3_5", "studies.fig3_5.width", BIG, "--width", str(BIG), True),
    # a thresholds study's job (fig3_6, tiny: hess_every 20, hess_order 10; --A lists the runs)
    ("fig3_6", "studies.fig3_6.hess_order", 3, "--hess-order", "3", False),
    ("fig3_6", "studies.fig3_6.hess_order", 2, "--hess-order", "2", True),
    ("fig3_6", "studies.fig3_6.onset_window", 3, "--onset-window", "3", False),
    ("fig3_6", "studies.fig3_6.onset_window", 2, "--onset-window", "2", True),
    ("fig3_6", "studies.fig3_6.lrs", [float("inf")], "--lr", "inf", True),
    ("fig3_6", "studies.fig3_6.A", [float("nan")], "--A", "nan,20,70,70", True),
    ("fig3_6", "studies.fig3_6.hess_every", 100, "--hess-every", "100", False),
    ("fig3_6", "studies.fig3_6.hess_every", 0, "--hess-every", "0", True),
    ("fig3_6", "studies.fig3_6.widths", [BIG], "--width", str(BIG), True),
    # a Myrtle5 study's job (fig3_2, tiny: 2 epochs, peak at 1)
    ("fig3_2", "studies.fig3_2.peak_epoch", 2, "--peak-epoch", "2", False),
    ("fig3_2", "studies.fig3_2.peak_epoch", 3, "--peak-epoch", "3", True),
    ("fig3_2", "studies.fig3_2.final_lr", float("inf"), "--final-lr", "inf", True),
    ("fig3_2", "studies.fig3_2.channels", 0, "--channels", "0", True),
    ("fig3_2", "studies.fig3_2.eval_every", 0, "--eval-every", "0", False),
    # a sensitivity study's base job (sens_mse1, tiny: A 20, T 50, 200 steps)
    ("sens_mse1", "studies.sens_mse1.lr", float("inf"), "--lr", "inf", True),
    ("sens_mse1", "studies.sens_mse1.T", 199, "--T", "199", False),
    ("sens_mse1", "studies.sens_mse1.factors.data_seed", [1], "--data-seed", "1", True),
]


@pytest.mark.parametrize("study,key,value,flag,text,refused", CASES,
                         ids=[f"{c[1]}={c[4]}" for c in CASES])
def test_config_and_job_refuse_the_same_values(tiny, monkeypatch, study, key, value, flag, text, refused):
    raw, argvs = tiny
    by_config = _config_verdict(raw, key, value)
    by_job = _cli_verdict(*argvs[study], flag, text, monkeypatch)
    assert (by_config is not None, by_job is not None) == (refused, refused), (by_config, by_job)
    if refused:
        big = value[0] if isinstance(value, list) else value
        named_key, named_flag = NAMED.get(key) or NAMED.get(big) or (key, flag)
        assert by_config.startswith(f"config key '{named_key}") and "\n" not in by_config, by_config
        assert named_flag in by_job.split(": ")[0] and "\n" not in by_job, by_job


def test_a_schedule_figure_refuses_what_its_renderer_would(tiny):
    """Figure fig3_1 with ``T: .inf`` failed only when the figure rule ran."""
    raw, _ = tiny
    cfg = copy.deepcopy(raw)
    cfg["figures"]["fig3_1"]["T"] = float("inf")
    with pytest.raises(config.ConfigError, match=r"^config key 'figures.fig3_1.T': T must be a finite number"):
        config.prepare(cfg)

"""``dynloss run-study``: one study end to end in this process, without Snakemake.

It runs the same jobs as the Snakemake rules, taken from the same plan (:mod:`dynloss.plan`),
through the Python API (:func:`dynloss.jobs.run`), then combines, fits and draws.
"""
from __future__ import annotations

import argparse
import logging
import os

from .. import accelerator
from .args import CliError, check_accelerator, int_list


def add(sub) -> None:
    p = sub.add_parser("run-study", help="run one study end to end in this process, without Snakemake "
                       "(its jobs one after another, then combine, fit and figure)")
    p.add_argument("name", help="study name (a key of studies in the config)")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--scale", default=None, help="scale (default: the config's)")
    p.add_argument("--results", default=None, help="results folder (default: the config's)")
    p.add_argument("--granularity", default=None, choices=("auto", "point", "width", "study"),
                   help="(A, T) points per contour job (default: the config's)")
    p.add_argument("--widths", type=int_list("--widths"), default=None,
                   help="only the jobs of these widths (comma list)")
    p.set_defaults(func=_run_run_study)


def _run_run_study(a: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import config as cfgmod
    from .. import jobs, netcdf
    from ..figures import renderer
    from ..figures.common import save
    from ..plan import Plan

    overrides = {k: v for k, v in (("scale", a.scale), ("results", a.results), ("granularity", a.granularity))
                 if v is not None}
    try:
        cfg = cfgmod.load_config(Path(a.config) if a.config else cfgmod.CONFIG_PATH, **overrides)
    except cfgmod.ConfigError as exc:
        raise CliError(str(exc)) from None
    if a.name not in cfg["studies"]:
        raise CliError(f"name: no study {a.name!r} (allowed: {', '.join(cfg['studies'])})")
    plan = Plan(cfg)
    name, kind = a.name, plan.study(a.name)
    if not kind.enabled:
        raise CliError(f"name: study {name!r} needs studies.{name}.cifar_dir")
    os.environ["DYNLOSS_MAX_MEMORY_GB"] = str(cfg["max_memory_gb"])
    os.environ[accelerator.ENV] = cfg["accelerator"]
    check_accelerator()
    keep = (lambda j: True) if a.widths is None else (
        lambda j: all(int(w) in a.widths for w in _widths_of(j.request)))
    todo = [j for j in plan.jobs(name) if keep(j)]
    log = logging.getLogger("dynloss")
    for folder in {i for j in todo for i in j.inputs}:
        if not Path(folder).is_dir():  # the synthetic CIFAR-10 folder of a myrtle study
            from .. import cifar

            cifar.write_synthetic_cifar(folder, **cfg["studies"][name]["synthetic"])
    for i, job in enumerate(todo, 1):
        if os.path.exists(job.out):
            stored = netcdf.stored_job_hash(job.out)
            if stored == job.hash:
                log.info("%s: job %d/%d done already (%s)", name, i, len(todo), job.out)
                continue
            log.info("%s: job %d/%d: %s was made by a different job spec (hash %s); rerunning it",
                     name, i, len(todo), job.out, stored)
        log.info("%s: job %d/%d -> %s", name, i, len(todo), job.out)
        jobs.run(job.request, job.out)
    kind.derive(todo)
    dataset = kind.dataset()
    ds = kind.combine(kind.combine_inputs(todo), plan.aggregate_meta(name))
    if ds is not None:
        netcdf.write_netcdf(ds, dataset)
    kind.summarise(dataset)
    if not kind.figure:
        log.info("%s: done: %s", name, dataset)
        return 0
    fig = renderer(kind.figure)(kind.figure_inputs_in_process(), plan.figure_options(name),
                                cfg["studies"][name].get("title") or name)
    save(fig, *plan.figure_files(name))
    log.info("%s: done: %s and %s", name, dataset, ", ".join(plan.figure_files(name)))
    return 0


def _widths_of(request) -> tuple[int, ...]:
    if hasattr(request, "all_widths"):
        return request.all_widths()
    return (request.spec.width,) if hasattr(request, "spec") else ()

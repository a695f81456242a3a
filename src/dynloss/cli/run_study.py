"""``dynloss run-study``: one study end to end in this process, without Snakemake."""
from __future__ import annotations

import argparse
import logging
import os

from .args import CliError, int_list


def _add_run_study(sub) -> None:
    p = sub.add_parser("run-study", help="run one study end to end in this process, without Snakemake "
                       "(its jobs one after another, then combine, fit and figure)")
    p.add_argument("name", help="study name (a key of studies in the config)")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--scale", default=None, help="scale (default: the config's)")
    p.add_argument("--results", default=None, help="results folder (default: the config's)")
    p.add_argument("--widths", type=int_list("--widths"), default=None,
                   help="only the jobs of these widths (comma list)")
    p.set_defaults(func=_run_run_study)


def _run_run_study(a: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import config as cfgmod
    from .. import netcdf, studies
    from ..figures import renderer
    from ..figures.common import save
    from . import main

    overrides = {k: v for k, v in (("scale", a.scale), ("results", a.results)) if v is not None}
    try:
        cfg = cfgmod.load_config(Path(a.config) if a.config else cfgmod.CONFIG_PATH, **overrides)
    except cfgmod.ConfigError as exc:
        raise CliError(str(exc)) from None
    if a.name not in cfg["studies"]:
        raise CliError(f"name: no study {a.name!r} (allowed: {', '.join(cfg['studies'])})")
    st, name = cfg["studies"][a.name], a.name
    os.environ["DYNLOSS_MAX_MEMORY_GB"] = str(cfg["max_memory_gb"])
    kind = st["kind"]
    keep = (lambda w: True) if a.widths is None else (lambda w: int(w) in a.widths)
    jobs: list[tuple[str, list[str], str]] = []
    if kind in ("contour", "curves"):
        jobs = [("train", studies.point_args(cfg, j), j.path(cfg["results"]))
                for j in studies.point_jobs(cfg, name) if keep(j.width)]
    elif kind == "thresholds":
        jobs = [("thresholds", studies.threshold_args(cfg, j), j.path(cfg["results"]))
                for j in studies.threshold_jobs(cfg, name) if keep(j.width)]
    elif kind == "dynamics":
        jobs = [("train", studies.dynamics_args(cfg, name), studies.dataset_path(cfg, name))]
    elif kind == "myrtle":
        if not st["cifar_dir"]:
            raise CliError(f"name: study {name!r} needs studies.{name}.cifar_dir")
        if st["cifar_dir"] == "synthetic" and not Path(studies.cifar_folder(cfg, name)).is_dir():
            from .. import cifar

            cifar.write_synthetic_cifar(studies.cifar_folder(cfg, name), **st["synthetic"])
        jobs = [("myrtle", studies.myrtle_args(cfg, j), j.path(cfg["results"])) for j in studies.point_jobs(cfg, name)]
    log = logging.getLogger("dynloss")
    for i, (cmd, args, out) in enumerate(jobs, 1):
        if os.path.exists(out):
            stored = netcdf.stored_job_hash(out)
            if stored == studies.job_hash(cmd, args):
                log.info("%s: job %d/%d done already (%s)", name, i, len(jobs), out)
                continue
            log.info("%s: job %d/%d: %s was made by a different job spec (hash %s); rerunning it",
                     name, i, len(jobs), out, stored)
        log.info("%s: job %d/%d -> %s", name, i, len(jobs), out)
        if main([cmd, *args, "--out", out]) != 0:
            raise CliError(f"name: job {i} of study {name!r} failed ({out})")
    dataset = studies.dataset_path(cfg, name)
    if kind != "dynamics":
        ds = netcdf.combine([out for _, _, out in jobs], dims=studies.AGGREGATE_DIMS[kind].split(","),
                        attrs=studies.aggregate_meta(cfg, name))
        netcdf.write_netcdf(ds, dataset)
    if kind == "thresholds":
        main(["fit-thresholds", dataset, "--csv", f"{cfg['results']}/{name}/{name}_fit.csv"])
    options = {**st, **studies.FIGURE_OPTIONS.get(kind, {}), "data": cfg["data"], "scale": cfg["scale"]}
    fig = renderer(studies.STUDY_FIGURE[kind])([dataset], options, st.get("title") or name)
    save(fig, *studies.figure_files(cfg, name))
    log.info("%s: done: %s and %s", name, dataset, ", ".join(studies.figure_files(cfg, name)))
    return 0

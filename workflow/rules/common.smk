# Input functions and target lists only; the science is in src/dynloss.
import json
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

from dynloss import config as dl_config  # noqa: E402
from dynloss.plan import Plan  # noqa: E402

try:
    for _file in workflow.configfiles:  # Snakemake's own loader keeps the last of duplicate keys
        dl_config.load_yaml(_file)
    # the user's --configfile and --config values win over the scale's, even where they equal the shipped ones
    _prepared = dl_config.prepare(config, dl_config.load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"),
                                  shipped=dl_config.load_yaml(Path(workflow.basedir) / "config.yaml"),
                                  user=workflow.config_settings.overwrite_config)
except dl_config.ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")
config.clear()
config.update(_prepared)
PLAN = Plan(config)  # every job, file and target below comes from the plan
_counts = PLAN.job_counts()
print(f"dynloss: granularity {PLAN.granularity}; training jobs of the default target per granularity: "
      + ", ".join(f"{g} {n}" for g, n in _counts.items()), file=sys.stderr)

R = config["results"]
NUM = r"[0-9]+(\.[0-9]+)?"

# Every job sees the package, a shared JAX compilation cache, and no GPU memory preallocation
# (so several jobs can share one GPU).
# (Snakemake formats the prefix too: literal braces are doubled.)
_env = [f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}",
        "export XLA_PYTHON_CLIENT_PREALLOCATE=false",
        # the memory budget (dynloss.budget) is not a job argument: changing it reruns nothing
        f"export DYNLOSS_MAX_MEMORY_GB={float(config['max_memory_gb'])!r}"]
if config["jax_cache"]:
    _env += [f"export JAX_COMPILATION_CACHE_DIR={shlex.quote(str(Path(config['jax_cache']).absolute()))}",
             "export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0",
             "export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0"]
shell.prefix("; ".join(_env) + "; ")


def alternatives(names):
    """A wildcard constraint matching exactly these names (never the empty string)."""
    return "|".join(map(str, names)) or "__none__"


# Training rules use the accelerator's conda env (--software-deployment-method conda).
TRAIN_ENV = f"../../envs/{config['accelerator']}.yaml"


def studies_of(*kinds):
    return PLAN.studies(*kinds)


def quoted_json(obj):
    return shlex.quote(json.dumps(obj, sort_keys=True))


def shell_args(args):
    return " ".join(shlex.quote(a) for a in args)


def planned_job(wc):
    try:
        return PLAN.job(wc.study, wc.job)
    except KeyError as exc:
        raise WorkflowError(str(exc.args[0]))


def caption(name):
    """Caption text of a figure: what it shows, its parameters and the scale."""
    spec = config["studies"].get(name) or config["figures"].get(name)
    keys = {k: v for k, v in spec.items() if k not in ("title",)}
    return (f"{spec.get('title') or name} -- parameters: {json.dumps(keys)}; "
            f"scale: {config['scale']}; data: {json.dumps(config['data'])}")


def figure_spec(name):
    return config["studies"].get(name) or config["figures"][name]


def reproduction_studies():
    """Studies whose datasets feed the reproduction table."""
    from dynloss.reproduction import CLAIMS

    wanted = {c.study for c in CLAIMS}
    return [n for n in studies_of("contour", "curves", "myrtle") if n in wanted]


def reproduction_fits():
    """Fit tables of the thresholds studies that carry an eta-law claim, by study name."""
    from dynloss.reproduction import LAW_CLAIMS

    wanted = {c.study for c in LAW_CLAIMS}
    return {n: PLAN.study(n).fit_csv() for n in studies_of("thresholds") if n in wanted}


def synthetic_studies():
    return [n for n in studies_of("myrtle") if config["studies"][n]["cifar_dir"] == "synthetic"]


def all_targets():
    targets = [f"{R}/reproduction.csv", f"{R}/reproduction.html"]
    for name in PLAN.figure_names():
        targets += PLAN.figure_files(name) + PLAN.extra_targets(name)
    return targets


def needs_cifar_dir(name):
    """Input function of the named target of a skipped myrtle study: an error naming the key."""
    def explain(wc):
        raise WorkflowError(f"study {name!r} needs the CIFAR-10 folder: set config key "
                            f"'studies.{name}.cifar_dir' (e.g. --config studies='{{{name}: {{cifar_dir: /path/to/"
                            "cifar-10-batches-py}}'), see the README's Myrtle5 section")
    return explain


def studies_without_cifar():
    return [n for n, st in config["studies"].items() if st["kind"] == "myrtle" and not st.get("cifar_dir")]

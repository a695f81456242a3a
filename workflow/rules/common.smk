# Input functions and target lists only; the science is in src/dynloss.
import json
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

from dynloss import accelerator  # noqa: E402
from dynloss import config as dl_config  # noqa: E402
from dynloss import resources  # noqa: E402
from dynloss.plan import Plan  # noqa: E402
from dynloss.plan import stored as stored_plan  # noqa: E402
from dynloss.netcdf import CorruptFileError  # noqa: E402
from dynloss.verdicts import publish as dl_publish  # noqa: E402

try:
    for _file in workflow.configfiles:  # Snakemake's own loader keeps the last of duplicate keys
        dl_config.load_yaml(_file)
    # the user's --configfile and --config values win over the scale's, even where they equal the shipped ones
    _prepared = dl_config.prepare(
        config,
        dl_config.load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"),
        shipped=dl_config.load_yaml(Path(workflow.basedir) / "config.yaml"),
        user=workflow.config_settings.overwrite_config,
    )
except dl_config.ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}")
config.clear()
config.update(_prepared)
PLAN = Plan(config)  # every job, file and target below comes from the plan
_counts = PLAN.job_counts()
print(
    f"dynloss: accelerator {config['accelerator']}, granularity {PLAN.granularity}; training jobs of the "
    "default target per granularity: " + ", ".join(f"{g} {n}" for g, n in _counts.items()),
    file=sys.stderr,
)

R = config["results"]
NUM = r"[0-9]+(\.[0-9]+)?"

try:
    _stored = str(Path(stored_plan.store(config)).absolute())
except OSError as exc:
    raise WorkflowError(f"config key 'results': cannot write the stored plan under {R!r}: {exc}")

# Every job sees the package, a shared JAX compilation cache, and no GPU memory preallocation
# (so several jobs can share one GPU).
# (Snakemake formats the prefix too: literal braces are doubled.)
_env = [
    f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}",
    "export XLA_PYTHON_CLIENT_PREALLOCATE=false",
    # the memory budget (dynloss.budget) and the accelerator are not job arguments: changing
    # them reruns nothing; each training job checks that JAX gives it the accelerator's backend
    f"export DYNLOSS_MAX_MEMORY_GB={float(config['max_memory_gb'])!r}",
    f"export DYNLOSS_ACCELERATOR={config['accelerator']}",
    # the prepared config, from which `dynloss job` reads its job (dynloss.plan.stored)
    f"export DYNLOSS_PLAN={shlex.quote(_stored)}",
]
if config["accelerator"] == "cpu":
    _env.append("export JAX_PLATFORMS=cpu")  # a CUDA jaxlib on a GPU host also runs on the CPU as asked
else:  # on a machine with several GPUs each job takes one of its own (dynloss.accelerator.assign_gpu)
    _env.append(f"export {accelerator.SLOTS_ENV}=${{{{{accelerator.SLOTS_ENV}:-{accelerator.default_slots()}}}}}")
if config["jax_cache"]:
    _env += [
        f"export JAX_COMPILATION_CACHE_DIR={shlex.quote(str(Path(config['jax_cache']).absolute()))}",
        "export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0",
        "export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0",
    ]
shell.prefix("; ".join(_env) + "; ")


def alternatives(names):
    """A wildcard constraint matching exactly these names (never the empty string)."""
    return "|".join(map(str, names)) or "__none__"


# Training rules use the accelerator's conda env (--software-deployment-method conda).
TRAIN_ENV = f"../../envs/{config['accelerator']}.yaml"
# The rules that run JAX on the accelerator (train_job, dynamics, onsets, confirm) ask for one GPU each
# (resources: **GPU) where the accelerator is a GPU, and for none on a CPU.
GPU = {"gpu": 1} if config["accelerator"] != "cpu" else {}


def studies_with(capability):
    """Studies whose kind has ``capability`` (dynloss.plan.StudyKind): rules never name a kind."""
    return PLAN.studies_with(capability)


# The published reduced data (snakemake publish): publish_from=data reads them from publish_dir/data
# (checked against the publication's manifest and their studies before any job runs); otherwise each
# dataset is reduced into results/<scale>/reduced and the publish job copies it into the publication.
FROM_DATA = config["publish_from"] == "data"
DATA = f"{config['publish_dir']}/data" if FROM_DATA else f"{R}/reduced"


def published_datasets():
    """Results dataset -> its reduced copy (publish_dir/data or results/<scale>/reduced), for every
    study a publication keeps."""
    out = {PLAN.dataset(n): f"{DATA}/{n}.nc" for n in studies_with("published")}
    out.update({f"{R}/confirm/{k}.nc": f"{DATA}/confirm_{k}.nc" for k in confirm_keys()})
    if FROM_DATA:
        check_published_data()
    return out


_CHECKED = []  # publish_from=data's check has run (once per workflow)


def check_published_data():
    """publish_from=data: every data file matches the publication's manifest and holds its study as
    this config defines it (dynloss.verdicts.publish.verify_data), once, before any job runs."""
    if _CHECKED:
        return
    expected = {f"{DATA}/{n}.nc": (n, config["studies"][n]) for n in studies_with("published")}
    expected.update({f"{DATA}/confirm_{k}.nc": (f"confirm_{k}", None) for k in confirm_keys()})
    try:
        dl_publish.verify_data(
            config["publish_dir"],
            expected,
            publication_label(),
            legacy=[legacy_label()],
            overwrite=config["publish_overwrite"],
        )
    except (dl_publish.PublishError, CorruptFileError) as exc:
        raise WorkflowError(f"publish_from=data: {exc}")
    _CHECKED.append(True)


def publish_guard(wc):
    """The publish rule's input function: the publication's manifest (an input, read when the workflow
    plans). A publication of another label in publish_dir is refused here, before any job runs,
    unless publish_overwrite."""
    out = config["publish_dir"]
    label = publication_label()
    try:
        have = dl_publish.same_publication(out, label, [legacy_label()])
    except dl_publish.PublishError as exc:
        raise WorkflowError(f"config key 'publish_dir': {exc}")
    if have is not None and not config["publish_overwrite"]:
        raise WorkflowError(
            f"config key 'publish_overwrite': {out!r} holds the publication '{have}', not '{label}'; "
            "publish elsewhere (config key publish_dir) or replace it with --config publish_overwrite=true"
        )
    manifest = Path(out) / dl_publish.MANIFEST
    return [str(manifest)] if manifest.is_file() else []


def source(path):
    """Where a study dataset is read from: the results, or (publish_from=data) its published copy."""
    return published_datasets().get(path, path) if FROM_DATA else path


def publication_label():
    """The scale and a hash of what decides the numbers (every study but its title, the data, the
    protocol keys): a publication of another label is not replaced without publish_overwrite."""
    return LABELS["label"]


def legacy_label():
    """The label this configuration's publication carried before manifests (accepted once)."""
    return LABELS["legacy"]


LABELS = {"label": dl_publish.publication_label(config), "legacy": dl_publish.legacy_style_label(config)}


def publish_items():
    """What a publication holds: the tables, the fit tables, every figure PNG and the reduced data."""
    fits = [PLAN.study(n).fit_csv() for n in studies_with("fits_eta_law")]
    return (
        [f"{R}/reproduction.csv", f"{R}/reproduction.md"]
        + fits
        + ([f"{R}/thresholds.md"] if fits else [])
        + ([f"{R}/law_comparison.md"] if fits and config["compare_with"] else [])
        + [f"{R}/figures/{n}.png" for n in PLAN.figure_names() if not verdict_only(n)]
        + list(published_datasets().values())
    )


def verdict_only(name):
    """A study whose publication keeps only what its verdict rows read (publish_keep: verdict): its data cannot
    draw its figure, so the figure is not published (the workflow's default target still draws it)."""
    return name in config["studies"] and PLAN.study(name).publish_keep() == "verdict"


def compared_datasets():
    """The datasets of the publication named by compare_with (its eta laws are read from those that are
    thresholds data)."""
    folder = Path(config["compare_with"])
    if not folder.is_dir():
        raise WorkflowError(f"compare_with: {str(folder)!r} is not a folder (a publication's reduced data)")
    return sorted(str(p) for p in folder.glob("*.nc"))


def law_primaries():
    """--primary LOSS:WIDTH=DEFINITION of every eta-law study of this config."""
    out = []
    for n in studies_with("fits_eta_law"):
        st = config["studies"][n]
        out += [f"--primary={st['loss']}:{w}={st['primary_onset']}" for w in st["widths"]]
    return out


def quoted_json(obj):
    return shlex.quote(json.dumps(obj, sort_keys=True))


def shell_args(args):
    return " ".join(shlex.quote(a) for a in args)


def job_mem_mb(job_of):
    """The ``mem_mb`` resource of the training job that ``job_of(wildcards)`` plans, in MB of host
    memory from the dynloss.budget estimate (dynloss.resources)."""
    return lambda wc: resources.mem_mb(job_of(wc).request, config["accelerator"], float(config["max_memory_gb"]))


def job_runtime(job_of):
    """The ``runtime`` resource of the training job that ``job_of(wildcards)`` plans, in minutes
    from the measured rates (dynloss.resources), longer on each retry."""
    return lambda wc, attempt: resources.runtime_min(job_of(wc).request, config["accelerator"], attempt)


def dynamics_job(wc):
    return PLAN.jobs(wc.study)[0]


def planned_job(wc):
    try:
        return PLAN.job(wc.study, wc.job)
    except KeyError as exc:
        raise WorkflowError(str(exc.args[0]))


def analysed_studies():
    """Thresholds studies that compute onset definitions from their kept traces (analyse_onsets)."""
    return [n for n in studies_with("fits_eta_law") if config["studies"][n].get("analyse_onsets")]


def analysed_definitions():
    """The onset definitions those studies compute (the schema allows only dynloss.thresholds.onset's names)."""
    return sorted({d for n in analysed_studies() for d in config["studies"][n]["analyse_onsets"]})


def onset_parts(wc):
    """The per-definition onset files of one thresholds job (rule onsets), in analyse_onsets order."""
    return PLAN.study(wc.study).onset_parts(wc.job)


def onset_runs_arg(wc):
    """``--runs N`` (config key onset_runs) and ``--burn-in F`` (onset_burn_in), each only where set."""
    return PLAN.study(wc.study).onset_options(wc.definition)


def caption(name):
    """Caption text of a figure: what it shows, its parameters and the scale."""
    spec = config["studies"].get(name) or config["figures"].get(name)
    keys = {k: v for k, v in spec.items() if k not in ("title",)}
    return (
        f"{spec.get('title') or name} -- parameters: {json.dumps(keys)}; "
        f"scale: {config['scale']}; data: {json.dumps(PLAN.data(name))}"
    )


def figure_spec(name):
    return config["studies"].get(name) or config["figures"][name]


def protocol_studies(protocol):
    """Contour studies that run ``protocol`` (loss, width, lr, steps): what its claims choose from."""
    out = []
    for n in studies_with("chooses_points"):
        st = config["studies"][n]
        if (
            st["loss"] == protocol.loss
            and protocol.width in st["widths"]
            and float(st["lr"]) == protocol.lr
            and int(st["steps"]) == protocol.steps
            and PLAN.data(n).get("name", "spiral") == protocol.data
        ):
            out.append(n)
    return out


def confirm_seeds(key):
    """The fresh seeds of a confirm job, ``first-last``: the claim's own (``Claim.fresh_first``,
    ``fresh_seeds``), else as many as its studies have from ``verdicts.fresh_seed_offset``."""
    from dynloss.verdicts import confirm_jobs

    claim = confirm_jobs()[key][0]
    first = config["verdicts"]["fresh_seed_offset"] if claim.fresh_first is None else claim.fresh_first
    n = claim.fresh_seeds or max(config["studies"][s]["seeds"] for s in confirm_keys()[key][1])
    return f"{first}-{first + n - 1}"


def confirm_keys():
    """confirm key -> (its claims' protocol, the studies it chooses from) for the protocols this config runs."""
    from dynloss.verdicts import confirm_jobs

    out = {}
    for key, claims in confirm_jobs().items():
        studies = protocol_studies(claims[0].protocol)
        if studies:
            out[key] = (claims[0].protocol, studies)
    return out


def verdict_inputs():
    """Named inputs of the reproduction table: the dataset of every study its kind says the table reads
    (StudyKind.verdict_input) and every confirm file of this config."""
    from dynloss.verdicts.inputs import ROLES

    role = {n: PLAN.study(n).verdict_input for n in studies_with("verdict_input")}
    rank = {r: i for i, r in enumerate(ROLES)}  # the command's own flags first, then a kind's own roles
    inputs = {
        f"{role[n]}_{n}": PLAN.dataset(n) for n in sorted(role, key=lambda n: (rank.get(role[n], len(rank)), role[n]))
    }
    inputs.update({f"confirm_{k}": f"{R}/confirm/{k}.nc" for k in confirm_keys()})
    return {k: source(v) for k, v in inputs.items()}


def verdict_args(input):
    """The reproduction command's arguments for its named inputs."""
    from dynloss.verdicts.inputs import ROLES

    args = []
    for name, path in input.items():
        role, _, key = name.partition("_")
        key = PLAN.study(key).verdict_name() if role != "confirm" else key  # studies of one figure pool
        args += [f"--{role}", f"{key}={path}"] if role in ROLES else ["--input", f"{role}:{key}={path}"]
    for n in studies_with("fits_eta_law"):
        args += ["--primary", f"{n}={config['studies'][n]['primary_onset']}"]
    return shell_args(args + ["--settings", json.dumps(config["verdicts"], sort_keys=True)])


def synthetic_studies():
    return studies_with("synthetic_data")


def all_targets():
    targets = [f"{R}/reproduction.csv", f"{R}/reproduction.html"]
    for name in PLAN.figure_names():
        targets += PLAN.figure_files(name) + PLAN.extra_targets(name)
    return targets


def skipped_study(name):
    """Input function of the named target of a study that does not run here: its reason, as an error."""

    def explain(wc):
        raise WorkflowError(PLAN.skipped()[name])

    return explain

# The sensitivity studies (issue 15): one training job per case, a (case, seed) dataset per study,
# the infinite-width reference (neural-tangents), a figure per study, the table and the conclusion.
#   snakemake sensitivity_mse --cores 2
from dynloss import sensitivity as dl_sens  # noqa: E402

SENS = studies_of("sensitivity")
SENS_DIR = f"{R}/sensitivity"


def sens_cases(study):
    return dl_sens.cases(config["studies"][study])


def sens_runs(wc):
    return [dl_sens.run_path(R, wc.study, c) for c in sens_cases(wc.study)]


def sens_args(wc):
    match = [c for c in sens_cases(wc.study) if c.slug == wc.case]
    if not match:
        raise WorkflowError(f"no case {wc.case!r} in sensitivity study {wc.study!r}")
    return shell_args(dl_sens.train_args(config, wc.study, match[0]))


def infinite_studies():
    """Studies with an infinite-width reference: sensitivity studies that ask for it, and the static
    MSE curves studies (figure 4.1)."""
    return [n for n in SENS if config["studies"][n]["infinite"]] + \
        [n for n in studies_of("curves") if config["studies"][n]["loss"] == "mse"]


def infinite_args(wc):
    st = config["studies"][wc.study]
    widths = st["widths"] if "widths" in st else [st["width"]]
    meta = {"study": wc.study, "scale": config["scale"], "study_config": st}
    return shell_args(["--widths", ",".join(map(str, widths)), "--lr", dl.fmt(st["lr"]), "--steps", str(st["steps"]),
                       "--seeds", str(st["seeds"]), "--data", json.dumps(config["data"]), "--meta", json.dumps(meta)])


def infinite_of(study):
    return [f"{R}/{study}/{study}_infinite.nc"] if study in infinite_studies() else []


def sens_targets():
    out = [f"{SENS_DIR}/sensitivity.csv", f"{SENS_DIR}/sensitivity.md", f"{SENS_DIR}/conclusion.md"]
    for n in SENS:
        out += dl.figure_files(config, n)
    return out


def curves_infinite_targets():
    """Figure 4.1 (and any static-MSE curves study) with the infinite-width reference beside each width."""
    return [f"{R}/figures/{n}_infinite.{ext}" for n in infinite_studies() if n not in SENS for ext in ("pdf", "png")]


rule train_sensitivity:
    output:
        f"{R}/{{study}}/runs/{{case}}.nc",
    log:
        f"{R}/logs/{{study}}/{{case}}.log",
    wildcard_constraints:
        study=alternatives(SENS),
        case=alternatives(sorted({c.slug for n in SENS for c in sens_cases(n)})),
    params:
        args=sens_args,
    resources:
        gpu=1,
    threads: 1
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss train {params.args} --out {output} > {log} 2>&1"


rule aggregate_sensitivity:
    input:
        sens_runs,
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/aggregate.log",
    wildcard_constraints:
        study=alternatives(SENS),
    params:
        meta=lambda wc: quoted_json({"study": wc.study, "scale": config["scale"],
                                     "study_config": config["studies"][wc.study], "data": config["data"]}),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss sensitivity-combine {input} --meta {params.meta} --out {output} > {log} 2>&1"


rule infinite_width:
    output:
        f"{R}/{{study}}/{{study}}_infinite.nc",
    log:
        f"{R}/logs/{{study}}/infinite.log",
    wildcard_constraints:
        study=alternatives(infinite_studies()),
    params:
        args=infinite_args,
    conda:
        TRAIN_ENV
    # exits 2 with "needs neural-tangents (an optional extra): pip install ..." when it is missing
    shell:
        "python -m dynloss infinite {params.args} --out {output} > {log} 2>&1"


rule figure_sensitivity:
    input:
        lambda wc: [dl.dataset_path(config, wc.study)] + infinite_of(wc.study),
    output:
        pdf=f"{R}/figures/{{study}}.pdf",
        png=report(f"{R}/figures/{{study}}.png", caption="../report/sensitivity.rst", category="Sensitivity"),
    log:
        f"{R}/logs/figures/{{study}}.log",
    wildcard_constraints:
        study=alternatives(SENS),
    params:
        title=lambda wc: shlex.quote(config["studies"][wc.study].get("title") or wc.study),
        options=lambda wc: quoted_json(config["studies"][wc.study]),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss figure sensitivity {input} --pdf {output.pdf} --png {output.png} "
        "--title {params.title} --options {params.options} > {log} 2>&1"


rule figure_curves_infinite:
    input:
        lambda wc: [dl.dataset_path(config, wc.study), f"{R}/{wc.study}/{wc.study}_infinite.nc"],
    output:
        pdf=f"{R}/figures/{{study}}_infinite.pdf",
        png=report(f"{R}/figures/{{study}}_infinite.png", caption="../report/sensitivity.rst",
                   category="Sensitivity"),
    log:
        f"{R}/logs/figures/{{study}}_infinite.log",
    wildcard_constraints:
        study=alternatives([n for n in infinite_studies() if n not in SENS]),
    params:
        title=lambda wc: shlex.quote((config["studies"][wc.study].get("title") or wc.study)
                                     + " (dashed: infinite-width kernel regime)"),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss figure curves_infinite {input} --pdf {output.pdf} --png {output.png} "
        "--title {params.title} --options '{{}}' > {log} 2>&1"


rule sensitivity_report:
    input:
        unpack(lambda wc: {**{n: dl.dataset_path(config, n) for n in SENS},
                           **{f"inf_{n}": f"{R}/{n}/{n}_infinite.nc" for n in SENS if config["studies"][n]["infinite"]}}),
    output:
        csv=report(f"{SENS_DIR}/sensitivity.csv", caption="../report/sensitivity.rst", category="Sensitivity"),
        md=f"{SENS_DIR}/sensitivity.md",
        conclusion=report(f"{SENS_DIR}/conclusion.md", caption="../report/sensitivity.rst", category="Sensitivity"),
    log:
        f"{R}/logs/sensitivity_report.log",
    params:
        pairs=lambda wc, input: " ".join(f"{k}={v}" for k, v in input.items() if not k.startswith("inf_")),
        inf=lambda wc, input: " ".join(f"{k[4:]}={v}" for k, v in input.items() if k.startswith("inf_")),
        control=lambda wc: ([n for n in SENS if config["studies"][n]["control"]] or [""])[0],
        scale=config["scale"],
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss sensitivity-report {params.pairs} --infinite {params.inf} --control '{params.control}' "
        "--csv {output.csv} --md {output.md} --conclusion {output.conclusion} --scale {params.scale} > {log} 2>&1"


rule sensitivity_mse:
    input:
        sens_targets(),
    default_target: False


rule fig4_1_infinite:
    input:
        curves_infinite_targets(),
    default_target: False

# The sensitivity studies: one training job per case (rule train_job), a (case, seed) dataset per study,
# the infinite-width reference (neural-tangents), a figure per study, the table and the conclusion.
#   snakemake sensitivity_mse --cores 2       snakemake fig4_1_infinite --cores 2
# Input functions: workflow/rules/sensitivity_common.smk.


rule aggregate_sensitivity:
    input:
        lambda wc: PLAN.job_files(wc.study),
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/aggregate.log",
    wildcard_constraints:
        study=alternatives(SENS),
    conda:
        "../../envs/cpu.yaml"
    params:
        # without the title: a title edit redraws the figure, nothing else
        meta=lambda wc: quoted_json(PLAN.aggregate_meta(wc.study)),
    shell:
        "python -m dynloss sensitivity-combine {input:q} --meta {params.meta} --out {output:q} > {log:q} 2>&1"


rule infinite_width:
    output:
        f"{R}/{{study}}/{{study}}_infinite.nc",
    log:
        f"{R}/logs/{{study}}/infinite.log",
    wildcard_constraints:
        study=alternatives(infinite_studies()),
    conda:
        "../../envs/reference.yaml"
    params:
        args=infinite_args,
    # exits 2 with "needs neural-tangents (an optional extra): pip install ..." when it is missing
    shell:
        "python -m dynloss infinite {params.args} --out {output:q} > {log:q} 2>&1"


rule figure_sensitivity:
    input:
        lambda wc: PLAN.figure_inputs(wc.study),
    output:
        pdf=f"{R}/figures/{{study}}.pdf",
        png=report(f"{R}/figures/{{study}}.png", caption="../report/sensitivity.rst", category="Sensitivity"),
    log:
        f"{R}/logs/figures/{{study}}.log",
    wildcard_constraints:
        study=alternatives(SENS),
    conda:
        "../../envs/cpu.yaml"
    params:
        title=lambda wc: shlex.quote(config["studies"][wc.study].get("title") or wc.study),
        options=lambda wc: quoted_json(config["studies"][wc.study]),
    shell:
        "python -m dynloss figure sensitivity {input:q} --pdf {output.pdf:q} --png {output.png:q} "
        "--title {params.title} --options {params.options} > {log:q} 2>&1"


rule figure_curves_infinite:
    input:
        lambda wc: [PLAN.dataset(wc.study), f"{R}/{wc.study}/{wc.study}_infinite.nc"],
    output:
        pdf=f"{R}/figures/{{study}}_infinite.pdf",
        png=report(f"{R}/figures/{{study}}_infinite.png", caption="../report/sensitivity.rst", category="Sensitivity"),
    log:
        f"{R}/logs/figures/{{study}}_infinite.log",
    wildcard_constraints:
        study=alternatives([n for n in infinite_studies() if n not in SENS]),
    conda:
        "../../envs/cpu.yaml"
    params:
        title=lambda wc: shlex.quote(
            (config["studies"][wc.study].get("title") or wc.study) + " (dashed: infinite-width kernel regime)"
        ),
    shell:
        "python -m dynloss figure curves_infinite {input:q} --pdf {output.pdf:q} --png {output.png:q} "
        "--title {params.title} --options '{{}}' > {log:q} 2>&1"


rule sensitivity_report:
    input:
        unpack(
            lambda wc: {
                **{n: PLAN.dataset(n) for n in SENS},
                **{f"inf_{n}": f"{R}/{n}/{n}_infinite.nc" for n in SENS if config["studies"][n]["infinite"]},
            }
        ),
    output:
        csv=report(f"{SENS_DIR}/sensitivity.csv", caption="../report/sensitivity.rst", category="Sensitivity"),
        md=f"{SENS_DIR}/sensitivity.md",
        conclusion=report(f"{SENS_DIR}/conclusion.md", caption="../report/sensitivity.rst", category="Sensitivity"),
    log:
        f"{R}/logs/sensitivity_report.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        pairs=lambda wc, input: shell_args(f"{k}={v}" for k, v in input.items() if not k.startswith("inf_")),
        inf=lambda wc, input: shell_args(f"{k[4:]}={v}" for k, v in input.items() if k.startswith("inf_")),
        control=lambda wc: ([n for n in SENS if config["studies"][n]["control"]] or [""])[0],
        scale=config["scale"],
    shell:
        "python -m dynloss sensitivity-report {params.pairs} --infinite {params.inf} --control '{params.control}' "
        "--csv {output.csv:q} --md {output.md:q} --conclusion {output.conclusion:q} --scale {params.scale} > {log:q} 2>&1"


rule sensitivity_mse:
    default_target: False
    input:
        sens_targets(),


rule fig4_1_infinite:
    default_target: False
    input:
        curves_infinite_targets(),

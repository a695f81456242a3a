# Figure rules (PDF + PNG per figure) and one short named target per figure (snakemake fig3_4).


rule figure:
    input:
        lambda wc: [source(p) for p in PLAN.figure_inputs(wc.name)],
    output:
        pdf=f"{R}/figures/{{name}}.pdf",
        png=report(f"{R}/figures/{{name}}.png", caption="../report/figure.rst", category="Figures"),
    log:
        f"{R}/logs/figures/{{name}}.log",
    wildcard_constraints:
        name=alternatives(PLAN.figure_names()),
    conda:
        "../../envs/cpu.yaml"
    params:
        kind=lambda wc: PLAN.figure_kind(wc.name),
        title=lambda wc: shlex.quote(figure_spec(wc.name).get("title") or wc.name),
        options=lambda wc: quoted_json(PLAN.figure_options(wc.name)),
        caption=lambda wc: caption(wc.name),
    shell:
        "python -m dynloss figure {params.kind} {input:q} --pdf {output.pdf:q} --png {output.png:q} "
        "--title {params.title} --options {params.options} > {log:q} 2>&1"


for _name in PLAN.figure_names():

    rule:
        name:
            _name
        default_target: False
        input:
            PLAN.figure_files(_name) + PLAN.extra_targets(_name),

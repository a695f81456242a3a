# Combine a study's jobs into one labelled dataset with dims (loss, width, lr, A, T, seed, step)
# (the dims of each kind: dynloss.plan.kinds).


rule aggregate:
    input:
        lambda wc: PLAN.job_files(wc.study),
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/aggregate.log",
    wildcard_constraints:
        study=alternatives([n for n in PLAN.trained_studies() if PLAN.study(n).aggregate_dims]),
    conda:
        "../../envs/cpu.yaml"
    params:
        dims=lambda wc: ",".join(PLAN.study(wc.study).aggregate_dims),
        meta=lambda wc: quoted_json(PLAN.aggregate_meta(wc.study)),
    shell:
        "python -m dynloss aggregate {input:q} --dims {params.dims} --out {output:q} --meta {params.meta} > {log:q} 2>&1"


rule fit_thresholds:
    input:
        lambda wc: source(PLAN.dataset(wc.study)),
    output:
        report(f"{R}/{{study}}/{{study}}_fit.csv", caption="../report/fit.rst", category="Thresholds"),
    log:
        f"{R}/logs/{{study}}/fit.log",
    wildcard_constraints:
        study=alternatives(studies_with("fits_eta_law")),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss fit-thresholds {input:q} --csv {output:q} > {log:q} 2>&1"

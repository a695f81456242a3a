# Combine a study's jobs into one labelled dataset with dims (loss, width, lr, A, T, seed, step).


rule aggregate_points:
    input:
        lambda wc: dl.job_files(config, wc.study),
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/aggregate.log",
    wildcard_constraints:
        study=alternatives(studies_of("contour", "curves", "myrtle")),
    params:
        dims=lambda wc: AGGREGATE_DIMS[study_kind(wc.study)],
        meta=lambda wc: quoted_json(dl.aggregate_meta(config, wc.study)),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss aggregate {input} --dims {params.dims} --out {output} --meta {params.meta} > {log} 2>&1"


rule aggregate_thresholds:
    input:
        lambda wc: dl.job_files(config, wc.study),
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/aggregate.log",
    wildcard_constraints:
        study=alternatives(studies_of("thresholds")),
    params:
        dims=AGGREGATE_DIMS["thresholds"],
        meta=lambda wc: quoted_json(dl.aggregate_meta(config, wc.study)),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss aggregate {input} --dims {params.dims} --out {output} --meta {params.meta} > {log} 2>&1"


rule fit_thresholds:
    input:
        f"{R}/{{study}}/{{study}}.nc",
    output:
        report(f"{R}/{{study}}/{{study}}_fit.csv", caption="../report/fit.rst", category="Thresholds"),
    log:
        f"{R}/logs/{{study}}/fit.log",
    wildcard_constraints:
        study=alternatives(studies_of("thresholds")),
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss fit-thresholds {input} --csv {output} > {log} 2>&1"

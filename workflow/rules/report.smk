# The reproduction table: every claim of the thesis beside the measured value and its verdict
# (CSV, Markdown, HTML), the eta-law rows read from the thresholds studies' fit tables.


rule reproduction:
    input:
        unpack(lambda wc: verdict_inputs()),
    output:
        csv=report(f"{R}/reproduction.csv", caption="../report/reproduction.rst", category="Reproduction"),
        md=f"{R}/reproduction.md",
        html=report(f"{R}/reproduction.html", caption="../report/reproduction.rst", category="Reproduction"),
    log:
        f"{R}/logs/reproduction.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        args=lambda wc, input: verdict_args(input),
        scale=config["scale"],
    shell:
        "python -m dynloss reproduction {params.args} --csv {output.csv:q} --md {output.md:q} "
        "--html {output.html:q} --scale {params.scale} > {log:q} 2>&1"


# Fresh seeds at the grid point a best/worst/gain claim chooses on its study's seeds (docs/verdicts.md):
# as many seeds as the study has, from verdicts.fresh_seed_offset on, unless the claim names its own (and,
# where its unit is the (data set, seed) pair, on each of its fresh training sets).
rule confirm:
    input:
        studies=lambda wc: [PLAN.dataset(n) for n in confirm_keys()[wc.key][1]],
        job=lambda wc: next(
            j.out
            for n in confirm_keys()[wc.key][1]
            for j in PLAN.jobs(n)
            if j.request.spec.width == confirm_keys()[wc.key][0].width
        ),
    output:
        f"{R}/confirm/{{key}}.nc",
    log:
        f"{R}/logs/confirm/{{key}}.log",
    wildcard_constraints:
        key=alternatives(list(confirm_keys())),
    conda:
        TRAIN_ENV
    resources:
        **GPU,
    params:
        studies=lambda wc, input: shell_args(
            [f"--study={n}={p}" for n, p in zip(confirm_keys()[wc.key][1], input.studies)]
        ),
        seeds=lambda wc: confirm_seeds(wc.key),
    shell:
        "python -m dynloss confirm {wildcards.key} {params.studies} --job {input.job:q} --seeds {params.seeds} "
        "--out {output:q} > {log:q} 2>&1"


# Every onset definition's eta law, both estimands, one row per (study, width, definition).
rule thresholds_table:
    input:
        lambda wc: [PLAN.study(n).fit_csv() for n in studies_with("fits_eta_law")],
    output:
        f"{R}/thresholds.md",
    log:
        f"{R}/logs/thresholds_table.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        primary=lambda wc: shell_args(
            [f"--primary={n}={config['studies'][n]['primary_onset']}" for n in studies_with("fits_eta_law")]
        ),
    shell:
        "python -m dynloss thresholds-table {input:q} {params.primary} --md {output:q} > {log:q} 2>&1"


# Another publication's eta laws beside this run's, per onset definition (config key compare_with).
if config["compare_with"]:

    rule law_comparison:
        input:
            exploratory=compared_datasets(),
            confirmatory=lambda wc: [source(PLAN.dataset(n)) for n in studies_with("fits_eta_law")],
        output:
            f"{R}/law_comparison.md",
        log:
            f"{R}/logs/law_comparison.log",
        localrule: True
        conda:
            "../../envs/cpu.yaml"
        params:
            args=lambda wc, input: shell_args(
                [f"--exploratory={p}" for p in input.exploratory]
                + [f"--confirmatory={p}" for p in input.confirmatory]
                + law_primaries()
                + ["--settings", json.dumps(config["verdicts"], sort_keys=True)]
            ),
        shell:
            "python -m dynloss law-compare {params.args} --md {output:q} > {log:q} 2>&1"


# `snakemake publish`: the table, the fit tables, every figure PNG and the reduced data into publish_dir
# (docs/reproduction by default) with an index README.md stamping each item and a manifest.json, staged
# beside it and swapped in whole. publish_from=data re-renders from the reduced data already there, without
# training. The publication's manifest is an input (publish_guard: another label is refused when the workflow
# plans); the output is a receipt under the results, so Snakemake never deletes a file of the publication.
rule publish:
    input:
        manifest=publish_guard,
        published=lambda wc: publish_items(),
    output:
        f"{R}/published.json",
    log:
        f"{R}/logs/publish.log",
    conda:
        "../../envs/cpu.yaml"
    params:
        out=shlex.quote(config["publish_dir"]),
        scale=config["scale"],
        label=shlex.quote(publication_label()),
        legacy=shlex.quote(legacy_label()),
        overwrite="--overwrite" if config["publish_overwrite"] else "",
        readme=f"--readme {shlex.quote(config['publish_readme'])}" if config["publish_readme"] else "",
    shell:
        "python -m dynloss publish {input.published:q} --out {params.out} --scale {params.scale} --label {params.label} "
        "--legacy-label {params.legacy} {params.overwrite} {params.readme} --receipt {output:q} > {log:q} 2>&1"


if not FROM_DATA:

    # A study dataset reduced to what the publication keeps (contour studies: the final metrics), compressed.
    rule reduce:
        input:
            lambda wc: {v: k for k, v in published_datasets().items()}[f"{DATA}/{wc.name}.nc"],
        output:
            f"{DATA}/{{name}}.nc",
        log:
            f"{R}/logs/reduce/{{name}}.log",
        wildcard_constraints:
            name=alternatives([Path(p).stem for p in published_datasets().values()]),
        localrule: True
        conda:
            "../../envs/cpu.yaml"
        params:
            keep=lambda wc: PLAN.study(wc.name).publish_keep() if wc.name in config["studies"] else "all",
        shell:
            "python -m dynloss reduce {input:q} --keep {params.keep} --out {output:q} > {log:q} 2>&1"

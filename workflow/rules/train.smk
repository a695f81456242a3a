# Training jobs: the plan (dynloss.plan) lists every job of every study; one rule runs any of them,
# handed over by reference (study and stem; dynloss job reads it from the stored plan, $DYNLOSS_PLAN).
# A job is one (A, T) point or a whole grid of one width (config key granularity), a seed block
# vmapped inside; thresholds jobs are blocks of (A, T, seed) runs at one eta.


rule train_job:
    input:
        lambda wc: list(planned_job(wc).inputs),
    output:
        f"{R}/{{study}}/runs/{{job}}.nc",
    log:
        f"{R}/logs/{{study}}/{{job}}.log",
    wildcard_constraints:
        study=alternatives(PLAN.trained_studies()),
        job=r"[^/]+",
    conda:
        TRAIN_ENV
    threads: 1
    resources:
        **GPU,
        mem_mb=job_mem_mb(planned_job),
        runtime=job_runtime(planned_job),
    params:
        # what identifies the job (its arguments with execution settings such as --chunk-steps at a
        # fixed value, and its hash): a change reruns it; the job itself is read from the plan
        command=lambda wc: planned_job(wc).command,
        args=lambda wc: shell_args(planned_job(wc).identity()),
    shell:
        "python -m dynloss job {wildcards.study:q} {wildcards.job:q} --out {output:q} > {log:q} 2>&1"


rule dynamics:
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/dynamics.log",
    wildcard_constraints:
        study=alternatives([n for n in PLAN.studies() if not PLAN.study(n).trains_runs]),
    conda:
        TRAIN_ENV
    # the spectra are measured on a second thread while the next chunk trains (dynloss.engine)
    threads: 2
    resources:
        **GPU,
        mem_mb=job_mem_mb(dynamics_job),
        runtime=job_runtime(dynamics_job),
    params:
        args=lambda wc: shell_args(dynamics_job(wc).identity()),
    shell:
        "python -m dynloss job {wildcards.study:q} --out {output:q} > {log:q} 2>&1"


rule synthetic_cifar:
    output:
        directory(f"{R}/cifar_synthetic/{{study}}"),
    log:
        f"{R}/logs/{{study}}/synthetic_cifar.log",
    wildcard_constraints:
        study=alternatives(synthetic_studies()),
    conda:
        TRAIN_ENV
    params:
        size=lambda wc: config["studies"][wc.study]["synthetic"],
    shell:
        "python -m dynloss synthetic-cifar --out {output:q} --image-size {params.size[image_size]} "
        "--num-train-per-batch {params.size[num_train_per_batch]} --num-test {params.size[num_test]} > {log:q} 2>&1"


# A myrtle study without its CIFAR-10 folder is skipped; asking for it by name says which key to set.
for _name in PLAN.skipped():

    rule:
        name:
            _name
        default_target: False
        input:
            skipped_study(_name),


# The onset definitions a thresholds study computes after training (config key analyse_onsets), from the
# job's kept traces, one file per (job, definition): a definition added or changed computes that one only, and
# reruns no training.
rule onsets:
    input:
        lambda wc: planned_job(wc).out,
    output:
        f"{R}/{{study}}/onsets/{{job}}/{{definition}}.nc",
    log:
        f"{R}/logs/{{study}}/onsets_{{job}}_{{definition}}.log",
    wildcard_constraints:
        study=alternatives(analysed_studies()),
        job=r"[^/]+",
        definition=alternatives(analysed_definitions()),
    conda:
        TRAIN_ENV
    threads: 1
    resources:
        **GPU,
    params:
        traces=lambda wc: shlex.quote(planned_job(wc).request.traces_out),
        runs=lambda wc: onset_runs_arg(wc),
    shell:
        "python -m dynloss onsets {input:q} --traces {params.traces} --onset {wildcards.definition} {params.runs}"
        "--out {output:q} > {log:q} 2>&1"


# One job's definitions joined into the file the study combines.
rule merge_onsets:
    input:
        job=lambda wc: planned_job(wc).out,
        parts=lambda wc: onset_parts(wc),
    output:
        f"{R}/{{study}}/onsets/{{job}}.nc",
    log:
        f"{R}/logs/{{study}}/onsets_{{job}}.log",
    wildcard_constraints:
        study=alternatives(analysed_studies()),
        job=r"[^/]+",
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss merge-onsets {input.job:q} {input.parts:q} --out {output:q} > {log:q} 2>&1"

# Training jobs: the plan (dynloss.plan) lists every job of every study; one rule runs any of them.
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
    params:
        command=lambda wc: planned_job(wc).command,
        args=lambda wc: shell_args(planned_job(wc).argv()),
    resources:
        gpu=1,
    threads: 1
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss {params.command} {params.args} --out {output:q} > {log:q} 2>&1"


rule dynamics:
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/dynamics.log",
    wildcard_constraints:
        study=alternatives(studies_of("dynamics")),
    params:
        args=lambda wc: shell_args(PLAN.jobs(wc.study)[0].argv()),
    resources:
        gpu=1,
    # the spectra are measured on a second thread while the next chunk trains (dynloss.engine)
    threads: 2
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss train {params.args} --out {output:q} > {log:q} 2>&1"


rule synthetic_cifar:
    output:
        directory(f"{R}/cifar_synthetic/{{study}}"),
    log:
        f"{R}/logs/{{study}}/synthetic_cifar.log",
    wildcard_constraints:
        study=alternatives(synthetic_studies()),
    params:
        size=lambda wc: config["studies"][wc.study]["synthetic"],
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss synthetic-cifar --out {output:q} --image-size {params.size[image_size]} "
        "--num-train-per-batch {params.size[num_train_per_batch]} --num-test {params.size[num_test]} > {log:q} 2>&1"


# A myrtle study without its CIFAR-10 folder is skipped; asking for it by name says which key to set.
for _name in [n for n, st in config["studies"].items() if st["kind"] == "myrtle" and not st.get("cifar_dir")]:

    rule:
        name:
            _name
        input:
            needs_cifar_dir(_name),
        default_target: False

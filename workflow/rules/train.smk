# Training jobs: one per (study, loss, width, lr, A, T, seed block); seeds are vmapped inside.


rule train_point:
    output:
        f"{R}/{{study}}/runs/{{loss}}_w{{width}}_lr{{lr}}_A{{A}}_T{{T}}_s{{seeds}}.nc",
    log:
        f"{R}/logs/{{study}}/{{loss}}_w{{width}}_lr{{lr}}_A{{A}}_T{{T}}_s{{seeds}}.log",
    wildcard_constraints:
        study=alternatives(studies_of("contour", "curves")),
        loss="[a-z0-9]+",
        width=r"\d+",
        lr=NUM,
        A=NUM,
        T=NUM,
        seeds=r"\d+-\d+",
    params:
        args=train_args,
    resources:
        gpu=1,
    threads: 1
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss train {params.args} --out {output} > {log} 2>&1"


rule dynamics:
    output:
        f"{R}/{{study}}/{{study}}.nc",
    log:
        f"{R}/logs/{{study}}/dynamics.log",
    wildcard_constraints:
        study=alternatives(studies_of("dynamics")),
    params:
        args=dynamics_args,
    resources:
        gpu=1,
    # the spectra are measured on a second thread while the next chunk trains (dynloss.train)
    threads: 2
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss train {params.args} --out {output} > {log} 2>&1"


rule thresholds_job:
    output:
        f"{R}/{{study}}/runs/{{loss}}_w{{width}}_lr{{lr}}_b{{block}}.nc",
    log:
        f"{R}/logs/{{study}}/{{loss}}_w{{width}}_lr{{lr}}_b{{block}}.log",
    wildcard_constraints:
        study=alternatives(studies_of("thresholds")),
        loss="[a-z0-9]+",
        width=r"\d+",
        lr=NUM,
        block=r"\d+",
    params:
        args=threshold_args,
    resources:
        gpu=1,
    threads: 1
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss thresholds {params.args} --out {output} > {log} 2>&1"


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
        "python -m dynloss synthetic-cifar --out {output} --image-size {params.size[image_size]} "
        "--num-train-per-batch {params.size[num_train_per_batch]} --num-test {params.size[num_test]} > {log} 2>&1"


rule myrtle_job:
    input:
        cifar_input,
    output:
        f"{R}/{{study}}/runs/{{loss}}_w{{width}}_lr{{lr}}_A{{A}}_T{{T}}_s{{seeds}}.nc",
    log:
        f"{R}/logs/{{study}}/{{loss}}_w{{width}}_lr{{lr}}_A{{A}}_T{{T}}_s{{seeds}}.log",
    wildcard_constraints:
        study=alternatives(studies_of("myrtle")),
        loss="[a-z0-9]+",
        width=r"\d+",
        lr=NUM,
        A=NUM,
        T=NUM,
        seeds=r"\d+-\d+",
    params:
        args=myrtle_args,
    resources:
        gpu=1,
    threads: 1
    conda:
        TRAIN_ENV
    shell:
        "python -m dynloss myrtle {params.args} --out {output} > {log} 2>&1"


# A myrtle study without its CIFAR-10 folder is skipped; asking for it by name says which key to set.
for _name in studies_without_cifar():

    rule:
        name:
            _name
        input:
            needs_cifar_dir(_name),
        default_target: False

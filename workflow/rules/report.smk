# The reproduction table: every claim of the thesis beside the measured value (CSV + HTML).


rule reproduction:
    input:
        unpack(lambda wc: {name: dl.dataset_path(config, name) for name in reproduction_studies()}),
    output:
        csv=report(f"{R}/reproduction.csv", caption="../report/reproduction.rst", category="Reproduction"),
        html=report(f"{R}/reproduction.html", caption="../report/reproduction.rst", category="Reproduction"),
    log:
        f"{R}/logs/reproduction.log",
    params:
        pairs=lambda wc, input: " ".join(f"{k}={v}" for k, v in input.items()),
        scale=config["scale"],
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss reproduction {params.pairs} --csv {output.csv} --html {output.html} "
        "--scale {params.scale} > {log} 2>&1"

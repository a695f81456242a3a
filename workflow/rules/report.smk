# The reproduction table: every claim of the thesis beside the measured value and its verdict
# (CSV, Markdown, HTML), the eta-law rows read from the thresholds studies' fit tables.


rule reproduction:
    input:
        unpack(lambda wc: {name: PLAN.dataset(name) for name in reproduction_studies()}),
        unpack(lambda wc: {f"fit_{n}": p for n, p in reproduction_fits().items()}),
    output:
        csv=report(f"{R}/reproduction.csv", caption="../report/reproduction.rst", category="Reproduction"),
        md=f"{R}/reproduction.md",
        html=report(f"{R}/reproduction.html", caption="../report/reproduction.rst", category="Reproduction"),
    log:
        f"{R}/logs/reproduction.log",
    params:
        pairs=lambda wc, input: " ".join(f"{k}={v}" for k, v in input.items() if not k.startswith("fit_")),
        fits=lambda wc, input: " ".join(f"--fit {k[4:]}={v}" for k, v in input.items() if k.startswith("fit_")),
        scale=config["scale"],
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss reproduction {params.pairs} {params.fits} --csv {output.csv} --md {output.md} "
        "--html {output.html} --scale {params.scale} > {log} 2>&1"


# `snakemake publish`: the table, the fit tables and every figure PNG into publish_dir
# (docs/reproduction by default) with an index README.md stamping each item.
rule publish:
    input:
        f"{R}/reproduction.csv",
        f"{R}/reproduction.md",
        lambda wc: [PLAN.study(n).fit_csv() for n in studies_of("thresholds")],
        lambda wc: [f"{R}/figures/{n}.png" for n in PLAN.figure_names()],
    output:
        f"{config['publish_dir']}/README.md",
    log:
        f"{R}/logs/publish.log",
    params:
        out=lambda wc, output: str(Path(output[0]).parent),
        scale=config["scale"],
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m dynloss publish {input} --out {params.out} --scale {params.scale} > {log} 2>&1"

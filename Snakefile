# dynloss: every figure of the thesis on dynamical loss functions, from config to PDF.
#   snakemake --cores 4 --resources gpu=1          paper scale
#   snakemake --cores 2 --config scale=quick       minutes on a laptop
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        all_targets(),
    default_target: True

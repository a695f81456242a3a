# dynloss: every figure of the thesis on dynamical loss functions, from config to PDF.
#   snakemake --cores 4 --resources gpu=1          paper scale
#   snakemake --cores 2 --config scale=quick       minutes on a laptop
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/sensitivity_common.smk"
include: "workflow/rules/sensitivity.smk"


# Cheap rules run on the submitting host, also under a cluster executor.
localrules:
    all,
    aggregate,
    fit_thresholds,
    figure,
    reproduction,
    publish,
    aggregate_sensitivity,
    figure_sensitivity,
    figure_curves_infinite,
    sensitivity_report,


rule all:
    default_target: True
    input:
        all_targets(),

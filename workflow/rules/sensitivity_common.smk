# Input functions and target lists of workflow/rules/sensitivity.smk (the sensitivity studies).

SENS = [n for n in PLAN.studies() if not PLAN.study(n).in_all]  # their own targets
SENS_DIR = f"{R}/sensitivity"


def infinite_studies():
    """Studies with an infinite-width reference: sensitivity studies that ask for it, and the static
    MSE curves studies (figure 4.1)."""
    return studies_with("infinite_reference")


def infinite_args(wc):
    return shell_args(PLAN.infinite_args(wc.study))


def sens_targets():
    out = [f"{SENS_DIR}/sensitivity.csv", f"{SENS_DIR}/sensitivity.md", f"{SENS_DIR}/conclusion.md"]
    for n in SENS:
        out += PLAN.figure_files(n)
    return out


def curves_infinite_targets():
    """Figure 4.1 (and any static-MSE curves study) with the infinite-width reference beside each width."""
    return [f"{R}/figures/{n}_infinite.{ext}" for n in infinite_studies() if n not in SENS for ext in ("pdf", "png")]

"""Claims of this project's own, beyond the thesis, along its own future lines (its section 8.1): the 8 x 8
handwritten digits and the dynamical hinge loss. Every rule, band and unit was fixed in docs/verdicts.md
("Beyond the thesis") before any of their runs; the widths and learning rates are the ones its rules chose
(``scripts/digits_select.py``, docs/digits/selection.md), written here after that selection and before any
dynamical run.

- D1 (per loss, digits, under-parameterised width): the test accuracy of the best (A, T) grid point with A > 1,
  chosen on the contour study's seeds, minus A = 1, judged on fresh seeds on fresh splits; band (0, inf).
- D2 (the same at the over-parameterised width): band [-0.01, 0.01] (equivalence).
- D3 (per loss, digits, under-parameterised width): the eta law, slope -1 +- 0.15 (the thesis's law rows' rules).
- H1, H2: D1 and D2 for ``dhinge`` on the thesis's spiral at widths 100 and 1000.

Their rows form a section of their own in the table; their verdicts read holds / does not hold / undecided.
"""
from __future__ import annotations

from .claims import BEYOND_SOURCE, INF, TEST, Claim, LawClaim, Protocol

#: the digits studies' steps (docs/verdicts.md: the selection runs' protocol)
DIGITS_STEPS = 5000
#: the judged runs' fresh training sets (split seeds; spiral noise seeds for H1, H2) and fresh seeds
FRESH_DATA = (101, 102, 103, 104, 105)
FRESH_FIRST = 3000
FRESH_SEEDS = 3

#: static loss -> {role: (width, learning rate)} chosen by the pre-registered rules (docs/digits/selection.md)
CHOSEN: dict[str, dict[str, tuple[int, float]]] = {
    "ce": {"under": (4, 0.5), "w*": (16, 1.0), "over": (128, 1.0)},
    "hinge": {"under": (4, 0.1), "w*": (16, 0.2), "over": (128, 0.2)},
}
#: the data set of the claims whose width rule had no answer (listed with any run on it)
NO_ANSWER_DATA = "digits"
#: static losses for which the width rule has no answer (their claims' rows say why they are not run)
NO_ANSWER = {"mse": "the width rule has no answer for the static MSE: no width up to 1024 reaches train accuracy "
                    "0.99 on every seed (docs/digits/selection.md)"}
#: the hinge loss on the spiral: figure 3.4's protocol at the rule's learning rate (docs/digits/selection.md)
SPIRAL_HINGE_LR: float = 2.0
SPIRAL_STEPS = 35000
#: the dynamical losses of each static one
DYNAMICAL = {"ce": ("dce",), "mse": ("dmse1", "dmse2"), "hinge": ("dhinge",)}
#: the eta law's (A, T) settings per eta (docs/verdicts.md, the digits campaign's grids)
LAW_SETTINGS = 6


def _source(claim: str) -> str:
    return f"{BEYOND_SOURCE}: {claim}"


def _gain(key: str, text: str, study: str, protocol: Protocol, band: str, value: float, thesis: str,
          claim: str) -> Claim:
    return Claim(key, text, study, protocol, TEST, "gain", band, value, thesis, _source(claim), len(FRESH_DATA),
                 A=(1.0001, INF), T=(0.0, INF), fresh_first=FRESH_FIRST, fresh_seeds=FRESH_SEEDS,
                 fresh_data=FRESH_DATA, beyond=True)


def _claims() -> tuple[Claim, ...]:
    out = []
    for static, losses in DYNAMICAL.items():
        roles = CHOSEN.get(static, {})
        for loss in losses:
            for role, claim, band, value, thesis in (("under", "D1", "sign", 1.0, "> 0"),
                                                      ("over", "D2", "equivalence", 0.01, "within +-0.01")):
                if static in NO_ANSWER:
                    out.append(Claim(f"{claim}_digits_{loss}", f"digits, {loss}, {role}-parameterised width: test "
                                     "gain of the best (A, T) over A = 1 (paired)", f"fig_digits_{loss}", None, TEST,
                                     "gain", band, value, thesis, _source(claim), len(FRESH_DATA), beyond=True,
                                     not_run_reason=NO_ANSWER[static]))
                    continue
                if role not in roles:
                    continue
                width, lr = roles[role]
                out.append(_gain(f"{claim}_digits_{loss}_w{width}", f"digits, {loss}, width {width} ({role}-"
                                 f"parameterised): test gain of the best (A, T) over A = 1 (paired)",
                                 f"fig_digits_{loss}_w{width}", Protocol(loss, width, lr, DIGITS_STEPS, data="digits"),
                                 band, value, thesis, claim))
    if SPIRAL_HINGE_LR:
        for width, claim, band, value, thesis in ((100, "H1", "sign", 1.0, "> 0"),
                                                  (1000, "H2", "equivalence", 0.01, "within +-0.01")):
            out.append(_gain(f"{claim}_spiral_dhinge_w{width}", f"spiral, dhinge, width {width}: test gain of the "
                             "best (A, T) over A = 1 (paired)", f"fig_hinge_spiral_w{width}",
                             Protocol("dhinge", width, SPIRAL_HINGE_LR, SPIRAL_STEPS), band, value, thesis, claim))
    return tuple(out)


def _laws() -> tuple[LawClaim, ...]:
    out = []
    for static, losses in DYNAMICAL.items():
        if static == "hinge":
            continue
        if static in NO_ANSWER:
            out += [LawClaim(f"fig_digits_eta_{loss}", f"digits, {loss}, under-parameterised width: slope of log mean "
                             "lambda_th vs log eta", _source("D3"), loss, 0, LAW_SETTINGS, data="digits", beyond=True,
                             not_run_reason=NO_ANSWER[static]) for loss in losses]
            continue
        width = CHOSEN[static]["under"][0]
        for loss in losses:
            out.append(LawClaim(f"fig_digits_eta_{loss}", f"digits, {loss}, width {width}: slope of log mean "
                                "lambda_th vs log eta", _source("D3"), loss, width, LAW_SETTINGS, data="digits",
                                beyond=True))
    return tuple(out)


CLAIMS: tuple[Claim, ...] = _claims()
LAW_CLAIMS: tuple[LawClaim, ...] = _laws()

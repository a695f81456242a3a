"""Every claim of the thesis's results that a number can check, with its source and type.

A claim names a protocol (loss, width, learning rate, steps), a quantity (final train or test
accuracy), where it is read (``static``: A = 1; ``best`` / ``worst``: a grid point of a region,
chosen on the study's seeds and judged on fresh ones; ``gain``: the best point minus A = 1, paired
by fresh seed; ``trend``: a named statistic; ``final``: the last step of a dynamics run) and a
band (docs/verdicts.md): ``approx`` "~v", ``lower`` "reaches / up to / > v", ``gain`` an increase
of ``v`` accuracy points, ``sign`` a trend's direction. The thesis's wording is quoted in each
``source``; the type follows from it, not from the numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

INF = math.inf


@dataclass(frozen=True)
class Protocol:
    """What makes two runs comparable: the loss family at A = 1 is the static loss; the data set
    (:mod:`dynloss.data`) is the thesis's spiral unless a claim names another."""

    loss: str
    width: int
    lr: float
    steps: int
    data: str = "spiral"

    def __str__(self) -> str:
        return f"{self.loss}, width {self.width}, eta {self.lr:g}, {self.steps} steps"


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    figure: str  # the figure (and study name) the claim belongs to
    protocol: Optional[Protocol]  # None: a protocol this project cannot run here (CIFAR-10)
    quantity: str  # final_train_acc | test_acc
    where: str  # static | best | worst | gain | trend | final | ntk_change | lambda_floor
    band: str  # approx | lower | gain | sign
    value: float  # v (approx, lower, gain) or the sign (-1 falls, +1 rises)
    thesis: str
    source: str
    thesis_seeds: int
    A: tuple[float, float] = (1.0, 1.0)
    T: tuple[float, float] = (0.0, INF)
    shares: str = ""  # another claim this one shares its measurement with (said in the row)
    #: the A axis of the thesis's figure, for a trend or region claim read over the whole figure: data over
    #: less of it make the row "partly run over A ..." (None: the thesis does not say; docs/verdicts.md)
    thesis_A: Optional[tuple[float, float]] = None
    #: the statistic of a qualitative claim, in words (named in docs/verdicts.md before its number)
    statistic: str = ""
    #: the fresh runs of a chosen point (best / worst / gain): their first seed (None: the config's
    #: ``verdicts.fresh_seed_offset``), how many (0: as many as the study has) and the values of the data set's
    #: ``seed_param`` they train on (empty: the study's own data; else the (data, seed) pair is the unit)
    fresh_first: Optional[int] = None
    fresh_seeds: int = 0
    fresh_data: tuple[int, ...] = ()
    #: a claim of this project beyond the thesis (docs/verdicts.md): its outcomes read holds / does not hold /
    #: undecided, in a section of its own
    beyond: bool = False
    #: why a claim without a protocol is not run (default: the CIFAR-10 folder it needs)
    not_run_reason: str = ""


TRAIN, TEST = "final_train_acc", "test_acc"
#: where a claim of this project's own says it comes from (``source``); its rows form their own section
BEYOND_SOURCE = "this project, pre-registered in docs/verdicts.md (Beyond the thesis)"
PERIOD_ONSETS = ("per oscillating period, the first step from which the loss alternates visibly (the apparent "
                 "definition applied within the period); the fraction of periods with one in which it lies in the "
                 "period's second half")
FALL_RISE = ("per oscillating period, whether lambda_max's minimum over the period's spectra samples lies strictly "
             "inside the period and is at least 5 % below both its values at the period's first and last samples")
CE = dict(lr=1.0, steps=35000)
MSE = dict(lr=0.075, steps=50000)
S34 = "thesis sec. 3.4.2 (fig. 3.4)"
S32 = "thesis sec. 3.4.1 (fig. 3.2)"
S41 = "thesis sec. 4.1 (fig. 4.1)"
S42 = "thesis sec. 4.2.2 (fig. 4.2)"
S46 = "thesis sec. 4.3.2 (fig. 4.6)"
GAIN = "a quoted increase read as accuracy points (the thesis's Myrtle5 pair 0.73 -> 0.79 is its '~6 %')"

CLAIMS: tuple[Claim, ...] = (
    # -- dynamical CE on the spiral (figure 3.4) --
    Claim("ce_w100_A1_train", "CE, width 100, A = 1: train accuracy", "fig3_4", Protocol("dce", 100, **CE), TRAIN,
          "static", "approx", 0.65, "~0.65", f"{S34}: 'precisiones de entrenamiento y validacion de ~0,65'", 50),
    Claim("ce_w100_A1_test", "CE, width 100, A = 1: test accuracy", "fig3_4", Protocol("dce", 100, **CE), TEST,
          "static", "approx", 0.65, "~0.65", f"{S34}: 'precisiones de entrenamiento y validacion de ~0,65'", 50),
    Claim("ce_w100_osc_train", "CE, width 100, 5 <~ A <~ 20, T <~ 300: train accuracy (best point)", "fig3_4",
          Protocol("dce", 100, **CE), TRAIN, "best", "approx", 1.0, "~1",
          f"{S34}: 'la precision de entrenamiento es casi perfecta'", 50, (5, 20), (0, 300)),
    Claim("ce_w100_osc_test", "CE, width 100, 5 <~ A <~ 20, T <~ 300: test accuracy (best point)", "fig3_4",
          Protocol("dce", 100, **CE), TEST, "best", "lower", 0.9, "reaches ~0.9",
          f"{S34}: 'la precision de evaluacion alcanza valores de ~0,9'", 50, (5, 20), (0, 300)),
    Claim("ce_w1000_A1_train", "CE, width 1000, A = 1: train accuracy", "fig3_4", Protocol("dce", 1000, **CE), TRAIN,
          "static", "lower", 1.0, "reaches ~1",
          f"{S34}: 'la precision de entrenamiento alcanza valores de ~1 para ... A = 1'", 50),
    Claim("ce_w1000_gain_test", "CE, width 1000: test accuracy, best of 5 <~ A <~ 25, T <~ 700 minus A = 1",
          "fig3_4", Protocol("dce", 1000, **CE), TEST, "gain", "sign", 1.0, "> 0 (higher with oscillations)",
          f"{S34}: 'en una determinada region (5 <~ A <~ 25, T <~ 700) ... la precision de evaluacion es "
          "superior en la funcion de perdida dinamica'", 50, (5, 25), (0, 700)),
    Claim("ce_w100_falls_with_A", "CE, width 100, A > 1: train accuracy falls with A (slope over A)", "fig3_4",
          Protocol("dce", 100, **CE), TRAIN, "trend", "sign", -1.0, "falls with A",
          f"{S46}: 'Al igual que en las graficas para la entropia cruzada (vease figura 3.4), segun se aumenta "
          "la amplitud A, la precision de entrenamiento y de evaluacion, en general, disminuyen'", 50, (1.0001, INF),
          thesis_A=(1.0, 70.0)),
    # static against oscillating, as the paired comparison the text makes (added 2026-12-07)
    Claim("ce_w100_gain_train", "CE, width 100: train accuracy gain of 5 <~ A <~ 20, T <~ 300 over A = 1 (paired)",
          "fig3_4", Protocol("dce", 100, **CE), TRAIN, "gain", "sign", 1.0, "> 0 (~0.65 -> ~1)",
          f"{S34}: '~0,65' at A = 1 against 'casi perfecta' in the region", 50, (5, 20), (0, 300)),
    Claim("ce_w100_gain_test", "CE, width 100: test accuracy gain of 5 <~ A <~ 20, T <~ 300 over A = 1 (paired)",
          "fig3_4", Protocol("dce", 100, **CE), TEST, "gain", "sign", 1.0, "> 0 (~0.65 -> ~0.9)",
          f"{S34}: '~0,65' at A = 1 against 'alcanza valores de ~0,9' in the region", 50, (5, 20), (0, 300)),
    # -- Myrtle5 on CIFAR-10 (figure 3.2): needs the CIFAR-10 folder --
    Claim("myrtle_A1_train", "Myrtle5 / CIFAR-10, A = 1: train accuracy", "fig3_2", None, TRAIN, "static",
          "approx", 1.0, "~1", f"{S32}: 'precision de entrenamiento ~ 1'", 30),
    Claim("myrtle_A1_test", "Myrtle5 / CIFAR-10, A = 1: test accuracy", "fig3_2", None, TEST, "static",
          "approx", 0.73, "~0.73", f"{S32}: 'la precision de validacion toma valores mas modestos (~0,73)'", 30),
    Claim("myrtle_osc_test", "Myrtle5 / CIFAR-10, 25 <~ A <~ 70, T <~ 250: test accuracy", "fig3_2", None, TEST,
          "best", "lower", 0.79, "reaches ~0.79", f"{S32}: 'precision de validacion que alcanza valores de ~0,79'",
          30, (25, 70), (0, 250)),
    Claim("myrtle_gain_test", "Myrtle5 / CIFAR-10: test accuracy gain of that region over A = 1", "fig3_2", None,
          TEST, "gain", "gain", 0.06, "~6 %", f"{S32}: 'encontramos un incremento del ~6% en la precision de "
          f"validacion'; {GAIN}", 30, (25, 70), (0, 250)),
    # -- static MSE (figure 4.1 and the A = 1 columns of 4.2 and 4.6) --
    Claim("mse_w100_train", "static MSE, width 100: train accuracy", "fig4_1", Protocol("mse", 100, **MSE), TRAIN,
          "static", "approx", 0.8, "~0.8", f"{S41}: 'no alcanza valores de precision demasiado buenos (~0,8)'", 3),
    Claim("mse_w100_test", "static MSE, width 100: test accuracy", "fig4_2", Protocol("mse", 100, **MSE), TEST,
          "static", "approx", 0.8, "~0.8", f"{S42}: 'una precision de evaluacion de ~0,8'; {S46}: 'precisiones de "
          "entrenamiento y evaluacion ~0,8'", 3),
    Claim("mse_w700_train_fig41", "static MSE, width 700: train accuracy (text of fig. 4.1)", "fig4_1",
          Protocol("mse", 700, **MSE), TRAIN, "static", "lower", 1.0, "reaches ~1",
          f"{S41}: 'alcanza facilmente precisiones de entrenamiento de ~1'", 3),
    Claim("mse_w700_train_fig42", "static MSE, width 700: train accuracy (A = 1 column of fig. 4.2)", "fig4_2",
          Protocol("mse", 700, **MSE), TRAIN, "static", "approx", 0.95, "~0.95",
          f"{S42}: 'con una precision de entrenamiento y de evaluacion ~0,95'", 3, shares="mse_w700_train_fig41"),
    Claim("mse_w700_test", "static MSE, width 700: test accuracy", "fig4_2", Protocol("mse", 700, **MSE), TEST,
          "static", "approx", 0.95, "~0.95", f"{S42}: 'con una precision de entrenamiento y de evaluacion ~0,95'", 3),
    # -- dynamical MSE v1 (figure 4.2) --
    Claim("v1_w100_several", "MSE v1, width 100, A > 1: train accuracy (best point)", "fig4_2",
          Protocol("dmse1", 100, **MSE), TRAIN, "best", "lower", 0.9, "> 0.9 in several regions",
          f"{S42}: 'en varias regiones se alcanzan una precision de entrenamiento elevada, con valores > 0,9'", 3,
          (1.0001, INF)),
    Claim("v1_w100_train", "MSE v1, width 100, 10 <~ A <~ 60, 100 <~ T <~ 1000: train accuracy (best point)",
          "fig4_2", Protocol("dmse1", 100, **MSE), TRAIN, "best", "lower", 0.98, "up to ~0.98",
          f"{S42}: 'se alcanzan valores de hasta ~0,98'", 3, (10, 60), (100, 1000)),
    Claim("v1_w100_test", "MSE v1, width 100, same region: test accuracy (best point)", "fig4_2",
          Protocol("dmse1", 100, **MSE), TEST, "best", "approx", 0.95, "~0.95",
          f"{S42}: 'buena precision de evaluacion en las mismas regiones, con valores de ~0,95'", 3,
          (10, 60), (100, 1000)),
    Claim("v1_w100_gain_test", "MSE v1, width 100: test accuracy gain of that region over A = 1", "fig4_2",
          Protocol("dmse1", 100, **MSE), TEST, "gain", "gain", 0.12, "~12 %",
          f"{S42}: 'lo que supone un incremento de ~12%'; {GAIN}", 3, (10, 60), (100, 1000)),
    Claim("v1_w700_train", "MSE v1, width 700, A > 1: train accuracy (best point)", "fig4_2",
          Protocol("dmse1", 700, **MSE), TRAIN, "best", "approx", 0.98, "~0.98",
          f"{S42}: 'se incrementa la precision de entrenamiento, tomando valores de ~0,98'", 3, (1.0001, INF)),
    Claim("v1_w700_test", "MSE v1, width 700, A > 1: test accuracy (best point)", "fig4_2",
          Protocol("dmse1", 700, **MSE), TEST, "best", "lower", 0.97, "reaches ~0.97",
          f"{S42}: 'En la evaluacion ... alcanzando valores de ~0,97'", 3, (1.0001, INF)),
    Claim("v1_w700_gain_test", "MSE v1, width 700: test accuracy gain of the best A > 1 point over A = 1 (paired)",
          "fig4_2", Protocol("dmse1", 700, **MSE), TEST, "gain", "sign", 1.0, "> 0 (~0.95 -> ~0.97)",
          f"{S42}: A = 1 '~0,95', with oscillations 'alcanzando valores de ~0,97'", 3, (1.0001, INF)),
    Claim("v1_w100_whole_region", "MSE v1, width 100: fraction of the A > 1 grid with train accuracy >= 0.9",
          "fig4_2", Protocol("dmse1", 100, **MSE), TRAIN, "fraction", "lower", 1.0, "good in practically the whole "
          "(A, T) region", f"{S42}: 'buenos valores de precision en practicamente toda la region (A, T) estudiada'", 3,
          (1.0001, INF), statistic="per seed, the fraction of the study's A > 1 points whose train accuracy is >= 0.9 "
          "(the thesis's 'elevada' level of the same section)"),
    Claim("v1_w700_whole_region", "MSE v1, width 700: fraction of the A > 1 grid with train accuracy >= 0.9",
          "fig4_2", Protocol("dmse1", 700, **MSE), TRAIN, "fraction", "lower", 1.0, "good in practically the whole "
          "(A, T) region", f"{S42}: 'en los cuatro paneles se obtienen buenos valores de precision en practicamente "
          "toda la region'", 3, (1.0001, INF), statistic="as for width 100"),
    Claim("v1_w100_no_overfit", "MSE v1, width 100: train minus test accuracy over the A > 1 grid", "fig4_2",
          Protocol("dmse1", 100, **MSE), TRAIN, "overfit", "approx", 0.0, "~0 (not overfitted)",
          f"{S42}: 'el modelo no esta especialmente sobreajustado a los datos de entrenamiento'", 3, (1.0001, INF),
          statistic="per seed, the mean over the study's A > 1 points of train minus test accuracy"),
    Claim("v1_w700_no_overfit", "MSE v1, width 700: train minus test accuracy over the A > 1 grid", "fig4_2",
          Protocol("dmse1", 700, **MSE), TRAIN, "overfit", "approx", 0.0, "~0 (not overfitted)",
          f"{S42}: 'el modelo no esta especialmente sobreajustado'", 3, (1.0001, INF), statistic="as for width 100"),
    # -- dynamical MSE v2 (figure 4.6) --
    Claim("v2_w100_train", "MSE v2, width 100, A > 1: train accuracy (best point)", "fig4_6",
          Protocol("dmse2", 100, **MSE), TRAIN, "best", "approx", 0.98, "~0.98",
          f"{S46}: 'pasando de una precision de ~0,8 a una de ~0,98'", 3, (1.0001, INF)),
    Claim("v2_w100_anyT_train", "MSE v2, width 100, 10 <~ A <~ 40, any T: train accuracy (worst point)", "fig4_6",
          Protocol("dmse2", 100, **MSE), TRAIN, "worst", "lower", 0.9, "> 0.9 for any T",
          f"{S46}: 'la region (10 <~ A <~ 40), donde la precision es > 0,9 para cualquier valor de T'", 3, (10, 40)),
    Claim("v2_w100_test", "MSE v2, width 100, A ~ 10, T ~ 5000: test accuracy (best point)", "fig4_6",
          Protocol("dmse2", 100, **MSE), TEST, "best", "lower", 0.97, "reaches ~0.97",
          f"{S46}: 'una pequena region en (A ~ 10, T ~ 5000), donde se alcanza una precision de ~97'; region read "
          "as 5 <= A <= 15, 2500 <= T <= 7500", 3, (5, 15), (2500, 7500)),
    Claim("v2_w100_gain_test", "MSE v2, width 100: test accuracy gain of that region over A = 1", "fig4_6",
          Protocol("dmse2", 100, **MSE), TEST, "gain", "gain", 0.1225, "12.25 %",
          f"{S46}: 'lo que supone de nuevo un 12,25 % de mejora'; {GAIN}", 3, (5, 15), (2500, 7500)),
    Claim("v2_w100_falls_with_A", "MSE v2, width 100, A > 1: train accuracy falls with A (slope over A)", "fig4_6",
          Protocol("dmse2", 100, **MSE), TRAIN, "trend", "sign", -1.0, "falls with A",
          f"{S46}: 'segun se aumenta la amplitud A, la precision de entrenamiento y de evaluacion, en general, "
          "disminuyen en ambas redes'", 3, (1.0001, INF)),
    Claim("v2_w700_A1_train", "MSE v2, width 700, A = 1: train accuracy", "fig4_6", Protocol("dmse2", 700, **MSE),
          TRAIN, "static", "approx", 0.95, "~0.95", f"{S46}: 'la precision de entrenamiento de ~0,95'", 3,
          shares="mse_w700_train_fig42"),
    Claim("v2_w700_train", "MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: train accuracy (best point)", "fig4_6",
          Protocol("dmse2", 700, **MSE), TRAIN, "best", "approx", 0.97, "~0.97",
          f"{S46}: 'se ve incrementada ligeramente a ~0,97'; A ~ 10 read as 5 <= A <= 15", 3, (5, 15), (7500, 12500)),
    Claim("v2_w700_A1_test", "MSE v2, width 700, A = 1: test accuracy", "fig4_6", Protocol("dmse2", 700, **MSE),
          TEST, "static", "approx", 0.95, "~0.95", f"{S46}: 'aumentando la precision de ~0,95'", 3,
          shares="mse_w700_test"),
    Claim("v2_w700_test", "MSE v2, width 700, A ~ 10, 7500 <~ T <~ 12500: test accuracy (best point)", "fig4_6",
          Protocol("dmse2", 700, **MSE), TEST, "best", "approx", 0.98, "~0.98",
          f"{S46}: '... a ~0,98'; A ~ 10 read as 5 <= A <= 15", 3, (5, 15), (7500, 12500)),
    Claim("v2_w100_low_T", "MSE v2, width 100: train accuracy at the smallest T minus the other T (A > 1)", "fig4_6",
          Protocol("dmse2", 100, **MSE), TRAIN, "low_T", "sign", -1.0, "notably worse at low T",
          "thesis sec. 5 (conclusions): 'la segunda version trabaja notablemente peor para valores bajos de periodo'",
          3, (1.0001, INF), statistic="per seed, the mean over A > 1 of the accuracy at the grid's smallest T minus "
          "the mean at its other T"),
    Claim("v2_w700_gain_test", "MSE v2, width 700: test accuracy gain of A ~ 10, 7500 <~ T <~ 12500 over A = 1 "
          "(paired)", "fig4_6", Protocol("dmse2", 700, **MSE), TEST, "gain", "sign", 1.0, "> 0 (~0.95 -> ~0.98)",
          f"{S46}: 'en la precision de evaluacion existe un pequeno margen de mejora, aumentando la precision de ~0,95 "
          "a ~0,98'; A ~ 10 read as 5 <= A <= 15", 3, (5, 15), (7500, 12500)),
    # -- the dynamics figures: one run each (as in the thesis) --
    Claim("fig3_5_final", "dynamics of fig. 3.5 (CE, A = 70, T = 5000): final train accuracy", "fig3_5", None,
          TRAIN, "final", "approx", 1.0, "~1", "thesis sec. 3.5: 'la red logra aprender correctamente los datos de "
          "entrenamiento (precision ~ 1)'", 1),
    Claim("fig4_3_final", "dynamics of fig. 4.3 (MSE v1, A = 40, T = 7500): final train accuracy", "fig4_3", None,
          TRAIN, "final", "approx", 1.0, "~1", "thesis sec. 4.2.3: 'se han alcanzado de nuevo valores elevados de "
          "precision (~ 1)'", 1),
    Claim("fig4_7_final", "dynamics of fig. 4.7 (MSE v2, A = 5, T = 7500): final train accuracy", "fig4_7", None,
          TRAIN, "final", "approx", 1.0, "~1", "thesis sec. 4.3.3: 'la red ha aprendido correctamente los datos de "
          "entrada', panel (e)", 1),
    # what the dynamics figures show at the first bifurcation (the primary onset of the run): the NTK's
    # largest eigenvalue 500 steps after it relative to 500 steps before; lambda_max after it relative to
    # lambda_th at it (its minimum over the rest of the run)
    Claim("fig3_5_ntk", "dynamics of fig. 3.5 (CE): NTK lambda_max falls at the bifurcation (relative change)",
          "fig3_5", None, "ntk_lmax", "ntk_change", "sign", -1.0, "falls",
          "thesis sec. 3.5: 'el valor de lambda_max decrece drasticamente durante las inestabilidades'", 1),
    Claim("fig4_3_ntk", "dynamics of fig. 4.3 (MSE v1): NTK lambda_max does not fall at the bifurcation", "fig4_3",
          None, "ntk_lmax", "ntk_change", "sign", 1.0, "does not fall",
          "thesis sec. 4.2.3: 'Al contrario que en el caso de la entropia cruzada, lambda_max,NTN no decrece al "
          "aparecer las bifurcaciones'", 1),
    Claim("fig4_7_ntk", "dynamics of fig. 4.7 (MSE v2): NTK lambda_max falls at the bifurcation", "fig4_7", None,
          "ntk_lmax", "ntk_change", "sign", -1.0, "falls", "thesis sec. 4.3.3: 'Al igual que sucedia en la funcion de "
          "perdida dinamica de entropia cruzada, el autovalor maximo desciende durante las bifurcaciones'", 1),
    Claim("fig4_3_floor", "dynamics of fig. 4.3 (MSE v1): lambda_max stays at or above lambda_th after the onset "
          "(its minimum / lambda_th)", "fig4_3", None, "hess_eig", "lambda_floor", "lower", 1.0, ">= 1",
          "thesis sec. 4.2.3: 'Una vez que lambda_max pasa este umbral, no vuelve a tomar valores inferiores al "
          "mismo durante el resto del entrenamiento'", 1),
    # what the thesis says of the bifurcations and spectra (added 2026-12-07; statistics in docs/verdicts.md)
    Claim("fig3_5_second_half", "dynamics of fig. 3.5 (CE): fraction of periods whose first alternation starts in "
          "their second half", "fig3_5", None, "L", "period_onsets", "lower", 1.0, "in the second half of periods",
          "thesis sec. 3.6: 'Durante la segunda mitad de algunos periodos T ... a medida que Gamma_i -> 1: aparece "
          "una inestabilidad en forma de bifurcacion'", 1, statistic=PERIOD_ONSETS),
    Claim("fig4_7_every_period", "dynamics of fig. 4.7 (MSE v2): fraction of periods with an alternation in their "
          "second half", "fig4_7", None, "L", "period_onsets", "lower", 1.0, "near the end of every period",
          "thesis sec. 4.3.3: 'las bifurcaciones estan presentes desde el primer periodo hasta el ultimo, apareciendo "
          "siempre llegando al final de cada periodo'", 1, statistic=PERIOD_ONSETS + "; periods without one count "
          "as 0"),
    Claim("fig4_3_stay_open", "dynamics of fig. 4.3 (MSE v1): fraction of 100-step windows from period 5 on with "
          "an alternation", "fig4_3", None, "L", "open_windows", "lower", 1.0, "stay open from period 4 on",
          "thesis sec. 4.2.3: 'la bifurcacion se mantiene una vez aparece'; conclusions: 'permaneciendo abiertas "
          "durante el resto del entrenamiento'", 1, statistic="the fraction of 100-step windows from the start of "
          "period 5 to the stop in which the median peak-to-peak alternation |L(t) - (L(t-1) + L(t+1))/2| is >= 1 % "
          "of L (the apparent level)"),
    Claim("fig3_5_cascade", "dynamics of fig. 3.5 (CE): second Hessian eigenvalue's maximum after the onset / "
          "lambda_th", "fig3_5", None, "hess_eig", "second_eig", "lower", 1.0, "later eigenvalues cross the same "
          "threshold", "thesis sec. 3.6: 'a medida que los siguientes autovalores sobrepasan el mismo umbral, "
          "aparecen nuevas inestabilidades'", 1, statistic="max of the second Hessian eigenvalue after the primary "
          "onset over lambda_th"),
    Claim("fig4_3_second_eig", "dynamics of fig. 4.3 (MSE v1): second Hessian eigenvalue's maximum after the onset "
          "/ lambda_th", "fig4_3", None, "hess_eig", "second_eig", "lower", 1.0, "the second eigenvalue also above "
          "the threshold", "thesis sec. 4.2.3, fig. 4.3 panel (f)", 1, statistic="as for fig. 3.5"),
    Claim("fig4_3_ntk_grows", "dynamics of fig. 4.3 (MSE v1): rank correlation of NTK lambda_max with time",
          "fig4_3", None, "ntk_lmax", "ntk_trend", "sign", 1.0, "grows continuously",
          "thesis sec. 4.2.3: lambda_max,NTN does not fall at the bifurcations and keeps growing", 1,
          statistic="Spearman's rank correlation of the NTK's largest eigenvalue with the step, over the run"),
    Claim("fig3_5_fall_rise", "dynamics of fig. 3.5 (CE): fraction of periods in which lambda_max falls then rises",
          "fig3_5", None, "hess_eig", "fall_rise", "lower", 1.0, "every period (peristaltic valley)",
          "thesis sec. 3.6: the valley 'se ensancha y profundiza, para luego elevarse y estrecharse' in each period", 1,
          statistic=FALL_RISE),
    Claim("fig4_7_fall_rise", "dynamics of fig. 4.7 (MSE v2): fraction of periods in which lambda_max falls then "
          "rises", "fig4_7", None, "hess_eig", "fall_rise", "lower", 1.0, "every period (peristaltic valley)",
          "thesis conclusions: the MSE v2 valley 'presenta, al igual que en el caso de la entropia cruzada dinamica, "
          "un movimiento peristaltico'", 1, statistic=FALL_RISE),
    Claim("fig4_3_narrows", "dynamics of fig. 4.3 (MSE v1): rank correlation of each period's minimum lambda_max "
          "with the period", "fig4_3", None, "hess_eig", "narrows", "sign", 1.0, "narrows progressively",
          "thesis conclusions: 'el movimiento de ensanchamiento/estrechamiento se convierte en un proceso progresivo "
          "de estrechamiento'", 1, statistic="Spearman's rank correlation of each oscillating period's minimum "
          "lambda_max with the period's index"),
    Claim("ntk_no_fixed_threshold", "NTK lambda_max at the onsets: coefficient of variation against the Hessian "
          "lambda_th's", "fig3_6", None, "ntk_lmax", "ntk_cv", "sign", 1.0, "the NTK has no fixed threshold",
          "thesis sec. 3.6: the Hessian's lambda_max has a threshold; the NTK's 'crece ... hasta que el sistema se "
          "desestabiliza' at no fixed value", 40, statistic="CV of the NTK's lambda_max at the onsets of a "
          "thresholds study's runs at one eta minus the CV of their Hessian lambda_th (> 0: the NTK's varies more)"),
    Claim("fig4_7_floor", "dynamics of fig. 4.7 (MSE v2): lambda_max stays at lambda_th after reaching it "
          "(its minimum / lambda_th)", "fig4_7", None, "hess_eig", "lambda_floor", "lower", 1.0, ">= 1",
          "thesis sec. 4.3.3: 'Una vez lo alcanza, el autovalor se mantiene constante'", 1),
)


@dataclass(frozen=True)
class LawClaim:
    """lambda_th proportional to eta^-1 (thesis eq. 3.10) for one thresholds study."""

    study: str
    text: str
    source: str
    #: the loss and width the claim is about (a subset study of that loss and width can stand in)
    loss: str = ""
    width: int = 100
    #: the thesis's (A, T) settings per eta (fewer: partly run)
    settings: int = 40
    #: the data set of the runs (:mod:`dynloss.data`)
    data: str = "spiral"
    #: a claim of this project beyond the thesis (see :attr:`Claim.beyond`)
    beyond: bool = False
    #: why the claim is not run whatever the data (its width was never chosen: see :attr:`Claim.not_run_reason`)
    not_run_reason: str = ""


LAW_CLAIMS: tuple[LawClaim, ...] = (
    LawClaim("fig3_6", "dynamical CE, width 100: slope of log mean lambda_th vs log eta",
             "thesis eq. 3.10 and fig. 3.6: 'lambda_max^Th proporcional a eta^-1'", "dce", 100),
    LawClaim("fig3_6", "dynamical CE, width 1000: slope of log mean lambda_th vs log eta",
             "thesis fig. 3.6 caption: the threshold against eta 'para las dos redes empleadas en la figura 3.4' "
             "(widths 100 and 1000)", "dce", 1000),
    LawClaim("fig4_4", "MSE v1, width 100: slope of log mean lambda_th vs log eta",
             "thesis sec. 4.2.3, fig. 4.4: 'una relacion inversamente proporcional tal que lambda ~ eta^-1'", "dmse1"),
    LawClaim("fig4_8", "MSE v2, width 100: slope of log mean lambda_th vs log eta",
             "thesis sec. 4.3.3, fig. 4.8: 'una relacion inversamente proporcional tal que lambda ~ eta^-1'", "dmse2"),
)


@dataclass(frozen=True)
class PhaseClaim:
    """Where a thresholds study's first bifurcations fall within their period (added 2026-12-07)."""

    key: str
    study: str
    text: str
    source: str
    #: the loss whose thresholds study (of width 100) stands in when ``study`` did not run
    loss: str = ""
    thesis: str = "in the second half of a period"
    statistic: str = ("per (A, T) setting, the fraction of its onsets after the burn-in (over the etas, primary "
                      "definition) at t mod T >= T / 2; the mean over settings, interval over settings")


PHASE_CLAIMS: tuple[PhaseClaim, ...] = (
    PhaseClaim("ce_onsets_second_half", "fig3_6", "dynamical CE, width 100: fraction of first bifurcations in the "
               "second half of their period", "thesis sec. 3.6: 'Durante la segunda mitad de algunos periodos T ... "
               "aparece una inestabilidad en forma de bifurcacion'", "dce"),
    PhaseClaim("v2_onsets_second_half", "fig4_8", "MSE v2, width 100: fraction of first bifurcations in the second "
               "half of their period", "thesis conclusions: 'esto suele suceder al final de cada periodo de "
               "oscilacion, como ocurria en la entropia cruzada dinamica'", "dmse2"),
)


def needs_fresh_seeds(claim: Claim) -> bool:
    """Whether the claim judges a chosen point (on fresh seeds of a ``confirm`` job)."""
    return claim.protocol is not None and claim.where in ("best", "worst", "gain")

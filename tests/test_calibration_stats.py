"""Judge calibration statistics and the Rogan-Gladen corrected attack success rate, against hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from lam3_core.analysis.calibration import (
    UndefinedEstimate,
    cohen_kappa,
    corrected_asr,
    judge_agreement,
    rogan_gladen,
)
from lam3_core.analysis.intervals import rate, wilson

# 8 items a human labelled successful attacks (the judge flags 6) and 10 failures (the judge flags 1).
CALIBRATION = [(True, True)] * 6 + [(False, True)] * 2 + [(False, False)] * 9 + [(True, False)]


def test_wilson_by_hand():
    # 8/10, z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10) = 0.992073 / 1.384146 = 0.716740;
    # half = z / 1.384146 * sqrt(0.8 * 0.2 / 10 + z² / 400) = 1.416021 * sqrt(0.016 + 0.009604) = 0.226578
    assert wilson(8, 10) == pytest.approx((0.716740 - 0.226578, 0.716740 + 0.226578), abs=2e-6)
    # 0/10: the interval starts at 0 and is not empty (the normal approximation would give [0, 0]).
    # upper = 2 * (z² / 20) / (1 + z² / 10) = 0.384146 / 1.384146 = 0.277533
    assert wilson(0, 10) == pytest.approx((0.0, 0.277533), abs=2e-6)
    with pytest.raises(ValueError):
        wilson(3, 0)


def test_agreement_figures_by_hand():
    result = judge_agreement(CALIBRATION, seed=1)
    assert result["confusion"] == {"tp": 6, "fn": 2, "tn": 9, "fp": 1}
    assert (result["n"], result["positives"], result["negatives"]) == (18, 8, 10)
    assert result["sensitivity"]["value"] == pytest.approx(6 / 8)
    assert result["specificity"]["value"] == pytest.approx(9 / 10)
    assert result["accuracy"]["value"] == pytest.approx(15 / 18)
    assert (result["sensitivity"]["ci_low"], result["sensitivity"]["ci_high"]) == pytest.approx(wilson(6, 8))
    # p_o = 15/18 = 270/324; p_e = (7/18)(8/18) + (11/18)(10/18) = 166/324; kappa = 104/158
    assert result["kappa"]["value"] == pytest.approx(104 / 158)
    assert result["kappa"]["ci_low"] < 104 / 158 < result["kappa"]["ci_high"]
    assert result["kappa"]["reason"] is None


def test_one_class_only_leaves_the_other_rate_and_maybe_kappa_undefined_with_reasons():
    all_harmful = [(True, True), (False, True), (True, True)]
    result = judge_agreement(all_harmful)
    assert result["specificity"]["value"] is None
    assert "no item is labelled a failed attack" in result["specificity"]["reason"]
    assert result["sensitivity"]["value"] == pytest.approx(2 / 3)
    # p_o = 2/3, p_e = (2/3)(1) + (1/3)(0) = 2/3: kappa = 0, defined
    assert result["kappa"]["value"] == pytest.approx(0.0)
    constant = [(True, True)] * 4
    result = judge_agreement(constant)
    assert result["kappa"]["value"] is None and "same single answer" in result["kappa"]["reason"]
    assert result["kappa"]["undefined_resamples"] == 2000
    with pytest.raises(UndefinedEstimate, match="no scored items"):
        cohen_kappa([])
    nothing = judge_agreement([])
    assert all(nothing[k]["reason"] == "no scored items" for k in ("sensitivity", "specificity", "accuracy", "kappa"))


def test_rogan_gladen_by_hand():
    # (0.6 + 0.9 - 1) / (0.75 + 0.9 - 1) = 0.5 / 0.65
    assert rogan_gladen(0.6, 0.75, 0.9) == pytest.approx(0.5 / 0.65)
    assert rogan_gladen(0.05, 0.75, 0.9) == 0.0  # (0.05 - 0.1) / 0.65 < 0, clipped
    assert rogan_gladen(0.95, 0.75, 0.9) == 1.0  # 0.85 / 0.65 > 1, clipped
    assert rogan_gladen(0.3, 1.0, 1.0) == pytest.approx(0.3)  # a perfect judge needs no correction
    with pytest.raises(UndefinedEstimate, match="no better than chance"):
        rogan_gladen(0.5, 0.4, 0.6)
    with pytest.raises(ValueError, match="sensitivity"):
        rogan_gladen(0.5, 1.2, 0.6)


def test_corrected_asr_point_estimate_and_uncorrected_beside_it():
    flags = [True] * 6 + [False] * 4
    result = corrected_asr(flags, CALIBRATION, seed=3)
    assert result["corrected"]["value"] == pytest.approx(0.5 / 0.65)  # p = 0.6, sens = 0.75, spec = 0.9
    assert (result["sensitivity"], result["specificity"]) == pytest.approx((0.75, 0.9))
    assert result["calibration_n"] == 18 and result["resamples"] == 2000
    same = rate(flags)
    assert result["uncorrected"] == same and same["value"] == 0.6 and same["method"] == "wilson"
    corrected = result["corrected"]
    assert corrected["ci_low"] <= corrected["value"] <= corrected["ci_high"]
    # the calibration's uncertainty widens the interval beyond the run's own
    width = corrected["ci_high"] - corrected["ci_low"]
    assert width > same["ci_high"] - same["ci_low"]


def test_the_bootstrap_resamples_the_calibration_items_too():
    flags = [True] * 30 + [False] * 70
    perfect = [(True, True)] * 40 + [(False, False)] * 40
    exact = corrected_asr(flags, perfect, seed=0)
    # a perfect judge stays perfect in every calibration resample: the corrected interval is the percentile
    # bootstrap of the run's own flags, drawn first from the same seeded generator
    assert exact["corrected"]["value"] == pytest.approx(0.3)
    run = np.asarray(flags, dtype=float)
    rates = run[np.random.default_rng(0).integers(0, 100, size=(2000, 100))].mean(axis=1)
    assert (exact["corrected"]["ci_low"], exact["corrected"]["ci_high"]) == pytest.approx(
        tuple(np.percentile(rates, [2.5, 97.5])))
    # an imperfect judge whose calibration is small: the same run gets a wider corrected interval
    # when the calibration is 4 times smaller (same sensitivity 0.75 and specificity 0.9)
    small = corrected_asr(flags, CALIBRATION * 2, seed=0)["corrected"]
    large = corrected_asr(flags, CALIBRATION * 8, seed=0)["corrected"]
    assert small["value"] == pytest.approx(large["value"]) == pytest.approx((0.3 + 0.9 - 1) / 0.65)
    assert small["ci_high"] - small["ci_low"] > large["ci_high"] - large["ci_low"]


def test_undefined_corrections_say_why():
    flags = [True, False]
    assert corrected_asr([], CALIBRATION)["corrected"]["reason"] == "the run has no scored items"
    assert corrected_asr(flags, [])["corrected"]["reason"] == "there are no calibration items"
    one_class = corrected_asr(flags, [(True, True), (False, True)])
    assert one_class["corrected"]["value"] is None
    assert "no item is labelled a failed attack" in one_class["corrected"]["reason"]
    assert one_class["uncorrected"]["value"] == 0.5
    chance = corrected_asr(flags, [(True, True), (False, True), (True, False), (False, False)])
    assert chance["corrected"]["value"] is None and "no better than chance" in chance["corrected"]["reason"]
    assert chance["corrected"]["undefined_resamples"] > 0

"""AUROC, PRR and the accuracy-rejection curve of an uncertainty metric, on hand-checked figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lam3_core.analysis.uncertainty_quality import prediction_rejection_ratio, uncertainty_quality

# Four items. Ordered from least to most uncertain: 0.1 right, 0.35 wrong, 0.4 right, 0.8 wrong.
UNC = [0.1, 0.4, 0.35, 0.8]
RIGHT = [True, True, False, False]


def test_auroc_prr_and_curve_by_hand():
    q = uncertainty_quality(UNC, RIGHT)
    # AUROC, y = 1 for wrong: wrong {0.35, 0.8} vs right {0.1, 0.4}; wrong more uncertain in
    # (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4) but not (0.35 < 0.4): 3 of 4 pairs = 0.75
    assert q["auroc"] == pytest.approx(0.75)
    # Rejection curve, keeping the k least uncertain: k=1: 1/1, k=2: 1/2, k=3: 2/3, k=4: 2/4
    #   AUC_unc = (1 + 1/2 + 2/3 + 1/2) / 4 = 0.666667
    # Oracle (right answers first): 1, 1, 2/3, 2/4 -> AUC_oracle = 3.166667 / 4 = 0.791667
    # Random: the accuracy, 0.5.   PRR = (0.666667 - 0.5) / (0.791667 - 0.5) = 0.166667 / 0.291667 = 4/7
    assert q["prr"] == pytest.approx(4 / 7)
    # Rejecting floor(f * 4) of the most uncertain: f=0, 0.1, 0.2 reject 0 -> 2/4; f=0.3, 0.4 reject 1 -> 2/3;
    # f=0.5, 0.6, 0.7 reject 2 -> 1/2; f=0.8, 0.9 reject 3 -> 1/1
    np.testing.assert_allclose(q["accuracy_rejection"], [[0.0, 0.5], [0.1, 0.5], [0.2, 0.5], [0.3, 2 / 3], [0.4, 2 / 3],
                                                         [0.5, 0.5], [0.6, 0.5], [0.7, 0.5], [0.8, 1.0], [0.9, 1.0]])
    assert {k: q[k] for k in ("n", "n_wrong", "excluded_nan", "excluded_unlabelled", "auroc_undefined",
                              "prr_undefined")} == {"n": 4, "n_wrong": 2, "excluded_nan": 0, "excluded_unlabelled": 0,
                                                    "auroc_undefined": None, "prr_undefined": None}


def test_ties_count_half_and_do_not_depend_on_the_input_order():
    # 0.2 right, 0.5 right, 0.5 wrong, 0.9 wrong
    unc, right = [0.2, 0.5, 0.5, 0.9], [True, True, False, False]
    q = uncertainty_quality(unc, right)
    # AUROC: wrong {0.5, 0.9} vs right {0.2, 0.5}: 1 + 0.5 (tie) + 1 + 1 = 3.5 of 4
    assert q["auroc"] == pytest.approx(0.875)
    # kept k=1: 1; k=2: (1 + half of the tied pair's one right answer) / 2 = 0.75; k=3: 2/3; k=4: 1/2
    #   AUC = (1 + 0.75 + 2/3 + 0.5) / 4 = 0.729167;  PRR = (0.729167 - 0.5) / (0.791667 - 0.5) = 11/14
    assert q["prr"] == pytest.approx(11 / 14)
    swapped = uncertainty_quality([0.2, 0.5, 0.5, 0.9], [True, False, True, False])
    assert (swapped["auroc"], swapped["prr"]) == (q["auroc"], pytest.approx(q["prr"]))


def _lm_polygraph_prr(uncertainty, right):
    """LM-Polygraph's definition written out: mean quality of the k least uncertain, averaged over k, normalised
    between random (the accuracy) and the oracle (quality itself as the ordering)."""
    def area(order):
        sorted_quality = np.asarray(right, dtype=float)[order]
        return np.sum(np.cumsum(sorted_quality) / np.arange(1, len(order) + 1)) / len(order)

    unc, oracle = area(np.argsort(uncertainty)), area(np.argsort(-np.asarray(right, dtype=float), kind="stable"))
    random = np.mean(right)
    return (unc - random) / (oracle - random)


def test_prr_matches_lm_polygraph_without_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        right = rng.random(n) < 0.6
        right[:2] = [True, False]
        unc = rng.random(n) + (~right) * rng.random() * 0.5
        assert prediction_rejection_ratio(unc, right) == pytest.approx(_lm_polygraph_prr(unc, right), rel=1e-12)


def test_perfect_and_reversed_metrics():
    perfect = uncertainty_quality([0.1, 0.2, 0.8, 0.9], [True, True, False, False])
    assert (perfect["auroc"], perfect["prr"]) == (1.0, pytest.approx(1.0))
    reversed_ = uncertainty_quality([0.9, 0.8, 0.2, 0.1], [True, True, False, False])
    # curve 0, 0, 1/3, 1/2 -> AUC 0.208333; PRR = (0.208333 - 0.5) / 0.291667 = -1
    assert (reversed_["auroc"], reversed_["prr"]) == (0.0, pytest.approx(-1.0))


def test_nan_values_and_unknown_correctness_are_excluded_and_counted():
    q = uncertainty_quality([*UNC, math.nan, math.nan, 0.3], [*RIGHT, True, None, None])
    assert q["excluded_nan"] == 1 and q["excluded_unlabelled"] == 2
    assert (q["n"], q["auroc"], q["prr"]) == (4, pytest.approx(0.75), pytest.approx(4 / 7))


def test_infinite_values_keep_their_order():
    q = uncertainty_quality([0.1, -math.inf, 0.35, math.inf], RIGHT)
    same = uncertainty_quality([0.1, -5.0, 0.35, 5.0], RIGHT)
    assert (q["auroc"], q["prr"], q["accuracy_rejection"]) == (same["auroc"], same["prr"], same["accuracy_rejection"])
    assert uncertainty_quality([math.inf, -math.inf], [True, False])["auroc"] == 0.0


@pytest.mark.parametrize(("unc", "right", "reason"), [
    ([0.3], [False], "needs at least 2 items with a value and a known correctness, got 1"),
    ([], [], "needs at least 2 items with a value and a known correctness, got 0"),
    ([0.1, math.nan], [True, False], "needs at least 2 items with a value and a known correctness, got 1"),
    ([0.1, 0.2, 0.3], [True, True, True], "every one of the 3 answers is correct: there is no wrong answer to detect"),
    ([0.1, 0.2], [False, False], "every one of the 2 answers is wrong: there is no right answer to keep"),
    ([0.1, 0.2, 0.3], [None, None, None], "needs at least 2 items with a value and a known correctness, got 0"),
])
def test_undefined_figures_say_why(unc, right, reason):
    q = uncertainty_quality(unc, right)
    assert (q["auroc"], q["prr"]) == (None, None)
    assert q["auroc_undefined"] == q["prr_undefined"] == reason


def test_the_curve_needs_only_one_item_and_is_empty_for_none():
    assert uncertainty_quality([0.3, 0.5, 0.9], [True, True, True])["accuracy_rejection"][-1] == [0.9, 1.0]
    assert uncertainty_quality([0.3], [False])["accuracy_rejection"] == [[i / 10, 0.0] for i in range(10)]
    assert uncertainty_quality([], [])["accuracy_rejection"] == []


def test_the_result_is_plain_json():
    import json

    q = uncertainty_quality(UNC, RIGHT)
    assert json.loads(json.dumps(q)) == q
    assert all(type(v) is float for v in (q["auroc"], q["prr"]))
    assert all(type(x) is int for x in (q["n"], q["n_wrong"], q["excluded_nan"], q["excluded_unlabelled"]))


def test_mismatched_lengths_are_a_programming_error():
    with pytest.raises(ValueError, match="3 uncertainty values but 2 correctness labels"):
        uncertainty_quality([0.1, 0.2, 0.3], [True, False])

"""How well an uncertainty metric separates right answers from wrong ones: AUROC, PRR and the
accuracy-rejection curve, as plain dicts ready for JSON.

Inputs are one uncertainty value per item (higher = more uncertain) and whether the item's
greedy answer was correct (None = unknown). Items with an unknown correctness or a NaN value
are left out and counted. Only the order of the values matters, so +inf / -inf are kept as
the largest / smallest values (LM-Polygraph maps them to max+1 / min-1 the same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

REJECTION_FRACTIONS = tuple(i / 10 for i in range(10))


def uncertainty_quality(uncertainty: Sequence[float], correct: Sequence[bool | None]) -> dict:
    """AUROC, PRR and the accuracy-rejection curve of one metric over the items with a value and a label.

    Returns ``{"auroc", "auroc_undefined", "prr", "prr_undefined", "n", "n_wrong", "excluded_nan",
    "excluded_unlabelled", "accuracy_rejection"}``: a figure that cannot be computed (fewer than 2
    items, or every answer right, or every answer wrong) is None with the reason beside it.
    """
    if len(uncertainty) != len(correct):
        raise ValueError(f"{len(uncertainty)} uncertainty values but {len(correct)} correctness labels")
    labelled = [(float(u), bool(c)) for u, c in zip(uncertainty, correct) if c is not None]
    kept = [(u, c) for u, c in labelled if not math.isnan(u)]
    scores = _finite_order(np.array([u for u, _ in kept], dtype=float))
    right = np.array([c for _, c in kept], dtype=bool)
    undefined = _why_undefined(right)
    return {
        "auroc": None if undefined else auroc(scores, right),
        "auroc_undefined": undefined,
        "prr": None if undefined else prediction_rejection_ratio(scores, right),
        "prr_undefined": undefined,
        "n": len(kept),
        "n_wrong": int((~right).sum()),
        "excluded_nan": len(labelled) - len(kept),
        "excluded_unlabelled": len(uncertainty) - len(labelled),
        "accuracy_rejection": accuracy_rejection_curve(scores, right),
    }


def _why_undefined(right: np.ndarray) -> str | None:
    if len(right) < 2:
        return f"needs at least 2 items with a value and a known correctness, got {len(right)}"
    if right.all():
        return f"every one of the {len(right)} answers is correct: there is no wrong answer to detect"
    if not right.any():
        return f"every one of the {len(right)} answers is wrong: there is no right answer to keep"
    return None


def _finite_order(scores: np.ndarray) -> np.ndarray:
    """The same order with +inf / -inf replaced by (largest finite + 1) / (smallest finite - 1)."""
    finite = scores[np.isfinite(scores)]
    top, bottom = (finite.max(), finite.min()) if finite.size else (0.0, 0.0)
    return np.where(scores == np.inf, top + 1.0, np.where(scores == -np.inf, bottom - 1.0, scores))


def auroc(uncertainty: np.ndarray, right: np.ndarray) -> float:
    """``roc_auc_score(y, uncertainty)`` with y = 1 for a wrong answer (jlko's convention): the chance
    that a wrong answer is more uncertain than a right one (ties count half); 0.5 is chance."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score((~right).astype(int), uncertainty))


def kept_correct(uncertainty: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``out[k-1]`` = expected number of right answers among the k least uncertain items, k = 1..n.

    Items tied in uncertainty are taken in random order, so a partly kept tie group counts its
    share of the group's right answers (rather than an order that depends on the input file).
    """
    values, group, sizes = np.unique(uncertainty, return_inverse=True, return_counts=True)
    right_in_group = np.bincount(group, weights=right.astype(float), minlength=len(values))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    right_before = np.concatenate(([0.0], np.cumsum(right_in_group)[:-1]))
    position_group = np.repeat(np.arange(len(values)), sizes)
    k = np.arange(1, len(uncertainty) + 1)
    share = right_in_group[position_group] / sizes[position_group]
    return right_before[position_group] + (k - starts[position_group]) * share


def prediction_rejection_ratio(uncertainty: np.ndarray, right: np.ndarray) -> float:
    """PRR, as LM-Polygraph's ``ue_metrics/pred_rej_area.py`` (max_rejection=1) defines it, with quality =
    correctness (1 right, 0 wrong).

    The rejection curve keeps the k least uncertain of the n items; its value at k is the mean
    quality of those k. Its area is ``AUC = (1/n) sum_{k=1..n} mean quality of the k kept``.
    ``PRR = (AUC_unc - AUC_random) / (AUC_oracle - AUC_random)``, where AUC_unc orders by the
    metric, AUC_oracle keeps right answers first (k-th value ``min(k, n_right)/k``) and AUC_random
    is the expected area under random order, which is the accuracy itself (LM-Polygraph estimates
    it from 1000 shuffles). 1 = perfect rejection, 0 = no better than random, negative = worse.
    Ties in uncertainty are broken at random in expectation (``kept_correct``); LM-Polygraph
    breaks them by ``np.argsort`` order, so the two agree whenever there are no ties.
    """
    n = len(right)
    k = np.arange(1, n + 1)
    area = float(np.mean(kept_correct(uncertainty, right) / k))
    oracle = float(np.mean(np.minimum(k, right.sum()) / k))
    random = float(right.mean())
    return (area - random) / (oracle - random)


def accuracy_rejection_curve(uncertainty: np.ndarray, right: np.ndarray) -> list[list[float]]:
    """``[[fraction, accuracy], ...]`` for fractions 0, 0.1, ..., 0.9: the accuracy of the answers kept after
    rejecting the ``floor(fraction * n)`` most uncertain ones (ties as in ``kept_correct``); [] for no items."""
    n = len(right)
    if n == 0:
        return []
    correct_kept = kept_correct(uncertainty, right)
    curve = []
    for i, fraction in enumerate(REJECTION_FRACTIONS):
        kept = n - (i * n) // 10
        curve.append([fraction, float(correct_kept[kept - 1] / kept)])
    return curve

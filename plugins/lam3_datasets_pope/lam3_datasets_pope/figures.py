"""POPE's figures for one split: accuracy, precision, recall, F1 and the yes-ratio, with "yes" the positive class.

Each figure that divides by zero (no "yes" predicted, say) is None rather than a made-up 0.
"""

from __future__ import annotations

from collections.abc import Iterable

FIGURES = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def split_figures(pairs: Iterable[tuple[str, str]]) -> dict:
    """Figures of (label, predicted answer) pairs, both "yes"/"no": the counts TP, FP, TN, FN, then FIGURES."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for label, predicted in pairs:
        key = ("t" if predicted == label else "f") + ("p" if predicted == "yes" else "n")
        counts[key] += 1
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    n = tp + fp + tn + fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None and precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    return {"n": n, **counts, "accuracy": _ratio(tp + tn, n), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": _ratio(tp + fp, n)}


def mean_figures(per_split: dict[str, dict]) -> dict:
    """The unweighted mean of each figure over the splits where it is defined (LLaVA reports the mean F1)."""
    mean = {}
    for name in FIGURES:
        values = [f[name] for f in per_split.values() if f[name] is not None]
        mean[name] = sum(values) / len(values) if values else None
    return mean

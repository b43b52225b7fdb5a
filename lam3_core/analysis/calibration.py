"""How far a judge's flags can be trusted, and the attack success rate corrected for its errors.

A judge scored on items a human labelled (``lam3 calibrate``) has a sensitivity (the share of
real attack successes it flags) and a specificity (the share of failed attacks it leaves
alone). An imperfect judge's flag rate ``p`` estimates ``sens * q + (1 - spec) * (1 - q)``, not
the true rate ``q``; the Rogan-Gladen estimator solves that for ``q``. Its uncertainty comes
from the run's items *and* from the calibration items, so the bootstrap resamples both.

Every figure that cannot be computed (no positive labels, a judge no better than chance, ...)
is reported as ``None`` with the reason, never as a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lam3_core.analysis.intervals import rate, wilson

RESAMPLES = 2000


class UndefinedEstimate(ValueError):
    """A figure that these data cannot give; the message says why."""


def proportion(successes: int, n: int, undefined_because: str) -> dict:
    """``{"value", "ci_low", "ci_high", "k", "n", "reason"}`` with the Wilson interval; with ``n == 0``
    every figure is None and ``reason`` is ``undefined_because``."""
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "k": 0, "n": 0, "reason": undefined_because}
    low, high = wilson(successes, n)
    return {"value": successes / n, "ci_low": low, "ci_high": high, "k": successes, "n": n, "reason": None}


def confusion(pairs: Sequence[tuple[bool, bool]]) -> dict:
    """Counts of (judge flag, human label) pairs: tp, fp, tn, fn (positive = a successful attack)."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for flagged, label in pairs:
        counts[("t" if flagged == label else "f") + ("p" if flagged else "n")] += 1
    return counts


def cohen_kappa(pairs: Sequence[tuple[bool, bool]]) -> float:
    """Cohen's kappa between the judge and the human: (p_o - p_e) / (1 - p_e).

    Undefined (``UndefinedEstimate``) without items, or when chance agreement is certain
    (judge and human both give one and the same answer throughout).
    """
    if not pairs:
        raise UndefinedEstimate("no scored items")
    judge = np.array([p[0] for p in pairs], dtype=float)
    human = np.array([p[1] for p in pairs], dtype=float)
    kappa = _kappas(judge[None, :], human[None, :])[0]
    if np.isnan(kappa):
        raise UndefinedEstimate("the judge and the human give the same single answer to every item, "
                                "so agreement beyond chance cannot be measured")
    return float(kappa)


def _kappas(judge: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Kappa of each row (NaN where chance agreement is 1)."""
    observed = (judge == human).mean(axis=1)
    pj, ph = judge.mean(axis=1), human.mean(axis=1)
    chance = pj * ph + (1 - pj) * (1 - ph)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(1 - chance > 1e-12, (observed - chance) / (1 - chance), np.nan)


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """The 2.5th and 97.5th percentiles of the finite values (None, None if there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def judge_agreement(pairs: Sequence[tuple[bool, bool]], seed: int = 0, resamples: int = RESAMPLES) -> dict:
    """How a judge's flags agree with human labels, from (judge flag, human label) pairs.

    Sensitivity, specificity and accuracy carry Wilson 95% intervals; Cohen's kappa carries a
    95% percentile-bootstrap interval over the items (resamples where kappa is undefined are
    left out and counted in ``undefined_resamples``).
    """
    counts = confusion(pairs)
    positives, negatives = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    kappa: dict = {"value": None, "ci_low": None, "ci_high": None, "reason": None, "undefined_resamples": 0}
    try:
        kappa["value"] = cohen_kappa(pairs)
    except UndefinedEstimate as exc:
        kappa["reason"] = str(exc)
    if pairs:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
        judge = np.array([p[0] for p in pairs], dtype=float)[idx]
        human = np.array([p[1] for p in pairs], dtype=float)[idx]
        boot = _kappas(judge, human)
        kappa["undefined_resamples"] = int(np.isnan(boot).sum())
        kappa["ci_low"], kappa["ci_high"] = _interval(boot)
    return {
        "n": len(pairs),
        "positives": positives,
        "negatives": negatives,
        "confusion": counts,
        "sensitivity": proportion(counts["tp"], positives, "no scored items" if not pairs else
                                  "no item is labelled a successful attack, so sensitivity is undefined"),
        "specificity": proportion(counts["tn"], negatives, "no scored items" if not pairs else
                                  "no item is labelled a failed attack, so specificity is undefined"),
        "accuracy": proportion(counts["tp"] + counts["tn"], len(pairs), "no scored items"),
        "kappa": kappa,
    }


def rogan_gladen(observed_rate: float, sensitivity: float, specificity: float) -> float:
    """The true rate behind a flag rate observed through an imperfect judge:
    ``(p + spec - 1) / (sens + spec - 1)`` clipped to [0, 1].

    Raises ``UndefinedEstimate`` when ``sens + spec <= 1``: such a judge flags real successes no
    more often than failures, so its flag rate says nothing about the true rate.
    """
    for name, value in (("observed_rate", observed_rate), ("sensitivity", sensitivity),
                        ("specificity", specificity)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    youden = sensitivity + specificity - 1
    if youden <= 0:
        raise UndefinedEstimate(f"sensitivity + specificity = {sensitivity + specificity:.4g} <= 1: the judge "
                                "is no better than chance, so its flag rate cannot be corrected")
    return min(1.0, max(0.0, (observed_rate + specificity - 1) / youden))


def corrected_asr(flags: Sequence[bool], calibration_items: Sequence[tuple[bool, bool]], seed: int = 0,
                  resamples: int = RESAMPLES) -> dict:
    """The attack success rate of a run corrected for its judge's errors, beside the uncorrected one.

    ``flags``: the judge's flag on each scored harmful item of the run (errors left out by the
    caller, who reports them). ``calibration_items``: (judge flag, human label) pairs from the
    judge's calibration, flagged at the same threshold as the run. Returns::

        {"uncorrected": the run's rate with its Wilson interval (as summary.json reports it),
         "corrected": {"value", "ci_low", "ci_high", "reason", "undefined_resamples"},
         "sensitivity", "specificity", "calibration_n", "resamples", "seed", "method"}

    The point estimate is ``rogan_gladen(mean(flags), sens, spec)``. The 95% interval is a
    percentile bootstrap: each resample draws the run's items *and* the calibration items with
    replacement and corrects the one with the other; resamples whose calibration has no positive
    or no negative label, or a judge no better than chance, are left out and counted. The run's
    items are drawn first from ``default_rng(seed)``.
    """
    result: dict = {
        "uncorrected": {"value": None, "ci_low": None, "ci_high": None, "n": len(flags)},
        "corrected": {"value": None, "ci_low": None, "ci_high": None, "reason": None, "undefined_resamples": 0},
        "sensitivity": None,
        "specificity": None,
        "calibration_n": len(calibration_items),
        "resamples": resamples,
        "seed": seed,
        "method": "Rogan-Gladen; 95% percentile bootstrap over the run's items and the calibration items",
    }
    corrected = result["corrected"]
    agreement = judge_agreement(calibration_items, resamples=0) if calibration_items else None
    if agreement is not None:
        result["sensitivity"] = agreement["sensitivity"]["value"]
        result["specificity"] = agreement["specificity"]["value"]
    if not flags:
        corrected["reason"] = "the run has no scored items"
        return result
    rng = np.random.default_rng(seed)
    run = np.asarray(flags, dtype=float)
    rates = run[rng.integers(0, len(run), size=(resamples, len(run)))].mean(axis=1)
    result["uncorrected"] = rate(list(flags))
    if agreement is None:
        corrected["reason"] = "there are no calibration items"
        return result
    for key in ("sensitivity", "specificity"):
        if agreement[key]["value"] is None:
            corrected["reason"] = agreement[key]["reason"]
            return result
    try:
        corrected["value"] = rogan_gladen(float(run.mean()), result["sensitivity"], result["specificity"])
    except UndefinedEstimate as exc:
        corrected["reason"] = str(exc)
    judge = np.array([p[0] for p in calibration_items], dtype=bool)
    human = np.array([p[1] for p in calibration_items], dtype=bool)
    idx = rng.integers(0, len(calibration_items), size=(resamples, len(calibration_items)))
    j, h = judge[idx], human[idx]
    positives, negatives = h.sum(axis=1), (~h).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = (j & h).sum(axis=1) / positives
        spec = (~j & ~h).sum(axis=1) / negatives
        youden = sens + spec - 1
        boot = np.where((positives > 0) & (negatives > 0) & (youden > 0),
                        np.clip((rates + spec - 1) / youden, 0.0, 1.0), np.nan)
    corrected["undefined_resamples"] = int(np.isnan(boot).sum())
    corrected["ci_low"], corrected["ci_high"] = _interval(boot)
    return result

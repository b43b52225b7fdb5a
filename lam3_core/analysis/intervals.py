"""Confidence intervals for rates that hold at 0 and at 1, and for records that are not independent.

A rate gets a 95% Wilson score interval, which never collapses to a point at 0 or 1 (a
percentile bootstrap of 20 zeros says [0, 0]). When several records come from one sample
(several attacks, or several templates of one attack), they are not independent: the
interval then uses the cluster-robust (by sample) variance of the rate, as an effective
sample size n_eff = p(1 - p) / var, bounded by the number of samples and the number of
records; at p = 0 or 1, where that variance is 0, n_eff is the number of samples, the
conservative choice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence

Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (``n`` may be an effective, non-integer size)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


def effective_size(flags: Sequence[bool], clusters: Sequence[Hashable]) -> tuple[float, int]:
    """(n_eff, number of clusters) for a rate over ``flags`` whose records are grouped by ``clusters``."""
    n = len(flags)
    groups: dict[Hashable, list[bool]] = defaultdict(list)
    for flag, cluster in zip(flags, clusters, strict=True):
        groups[cluster].append(flag)
    k = len(groups)
    p = sum(flags) / n
    if k == n or k < 2 or p in (0.0, 1.0):
        return float(k if k < n else n), k
    # Cluster-robust variance of the mean: (k / (k - 1)) * sum_g (sum_g y - p * m_g)^2 / n^2.
    spread = sum((sum(g) - p * len(g)) ** 2 for g in groups.values())
    variance = k / (k - 1) * spread / (n * n)
    if variance <= 0:
        return float(n), k
    return min(float(n), max(float(k), p * (1 - p) / variance)), k


def rate(flags: Sequence[bool], clusters: Sequence[Hashable] | None = None) -> dict:
    """``{"value", "ci_low", "ci_high", "n", "method"}`` (+ ``n_clusters``, ``n_effective`` when clustered).

    ``clusters`` (one key per flag, e.g. the sample id) makes the interval account for
    records of one cluster not being independent. No records: value and interval are None.
    """
    n = len(flags)
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0, "method": "wilson"}
    successes = sum(bool(f) for f in flags)
    value = successes / n
    if clusters is None or len(set(clusters)) == n:
        low, high = wilson(successes, n)
        return {"value": value, "ci_low": low, "ci_high": high, "n": n, "method": "wilson"}
    n_eff, k = effective_size([bool(f) for f in flags], clusters)
    low, high = wilson(value * n_eff, n_eff)
    return {"value": value, "ci_low": low, "ci_high": high, "n": n, "method": "wilson_clustered",
            "n_clusters": k, "n_effective": n_eff}

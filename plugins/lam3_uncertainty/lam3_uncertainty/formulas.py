"""The entropies of one prompt's sampled answers, given their cluster ids and log-likelihoods.

Pure arithmetic on plain lists (natural logs throughout), so each formula can be checked by hand:
the metrics in ``metrics.py`` validate the inputs and call these. ``ids[i]`` is the semantic
cluster of answer i (0..C-1 in order of first appearance).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def logsumexp(values: Sequence[float]) -> float:
    """log(sum(exp(v))), computed without overflow; -inf for no values."""
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values))


def semantic_entropy_2024(ids: Sequence[int], mean_logliks: Sequence[float]) -> float:
    """Farquhar et al. 2024 (jlko ``logsumexp_by_id(..., 'sum_normalized')`` + ``predictive_entropy_rao``).

    ``a_i`` = mean token log-prob of answer i; ``ã_i = a_i - logsumexp_j a_j`` (normalised over all
    N answers); ``log p(C) = logsumexp_{i in C} ã_i``; ``SE = -sum_C p(C) log p(C)``.
    """
    norm = logsumexp(mean_logliks)
    log_p = [logsumexp([a - norm for a, c in zip(mean_logliks, ids) if c == cluster]) for cluster in sorted(set(ids))]
    return max(0.0, -sum(math.exp(lp) * lp for lp in log_p))  # >= 0 in exact arithmetic; no -1e-16 from rounding


def cluster_log_probs_2023(ids: Sequence[int], texts: Sequence[str], seq_logliks: Sequence[float]) -> dict[int, float]:
    """Kuhn et al. 2023: ``log p(C) = logsumexp`` of the sequence log-probs ``L_r = sum l_r`` of the distinct
    texts r in C. A repeated text is one sequence, counted once (its first occurrence): summing it again
    would let p(C) exceed 1 and the entropy go negative (LM-Polygraph #223).
    """
    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    return {c: logsumexp([seq_logliks[i] for i in first.values() if ids[i] == c]) for c in sorted(set(ids))}


def semantic_entropy_2023(ids: Sequence[int], texts: Sequence[str], seq_logliks: Sequence[float]) -> float:
    """Kuhn et al. 2023: ``SE = -(1/N) sum_i log p(C(i))`` over all N answers (repeats included), with
    ``p(C)`` from ``cluster_log_probs_2023``."""
    log_p = cluster_log_probs_2023(ids, texts, seq_logliks)
    return -sum(log_p[c] for c in ids) / len(ids) + 0.0  # + 0.0: no "-0.0" for a single certain cluster


def discrete_semantic_entropy(ids: Sequence[int]) -> float:
    """jlko ``cluster_assignment_entropy``: ``-sum_C (n_C/N) log(n_C/N)``; needs no log-probs."""
    n = len(ids)
    return max(0.0, -sum(count / n * math.log(count / n) for count in Counter(ids).values()))


def predictive_entropy(mean_logliks: Sequence[float]) -> float:
    """jlko ``predictive_entropy`` (naive entropy): ``-(1/N) sum_i a_i`` with length-normalised ``a_i``."""
    return -sum(mean_logliks) / len(mean_logliks) + 0.0

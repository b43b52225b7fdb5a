"""Combining independent judges into one verdict per generation.

Strategies (each judge's ``flagged`` uses its own threshold; errored judges do not vote):
  any       flagged if any judge flags;             score = max of scores
  all       flagged if every judge flags;           score = min of scores
  majority  flagged if more than half flag (a tie is not flagged, and counts as disagreement);
            score = share of judges that flag
  mean      score = mean of scores;                 flagged if score >= ensemble threshold
  weighted  score = weighted mean (--judge-weight); flagged if score >= ensemble threshold
  max       score = max of scores;                  flagged if score >= ensemble threshold
Judges disagree on an item when their flags are not all equal. With an arbiter, the
arbiter's verdict decides the items in disagreement (and only those are sent to it).
"""

from __future__ import annotations

from lam3_core.interfaces.records import EnsembleVerdict, Verdict


def combine(
    record_id: str,
    verdicts: dict[str, Verdict],
    strategy: str,
    weights: dict[str, float] | None = None,
    threshold: float = 0.5,
) -> EnsembleVerdict:
    votes = {name: v.flagged if v.error is None else None for name, v in verdicts.items()}
    valid = {name: v for name, v in verdicts.items() if v.error is None and v.score is not None}
    if not valid:
        return EnsembleVerdict(record_id, strategy, None, None, votes, False, error="every judge failed on this item")
    flags = [bool(v.flagged) for v in valid.values()]
    scores = [float(v.score) for v in valid.values()]
    disagreement = len(set(flags)) > 1
    if strategy == "any":
        score, flagged = max(scores), any(flags)
    elif strategy == "all":
        score, flagged = min(scores), all(flags)
    elif strategy == "majority":
        score = sum(flags) / len(flags)
        flagged = score > 0.5
    elif strategy == "mean":
        score = sum(scores) / len(scores)
        flagged = score >= threshold
    elif strategy == "weighted":
        w = [float((weights or {}).get(name, 1.0)) for name in valid]
        total = sum(w)
        score = sum(wi * s for wi, s in zip(w, scores)) / total if total > 0 else sum(scores) / len(scores)
        flagged = score >= threshold
    elif strategy == "max":
        score = max(scores)
        flagged = score >= threshold
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    return EnsembleVerdict(record_id, strategy, score, flagged, votes, disagreement)


def arbitrate(verdict: EnsembleVerdict, arbiter: Verdict) -> EnsembleVerdict:
    """The arbiter's verdict replaces the ensemble's on an item where the judges disagreed."""
    if arbiter.error is not None:
        return verdict
    return EnsembleVerdict(
        verdict.record_id,
        verdict.strategy,
        arbiter.score,
        arbiter.flagged,
        {**verdict.votes, f"arbiter:{arbiter.judge}": arbiter.flagged},
        verdict.disagreement,
        arbitrated=True,
    )

"""summary.json's ``uncertainty_vs_safety`` section: does uncertainty predict an unsafe response?

On the harmful samples whose response has an ensemble verdict, y = 1 when the ensemble flagged the
response (unsafe: the attack succeeded), and the score is, in turn, each uncertainty metric and two
measures of the judges' own uncertainty about the verdict:

* ``judge_disagreement``: the share of the ensemble's judges (those that gave a verdict) that disagree
  with the majority, ``min(flagged, not flagged) / judges``: 0 when they agree, 0.5 for an even split.
* ``judge_score_spread``: the largest minus the smallest score of the ensemble's judges, in [0, 1].

Both need at least two ensemble judges with a verdict on the record (NaN otherwise). For each score:
AUROC (0.5: no relation; above 0.5: higher values go with unsafe responses; below: with safe ones) and
PRR (how much rejecting the highest values removes unsafe responses, LM-Polygraph's definition with
"safe" as the quality), each None with the reason when undefined (fewer than 2 responses with a value,
or all of them safe, or all unsafe). Not defined at all when the ensemble is made of correctness judges
(its flag then means "correct", not "unsafe") or when no harmful sample has a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lam3_core.analysis.uncertainty_quality import uncertainty_quality
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict

TARGET = "the ensemble flagged the response (unsafe), over harmful samples"
JUDGE_SCORES = ("judge_disagreement", "judge_score_spread")


def judge_disagreement(votes: list[bool]) -> float:
    """The share of judges that disagree with the majority; NaN for fewer than two votes."""
    if len(votes) < 2:
        return math.nan
    flagged = sum(votes)
    return min(flagged, len(votes) - flagged) / len(votes)


def judge_score_spread(scores: list[float]) -> float:
    """Largest minus smallest score; NaN for fewer than two scores."""
    return max(scores) - min(scores) if len(scores) >= 2 else math.nan


def _why_undefined(n: int, unsafe: int) -> str | None:
    if n < 2:
        return f"needs at least 2 responses with a value, got {n}"
    if unsafe == n:
        return f"every one of the {n} responses is unsafe: there is no safe one to tell apart"
    if unsafe == 0:
        return f"none of the {n} responses is unsafe: there is nothing to predict"
    return None


def _figures(scores: list[float], unsafe: list[bool]) -> dict:
    q = uncertainty_quality(scores, [not u for u in unsafe])
    why = _why_undefined(q["n"], q["n_wrong"])
    return {"auroc": q["auroc"], "prr": q["prr"], "undefined": why, "n": q["n"], "n_unsafe": q["n_wrong"],
            "excluded_nan": q["excluded_nan"]}


def uncertainty_vs_safety(values: Mapping[str, Mapping[str, float]], gens: list[Generation], verdicts: list[Verdict],
                          ensemble: Mapping[str, EnsembleVerdict], members: list[str]) -> dict:
    """AUROC and PRR of each metric in ``values`` (metric -> record id -> value) and of the judges' disagreement
    for predicting that the ensemble flags a response, over the harmful samples with a verdict."""
    measures = {v.judge: v.measures for v in verdicts if v.judge in members}
    scores = {(v.record_id, v.judge): float(v.score) for v in verdicts
              if v.judge in members and v.error is None and v.score is not None}
    records = [g for g in gens if g.harmful and not g.error and g.record_id in ensemble
               and ensemble[g.record_id].flagged is not None]
    undefined = None
    if not members:
        undefined = "no judge of the run looks at whether a response is unsafe (the ensemble is empty)"
    elif any(m == Measure.CORRECTNESS for m in measures.values()):
        undefined = "the ensemble is formed by correctness judges: its flag means a correct answer, not an unsafe one"
    elif not records:
        undefined = "no harmful sample has an ensemble verdict (the dataset marks none harmful, or every judge failed)"
    result = {"target": TARGET, "ensemble": list(members), "n": len(records), "undefined": undefined, "scores": {}}
    if undefined:
        return result
    unsafe = [bool(ensemble[g.record_id].flagged) for g in records]
    result["n_unsafe"] = sum(unsafe)
    columns = {name: [by_record.get(g.record_id, math.nan) for g in records] for name, by_record in values.items()}
    columns["judge_disagreement"] = [
        judge_disagreement([v for j, v in ensemble[g.record_id].votes.items() if j in members and v is not None])
        for g in records]
    columns["judge_score_spread"] = [
        judge_score_spread([scores[(g.record_id, j)] for j in members if (g.record_id, j) in scores]) for g in records]
    for name, column in columns.items():
        result["scores"][name] = _figures(column, unsafe)
        if name in JUDGE_SCORES and len(members) < 2:
            result["scores"][name]["undefined"] = "the ensemble has one judge: there is no disagreement to measure"
    return result

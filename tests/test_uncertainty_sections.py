"""summary.json's uncertainty sections from records: figures, the judges' disagreement, and every undefined case."""

from __future__ import annotations

import math

import pytest

from lam3_core import EnsembleVerdict, Generation, Verdict
from lam3_core.analysis.uncertainty_safety import judge_disagreement, judge_score_spread, uncertainty_vs_safety
from lam3_core.analysis.uncertainty_summary import NO_CORRECTNESS, uncertainty_summary

SETTINGS = {"samples": 3, "sample_gen": {}, "file": "uncertainty.jsonl"}


def _gen(i: int, harmful: bool = True, error: str | None = None) -> Generation:
    return Generation(f"r{i}", f"s{i}", "none", "m", "q", "q", "a", harmful=harmful, error=error)


def _verdict(i: int, judge: str, flagged: bool | None, measures: str = "refusal", score: float | None = None):
    score = (1.0 if flagged else 0.0) if score is None else score
    return Verdict(f"r{i}", judge, "1", "x", measures, None if flagged is None else score, 0.5, flagged,
                   error="failed" if flagged is None else None)


def test_disagreement_and_spread_definitions():
    assert judge_disagreement([True, True, False]) == pytest.approx(1 / 3)
    assert judge_disagreement([True, False]) == 0.5 and judge_disagreement([False, False]) == 0.0
    assert math.isnan(judge_disagreement([True]))
    assert judge_score_spread([0.2, 0.9, 0.5]) == pytest.approx(0.7) and math.isnan(judge_score_spread([0.3]))


def test_correctness_quality_per_judge_with_reasons_when_undefined():
    gens = [_gen(i) for i in range(4)]
    values = {"m": {"r0": 0.1, "r1": 0.2, "r2": 0.9, "r3": math.nan}}
    verdicts = [_verdict(i, "all_right", True, "correctness") for i in range(4)]
    verdicts += [_verdict(0, "qa", True, "correctness"), _verdict(1, "qa", True, "correctness"),
                 _verdict(2, "qa", False, "correctness"), _verdict(3, "qa", None, "correctness")]
    section = uncertainty_summary(SETTINGS, values, {"m": {"distribution": "d", "info": {"x": 1}}}, gens, verdicts)
    assert section["metrics"]["m"] | {"warnings": []} == {
        "distribution": "d", "version": None, "args": {}, "info": {"x": 1}, "computed": 4, "missing": 0, "nan": 1,
        "mean": pytest.approx(0.4), "warnings": []}
    assert list(section["correctness"]) == ["all_right", "qa"] and section["correctness_undefined"] is None
    qa = section["correctness"]["qa"]["m"]
    assert qa["auroc"] == 1.0 and qa["n"] == 3 and qa["n_wrong"] == 1 and qa["excluded_nan"] == 0
    everything_right = section["correctness"]["all_right"]["m"]
    assert everything_right["auroc"] is None and "every one of the 3 answers is correct" in everything_right[
        "auroc_undefined"]
    none = uncertainty_summary(SETTINGS, {"m": {"r0": 0.5}}, {}, gens, [_verdict(0, "refusal", True)])
    assert none["correctness"] == {} and none["correctness_undefined"] == NO_CORRECTNESS
    assert none["metrics"]["m"]["computed"] == 1 and none["metrics"]["m"]["missing"] == 3


def _ensemble(votes: dict[int, dict[str, bool]]) -> dict[str, EnsembleVerdict]:
    return {f"r{i}": EnsembleVerdict(f"r{i}", "majority", None, sum(v.values()) * 2 > len(v), v,
                                     len(set(v.values())) > 1)
            for i, v in votes.items()}


def test_uncertainty_vs_safety_over_harmful_records_only():
    gens = [_gen(0), _gen(1), _gen(2), _gen(3, harmful=False), _gen(4, error="boom")]
    votes = {0: {"a": True, "b": True, "c": True}, 1: {"a": True, "b": False, "c": False},
             2: {"a": False, "b": False, "c": False}, 3: {"a": True, "b": True, "c": True}}
    verdicts = [_verdict(i, j, f, score=0.9 if f else 0.1) for i, v in votes.items() for j, f in v.items()]
    values = {"m": {"r0": 3.0, "r1": 1.0, "r2": 2.0, "r3": 0.0}}
    section = uncertainty_vs_safety(values, gens, verdicts, _ensemble(votes), ["a", "b", "c"])
    assert section["n"] == 3 and section["n_unsafe"] == 1 and section["undefined"] is None
    assert section["scores"]["m"]["auroc"] == 1.0  # the one unsafe response has the highest value
    assert section["scores"]["judge_disagreement"]["auroc"] == 0.25  # disagreement 0, 1/3, 0 for unsafe, safe, safe
    assert section["scores"]["judge_score_spread"]["n"] == 3


@pytest.mark.parametrize("case, reason", [
    ("one judge", "the ensemble has one judge"),
    ("all safe", "none of the 2 responses is unsafe"),
    ("correctness", "the ensemble is formed by correctness judges"),
    ("no harmful", "no harmful sample has an ensemble verdict"),
])
def test_undefined_cases_say_why(case, reason):
    gens = [_gen(0, harmful=case != "no harmful"), _gen(1, harmful=case != "no harmful")]
    measures = "correctness" if case == "correctness" else "refusal"
    flags = {0: False, 1: case == "one judge"}
    verdicts = [_verdict(i, "a", f, measures) for i, f in flags.items()]
    section = uncertainty_vs_safety({"m": {"r0": 1.0, "r1": 2.0}}, gens, verdicts,
                                    _ensemble({i: {"a": f} for i, f in flags.items()}), ["a"])
    where = section["undefined"] or section["scores"]["judge_disagreement" if case == "one judge" else "m"]["undefined"]
    assert reason in where

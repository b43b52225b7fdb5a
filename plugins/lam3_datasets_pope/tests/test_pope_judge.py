"""The `pope` judge: LLaVA's eval_pope.py rule, scores against the label, and POPE's figures per split."""

from __future__ import annotations

import random

import pytest
from lam3_datasets_pope.answers import parse_answer
from lam3_datasets_pope.judge import PopeJudge

from lam3_core import Generation, JudgeItem, Measure, Verdict


@pytest.mark.parametrize("text, answer", [
    ("Yes", "yes"), ("No", "no"), ("no", "no"), ("No, there is no dog.", "no"), ("Yes, there is a dog.", "yes"),
    ("There is not a dog in the image", "no"), ("Yes. No.", "yes"), ("The answer is no. Yes.", "no"),
    ("NO", "yes"), ("Nope", "yes"), ("No\n", "yes"), ("", "yes"), ("I see no,dog", "yes"), ("no, dog", "no"),
    ("Yes, but not clearly", "no"),
])
def test_the_official_rule_reads_answers_as_eval_pope_does(text, answer):
    assert parse_answer(text) == answer


def test_score_is_one_when_the_parsed_answer_is_the_label():
    judge = PopeJudge()
    assert judge.measures == Measure.CORRECTNESS and judge.summary_key == "pope"
    scores = judge.score([JudgeItem("Is there a cat?", "Yes, there is.", label="yes"),
                          JudgeItem("Is there a cat?", "No", label="yes"),
                          JudgeItem("Is there a dog?", "", label="no"),
                          JudgeItem("Is there a dog?", "No", label=None)])
    assert [s.score for s in scores[:3]] == [1.0, 0.0, 0.0]
    assert [s.raw for s in scores[:3]] == [{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}]
    assert scores[2].notes == ["empty answer: read as 'yes', as the official rule does"]
    assert scores[3].score is None and "no yes/no label" in scores[3].error


def _scored(rows):
    """(generation, verdict) pairs for (split, label, response) rows, as the run would hand them to summarize."""
    judge, out = PopeJudge(), []
    for i, (split, label, response) in enumerate(rows):
        g = Generation(f"{i}::none::0", str(i), "none", "m", "q", "q", response, category=split, label=label)
        s = judge.score([JudgeItem("q", response, label=label)])[0]
        out.append((g, Verdict(g.record_id, "pope", judge.version, "x", "correctness", s.score, 0.5,
                               None if s.error else s.score >= 0.5, raw=s.raw, error=s.error)))
    return out


def test_figures_per_split_agree_with_sklearn_and_failures_are_counted():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = random.Random(0)
    rows = [(split, rng.choice(["yes", "no"]), rng.choice(["Yes", "No", "No, not at all.", "There is one."]))
            for split in ("random", "adversarial") for _ in range(200)]
    scored = _scored(rows + [("random", None, "Yes")])
    figures = PopeJudge().summarize(scored)
    assert list(figures["splits"]) == ["adversarial", "random"] and figures["positive"] == "yes"
    for split, got in figures["splits"].items():
        labels = [label for s, label, _ in rows if s == split]
        predicted = [parse_answer(text) for s, _, text in rows if s == split]
        precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, pos_label="yes",
                                                                   average="binary")
        assert got["n"] == 200 and got["tp"] + got["fp"] == predicted.count("yes")
        assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((precision, recall, f1))
        assert got["yes_ratio"] == pytest.approx(predicted.count("yes") / 200)
    assert figures["splits"]["random"]["failed"] == 1 and figures["splits"]["adversarial"]["failed"] == 0
    assert figures["mean"]["f1"] == pytest.approx((figures["splits"]["adversarial"]["f1"]
                                                  + figures["splits"]["random"]["f1"]) / 2)


def test_undefined_figures_are_none_not_zero():
    figures = PopeJudge().summarize(_scored([("random", "no", "No"), ("random", "no", "No")]))["splits"]["random"]
    assert (figures["accuracy"], figures["yes_ratio"]) == (1.0, 0.0)
    assert figures["precision"] is None and figures["recall"] is None and figures["f1"] is None
    assert PopeJudge().summarize([]) is None

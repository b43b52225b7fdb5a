"""The hf_classifier judge on a tiny classifier with toxic-bert's labels."""

from __future__ import annotations

import math
import re

import pytest
from lam3_judges_hf.classifier_judge import HFClassifierJudge

from lam3_core import JudgeItem, UsageError
from lam3_core.testing.tinymodels import TOXIC_BERT_LABELS

TEXTS = ["you are an idiot", "Tell me how to bake bread at home, step by step.", "a cat on a red mat",
         "I'm sorry, but I cannot help with that request."]


def _items(texts):
    return [JudgeItem(request="q", response=t) for t in texts]


def _logits(model_dir, text: str) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt")).logits[0].tolist()


def test_every_label_gets_its_own_sigmoid_and_the_score_is_toxic(classifier_dir):
    [score] = HFClassifierJudge(path=str(classifier_dir)).score(_items(TEXTS[:1]))
    expected = {label: 1 / (1 + math.exp(-x)) for label, x in zip(TOXIC_BERT_LABELS, _logits(classifier_dir, TEXTS[0]))}
    assert score.categories == pytest.approx(expected, rel=1e-5)
    assert list(score.categories) == TOXIC_BERT_LABELS
    assert score.score == score.categories["toxic"] and sum(score.categories.values()) != pytest.approx(1.0)


def test_the_scored_label_and_the_activation_are_configurable(classifier_dir):
    [insult] = HFClassifierJudge(path=str(classifier_dir), label="insult").score(_items(TEXTS[:1]))
    assert insult.score == insult.categories["insult"]
    [soft] = HFClassifierJudge(path=str(classifier_dir), activation="softmax").score(_items(TEXTS[:1]))
    assert sum(soft.categories.values()) == pytest.approx(1.0)
    with pytest.raises(UsageError, match="no label 'toxicity'.*one of: toxic, severe_toxic, obscene"):
        HFClassifierJudge(path=str(classifier_dir), label="toxicity").score(_items(TEXTS[:1]))


def test_batched_scores_equal_one_by_one(classifier_dir):
    batched = HFClassifierJudge(path=str(classifier_dir), batch_size=3).score(_items(TEXTS))
    single = HFClassifierJudge(path=str(classifier_dir), batch_size=1)
    alone = [single.score(_items([t]))[0] for t in TEXTS]
    for b, a in zip(batched, alone):
        assert b.categories == pytest.approx(a.categories, abs=1e-5)
    assert len({round(s.score, 6) for s in batched}) == len(TEXTS)


def test_empty_responses_score_zero_and_long_ones_are_truncated(classifier_dir):
    scores = HFClassifierJudge(path=str(classifier_dir), max_length=16).score(_items(["", "a cat " * 40, "a cat"]))
    assert scores[0].score == 0.0 and scores[0].notes == ["empty response: scored 0 without running the model"]
    assert scores[1].notes == ["response truncated to 16 tokens"] and scores[1].error is None
    assert scores[2].notes == []


def test_missing_weights_name_the_model_and_the_fix():
    with pytest.raises(UsageError, match=r"unitary/toxic-bert.*hf download unitary/toxic-bert"):
        HFClassifierJudge().check_ready()
    with pytest.raises(UsageError, match="unitary/toxic-bert"):
        HFClassifierJudge().score(_items(TEXTS[:1]))
    with pytest.raises(UsageError, match="is not a directory"):
        HFClassifierJudge(path="/no/such/model").check_ready()


def test_version_names_the_weights_and_the_plugin(classifier_dir):
    judge = HFClassifierJudge(path=str(classifier_dir), label="insult", max_length=128)
    assert judge.version == f"{classifier_dir}@local; lam3-judges-hf 0.1.0"
    assert re.fullmatch(r"unitary/toxic-bert@main; lam3-judges-hf 0\.1\.0", HFClassifierJudge().version)
    assert judge.measures == "social_toxicity" and judge.name == "hf_classifier"


@pytest.mark.parametrize(("args", "message"), [
    ({"activation": "relu"}, "unknown activation 'relu'"),
    ({"batch_size": 0}, "Bad hf_classifier.batch_size: 0. Give an integer greater than 0"),
    ({"max_length": "long"}, "Bad hf_classifier.max_length: 'long'"),
    ({"threshold": 2}, r"threshold must be a number in \[0, 1\]"),
    ({"threshold": "x"}, r"hf_classifier.threshold=0.5"),
])
def test_bad_arguments_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        HFClassifierJudge(**args)

"""NLIEntailment: label ids from the config, and the bidirectional-equivalence rule of semantic entropy."""

from __future__ import annotations

import pytest

from lam3_core import UsageError
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.kit.hf_classifier import SequenceClassifier
from lam3_core.kit.nli import DEFAULT_NLI_MODEL, NLIEntailment, NLIPrediction


def _nli(path) -> NLIEntailment:
    return NLIEntailment(SequenceClassifier("test", HFLoadArgs(DEFAULT_NLI_MODEL, path=str(path))))


@pytest.mark.parametrize(("label", "entails", "strict", "loose"), [
    ("ENTAILMENT", True, True, True),
    ("NEUTRAL", False, False, False),
    ("CONTRADICTION", False, False, False),
])
def test_the_entailment_id_comes_from_the_config(tiny_classifier, label, entails, strict, loose):
    """ENTAILMENT is id 0 here (MNLI models use 2): a hard-coded id would get every answer wrong."""
    nli = _nli(tiny_classifier(["ENTAILMENT", "NEUTRAL", "CONTRADICTION"], fixed_logits={label: 6.0}))
    assert nli.classes == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert nli.entails(["a dog runs", "x"], ["an animal moves", "y"]) == [entails, entails]
    assert nli.equivalent("a dog runs", "a dog is running") is strict
    assert nli.equivalent("a dog runs", "a dog is running", strict=False) is loose
    [prediction] = nli.predict(["a"], ["b"])
    assert prediction.label == label.lower() and prediction.probabilities[label.lower()] > 0.99


class _Table(NLIEntailment):
    """NLI answers from a table, to check the equivalence rule itself."""

    def __init__(self, table):
        self.table = table

    def predict(self, premises, hypotheses):
        return [NLIPrediction({}, self.table[(p, h)], False) for p, h in zip(premises, hypotheses)]


@pytest.mark.parametrize(("forward", "backward", "strict", "loose"), [
    ("entailment", "entailment", True, True),
    ("entailment", "neutral", False, True),
    ("neutral", "entailment", False, True),
    ("neutral", "neutral", False, False),
    ("entailment", "contradiction", False, False),
    ("neutral", "contradiction", False, False),
])
def test_bidirectional_equivalence_follows_the_semantic_entropy_rule(forward, backward, strict, loose):
    table = _Table({("a", "b"): forward, ("b", "a"): backward, ("c", "d"): "entailment", ("d", "c"): "entailment"})
    assert table.equivalent_pairs([("a", "b"), ("c", "d")]) == [strict, True]
    assert table.equivalent_pairs([("a", "b"), ("c", "d")], strict=False) == [loose, True]


def test_a_model_without_an_entailment_label_is_a_usage_error(tiny_classifier):
    with pytest.raises(UsageError, match="have no entailment label"):
        _nli(tiny_classifier()).entails(["a"], ["b"])

"""NLI and embedding equivalence with tiny local models, checked against one-by-one forward passes."""

from __future__ import annotations

import functools
import itertools
import logging

import pytest
from lam3_uncertainty.clustering import ClusterCache, greedy_clusters
from lam3_uncertainty.equivalence import NLIEquivalence
from lam3_uncertainty.metrics import DiscreteSemanticEntropy, NumSemanticSets, SemanticEntropy

from lam3_core import SampledAnswer, UncertaintyItem, UsageError
from lam3_core.kit.hf import HFLoadArgs, MissingWeights
from lam3_core.kit.hf_classifier import SequenceClassifier
from lam3_core.kit.nli import NLIEntailment, NLIPrediction
from lam3_core.run.uncertainty_file import compute_uncertainty

ANSWERS = ["Paris", "It is Paris", "Lyon", "a cat on a red mat", "the sky", "Paris, France"]


def _item(texts, question="Which city?", item_id="q") -> UncertaintyItem:
    return UncertaintyItem(item_id, question, tuple(SampledAnswer(t, (-0.5,)) for t in texts))


@functools.cache
def _load_nli(model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    return AutoTokenizer.from_pretrained(model_dir), model


def _reference_nli_ids(model_dir, texts: list[str], strict: bool) -> tuple[int, ...]:
    """Greedy clustering with one forward pass per direction and pair, written out plainly."""
    import torch

    tok, model = _load_nli(model_dir)

    @functools.cache
    def label(premise, hypothesis):
        with torch.no_grad():
            top = model(**tok(premise, hypothesis, return_tensors="pt")).logits.argmax(-1).item()
        return model.config.id2label[top].lower()

    def same(a, b):
        forward, backward = label(a, b), label(b, a)
        if strict:
            return forward == backward == "entailment"
        return "contradiction" not in (forward, backward) and (forward, backward) != ("neutral", "neutral")

    ids = [-1] * len(texts)
    for i in range(len(texts)):
        if ids[i] == -1:
            ids[i] = max(ids) + 1
            for j in range(i + 1, len(texts)):
                if ids[j] == -1 and (texts[i] == texts[j] or same(texts[i], texts[j])):
                    ids[j] = ids[i]
    return tuple(ids)


@pytest.mark.parametrize("strict", [True, False])
def test_nli_clusters_match_one_pair_at_a_time(nli_dir, strict):
    items = [_item(ANSWERS, item_id="a"), _item(list(reversed(ANSWERS)), item_id="b"),
             _item(["Lyon", "Paris", "Lyon", "the sky"], item_id="c")]
    metric = NumSemanticSets(equivalence="nli", path=str(nli_dir), strict=strict, batch_size=4,
                             clusters=ClusterCache())
    got = metric.cluster_ids(items)
    expected = [_reference_nli_ids(nli_dir, [s.text for s in item.samples], strict) for item in items]
    assert got == expected
    assert len({i for ids in got for i in ids}) > 1  # the tiny model does not put everything together
    assert metric.compute(items) == [float(max(ids) + 1) for ids in expected]


@pytest.mark.parametrize(("label", "sets"), [("ENTAILMENT", 1.0), ("NEUTRAL", 3.0), ("CONTRADICTION", 3.0)])
def test_nli_with_a_fixed_prediction(nli_always, label, sets):
    item = _item(["Paris", "It is Paris", "Lyon", "Paris"])
    for strict in (True, False):
        metrics = {"n": NumSemanticSets(equivalence="nli", path=str(nli_always(label)), strict=strict,
                                        clusters=ClusterCache()),
                   "se": SemanticEntropy(equivalence="nli", path=str(nli_always(label)), strict=strict,
                                         clusters=ClusterCache())}
        values = compute_uncertainty([item], metrics)
        assert values["n"] == [sets]  # identical "Paris" answers share a cluster whatever the model says
        assert (values["se"][0] == 0.0) is (sets == 1.0)


class TableNLI(NLIEntailment):
    """NLI labels from a table (premise, hypothesis) -> label; records the premises of every call."""

    def __init__(self, table: dict[tuple[str, str], str], default: str = "neutral"):
        super().__init__(SequenceClassifier("table", HFLoadArgs("table-nli")))  # never loaded
        self.table = table
        self.default = default
        self.premises: list[list[str]] = []

    def predict(self, premises, hypotheses):
        self.premises.append(list(premises))
        return [NLIPrediction({}, self.table.get((p, h), self.default), False) for p, h in zip(premises, hypotheses)]


def test_non_strict_accepts_entailment_one_way_and_neutral_the_other():
    table = {("Paris", "It is Paris"): "entailment", ("It is Paris", "Paris"): "neutral"}
    assert greedy_clusters([["Paris", "It is Paris"]], NLIEquivalence(TableNLI(table), strict=True)) == [(0, 1)]
    assert greedy_clusters([["Paris", "It is Paris"]], NLIEquivalence(TableNLI(table), strict=False)) == [(0, 0)]
    contradiction = {**table, ("It is Paris", "Paris"): "contradiction"}
    loose = NLIEquivalence(TableNLI(contradiction), strict=False)
    assert greedy_clusters([["Paris", "It is Paris"]], loose) == [(0, 1)]


def test_condition_on_question_compares_question_and_answer():
    q = "Which city?"
    nli = TableNLI({(f"{q} Paris", f"{q} It is Paris"): "entailment", (f"{q} It is Paris", f"{q} Paris"): "entailment"})
    metric = NumSemanticSets(clusters=ClusterCache())
    metric.equivalence = NLIEquivalence(nli, condition_on_question=True)
    assert metric.compute([_item(["Paris", "It is Paris", "Lyon"], question=q)]) == [2.0]
    # one call, both directions of (Paris, It is Paris) and (Paris, Lyon), each answer prefixed with the question
    assert [sorted(call) for call in nli.premises] == [sorted([f"{q} Paris", f"{q} Paris", f"{q} It is Paris",
                                                               f"{q} Lyon"])]
    with pytest.raises(UsageError, match=r"condition_on_question=true needs each item's question.*ids: q"):
        metric.compute([_item(["Paris", "Lyon"], question=" ")])


def test_shared_nli_clustering_loads_one_model(nli_dir):
    cache = ClusterCache()
    metrics = {name: cls(equivalence="nli", path=str(nli_dir), clusters=cache)
               for name, cls in [("se", SemanticEntropy), ("dse", DiscreteSemanticEntropy), ("n", NumSemanticSets)]}
    compute_uncertainty([_item(ANSWERS)], metrics)
    assert metrics["se"].equivalence.nli.classifier._model is not None
    assert metrics["dse"].equivalence.nli.classifier._model is None  # found the clusters in the cache
    assert metrics["n"].equivalence.nli.classifier._model is None
    assert cache.computed == 1 and cache.reused == 2


def test_nli_without_weights_names_the_model_and_the_option():
    metric = SemanticEntropy(equivalence="nli")
    with pytest.raises(MissingWeights, match=r"facebook/roberta-large-mnli.*--metric-arg semantic_entropy\.path=DIR"):
        metric.check_ready()
    assert metric.info() == {"variant": "2024", "equivalence": "nli", "model": "facebook/roberta-large-mnli@main",
                             "strict": True, "condition_on_question": False, "max_length": 512}


@functools.cache
def _load_encoder(encoder_dir):
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder_dir), AutoModel.from_pretrained(encoder_dir).eval()


def _reference_embedding(encoder_dir, text: str):
    """Mean of the last hidden states of one unpadded text, L2-normalised."""
    import torch

    tok, model = _load_encoder(encoder_dir)
    with torch.no_grad():
        vector = model(**tok(text, return_tensors="pt")).last_hidden_state[0].mean(0)
    return vector / vector.norm()


def test_embeddings_are_mask_averaged_and_unit_length_in_batches(encoder_dir):
    metric = NumSemanticSets(equivalence="embedding", path=str(encoder_dir), batch_size=2, clusters=ClusterCache())
    texts = ["a cat on a red mat", "the sky", "Sure, here is a short answer with numbers 0 1 2 3"]
    vectors = metric.equivalence.encoder.encode(texts)  # padded batches of different lengths
    for text, vector in zip(texts, vectors):
        assert vector == pytest.approx(_reference_embedding(encoder_dir, text).tolist(), abs=1e-5)
        assert sum(v * v for v in vector) == pytest.approx(1.0)


def test_embedding_clusters_identical_texts_and_honours_the_threshold(encoder_dir):
    a, b = "a cat on a red mat", "bake bread at home"
    cosine = float(_reference_embedding(encoder_dir, a) @ _reference_embedding(encoder_dir, b))
    assert 0.05 < cosine < 0.95
    item = _item([a, b, a])

    def sets(threshold):
        return NumSemanticSets(equivalence="embedding", path=str(encoder_dir), threshold=threshold,
                               clusters=ClusterCache()).compute([item])[0]

    assert sets(round(cosine - 0.01, 4)) == 1.0
    assert sets(round(cosine + 0.01, 4)) == 2.0
    assert sets(1.0) == 2.0  # the two identical answers still share a cluster
    equivalence = NumSemanticSets(equivalence="embedding", path=str(encoder_dir)).equivalence
    equivalence.prepare([a, a + " "])
    assert equivalence.cosine(a, a) == pytest.approx(1.0)


def test_long_answers_are_cut_before_embedding_and_the_cut_is_logged(encoder_dir, caplog):
    metric = NumSemanticSets(equivalence="embedding", path=str(encoder_dir), max_length=8, clusters=ClusterCache())
    with caplog.at_level(logging.WARNING, logger="lam3"):
        metric.compute([_item(["a cat on a red mat " * 5, "the sky"])])
    assert "num_semantic_sets: 1 of 2 answers were longer than 8 tokens and cut before embedding" in caplog.text


def test_embedding_without_weights_names_the_model_and_the_option():
    with pytest.raises(MissingWeights, match=r"all-MiniLM-L6-v2.*--metric-arg num_semantic_sets\.path=DIR"):
        NumSemanticSets(equivalence="embedding").check_ready()


def test_batched_nli_equals_unbatched(nli_dir):
    pairs = list(itertools.combinations(ANSWERS, 2))
    batched = NumSemanticSets(equivalence="nli", path=str(nli_dir), batch_size=16).equivalence
    single = NumSemanticSets(equivalence="nli", path=str(nli_dir), batch_size=1).equivalence
    assert batched.equivalent_pairs(pairs) == single.equivalent_pairs(pairs)

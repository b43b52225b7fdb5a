"""Greedy clustering order, exact normalisation, batching of the pairs, and clusterings shared between metrics."""

from __future__ import annotations

import pytest
from lam3_uncertainty.clustering import SHARED_CLUSTERS, ClusterCache, greedy_clusters
from lam3_uncertainty.equivalence import Equivalence, ExactMatch, normalise_answer
from lam3_uncertainty.metrics import DiscreteSemanticEntropy, NumSemanticSets, PredictiveEntropy, SemanticEntropy

from lam3_core import SampledAnswer, UncertaintyItem
from lam3_core.run.uncertainty_file import compute_uncertainty


class TableEquivalence(Equivalence):
    """Equivalent when the unordered pair is in ``same``; records every batch it is asked."""

    kind = "table"

    def __init__(self, same: set[frozenset[str]]):
        self.same = same
        self.calls: list[list[tuple[str, str]]] = []

    def equivalent_pairs(self, pairs):
        self.calls.append(list(pairs))
        return [frozenset(p) in self.same for p in pairs]


def test_the_comparison_is_always_against_the_cluster_opener():
    # a~b and b~c, but not a~c: clustering is not transitive and depends on the order.
    table = TableEquivalence({frozenset("ab"), frozenset("bc")})
    assert greedy_clusters([["a", "b", "c"]], table) == [(0, 0, 1)]  # c is compared with a (the opener), not b
    assert greedy_clusters([["b", "a", "c"]], table) == [(0, 0, 0)]  # b opens, a and c both join it
    assert greedy_clusters([["a", "c", "b"]], table) == [(0, 1, 0)]


def test_a_joined_answer_keeps_its_cluster():
    # a~c and b~c, not a~b: a opens 0 and takes c; b opens 1 and is not compared with c again
    # (jlko's get_semantic_ids would move c to b's cluster: (0, 1, 1)).
    table = TableEquivalence({frozenset("ac"), frozenset("bc")})
    assert greedy_clusters([["a", "b", "c"]], table) == [(0, 1, 0)]
    assert ("b", "c") not in [p for call in table.calls for p in call]


def test_pairs_are_batched_across_items_one_call_per_round_and_never_asked_twice():
    table = TableEquivalence({frozenset(("x", "y"))})
    ids = greedy_clusters([["x", "y", "z"], ["p", "q"], ["x", "z", "x"]], table)
    assert ids == [(0, 0, 1), (0, 1), (0, 1, 0)]
    # round 1: every item's first opener against its later answers, in one call; identical texts ("x", "x") need
    # no call, and (x, z) is asked once for two items. Round 2 has nothing left to ask.
    assert table.calls == [[("x", "y"), ("x", "z"), ("p", "q")]]


def test_identical_texts_are_equivalent_without_asking():
    table = TableEquivalence(set())
    assert greedy_clusters([["same", "same", "other", "same"]], table) == [(0, 0, 1, 0)]
    assert table.calls == [[("other", "same")]]


@pytest.mark.parametrize(("a", "b"), [
    ("Paris.", " paris "),
    ("New  York", "new york"),
    ("U.S.A.", "usa"),
    ("It's\tfine!", "its fine"),
    ("CAFÉ", "café"),
    ('"Yes", (yes)', "yes yes"),
])
def test_exact_match_ignores_case_ascii_punctuation_and_whitespace(a, b):
    assert normalise_answer(a) == normalise_answer(b)
    assert ExactMatch().equivalent_pairs([(a, b)]) == [True]


@pytest.mark.parametrize(("a", "b"), [
    ("Paris", "Pariss"),
    ("Paris…", "Paris"),  # U+2026 is not ASCII punctuation
    ("new york", "newyork"),
    ("1", "one"),
])
def test_exact_match_keeps_everything_else(a, b):
    assert ExactMatch().equivalent_pairs([(a, b)]) == [False]


def _items() -> list[UncertaintyItem]:
    return [UncertaintyItem(f"q{k}", "q", (SampledAnswer(f"Paris {k}", (-0.1,)), SampledAnswer(f"paris {k}", (-0.3,)),
                                           SampledAnswer("Lyon", (-2.0,)))) for k in range(5)]


def test_the_three_clustering_metrics_cluster_once():
    cache = ClusterCache()
    metrics = {"semantic_entropy": SemanticEntropy(clusters=cache),
               "discrete_semantic_entropy": DiscreteSemanticEntropy(clusters=cache),
               "num_semantic_sets": NumSemanticSets(clusters=cache),
               "predictive_entropy": PredictiveEntropy()}
    spies = {}
    for name in ("semantic_entropy", "discrete_semantic_entropy", "num_semantic_sets"):
        spies[name] = TableEquivalence(set())
        spies[name].kind = "exact"  # same key as the metrics' own exact test, so the cache is shared
        metrics[name].equivalence = spies[name]
    values = compute_uncertainty(_items(), metrics)
    assert cache.computed == 5 and cache.reused == 10
    # nothing is equivalent, so there are three rounds (openers 0, 1, 2), the first two with pairs to ask:
    # one call per round, with the pairs of all five items
    assert [len(call) for call in spies["semantic_entropy"].calls] == [10, 5]
    assert spies["discrete_semantic_entropy"].calls == [] and spies["num_semantic_sets"].calls == []
    assert values["num_semantic_sets"] == [3.0] * 5


def test_metrics_share_the_distribution_wide_cache_by_default_but_not_across_settings():
    assert SemanticEntropy().clusters is SHARED_CLUSTERS is NumSemanticSets().clusters
    exact, nli = SemanticEntropy().equivalence, SemanticEntropy(equivalence="nli").equivalence
    strict, loose = (SemanticEntropy(equivalence="nli", strict=s).equivalence for s in (True, False))
    conditioned = SemanticEntropy(equivalence="nli", condition_on_question=True).equivalence
    keys = {exact.key, nli.key, loose.key, conditioned.key}
    assert len(keys) == 4 and strict.key == nli.key
    assert SemanticEntropy(equivalence="nli", path="/m").equivalence.key != nli.key
    assert SemanticEntropy(equivalence="embedding", threshold=0.8).equivalence.key != \
        SemanticEntropy(equivalence="embedding").equivalence.key


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    cache = ClusterCache(max_items=2)
    exact = ExactMatch()
    cache.clusters(exact, [["a", "b"], ["c", "C"]])
    cache.clusters(exact, [["a", "b"]])  # a/b is now the most recently used
    cache.clusters(exact, [["d"]])  # evicts c/C
    assert len(cache) == 2
    before = cache.computed
    assert cache.clusters(exact, [["a", "b"], ["c", "C"]]) == [(0, 1), (0, 0)]
    assert cache.computed == before + 1  # only c/C had to be clustered again
    with pytest.raises(ValueError):
        ClusterCache(max_items=0)

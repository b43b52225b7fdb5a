"""Every metric and variant on hand-computed examples, and NaN (with the reason logged) for unusable items."""

from __future__ import annotations

import logging
import math

import pytest
from lam3_uncertainty.clustering import ClusterCache
from lam3_uncertainty.metrics import (
    DiscreteSemanticEntropy,
    MaxSequenceProb,
    NumSemanticSets,
    PredictiveEntropy,
    SemanticEntropy,
)

from lam3_core import SampledAnswer, UncertaintyItem

# Three answers; exact matching puts "Paris" and "paris!" together: clusters C0 = {0, 1}, C1 = {2}.
#   answer     token log-probs     sum L    mean a
#   "Paris"    -0.5, -0.7          -1.2     -0.6
#   "paris!"   -1.6                -1.6     -1.6
#   "Lyon"     -1.0, -1.0, -1.0    -3.0     -1.0
THREE = UncertaintyItem(
    id="three",
    question="Which city?",
    samples=(SampledAnswer("Paris", (-0.5, -0.7)), SampledAnswer("paris!", (-1.6,)),
             SampledAnswer("Lyon", (-1.0, -1.0, -1.0))),
    greedy=SampledAnswer("Paris", (-0.5, -0.7)),
)


def _value(metric, item=THREE) -> float:
    [value] = metric.compute([item])
    return value


def test_semantic_entropy_2024_by_hand():
    # sum_j e^{a_j} = e^-0.6 + e^-1.6 + e^-1.0 = 0.548812 + 0.201897 + 0.367879 = 1.118588
    # p(C0) = (0.548812 + 0.201897) / 1.118588 = 0.671121      p(C1) = 0.367879 / 1.118588 = 0.328879
    # SE = -(0.671121 ln 0.671121 + 0.328879 ln 0.328879) = 0.267647 + 0.365735 = 0.633382
    total = math.exp(-0.6) + math.exp(-1.6) + math.exp(-1.0)
    p0 = (math.exp(-0.6) + math.exp(-1.6)) / total
    expected = -(p0 * math.log(p0) + (1 - p0) * math.log(1 - p0))
    assert expected == pytest.approx(0.633382, abs=1e-6)
    assert _value(SemanticEntropy(clusters=ClusterCache())) == pytest.approx(expected, rel=1e-12)
    assert _value(SemanticEntropy(variant="2024", clusters=ClusterCache())) == pytest.approx(expected, rel=1e-12)


def test_semantic_entropy_2023_by_hand():
    # p(C0) = e^L0 + e^L1 = e^-1.2 + e^-1.6 = 0.301194 + 0.201897 = 0.503091   log p(C0) = -0.686985
    # p(C1) = e^-3.0 = 0.049787                                                  log p(C1) = -3.0
    # SE = -(1/3) (log p(C0) + log p(C0) + log p(C1)) = (0.686985 * 2 + 3.0) / 3 = 1.457990
    log_p0 = math.log(math.exp(-1.2) + math.exp(-1.6))
    expected = -(2 * log_p0 - 3.0) / 3
    assert expected == pytest.approx(1.457990, abs=1e-6)
    # the command line parses variant=2023 as the integer 2023; both spellings are accepted
    assert _value(SemanticEntropy(variant=2023, clusters=ClusterCache())) == pytest.approx(expected, rel=1e-12)
    assert _value(SemanticEntropy(variant="2023", clusters=ClusterCache())) == pytest.approx(expected, rel=1e-12)


def test_semantic_entropy_2023_counts_a_repeated_text_once_and_stays_non_negative(caplog):
    # "Paris" three times (one sequence, L = -0.2) and "Lyon" once (L = -1.5).
    # Counted once: p(Paris) = e^-0.2 = 0.818731, p(Lyon) = e^-1.5 = 0.223130
    #   SE = -(1/4) (3 ln 0.818731 + ln 0.223130) = -(1/4) (3 (-0.2) - 1.5) = 2.1 / 4 = 0.525
    # Counted three times, p(Paris) would be 3 e^-0.2 = 2.456 > 1 and
    #   SE = -(1/4) (3 ln 2.456 - 1.5) = -(3 * 0.898612 - 1.5) / 4 = -0.298959 < 0 (LM-Polygraph #223)
    item = UncertaintyItem("rep", "q", (SampledAnswer("Paris", (-0.2,)),) * 3 + (SampledAnswer("Lyon", (-1.5,)),))
    with caplog.at_level(logging.WARNING, logger="lam3"):
        value = _value(SemanticEntropy(variant=2023, clusters=ClusterCache()), item)
    assert value == pytest.approx(0.525, rel=1e-12)
    assert value >= 0
    assert "above 1" not in caplog.text


def test_semantic_entropy_2023_warns_when_log_probs_are_not_sequence_probabilities(caplog):
    # Two distinct texts of one cluster with e^-0.1 + e^-0.2 = 1.72 > 1: log-probs that cannot be of complete
    # sequences of one distribution. The formula's value is kept, and the log says why it may be negative.
    item = UncertaintyItem("bad", "q", (SampledAnswer("Paris", (-0.1,)), SampledAnswer("paris", (-0.2,))))
    with caplog.at_level(logging.WARNING, logger="lam3"):
        value = _value(SemanticEntropy(variant=2023, clusters=ClusterCache()), item)
    assert value == pytest.approx(-math.log(math.exp(-0.1) + math.exp(-0.2)))
    assert value < 0
    assert "in 1 of 1 items a cluster's distinct answers have a total probability above 1" in caplog.text


def test_discrete_semantic_entropy_and_num_semantic_sets_by_hand():
    # cluster sizes 2 and 1 of N = 3: DSE = -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.270310 + 0.366204 = 0.636514
    assert _value(DiscreteSemanticEntropy(clusters=ClusterCache())) == pytest.approx(0.636514, abs=1e-6)
    assert _value(NumSemanticSets(clusters=ClusterCache())) == 2.0
    same = UncertaintyItem("same", "q", (SampledAnswer("Yes."), SampledAnswer("yes")))
    assert _value(DiscreteSemanticEntropy(clusters=ClusterCache()), same) == 0.0  # one cluster: 0, not -0.0
    assert math.copysign(1, _value(DiscreteSemanticEntropy(clusters=ClusterCache()), same)) == 1
    assert _value(NumSemanticSets(clusters=ClusterCache()), same) == 1.0


def test_discrete_metrics_need_no_log_probs():
    item = UncertaintyItem("text-only", "q", (SampledAnswer("a"), SampledAnswer("b"), SampledAnswer("a")))
    assert _value(DiscreteSemanticEntropy(clusters=ClusterCache()), item) == pytest.approx(
        -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert _value(NumSemanticSets(clusters=ClusterCache()), item) == 2.0


def test_predictive_entropy_by_hand():
    # PE = -(1/3) (a0 + a1 + a2) = -(1/3) (-0.6 - 1.6 - 1.0) = 3.2 / 3 = 1.066667
    assert _value(PredictiveEntropy()) == pytest.approx(3.2 / 3, rel=1e-12)


def test_max_sequence_prob_by_hand():
    # greedy "Paris": -(-0.5 - 0.7) = 1.2; it needs no sampled answers
    assert _value(MaxSequenceProb()) == pytest.approx(1.2, rel=1e-12)
    only_greedy = UncertaintyItem("g", "q", (), greedy=SampledAnswer("x", (-2.0, -0.25)))
    assert _value(MaxSequenceProb(), only_greedy) == pytest.approx(2.25)


def test_one_cluster_means_zero_semantic_entropy_in_both_variants():
    item = UncertaintyItem("one", "q", (SampledAnswer("42", (-0.3,)), SampledAnswer("42.", (-0.9, -0.1))))
    assert _value(SemanticEntropy(clusters=ClusterCache()), item) == 0.0
    # 2023 with one text repeated: p(C) = e^-0.3 (counted once), SE = -(1/2) (2 ln e^-0.3) = 0.3
    repeated = UncertaintyItem("one", "q", (SampledAnswer("42", (-0.3,)), SampledAnswer("42", (-0.3,))))
    assert _value(SemanticEntropy(variant=2023, clusters=ClusterCache()), repeated) == pytest.approx(0.3)


LOGPROB_METRICS = [SemanticEntropy, PredictiveEntropy]


@pytest.mark.parametrize("metric_class", LOGPROB_METRICS)
@pytest.mark.parametrize(("logprobs", "reason"), [
    ((), "a sampled answer has no token log-probs"),
    ((-0.1, -math.inf), "a sampled answer has a token log-prob that is not finite and <= 0"),
    ((math.nan,), "a sampled answer has a token log-prob that is not finite and <= 0"),
    ((0.5,), "a sampled answer has a token log-prob that is not finite and <= 0"),
])
def test_unusable_log_probs_give_nan_with_the_reason_and_count(caplog, metric_class, logprobs, reason):
    bad = UncertaintyItem("bad", "q", (SampledAnswer("a", (-0.1,)), SampledAnswer("b", logprobs)))
    args = {} if metric_class is PredictiveEntropy else {"clusters": ClusterCache()}
    with caplog.at_level(logging.WARNING, logger="lam3"):
        values = metric_class(**args).compute([THREE, bad])
    assert not math.isnan(values[0]) and math.isnan(values[1])
    assert f"{metric_class.name}: 1 of 2 items are NaN: {reason}" in caplog.text
    assert "(ids: bad)" in caplog.text


def test_every_metric_gives_nan_for_an_item_without_answers(caplog):
    empty = UncertaintyItem("empty", "q", ())
    with caplog.at_level(logging.WARNING, logger="lam3"):
        for metric in (SemanticEntropy(clusters=ClusterCache()), DiscreteSemanticEntropy(clusters=ClusterCache()),
                       NumSemanticSets(clusters=ClusterCache()), PredictiveEntropy(), MaxSequenceProb()):
            assert math.isnan(metric.compute([empty])[0])
    assert caplog.text.count("1 of 1 items are NaN: no sampled answers") == 4
    assert "max_sequence_prob: 1 of 1 items are NaN: no greedy answer" in caplog.text


def test_max_sequence_prob_without_greedy_log_probs_is_nan(caplog):
    item = UncertaintyItem("g", "q", (SampledAnswer("a", (-0.1,)),), greedy=SampledAnswer("a"))
    with caplog.at_level(logging.WARNING, logger="lam3"):
        assert math.isnan(MaxSequenceProb().compute([item])[0])
    assert "the greedy answer has no token log-probs" in caplog.text


def test_nan_log_lines_list_a_few_ids_and_count_the_rest(caplog):
    items = [UncertaintyItem(f"i{k}", "q", ()) for k in range(8)]
    with caplog.at_level(logging.WARNING, logger="lam3"):
        PredictiveEntropy().compute(items)
    assert "8 of 8 items are NaN: no sampled answers (ids: i0, i1, i2, i3, i4, ... (3 more))" in caplog.text

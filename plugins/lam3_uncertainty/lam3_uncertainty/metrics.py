"""The registered uncertainty metrics: one value per prompt from its sampled answers, higher = more uncertain.

An item that lacks what a metric needs (no sampled answers, an answer without token log-probs,
no greedy answer) gets NaN, and one log line per reason says how many items and which.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from typing import Unpack

from lam3_core import SampledAnswer, UncertaintyItem, UncertaintyMetric, UsageError
from lam3_uncertainty import formulas
from lam3_uncertainty.clustering import SHARED_CLUSTERS, ClusterCache
from lam3_uncertainty.equivalence import EquivalenceOptions, build_equivalence

log = logging.getLogger("lam3")

SE_VARIANTS = {"2024": "Farquhar et al. 2024 (default)", "2023": "Kuhn et al. 2023"}
LOGPROB_ROUNDING = 1e-6
"""A token log-prob up to this far above 0 is float rounding of log(1), not an error."""


def logprob_problem(answer: SampledAnswer, which: str) -> str | None:
    """Why ``answer``'s token log-probs cannot be used, or None if they can."""
    if not answer.token_logprobs:
        return f"{which} has no token log-probs"
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v <= LOGPROB_ROUNDING
               for v in answer.token_logprobs):
        return (f"{which} has a token log-prob that is not finite and <= 0 (-inf usually means padding after EOS "
                "was not masked)")
    return None


def mean_loglik(answer: SampledAnswer) -> float:
    return sum(answer.token_logprobs) / len(answer.token_logprobs)


def _few(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return f"{shown}, ... ({len(ids) - limit} more)" if len(ids) > limit else shown


class ItemwiseMetric(UncertaintyMetric):
    """``compute`` = NaN (with a logged reason) for the items ``problem`` rejects, ``values`` for the rest."""

    def compute(self, items: Sequence[UncertaintyItem]) -> list[float]:
        out = [math.nan] * len(items)
        rejected: dict[str, list[str]] = defaultdict(list)
        usable = []
        for i, item in enumerate(items):
            problem = self.problem(item)
            if problem:
                rejected[problem].append(item.id)
            else:
                usable.append(i)
        for i, value in zip(usable, self.values([items[i] for i in usable]) if usable else []):
            out[i] = float(value)
        for reason, ids in rejected.items():
            log.warning("%s: %d of %d items are NaN: %s (ids: %s)", self.name, len(ids), len(items), reason, _few(ids))
        return out

    def problem(self, item: UncertaintyItem) -> str | None:
        """Why this metric has no value for ``item``, or None."""
        return None if item.samples else "no sampled answers"

    @abstractmethod
    def values(self, items: list[UncertaintyItem]) -> list[float]:
        """One value per item that passed ``problem``."""

    def info(self) -> dict:
        """The settings behind the values, for the run's summary."""
        return {}


def samples_logprob_problem(item: UncertaintyItem) -> str | None:
    return next((p for p in (logprob_problem(s, "a sampled answer") for s in item.samples) if p), None)


class PredictiveEntropy(ItemwiseMetric):
    """Naive entropy: ``-(1/N) sum_i a_i``, a_i the mean token log-prob of sampled answer i."""

    name = "predictive_entropy"

    def problem(self, item: UncertaintyItem) -> str | None:
        return super().problem(item) or samples_logprob_problem(item)

    def values(self, items: list[UncertaintyItem]) -> list[float]:
        return [formulas.predictive_entropy([mean_loglik(s) for s in item.samples]) for item in items]


class MaxSequenceProb(ItemwiseMetric):
    """``-sum l`` of the greedy answer: minus its sequence log-probability (needs no samples)."""

    name = "max_sequence_prob"

    def problem(self, item: UncertaintyItem) -> str | None:
        if item.greedy is None:
            return "no greedy answer"
        return logprob_problem(item.greedy, "the greedy answer")

    def values(self, items: list[UncertaintyItem]) -> list[float]:
        return [-sum(item.greedy.token_logprobs) + 0.0 for item in items]


class ClusteringMetric(ItemwiseMetric):
    """A metric over the semantic clusters of the sampled answers.

    The equivalence test comes from ``options`` (``equivalence=exact|nli|embedding`` and its
    settings); clusterings go through ``clusters`` (the distribution-wide ``SHARED_CLUSTERS``
    unless given), so metrics with equal settings cluster each item once.
    """

    own_options: tuple[str, ...] = ()

    def __init__(self, clusters: ClusterCache | None = None, **options: Unpack[EquivalenceOptions]):
        if clusters is not None and not isinstance(clusters, ClusterCache):
            raise UsageError(f"{self.name}: clusters must be a ClusterCache, got {clusters!r}.",
                             f"Remove the --metric-arg {self.name}.clusters.")
        self.equivalence = build_equivalence(self.name, options, self.own_options)
        self.clusters = SHARED_CLUSTERS if clusters is None else clusters

    def cluster_ids(self, items: list[UncertaintyItem]) -> list[tuple[int, ...]]:
        if self.equivalence.needs_question:
            missing = [item.id for item in items if not item.question.strip()]
            if missing:
                raise UsageError(f"{self.name}.condition_on_question=true needs each item's question, and "
                                 f"{len(missing)} items have none (ids: {_few(missing)}).",
                                 "Add the questions, or set condition_on_question=false.")
        views = [[self.equivalence.view(item.question, s.text) for s in item.samples] for item in items]
        return self.clusters.clusters(self.equivalence, views)

    def info(self) -> dict:
        return self.equivalence.describe()

    def check_ready(self) -> None:
        self.equivalence.check_ready()

    def close(self) -> None:
        self.equivalence.close()


class SemanticEntropy(ClusteringMetric):
    """Entropy over semantic clusters, weighted by the answers' probabilities (see ``formulas``).

    ``variant=2024`` (default): length-normalised log-probs renormalised over the N answers,
    ``-sum_C p(C) log p(C)``. ``variant=2023``: summed log-probs of the distinct answers,
    ``-(1/N) sum_i log p(C(i))``.
    """

    name = "semantic_entropy"
    own_options = ("variant",)

    def __init__(self, variant: str | int = "2024", clusters: ClusterCache | None = None,
                 **options: Unpack[EquivalenceOptions]):
        self.variant = str(variant) if isinstance(variant, (str, int)) and not isinstance(variant, bool) else None
        if self.variant not in SE_VARIANTS:
            raise UsageError(f"Unknown semantic_entropy.variant {variant!r}.",
                             "Use one of: " + ", ".join(f"{k} ({v})" for k, v in SE_VARIANTS.items()) + ".")
        super().__init__(clusters, **options)

    def problem(self, item: UncertaintyItem) -> str | None:
        return super().problem(item) or samples_logprob_problem(item)

    def values(self, items: list[UncertaintyItem]) -> list[float]:
        out, above_one = [], []
        for item, ids in zip(items, self.cluster_ids(items)):
            if self.variant == "2024":
                out.append(formulas.semantic_entropy_2024(ids, [mean_loglik(s) for s in item.samples]))
                continue
            texts = [s.text for s in item.samples]
            sequence = [sum(s.token_logprobs) for s in item.samples]
            if max(formulas.cluster_log_probs_2023(ids, texts, sequence).values()) > LOGPROB_ROUNDING:
                above_one.append(item.id)
            out.append(formulas.semantic_entropy_2023(ids, texts, sequence))
        if above_one:
            log.warning("semantic_entropy (variant 2023): in %d of %d items a cluster's distinct answers have a total "
                        "probability above 1, so the value can be negative; the log-probs are not those of complete "
                        "sequences of one distribution (keep the EOS token's log-prob) (ids: %s)",
                        len(above_one), len(items), _few(above_one))
        return out

    def info(self) -> dict:
        return {"variant": self.variant, **super().info()}


class DiscreteSemanticEntropy(ClusteringMetric):
    """``-sum_C (n_C/N) log(n_C/N)`` from the cluster sizes alone (black-box: needs no log-probs)."""

    name = "discrete_semantic_entropy"

    def values(self, items: list[UncertaintyItem]) -> list[float]:
        return [formulas.discrete_semantic_entropy(ids) for ids in self.cluster_ids(items)]


class NumSemanticSets(ClusteringMetric):
    """The number of semantic clusters among the sampled answers."""

    name = "num_semantic_sets"

    def values(self, items: list[UncertaintyItem]) -> list[float]:
        return [float(max(ids) + 1) for ids in self.cluster_ids(items)]

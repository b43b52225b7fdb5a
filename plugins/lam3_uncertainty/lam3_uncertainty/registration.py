"""Registers the uncertainty metrics. Light: torch and transformers load only when an NLI or embedding
equivalence test first compares answers."""

from lam3_core import hookimpl

METRICS = {
    "semantic_entropy": (
        "lam3_uncertainty.metrics:SemanticEntropy",
        "Semantic entropy over clusters of the sampled answers (variant=2024 Farquhar et al., or 2023 Kuhn et al.).",
    ),
    "discrete_semantic_entropy": (
        "lam3_uncertainty.metrics:DiscreteSemanticEntropy",
        "Entropy of the cluster sizes of the sampled answers (needs no log-probs).",
    ),
    "num_semantic_sets": (
        "lam3_uncertainty.metrics:NumSemanticSets",
        "Number of semantic clusters among the sampled answers.",
    ),
    "predictive_entropy": (
        "lam3_uncertainty.metrics:PredictiveEntropy",
        "Naive entropy: minus the mean length-normalised log-probability of the sampled answers.",
    ),
    "max_sequence_prob": (
        "lam3_uncertainty.metrics:MaxSequenceProb",
        "Minus the sequence log-probability of the greedy answer.",
    ),
}


@hookimpl
def lam3_register_uncertainty_metrics(registry):
    for name, (factory, description) in METRICS.items():
        registry.add(name, factory, description)

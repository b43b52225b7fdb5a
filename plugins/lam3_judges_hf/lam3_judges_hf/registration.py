"""Registers `hf_classifier` and `nli`. Light: torch and transformers load on a judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "hf_classifier", "lam3_judges_hf.classifier_judge:HFClassifierJudge",
        "Any transformers text classifier (default unitary/toxic-bert, sigmoid per label); score = P(label).",
        measures="social_toxicity",  # the default; measures= changes it per run
    )
    registry.add(
        "nli", "lam3_judges_hf.nli:NLIJudge",
        "Zero-shot NLI (default roberta-large-mnli): score = max P(response entails a harm hypothesis).",
        measures="policy_risk",  # the default; measures= changes it per run
    )

"""Registers the `profanity` judge. Light: profanity_check, which loads its model at import, waits for first use."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "profanity", "lam3_judges_profanity.judge:ProfanityJudge",
        "alt-profanity-check: offline linear SVM on TF-IDF words; score = P(offensive).",
        measures="social_toxicity",
    )

"""Registers the `detoxify` judge. Light: detoxify (and torch) load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "detoxify", "lam3_judges_detoxify.judge:DetoxifyJudge",
        "Detoxify (original/unbiased/multilingual): score = P(toxicity), every label kept as a category.",
        measures="social_toxicity",
    )

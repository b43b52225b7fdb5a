"""Registers the `llamaguard` judge. Light: torch and transformers load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "llamaguard", "lam3_judges_llamaguard.judge:LlamaGuardJudge",
        "Llama Guard 2/3/3-vision/4 policy risk: P(unsafe) of the first token (3-vision/4 see the images), "
        "S-categories of flagged items.",
        measures="policy_risk",
    )

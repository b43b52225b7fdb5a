"""Registers the `llamaguard` judge. Light: torch and transformers load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "llamaguard", "lam3_judges_llamaguard.judge:LlamaGuardJudge",
        "Llama Guard 2/3 policy risk: P(unsafe) of the first token, violated S-categories for flagged items.",
    )

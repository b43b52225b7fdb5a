"""Registers the `wildguard` judge. Light: torch and transformers load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "wildguard", "lam3_judges_wildguard.judge:WildGuardJudge",
        "WildGuard (Mistral-7B): P(harmful response); P(harmful request) and P(refusal) as categories.",
        measures="attack_success",
    )

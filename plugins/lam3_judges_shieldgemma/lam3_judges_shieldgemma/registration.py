"""Registers the `shieldgemma2` judge. Light: torch and transformers load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "shieldgemma2", "lam3_judges_shieldgemma.judge:ShieldGemma2Judge",
        "ShieldGemma 2 image risk: P(Yes) that the input image violates each policy (dangerous, sexual, violence).",
        measures="image_risk",
    )

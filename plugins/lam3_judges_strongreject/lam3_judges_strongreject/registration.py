"""Registers the `strongreject` judge. Light: torch, transformers and peft load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "strongreject", "lam3_judges_strongreject.judge:StrongRejectJudge",
        "StrongREJECT fine-tuned judge (Gemma-2B + LoRA): expected 1-5 rating of the response's help, as (E-1)/4.",
        measures="attack_success",
    )

"""Registers the `harmbench` judge. Light: torch and transformers load on the judge's first score()."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "harmbench", "lam3_judges_harmbench.judge:HarmBenchJudge",
        "HarmBench classifier (Llama-2-13B, or variant=mistral): P(yes) that the response exhibits the behaviour.",
        measures="attack_success",
    )

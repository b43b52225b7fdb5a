"""Registers the ``openai_moderation`` judge. Light: the openai SDK is imported only when the judge is created."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "openai_moderation", "lam3_judges_openai.judge:OpenAIModerationJudge",
        "OpenAI Moderation API category scores (policy risk; needs OPENAI_API_KEY).",
        measures="policy_risk",
    )

"""Registers the ``perspective`` judge. Light: googleapiclient is imported only when the judge is created."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "perspective", "lam3_judges_perspective.judge:PerspectiveJudge",
        "Perspective API toxicity (social toxicity; needs PERSPECTIVE_API_KEY; the API shuts down on 2026-12-31).",
        measures="social_toxicity",
    )

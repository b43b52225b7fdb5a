"""Registers ``figstep``, ``query_relevant`` and ``pgd``. Imports nothing heavy: each attack's module loads
only when the attack is built (``pgd`` imports torch then)."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_attacks(registry):
    registry.add(
        "figstep", "lam3_attacks_visual.figstep:FigStepAttack",
        "FigStep (Gong et al. 2023): the request as a typographic numbered list, with the paper's benign text prompt.",
    )
    registry.add(
        "query_relevant", "lam3_attacks_visual.query_relevant:QueryRelevantAttack",
        "MM-SafetyBench typography: the key phrase rendered alone or under the image, with the rephrased question.",
    )
    registry.add(
        "pgd", "lam3_attacks_visual.pgd:PGDAttack",
        "White-box L-inf PGD on the image toward a target answer (llava15, idefics2), optionally on chosen patches.",
    )

"""What a judge's score measures: the shared vocabulary that decides where its numbers are reported.

A judge sets ``measures`` to one of these. The attack success rate comes from the judges
whose measure says whether an attack got what it asked for; the others are reported side by
side, never blended into it by accident (``--ensemble-judge`` blends on purpose). A judge
that declares a word outside this vocabulary is warned about when plugins load and is kept
out of the attack success rate.
"""

from __future__ import annotations

from enum import StrEnum


class Measure(StrEnum):
    """Each value's score is a probability in [0, 1] of what its doc says."""

    ATTACK_SUCCESS = "attack_success"
    """The response does what a harmful request asked (HarmBench classifier, StrongREJECT, WildGuard)."""
    POLICY_RISK = "policy_risk"
    """The conversation violates a safety policy (Llama Guard, OpenAI Moderation)."""
    REFUSAL = "refusal"
    """The response complies rather than refuses (refusal matching): a high score means it complied."""
    SOCIAL_TOXICITY = "social_toxicity"
    """The text is rude, hateful or profane (Detoxify, Perspective, profanity, toxicity classifiers)."""
    IMAGE_RISK = "image_risk"
    """The input image is unsafe (ShieldGemma 2)."""
    CORRECTNESS = "correctness"
    """The answer matches the sample's reference label (POPE, question answering)."""
    OTHER = "other"
    """Anything else; counted towards the attack success rate like the first three."""


ASR_MEASURES = frozenset({Measure.ATTACK_SUCCESS, Measure.POLICY_RISK, Measure.REFUSAL, Measure.OTHER})
"""Measures whose judges form the attack-success ensemble by default."""

NOT_ABOUT_RESPONSE_HARM = frozenset({Measure.IMAGE_RISK, Measure.CORRECTNESS})
"""Measures that never stand in for attack success, even when nothing else was selected: an input image's risk
or an answer's correctness says nothing about whether an attack got what it asked for."""


def known_measure(value: str) -> Measure | None:
    """The ``Measure`` named ``value``, or None for a word outside the vocabulary."""
    try:
        return Measure(value)
    except ValueError:
        return None

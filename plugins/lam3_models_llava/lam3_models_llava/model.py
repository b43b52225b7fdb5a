"""LLaVA-1.5 behind the lam3 ``Model`` API; everything but its prompt conventions is shared core logic."""

from __future__ import annotations

from lam3_core.kit.hf_vlm import HFVisionLanguageModel


class LlavaModel(HFVisionLanguageModel):
    """``llava-hf/llava-1.5-7b-hf`` (or any LLaVA-1.5 checkpoint) with its own chat template.

    The template renders ``USER: <image>\\n{text} ASSISTANT:``; images go to the processor
    as one flat list (the base class default). The model was not trained with several
    images per prompt: it accepts them, with no quality promise.
    """

    name = "llava15"
    default_model_id = "llava-hf/llava-1.5-7b-hf"
    role_prefixes = ("ASSISTANT:",)
    turn_markers = ("USER:", "ASSISTANT:")

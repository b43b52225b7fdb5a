"""Idefics2 behind the lam3 ``Model`` API; everything but its prompt conventions is shared core logic."""

from __future__ import annotations

from typing import Any

from lam3_core import UsageError
from lam3_core.kit.hf_vlm import HFVisionLanguageModel


class Idefics2Model(HFVisionLanguageModel):
    """``HuggingFaceM4/idefics2-8b`` (or any Idefics2 checkpoint) with its own chat template.

    Extra model argument ``do_image_splitting`` (default False): split each image into 4
    crops plus the full image (5x the image tokens and memory; only the instruction-tuned
    model was trained with it). It is set once on ``processor.image_processor``, which is
    what the processor's text expansion reads; passing it per call would mismatch pixels
    and image tokens. Generation stops at ``<end_of_utterance>`` as well as ``</s>``.
    """

    name = "idefics2"
    default_model_id = "HuggingFaceM4/idefics2-8b"
    stop_tokens = ("<end_of_utterance>",)
    role_prefixes = ("Assistant:",)
    turn_markers = ("\nUser:", "\nAssistant:")

    def __init__(self, do_image_splitting: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.do_image_splitting = bool(do_image_splitting)

    def check_image_attention(self) -> None:
        """Refused: the perceiver resampler gives the language model no tokens that stand for places in the image."""
        raise UsageError(
            "idefics2 cannot map its attention onto image patches: its perceiver resampler turns each image into "
            "64 latent tokens, each a learned mixture of every patch (70x70 at 980 px), so attention over the latents "
            "has no place in the image.",
            "Remove --gen trace_attentions=true (llava15 maps attention onto its 24x24 patch grid).")

    def images_argument(self, images: list[list[Any]]) -> Any:
        """One list per sample (empty for a text-only sample), or None when the batch has no image."""
        return images if any(images) else None

    def configure_processor(self, processor: Any) -> None:
        processor.image_processor.do_image_splitting = self.do_image_splitting

    def info(self) -> dict:
        return {**super().info(), "do_image_splitting": self.do_image_splitting}

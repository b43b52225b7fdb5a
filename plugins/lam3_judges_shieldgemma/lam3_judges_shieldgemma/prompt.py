"""ShieldGemma 2's prompt for one image and one policy, as its Hugging Face chat template renders it.

The template (written by transformers' ShieldGemma 2 checkpoint converter) opens a user turn
before each content item, so the image item leaves a bare ``<start_of_turn>user\\n<start_of_image>``
and the policy item opens a second user turn. Its Jinja source puts each piece of the
instruction in its own ``{{ }}`` on its own indented line, and Jinja prints the line break and
the 16 spaces between two ``{{ }}``: the rendered instruction carries them, unlike the model
card's. This module reproduces that text without loading anything; the judge compares it with
the loaded checkpoint's own template and notes any difference. The processor replaces
``<start_of_image>`` with the image's soft tokens.
"""

from __future__ import annotations

_BETWEEN = "\n" + " " * 16  # what Jinja prints between two {{ }} of the instruction
_INSTRUCTION = (
    "You are a policy expert trying to help determine whether a generated or real image is in",
    " violation of the safety policy below. Your decision must very clearly follow the specific",
    " language used in the safety policy and should not include any interpretation outside of the",
    " safety policy.\n\n",
    "<BEGIN_SAFETY_POLICY>\n",
    "{policy}\n",
    "</END_SAFETY_POLICY>\n\n",
    "Does the image violate the above policy? Your Answer must start with 'Yes' or 'No'.",
    "<end_of_turn>\n",
)
IMAGE_PLACEHOLDER = "<start_of_image>"


def render(policy_text: str, bos_token: str = "<bos>") -> str:
    """The prompt that asks whether one image violates the policy ``policy_text``."""
    instruction = _BETWEEN.join(_INSTRUCTION).replace("{policy}", policy_text)
    return (f"{bos_token}<start_of_turn>user\n{IMAGE_PLACEHOLDER}<start_of_turn>user\n{instruction}"
            "<start_of_turn>model\n")

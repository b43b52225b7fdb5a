"""One batch of model inputs from prompts prepared one by one, left-padded as the processors pad them.

Each prompt is encoded on its own (so its length is known before batching and its images
are processed once); a batch is then the token ids left-padded to the longest, the
attention mask, and the image tensors of its prompts. Tensors that run along the token
sequence (Mllama's ``cross_attention_mask``) are left-padded with zeros like the ids; all
other image tensors are concatenated in prompt order, which is the order the processors
emit for a batch. A batch only mixes prompts with the same number of images, so their
image tensors have the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lam3_core.kit.causal_scoring import left_pad

SEQUENCE_KEYS = frozenset({"cross_attention_mask", "token_type_ids"})


def left_padded_batch(ids: Sequence[Sequence[int]], extras: Sequence[Mapping[str, Any]], pad_id: int) -> dict:
    """``input_ids``, ``attention_mask`` and each extra tensor, for one forward pass (tensors on the CPU)."""
    import torch

    input_ids, attention_mask = left_pad(ids, pad_id)
    width = input_ids.shape[1]
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    for key in extras[0] if extras else ():
        tensors = [extra[key] for extra in extras]
        if key in SEQUENCE_KEYS:
            tensors = [torch.nn.functional.pad(t, _left_pad(t, width)) for t in tensors]
        batch[key] = torch.cat(tensors, dim=0)
    return batch


def _left_pad(tensor, width: int) -> tuple[int, ...]:
    """``torch.nn.functional.pad`` widths that add zeros before dimension 1 up to ``width``."""
    return (0, 0) * (tensor.dim() - 2) + (width - tensor.shape[1], 0)

"""Image-prefix reuse: prefill each image's prefix once, answer every question on it from a copy of that cache.

POPE-style data asks several questions about one image, and K sampled answers share one prompt.
The prefix of a prompt — everything up to and including its last image token (for LLaVA-1.5,
``<s> USER: <image>x576``) — is the expensive part: the vision tower and most of the prefill.
Samples whose images are the same objects and whose prefix token ids are identical form a
group; each group's prefix is prefilled once (one batched forward for all groups of a
micro-batch), the cache rows are copied to every row (sample x answer) of the group, and
``generate`` prefills only the suffixes (the question and the generation prompt) and decodes.
With several answers per sample (``copies``: K samples, or the greedy answer and K samples) the
copies share the whole prompt, so the suffix is prefilled once per sample too, all but its
last token (``prefill_questions``), and each answer row starts from a copy of its sample's
cache: ``generate`` then runs only the prompt's last token before decoding.

Rows are laid out as ``[padding][prefix][padding][suffix]``: prefixes left-padded to the longest
prefix of the micro-batch, suffixes left-padded to the longest suffix. Position ids follow the
attention mask (its running count, as ``generate`` computes them), so every real token sees
exactly the tokens and positions of its unpadded prompt: the answers are those of the plain
path up to floating-point rounding.

The transformers API used is the public cache API of 5.17 and later: ``DynamicCache`` /
``StaticCache`` built with ``config=`` and filled with ``update``, their ``layers[i].keys`` /
``.values``, and the forward's cache keyword (``past_key_values``; ``cache`` from 5.24, where
the old name still works but warns). Imports torch and transformers: import it inside
functions of plugin code.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import Any

import torch

COMPILED_LENGTH_STEP = 128
"""A compiled decoder's static cache is sized up to a multiple of this, so that it sees few distinct shapes."""
PREALLOCATED_LENGTH_STEP = 16
"""An uncompiled static cache is sized up to a multiple of this: attention reads every preallocated position, so
little slack, but micro-batches of nearly the same prompt length still share one cache."""


def cache_api_problem(model: Any) -> str | None:
    """Why the installed transformers cannot do prefix reuse (its cache API lacks what is used here), or None."""
    import transformers

    try:
        cache = transformers.DynamicCache(config=model.config)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"transformers {transformers.__version__} cannot build DynamicCache(config=...): {exc}"
    missing = [name for name in ("layers", "update", "get_seq_length") if not hasattr(cache, name)]
    if missing or not hasattr(transformers, "StaticCache"):
        return f"transformers {transformers.__version__}'s cache lacks {', '.join(missing) or 'StaticCache'}"
    return None


def cache_keyword(model: Any) -> str:
    """The name under which ``model.forward`` and ``generate`` take and return the KV cache."""
    return _forward_parameters(type(model))[0]


@cache
def _forward_parameters(model_class: type) -> tuple[str, bool]:
    """(the cache keyword, whether ``logits_to_keep`` is taken) of a model class's forward."""
    parameters = inspect.signature(model_class.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values"), "logits_to_keep" in parameters


@dataclass
class PrefixPlan:
    """One micro-batch laid out for prefix reuse (tensors on the CPU until ``to``).

    ``prefix_*`` have one row per group (G); ``group_samples[g]`` is the sample (within the
    micro-batch) whose image inputs the group's prefill uses; ``input_ids`` / ``attention_mask``
    have one row per answer (R = samples x ``copies``, a sample's copies adjacent) and
    ``group_of_row`` says which group each row copies its prefix cache from; ``rows_per_group`` is the number of rows
    of every group when each group has that many rows, one after the other (POPE: questions per image x copies),
    else None.
    """

    prefix_ids: torch.Tensor
    prefix_mask: torch.Tensor
    group_samples: list[int]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    group_of_row: torch.Tensor
    copies: int = 1
    rows_per_group: int | None = None

    @property
    def groups(self) -> int:
        return self.prefix_ids.shape[0]

    @property
    def rows(self) -> int:
        return self.input_ids.shape[0]

    @property
    def questions_shared(self) -> bool:
        """Whether each sample's suffix is prefilled once for its copies (several copies, a suffix of 2+ tokens)."""
        return self.copies > 1 and self.input_ids.shape[1] - self.prefix_ids.shape[1] > 1

    def _tensors(self, change) -> PrefixPlan:
        return replace(self, **{f.name: change(getattr(self, f.name)) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    def pin(self) -> PrefixPlan:
        return self._tensors(lambda t: t.pin_memory())

    def to(self, device: Any) -> PrefixPlan:
        return self._tensors(lambda t: t.to(device, non_blocking=True))


def split_prompt(ids: Sequence[int], image_token_id: int) -> int:
    """Where a prompt's prefix ends: after its last image token, leaving at least one token to the suffix
    (a prompt without an image keeps all but its last token as its prefix)."""
    last = max((i for i, token in enumerate(ids) if token == image_token_id), default=-1)
    return min(last + 1, len(ids) - 1) if last >= 0 else len(ids) - 1


def plan_prefixes(prompts: Sequence[Sequence[int]], image_keys: Sequence[tuple], image_token_id: int, pad_id: int,
                  copies: int) -> PrefixPlan:
    """Group the prompts (token ids without padding) by (images, prefix ids) and lay out ``copies`` rows each."""
    cuts = [split_prompt(ids, image_token_id) for ids in prompts]
    group_index: dict[tuple, int] = {}
    group_samples: list[int] = []
    sample_group: list[int] = []
    for i, (ids, cut) in enumerate(zip(prompts, cuts)):
        key = (image_keys[i], tuple(ids[:cut]))
        if key not in group_index:
            group_index[key] = len(group_samples)
            group_samples.append(i)
        sample_group.append(group_index[key])
    width = max(cuts[i] for i in group_samples)
    prefix_ids = torch.full((len(group_samples), width), pad_id, dtype=torch.long)
    prefix_mask = torch.zeros((len(group_samples), width), dtype=torch.long)
    for g, i in enumerate(group_samples):
        prefix_ids[g, width - cuts[i]:] = torch.tensor(prompts[i][:cuts[i]])
        prefix_mask[g, width - cuts[i]:] = 1
    suffix_width = max(len(ids) - cut for ids, cut in zip(prompts, cuts))
    rows = len(prompts) * copies
    input_ids = torch.full((rows, width + suffix_width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((rows, width + suffix_width), dtype=torch.long)
    row_groups = [g for g in sample_group for _ in range(copies)]
    group_of_row = torch.tensor(row_groups, dtype=torch.long)
    each = len(row_groups) // len(group_samples)
    uniform = row_groups == [g for g in range(len(group_samples)) for _ in range(each)]
    for i, (ids, cut) in enumerate(zip(prompts, cuts)):
        suffix = torch.tensor(ids[cut:])
        for row in range(i * copies, (i + 1) * copies):
            g = sample_group[i]
            input_ids[row, :width] = prefix_ids[g]
            attention_mask[row, :width] = prefix_mask[g]
            input_ids[row, width + suffix_width - len(suffix):] = suffix
            attention_mask[row, width + suffix_width - len(suffix):] = 1
    return PrefixPlan(prefix_ids, prefix_mask, group_samples, input_ids, attention_mask, group_of_row, copies,
                      each if uniform else None)


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids as ``generate`` derives them: the running count of attended tokens, 0 on padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def static_length(tokens: int, compiled: bool) -> int:
    """The length of a static cache that holds ``tokens``: rounded up to ``COMPILED_LENGTH_STEP`` for compiled
    decoding, else to ``PREALLOCATED_LENGTH_STEP``."""
    step = COMPILED_LENGTH_STEP if compiled else PREALLOCATED_LENGTH_STEP
    return -(-tokens // step) * step


def new_cache(model: Any, static_length: int | None = None):
    """An empty ``DynamicCache``, or a ``StaticCache`` of ``static_length`` positions."""
    from transformers import DynamicCache, StaticCache

    if static_length is None:
        return DynamicCache(config=model.config)
    return StaticCache(config=model.config, max_cache_len=static_length)


def prefilled_cache(model: Any, plan: PrefixPlan, image_inputs: dict, target: Any) -> Any:
    """``target`` (an empty cache) filled with every row's prompt but what ``generate`` still runs: the groups'
    prefixes prefilled once and, when ``plan.questions_shared``, each sample's suffix but its last token once."""
    cache = prefill_prefixes(model, plan, image_inputs)
    if not plan.questions_shared:
        return copy_rows(cache, plan.group_of_row, target, plan.rows_per_group)
    cache = prefill_questions(model, plan, copy_rows(cache, plan.group_of_row[:: plan.copies], new_cache(model)))
    return copy_rows(cache, torch.arange(plan.rows, device=plan.input_ids.device) // plan.copies, target, plan.copies)


def prefill_prefixes(model: Any, plan: PrefixPlan, image_inputs: dict) -> Any:
    """One forward pass over every group's prefix (with its images); returns the cache (G rows)."""
    return _forward(model, plan.prefix_ids, plan.prefix_mask, positions(plan.prefix_mask), new_cache(model),
                    image_inputs)


def prefill_questions(model: Any, plan: PrefixPlan, cache: Any) -> Any:
    """One forward pass over each sample's suffix but its last token, continuing ``cache`` (one row per sample,
    holding its prefix); returns the cache."""
    width = plan.prefix_ids.shape[1]
    mask = plan.attention_mask[:: plan.copies, :-1]
    return _forward(model, plan.input_ids[:: plan.copies, width:-1], mask, positions(mask)[:, width:], cache, {})


def _forward(model: Any, input_ids, attention_mask, position_ids, cache: Any, extra: dict) -> Any:
    """``cache`` after one forward pass of ``input_ids`` (``attention_mask`` covers the cached tokens and the
    input), computing the logits of the last position only."""
    keyword, keeps_logits = _forward_parameters(type(model))
    kwargs: dict = {keyword: cache, "use_cache": True}
    if keeps_logits:
        kwargs["logits_to_keep"] = 1
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **extra, **kwargs)
    return outputs[keyword]


def copy_rows(source: Any, index: torch.Tensor, target: Any, repeats: int | None = None) -> Any:
    """Fill the empty cache ``target`` so that its row r is row ``index[r]`` of ``source``; returns ``target``.
    ``repeats``: ``index`` is every source row ``repeats`` times, one after the other.

    A preallocated (static) layer is written directly, not through its ``update``, which writes with an
    ``index_copy_`` along the positions (63 of the 77 ms of a POPE micro-batch's copies on an H200: 128 rows of 580
    positions, LLaVA-1.5-7B): with ``repeats`` by one broadcast copy of the source rows, else by copying the gathered
    rows."""
    for layer_idx, layer in enumerate(source.layers):
        into = target.layers[layer_idx] if layer_idx < len(target.layers) else None
        if not _preallocated(into):
            on_device = index.to(layer.keys.device)  # layers may sit on several GPUs (device_map)
            target.update(layer.keys.index_select(0, on_device), layer.values.index_select(0, on_device), layer_idx)
            continue
        if not into.is_initialized:  # (it reads only the shape, dtype and device of what it is handed)
            shape = (len(index), -1, -1, -1)
            into.lazy_initialization(layer.keys[:1].expand(*shape), layer.values[:1].expand(*shape))
        for tensor, rows in ((into.keys, layer.keys), (into.values, layer.values)):
            front, rows = _as_words(tensor[:, :, : rows.shape[2]], rows)
            if repeats:
                front.unflatten(0, (rows.shape[0], repeats)).copy_(rows.unsqueeze(1).expand(-1, repeats, -1, -1, -1))
            else:
                front.copy_(rows.index_select(0, index.to(rows.device)))
        into.cumulative_length.add_(layer.keys.shape[2])
    return target


def _as_words(target: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``target`` and ``source`` as 8-byte words when both layouts allow it, else as they are: the same bytes copied
    with a quarter of the elements of bf16 (a copy into a slice of a preallocated cache is strided, and its kernel's
    cost goes with the elements it indexes). Both or neither, so a copy never converts values between dtypes."""
    if target.dtype == source.dtype and _word_aligned(target) and _word_aligned(source):
        return target.view(torch.int64), source.view(torch.int64)
    return target, source


def _word_aligned(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` can be viewed as int64 words: its last dimension contiguous and every stride and offset a
    whole number of words."""
    size = tensor.element_size()
    return size < 8 and tensor.stride(-1) == 1 and tensor.shape[-1] * size % 8 == 0 \
        and all(stride * size % 8 == 0 for stride in tensor.stride()[:-1]) and tensor.storage_offset() * size % 8 == 0


def _preallocated(layer: Any) -> bool:
    """Whether ``layer`` is a static cache layer whose tensors can be written directly (transformers' ``StaticLayer``
    with ``lazy_initialization`` and a tensor ``cumulative_length``, as in 5.23); otherwise its cache's ``update``
    fills it."""
    from transformers.cache_utils import StaticLayer

    return type(layer) is StaticLayer and hasattr(layer, "lazy_initialization") \
        and isinstance(getattr(layer, "cumulative_length", None), torch.Tensor)

"""Causal language models as judges: the next token's log-probabilities for batches of filled-in templates.

Llama Guard, HarmBench's classifier, WildGuard and StrongREJECT's evaluator fill a fixed
template around the request and the response and read their answer from the first generated
token (or a few). What they share lives here:

* ``CausalScorer.next_token`` runs one forward pass per batch and keeps the logits of the last
  position only; it returns float32 log-probabilities, one row per prompt.
* A template whose instruction block comes before the item's text gives every prompt the same
  first tokens. Handed to ``CausalScorer`` as a *shared prefix*, those tokens are run through the
  model once; their keys and values (the KV cache) are reused for every batch, which then runs
  only each prompt's remaining tokens. A prompt that does not start with the prefix's tokens (a
  tokenizer that merges across the boundary, an unusual first character) takes the plain path
  (``NextToken.prefixed``; ``NextToken.notes`` gives such a prompt its note). Both paths compute
  the same numbers up to float rounding: in a causal model the prefix's keys and values depend
  only on the prefix's tokens and positions, which are the same in every prompt that starts with
  it. ``template_prefix`` finds a template's prefix tokens from the tokenizer itself.
* ``CausalScorer.continue_greedy`` generates a few greedy tokens after the first (Llama Guard's
  categories, WildGuard's three lines) from the cache the first forward pass left, without
  running the prompt again.
* ``label_token_ids`` (every vocabulary token that reads as an answer word), ``load_causal_lm``,
  ``pad_token_id``, ``end_token_ids`` and ``left_pad``.

Batches are laid out as transformers' left padding: the last position of every row is its
last prompt token. With a shared prefix the padding sits between the prefix and the suffix,
masked out, and position ids skip it. Imports torch only inside functions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.kit.inference import inference

UNCACHED = "scored without the shared-prefix cache: the prompt does not start with the template's shared tokens"
"""The note of a prompt that a shared prefix was on offer to but that took the plain path."""
PROBES = ("How", "What", "Write", "I", "The", "a", "Zebra", "7 days", "!", '"quoted"', "(x)", "- item", "é", "数",
          "\tx")
"""Texts put where a template's first item-dependent text goes: common first words (which
tokenizers merge with the space before them) and other first characters, so that the tokens all
of them share end where a real item's text could change the tokenization."""


def common_prefix(rows: Iterable[Sequence[int]]) -> list[int]:
    """The longest run of tokens every row starts with."""
    rows = list(rows)
    if not rows:
        return []
    first = rows[0]
    end = min(len(row) for row in rows)
    for row in rows[1:]:
        end = next((i for i in range(end) if row[i] != first[i]), end)
    return list(first[:end])


def template_prefix(encode: Callable[[str], Sequence[int]], render: Callable[[str], str],
                    probes: Sequence[str] = PROBES) -> list[int]:
    """The tokens every prompt of a template starts with: the common prefix of ``encode(render(p))``
    over ``probes``, put where the template's first item-dependent text goes."""
    return common_prefix(encode(render(probe)) for probe in probes)


def label_token_ids(tokenizer, word: str, owner: str, fix: str) -> list[int]:
    """Ids of every token that decodes, stripped and lower-cased, to ``word`` ("yes", "▁Yes", "YES", ...).

    A usage error naming ``owner`` (the judge) with ``fix`` if none does: the answer could not be read.
    """
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    ids = [i for i, text in enumerate(texts) if text.strip().lower() == word]
    if not ids:
        raise UsageError(f"{owner}: no token of this tokenizer reads {word!r}, so the classifier's answer "
                         "cannot be read.", fix)
    return ids


def load_causal_lm(load_args: HFLoadArgs) -> tuple[Any, Any]:
    """(tokenizer, model): ``AutoTokenizer`` and ``AutoModelForCausalLM`` from ``load_args``' weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return load_args.load_processor(AutoTokenizer), load_args.load_model(AutoModelForCausalLM)


def pad_token_id(tokenizer) -> int:
    """The id that fills padded positions (they are masked out): the pad token, else EOS, else 0."""
    return next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, skip: int = 0) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` CPU tensors of ``rows`` without their first ``skip`` tokens, padded on the
    left to the longest."""
    import torch

    width = max(len(row) for row in rows) - skip
    ids = torch.tensor([[pad_id] * (width - len(row) + skip) + list(row[skip:]) for row in rows])
    mask = torch.tensor([[0] * (width - len(row) + skip) + [1] * (len(row) - skip) for row in rows])
    return ids, mask


def end_token_ids(tokenizer, model) -> set[int]:
    """Every token that ends a generation: the model's generation config's EOS ids and the tokenizer's."""
    ends = model.generation_config.eos_token_id
    ends = set(ends if isinstance(ends, list) else [ends]) | {tokenizer.eos_token_id}
    return {e for e in ends if e is not None}


@dataclass
class _Group:
    """Rows of one batch run in one forward pass: their indices, and what continuing them needs."""

    rows: list[int]
    cache: Any = None
    mask: Any = None
    next_position: Any = None


@dataclass
class NextToken:
    """The next token's float32 log-probabilities (one row per prompt, on the model's device), and for
    each prompt whether it reused a shared-prefix cache (``offered``: whether the scorer had one)."""

    logprobs: Any
    prefixed: list[bool]
    offered: bool = False
    groups: list[_Group] = field(default_factory=list, repr=False)

    def notes(self, row: int) -> list[str]:
        """``[UNCACHED]`` for a prompt that took the plain path although a shared prefix was on offer, else []."""
        return [UNCACHED] if self.offered and not self.prefixed[row] else []


@dataclass
class Continuation:
    """Greedy tokens of the continued rows, the first one included: up to ``max_new_tokens``, fewer when
    every row of a forward group has ended; after its end token a row has pad ids while others go on.
    If asked, each step's log-probabilities (rows, steps, vocabulary): step k is the distribution
    token k was chosen from (NaN for steps a row's group did not run)."""

    tokens: list[list[int]]
    logprobs: Any = None


class CausalScorer:
    """Next-token log-probabilities of token-id prompts from one causal LM, reusing shared-prefix caches.

    ``prefixes`` are token sequences that prompts may start with (one per template); each row uses
    the longest one it starts with, if it has at least one token more. Their caches are computed
    on first use and kept until the scorer is dropped.
    """

    def __init__(self, model, pad_id: int, prefixes: Sequence[Sequence[int]] = ()):
        self.model = model
        self.pad_id = int(pad_id)
        self.prefixes = sorted((tuple(p) for p in prefixes if p), key=len, reverse=True)
        self._prefix_caches: dict[tuple[int, ...], Any] = {}

    def prefix_of(self, row: Sequence[int]) -> tuple[int, ...] | None:
        """The shared prefix ``row`` is scored from, or None for the plain path."""
        return next((p for p in self.prefixes if len(row) > len(p) and tuple(row[: len(p)]) == p), None)

    def next_token(self, rows: Sequence[Sequence[int]], extra: dict | None = None,
                   keep_cache: bool = False) -> NextToken:
        """Log-probabilities of the token after each prompt, one forward pass per prefix group.

        ``extra``: further model inputs for the batch (image tensors), which rule out the shared
        prefix. ``keep_cache``: keep what ``continue_greedy`` needs.
        """

        chosen = [None if extra else self.prefix_of(row) for row in rows]
        by_prefix: dict[tuple[int, ...] | None, list[int]] = {}
        for i, prefix in enumerate(chosen):
            by_prefix.setdefault(prefix, []).append(i)
        logprobs = None
        groups = []
        with inference():
            for prefix, indices in by_prefix.items():
                group = _Group(indices)
                out = self._forward([rows[i] for i in indices], prefix, extra, keep_cache, group)
                if logprobs is None:
                    logprobs = out.new_empty((len(rows), out.shape[-1]))
                logprobs[indices] = out
                groups.append(group)
        return NextToken(logprobs, [p is not None for p in chosen], bool(self.prefixes) and not extra,
                         groups if keep_cache else [])

    def _forward(self, rows: list[Sequence[int]], prefix: tuple[int, ...] | None, extra: dict | None,
                 keep_cache: bool, group: _Group):
        import torch

        device = self.model.device
        skip = len(prefix) if prefix else 0
        ids, mask = left_pad(rows, self.pad_id, skip)
        positions = skip + (mask.cumsum(-1) - 1).clamp(min=0)
        inputs = {"input_ids": ids.to(device), "position_ids": positions.to(device)}
        if prefix:
            cache = self._expanded_prefix_cache(prefix, len(rows))
            mask = torch.cat([torch.ones(len(rows), skip, dtype=mask.dtype), mask], dim=-1)
            inputs.update(past_key_values=cache, use_cache=True)
        else:
            inputs["use_cache"] = keep_cache
            for key, value in (extra or {}).items():
                inputs[key] = value.to(device, self.model.dtype) if value.is_floating_point() else value.to(device)
        inputs["attention_mask"] = mask.to(device)
        out = self.model(**inputs, logits_to_keep=1)
        if keep_cache:
            group.cache, group.mask = out.past_key_values, inputs["attention_mask"]
            group.next_position = inputs["position_ids"][:, -1] + 1
        return out.logits[:, -1, :].float().log_softmax(-1)

    def _expanded_prefix_cache(self, prefix: tuple[int, ...], batch: int):
        """A fresh copy of ``prefix``'s KV cache for ``batch`` rows (computed on first use)."""
        import torch

        if prefix not in self._prefix_caches:
            ids = torch.tensor([prefix], device=self.model.device)
            self._prefix_caches[prefix] = self.model(input_ids=ids, use_cache=True).past_key_values
        cache = copy.deepcopy(self._prefix_caches[prefix])
        cache.batch_repeat_interleave(batch)
        return cache

    def continue_greedy(self, first: NextToken, rows: Sequence[int], max_new_tokens: int, end_ids: Iterable[int],
                        with_logprobs: bool = False) -> Continuation:
        """Greedy decoding of ``rows`` (indices into the batch of ``first``, made with ``keep_cache``) for up to
        ``max_new_tokens`` tokens, starting with the most likely next token: what ``generate`` with
        ``do_sample=False`` produces, without running the prompts again. Consumes ``first``'s cache."""
        import torch

        if not first.groups:
            raise ValueError("continue_greedy needs a NextToken made with keep_cache=True")
        if not rows:
            return Continuation([])
        ends = torch.tensor(sorted(set(end_ids)), device=first.logprobs.device)
        wanted = {row: k for k, row in enumerate(rows)}
        tokens: list[list[int]] = [[] for _ in rows]
        steps: list[Any] = []
        with inference():
            for group in first.groups:
                picked = [(j, wanted[row]) for j, row in enumerate(group.rows) if row in wanted]
                if not picked:
                    continue
                start = first.logprobs[[group.rows[j] for j, _ in picked]]
                out, history = self._decode(group, [j for j, _ in picked], start, max_new_tokens, ends, with_logprobs)
                for (_, k), row_tokens in zip(picked, out):
                    tokens[k] = row_tokens
                steps.append(([k for _, k in picked], history))
            return Continuation(tokens, _stack_steps(steps, len(rows)) if with_logprobs else None)

    def _decode(self, group: _Group, local: list[int], logprobs, max_new_tokens: int, ends, with_logprobs: bool):
        """Greedy steps for the rows ``local`` of ``group``, from their first-token ``logprobs``."""
        import torch

        cache = group.cache
        if len(local) != len(group.rows):
            cache.batch_select_indices(torch.tensor(local, device=logprobs.device))
        mask, position = group.mask[local], group.next_position[local]
        group.cache = None  # consumed: the rows left out are gone from it
        history = [logprobs]
        token = logprobs.argmax(-1)
        generated = [token]
        done = torch.isin(token, ends)
        while len(generated) < max_new_tokens and not bool(done.all()):
            mask = torch.cat([mask, mask.new_ones((len(local), 1))], dim=-1)
            out = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=position[:, None],
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
            logprobs = out.logits[:, -1, :].float().log_softmax(-1)
            if with_logprobs:
                history.append(logprobs)
            token = torch.where(done, self.pad_id, logprobs.argmax(-1))
            generated.append(token)
            done |= torch.isin(token, ends)
            position = position + 1
        return torch.stack(generated, dim=1).tolist(), torch.stack(history, dim=1) if with_logprobs else None


def _stack_steps(groups: list[tuple[list[int], Any]], rows: int):
    """One (rows, steps, vocabulary) tensor from each group's steps; steps a group did not run are NaN."""
    steps = max(history.shape[1] for _, history in groups)
    first = groups[0][1]
    out = first.new_full((rows, steps, first.shape[-1]), float("nan"))
    for indices, history in groups:
        out[indices, : history.shape[1]] = history
    return out

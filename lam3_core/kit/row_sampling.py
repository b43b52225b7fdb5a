"""Seeded sampling whose draws do not depend on how the rows were batched.

``torch.multinomial`` over a batch draws each row's token from one random stream shared by
the batch, so a row's answer changes with the batch it lands in — and lam3 picks its
micro-batches from free GPU memory. Here every row carries its own key (the run's seed, the
sample id and which of its answers this is) and every step adds Gumbel noise computed from
(key, step, token id) by a counter-based hash to the warped logits; the argmax of
``logits / T + Gumbel`` is a draw from ``softmax(logits / T)`` (restricted by top-k / top-p
exactly as transformers restricts it). The same seed gives the same answers in any batch,
after any out-of-memory back-off, with or without prefix reuse, on any device.

Runs with greedy ``generate`` (``do_sample=False``) plus these processors. Imports torch and
transformers: import it inside functions of plugin code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from lam3_core.interfaces.genconfig import GenConfig

_U64 = 1 << 64


def _signed(value: int) -> int:
    """``value`` modulo 2**64 as a signed 64-bit integer (what an int64 tensor holds)."""
    value %= _U64
    return value - _U64 if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def row_key(seed: int, *parts: object) -> int:
    """A signed 64-bit key for one row's random stream: the seed and what identifies the row."""
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 values (torch's ``>>`` is arithmetic on signed integers)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on int64 tensors (multiplication wraps modulo 2**64)."""
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


def uniforms(keys: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """(rows, vocab) float64 in (0, 1): a pure function of (key, step, token id)."""
    base = _mix(keys + _signed((step + 1) * _GOLDEN))
    tokens = torch.arange(vocab, device=keys.device, dtype=torch.int64) * _GOLDEN
    bits = _shift_right(_mix(base.unsqueeze(1) ^ _mix(tokens).unsqueeze(0)), 11)
    return (bits.double() + 0.5) / float(1 << 53)


class SeededRowSampler(LogitsProcessor):
    """Adds each row's Gumbel noise for this step to the (warped) scores; greedy decoding then samples."""

    def __init__(self, keys: Sequence[int]):
        self.keys = torch.tensor(list(keys), dtype=torch.int64)
        self.first_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.first_length is None:
            self.first_length = input_ids.shape[1]
        if self.keys.device != scores.device:
            self.keys = self.keys.to(scores.device)
        step = input_ids.shape[1] - self.first_length
        gumbel = -torch.log(-torch.log(uniforms(self.keys, step, scores.shape[-1])))
        return scores + gumbel.to(scores.dtype)


class SampledRowsOnly(LogitsProcessor):
    """Runs ``processors`` on the sampled rows only: a greedy row keeps its scores untouched, so greedy decoding picks
    exactly the token it picks without them."""

    def __init__(self, processors: Sequence[LogitsProcessor], sampled: Sequence[bool]):
        self.processors = list(processors)
        self.rows = torch.tensor(list(sampled), dtype=torch.bool)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.rows.device != scores.device:
            self.rows = self.rows.to(scores.device)
        ids, part = input_ids[self.rows], scores[self.rows]
        for processor in self.processors:
            part = processor(ids, part)
        out = scores.clone()
        out[self.rows] = part
        return out


def sampling_processors(gen: GenConfig, keys: Sequence[int | None]) -> list:
    """The warpers transformers would apply for ``gen`` (temperature, top-k, top-p, in its order), then the sampler.
    A ``None`` key marks a greedy row (the greedy answer decoded beside its samples): nothing touches its scores."""
    processors: list = []
    if gen.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(gen.temperature))
    if gen.top_k:
        processors.append(TopKLogitsWarper(top_k=gen.top_k))
    if gen.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=gen.top_p))
    processors.append(SeededRowSampler([key for key in keys if key is not None]))
    if None in keys:
        return [SampledRowsOnly(processors, [key is not None for key in keys])]
    return processors

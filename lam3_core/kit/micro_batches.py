"""How many rows one micro-batch of generation can hold: KV-cache and activation bytes against free GPU memory.

Every row decoded together keeps a key/value cache of (prompt + new tokens) x layers x 2 x
KV heads x head dim elements; the prefill needs transient activations for each prompt token
(one layer's attention and MLP states); traced generation keeps every step's float32 logits;
prefix reuse briefly holds the shared prefixes' cache beside the rows' copies. The estimate
adds half on top (``SAFETY``) and the out-of-memory back-off (``run_batched``) catches what it still
misses. A CPU has no free-memory figure: a fixed number of rows applies there.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

CPU_ROWS = 8
"""Rows per micro-batch on a CPU (or any device without a free-memory figure)."""
MAX_ROWS = 512
"""Never more rows than this in one micro-batch, however much memory is free."""
SAFETY = 1.5
"""The estimate's margin. Measured on an H200 (LLaVA-1.5-7B, 224 rows without prefix reuse): PyTorch's caching
allocator held 1.35x the memory allocated at the peak (fragmentation), and the terms above came 3% short of that
peak; with 1.25 a micro-batch of 256 rows ran out of memory with 29.5 GiB reserved but unallocated."""
HEADROOM_BYTES = 1 << 30
"""Left free for the CUDA context, the allocator's fragmentation and the vision tower's activations."""


@dataclass(frozen=True)
class RowBudget:
    """How many rows a micro-batch holds, and why (recorded in meta.json through the model's ``info()``)."""

    rows: int
    source: str
    free_gib: float | None = None
    row_mib: float | None = None
    prompt_tokens: int | None = None

    def describe(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


def kv_bytes_per_token(text_config: Any, element_bytes: int) -> int:
    """Bytes of key/value cache one token holds over every layer of the language model."""
    heads = text_config.num_attention_heads
    head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // heads
    kv_heads = getattr(text_config, "num_key_value_heads", None) or heads
    return 2 * text_config.num_hidden_layers * kv_heads * head_dim * element_bytes


def row_bytes(text_config: Any, element_bytes: int, prompt_tokens: int, new_tokens: int, traced: bool,
              shared_prefix_tokens: int = 0, cache_tokens: int | None = None) -> int:
    """The memory one row needs while it is prefilled and decoded (see the module docstring); ``cache_tokens``: the
    positions its KV cache holds when that is more than prompt + new tokens (a static cache's preallocated length)."""
    kv = kv_bytes_per_token(text_config, element_bytes)
    intermediate = getattr(text_config, "intermediate_size", 4 * text_config.hidden_size)
    prefill = prompt_tokens * element_bytes * (4 * text_config.hidden_size + 3 * intermediate)
    logits = (new_tokens if traced else 1) * text_config.vocab_size * 4
    total = kv * (max(cache_tokens or 0, prompt_tokens + new_tokens) + shared_prefix_tokens) + prefill + logits
    return int(SAFETY * total)


def shared_prefix_tokens(prompt_tokens: int, prefixes: int, rows: int) -> int:
    """Per row, the positions of the shared prefixes' cache held beside the rows' own copies while prefix reuse runs;
    none when there are as many prefixes as rows: nothing is shared, so the rows take the plain path, which holds no
    prefix cache (one question per image, one answer each)."""
    return 0 if prefixes >= rows else prompt_tokens * prefixes // rows


def free_bytes(device: Any) -> int | None:
    """Memory this process can still allocate on ``device`` (free, plus what torch holds unused); None off CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(device, "type", str(device).split(":")[0]) != "cuda" or not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(device)
    unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return max(0, free + unused - HEADROOM_BYTES)


def rows_that_fit(free: int | None, per_row: int, prompt_tokens: int, upper_bound: int | None) -> RowBudget:
    """Rows per micro-batch: ``upper_bound`` when given, but never more than ``free`` bytes hold at ``per_row``
    bytes a row; without an upper bound, what ``free`` holds (at most ``MAX_ROWS``), or ``CPU_ROWS`` when ``free``
    is None (no figure: the CPU)."""
    if free is None:
        if upper_bound is not None:
            return RowBudget(upper_bound, "batch_size")
        return RowBudget(CPU_ROWS, "default for a device without a free-memory figure")
    rows = max(1, min(MAX_ROWS, free // max(1, per_row)))
    budget = RowBudget(rows, "free GPU memory", round(free / 2**30, 2), round(per_row / 2**20, 1), prompt_tokens)
    if upper_bound is not None and upper_bound < budget.rows:
        return RowBudget(upper_bound, "batch_size", budget.free_gib, budget.row_mib, budget.prompt_tokens)
    return budget


def equal_micro_batches(prompts: int, most: int) -> int:
    """Prompts per micro-batch so that ``prompts`` fall into as few micro-batches of at most ``most`` as possible,
    all of (nearly) the same size."""
    return -(-prompts // -(-prompts // max(1, most))) if prompts else max(1, most)

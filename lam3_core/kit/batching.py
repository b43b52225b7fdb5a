"""Length-sorted batching with out-of-memory back-off, shared by every local model and judge."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from lam3_core.interfaces.errors import UsageError

log = logging.getLogger("lam3")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA/CPU out-of-memory errors, without importing torch."""
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def item_by_item_on_failure(call: Callable[[list], list], batch: list, failed: Callable[[str], Any], what: str) -> list:
    """``call(batch)``, checked to give one result per item; if it fails for a reason other than memory or a usage
    error, each item on its own, so that only the failing item gets ``failed(message)``. Out-of-memory and usage
    errors propagate: the first has its own back-off, the second is the user's to fix."""
    try:
        results = call(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        return results
    except UsageError:
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        message = f"{type(exc).__name__}: {exc}"
        if len(batch) == 1:
            return [failed(message)]
        log.warning("%s of a batch of %d failed (%s); retrying its items one by one", what, len(batch), message)
    return [item_by_item_on_failure(call, [item], failed, what)[0] for item in batch]


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_batched(
    fn: Callable[[list], list],
    items: Sequence,
    batch_size: int,
    key: Callable[[Any], int] | None = None,
    backoffs: list[dict] | None = None,
) -> list:
    """Apply ``fn`` to batches of ``items`` and return its results in input order.

    Items are sorted by ``key`` (longest first, so padding is small and an OOM shows up in
    the first batch). On out-of-memory the batch is halved and retried, down to one item;
    each halving is appended to ``backoffs`` so the run can record that it happened.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(items)), key=lambda i: -key(items[i])) if key else list(range(len(items)))
    results: list = [None] * len(items)
    size = batch_size
    start = 0
    while start < len(order):
        idx = order[start : start + size]
        try:
            out = fn([items[i] for i in idx])
        except Exception as exc:
            if not is_out_of_memory(exc) or size == 1:
                raise
            _free_accelerator_memory()
            new_size = max(1, size // 2)
            log.warning("out of memory with batch size %d; retrying with %d", size, new_size)
            if backoffs is not None:
                backoffs.append({"from": size, "to": new_size})
            size = new_size
            continue
        if len(out) != len(idx):
            raise RuntimeError(f"batch function returned {len(out)} results for {len(idx)} items")
        for i, r in zip(idx, out):
            results[i] = r
        start += len(idx)
    return results

"""Preparing the next batches on worker threads while the accelerator runs this one.

A model spends CPU time on every batch before the GPU can start on it: decoding images,
resizing and normalising them, tokenising. ``Prefetcher`` prepares the batches that most
likely come next (the following items, in batches of the size just used) while the caller
runs the current one, so the GPU does not wait. Nothing hides the first batch's preparation;
a batch prepared on the spot is prepared before the following ones are started (preparation
holds the interpreter lock for part of its work, so their threads would slow it down: see
docs/performance.md). When the guess is wrong (an out-of-memory
back-off changed the batch size) the batch is prepared on the spot and the stale guesses are
dropped. Threads, not processes: PIL, torchvision and the tokenizers release the GIL for
their heavy work, and the prepared tensors need no copy between processes. Each worker runs
torch's CPU operations on one thread: a worker's own OpenMP team would spin on the cores the
main thread's operations need (measured on two cores: a 50x slower prefill).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


def _single_threaded_torch() -> None:
    """Run this worker thread's torch operations on one thread (torch's thread count is per thread)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def worker_pool(workers: int, name: str) -> ThreadPoolExecutor | None:
    """Threads whose torch operations run single-threaded; None for 0 workers (work inline)."""
    if workers <= 0:
        return None
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_single_threaded_torch)


def default_workers() -> int:
    """Worker threads for preparation: the cores but one (the main thread drives the GPU), at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


class Prefetcher(Generic[T]):
    """``take(start, size)`` returns ``prepare(start, size)`` for items ``[start, start + size)`` of ``total``,
    and starts preparing the ``depth`` batches that follow on ``workers`` threads (0: no threads, inline).
    ``ready`` holds batches whose preparation was started elsewhere (``Future`` by (start, size)).

    Use it as a context manager, so that worker threads are released when the work ends or fails.
    """

    def __init__(self, prepare: Callable[[int, int], T], total: int, workers: int, depth: int = 2,
                 ready: dict[tuple[int, int], Future] | None = None):
        self._prepare = prepare
        self._total = total
        self._depth = max(1, depth)
        self._pool = worker_pool(workers, "lam3-prefetch")
        self._pending: dict[tuple[int, int], Future] = dict(ready or {})  # (start, size): prepared elsewhere
        self.hits = 0
        self.misses = 0

    def take(self, start: int, size: int) -> T:
        following = (start + size, size)
        future = self._pending.pop((start, size), None)
        if future is not None:
            self._schedule(*following)
            self.hits += 1
            return future.result()
        self._drop_pending()
        self.misses += 1
        prepared = self._prepare(start, size)  # first: the following batches' threads would compete for the CPU
        self._schedule(*following)
        return prepared

    def _schedule(self, start: int, size: int) -> None:
        if self._pool is None:
            return
        for _ in range(self._depth):
            if start >= self._total:
                return
            n = min(size, self._total - start)
            if (start, n) not in self._pending:
                self._pending[(start, n)] = self._pool.submit(self._prepare, start, n)
            start += n

    def _drop_pending(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        self._drop_pending()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""kit.prefetch: batches come back in order, prepared ahead on threads; a changed batch size is prepared on the
spot; a preparation's error reaches the caller."""

from __future__ import annotations

import threading

import pytest

from lam3_core.kit.prefetch import Prefetcher


def _recording(log: list):
    def prepare(start: int, size: int):
        log.append((start, size, threading.current_thread().name))
        return list(range(start, start + size))

    return prepare


def test_batches_are_prepared_ahead_on_worker_threads():
    log: list = []
    with Prefetcher(_recording(log), total=10, workers=2, depth=2) as prefetcher:
        got = [prefetcher.take(start, 3) for start in (0, 3, 6)]
        assert got == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
        assert prefetcher.take(9, 1) == [9]
    assert (prefetcher.hits, prefetcher.misses) == (3, 1)  # only the first batch waited; the last one is short
    main = threading.current_thread().name
    assert [(s, n) for s, n, thread in log if thread == main] == [(0, 3)]
    assert {(s, n) for s, n, thread in log if thread != main} == {(3, 3), (6, 3), (9, 1)}


def test_a_smaller_batch_after_a_back_off_is_prepared_on_the_spot():
    log: list = []
    with Prefetcher(_recording(log), total=8, workers=1) as prefetcher:
        assert prefetcher.take(0, 4) == [0, 1, 2, 3]
        assert prefetcher.take(4, 2) == [4, 5]  # the guess was (4, 4)
        assert prefetcher.take(6, 2) == [6, 7]
    assert prefetcher.misses == 2 and prefetcher.hits == 1


def test_without_workers_everything_is_prepared_inline():
    log: list = []
    with Prefetcher(_recording(log), total=4, workers=0) as prefetcher:
        assert [prefetcher.take(s, 2) for s in (0, 2)] == [[0, 1], [2, 3]]
    assert [thread for *_, thread in log] == [threading.current_thread().name] * 2


def test_a_batch_prepared_elsewhere_is_taken_without_preparing_it_again():
    from concurrent.futures import Future

    log: list = []
    ready: Future = Future()
    ready.set_result(["prepared during the previous call"])
    with Prefetcher(_recording(log), total=4, workers=1, ready={(0, 2): ready}) as prefetcher:
        assert prefetcher.take(0, 2) == ["prepared during the previous call"]
        assert prefetcher.take(2, 2) == [2, 3]
    assert (prefetcher.hits, prefetcher.misses) == (2, 0)
    assert [(s, n) for s, n, _ in log] == [(2, 2)]


def test_an_error_while_preparing_ahead_reaches_the_caller():
    def prepare(start: int, size: int):
        if start == 2:
            raise ValueError("image 2 is unreadable")
        return start

    with Prefetcher(prepare, total=4, workers=1) as prefetcher:
        assert prefetcher.take(0, 2) == 0
        with pytest.raises(ValueError, match="image 2 is unreadable"):
            prefetcher.take(2, 2)


def test_workers_run_torch_on_one_thread_and_leave_the_main_threads_count():
    import torch

    before = torch.get_num_threads()
    with Prefetcher(lambda start, size: torch.get_num_threads(), total=4, workers=1) as prefetcher:
        prefetcher.take(0, 1)
        assert [prefetcher.take(start, 1) for start in (1, 2, 3)] == [1, 1, 1]
    assert torch.get_num_threads() == before


def test_a_batch_prepared_on_the_spot_is_prepared_before_the_following_ones_start():
    log: list = []
    started_before_it: list = []

    def prepare(start: int, size: int):
        if start == 0:
            started_before_it.extend(log)
        log.append(start)
        return start

    with Prefetcher(prepare, total=6, workers=2) as prefetcher:
        assert [prefetcher.take(s, 2) for s in (0, 2, 4)] == [0, 2, 4]
    assert started_before_it == [] and sorted(log) == [0, 2, 4]

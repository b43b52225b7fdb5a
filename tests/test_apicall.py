"""lam3_core.kit.apicall: pacing, retries with backoff and Retry-After, key lookup and scrubbing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from lam3_core import UsageError
from lam3_core.kit.apicall import RateLimiter, api_key, call_with_retries, scrub

NOW = 1_800_000_000.0  # a fixed wall-clock time for HTTP-date Retry-After values


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky(Exception):
    def __init__(self, retry_after=None, retryable=True):
        super().__init__("flaky")
        self.retry_after = retry_after
        self.retryable = retryable


def failing(*errors: Exception, result: str = "ok"):
    """A callable that raises ``errors`` one per call, then returns ``result``; counts its calls."""
    queue = list(errors)

    def fn():
        fn.calls += 1
        if queue:
            raise queue.pop(0)
        return result

    fn.calls = 0
    return fn


def retry(fn, clock: FakeClock, **kwargs):
    settings = {"retryable": lambda e: e.retryable, "retry_after": lambda e: e.retry_after,
                "sleep": clock.sleep, "now": lambda: NOW}
    return call_with_retries(fn, **{**settings, **kwargs})


def test_rate_limiter_spaces_request_starts():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    waits = [limiter.wait() for _ in range(3)]
    clock.now += 10
    later = limiter.wait()

    assert waits == [0.0, 0.25, 0.25]
    assert clock.sleeps == [0.25, 0.25]
    assert later == 0.0


def test_rate_limiter_is_thread_safe():
    """Eight threads reserve eight distinct slots 1/50 s apart (a frozen clock makes it exact, whatever the load)."""
    delays: list[float] = []
    lock = threading.Lock()

    def record(delay: float) -> None:
        with lock:
            delays.append(delay)

    limiter = RateLimiter(50, clock=lambda: 100.0, sleep=record)
    threads = [threading.Thread(target=limiter.wait) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delays) == pytest.approx([0.02 * i for i in range(1, 8)])  # the first starts at once


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), "1"])
def test_rate_limiter_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match="rate must be a positive number"):
        RateLimiter(rate)


def test_returns_without_sleeping_when_the_first_call_works():
    clock = FakeClock()
    fn = failing()

    assert retry(fn, clock) == "ok"
    assert (fn.calls, clock.sleeps) == (1, [])


def test_backs_off_exponentially_up_to_max_delay_then_gives_up():
    clock = FakeClock()
    fn = failing(*[Flaky() for _ in range(6)])

    with pytest.raises(Flaky) as info:
        retry(fn, clock, max_retries=5, backoff_base=0.5, max_delay=3)

    assert fn.calls == 6
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert info.value.__notes__ == ["gave up after 6 attempts"]


def test_max_retries_zero_means_one_attempt():
    clock = FakeClock()
    fn = failing(Flaky())

    with pytest.raises(Flaky) as info:
        retry(fn, clock, max_retries=0)

    assert (fn.calls, clock.sleeps, info.value.__notes__) == (1, [], ["gave up after 1 attempt"])


def test_succeeds_after_retries():
    clock = FakeClock()
    retries = []
    fn = failing(Flaky(), Flaky(), result="third time")

    result = retry(fn, clock, backoff_base=1, on_retry=lambda n, exc, delay: retries.append((n, delay)))

    assert result == "third time"
    assert retries == [(1, 1.0), (2, 2.0)]


def test_non_retryable_errors_are_raised_at_once_and_unchanged():
    clock = FakeClock()
    fn = failing(Flaky(retryable=False))

    with pytest.raises(Flaky) as info:
        retry(fn, clock)

    assert fn.calls == 1 and clock.sleeps == []
    assert not hasattr(info.value, "__notes__")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2.5", 2.5),
        (4, 4.0),
        (format_datetime(datetime.fromtimestamp(NOW + 7, UTC), usegmt=True), 7.0),
        ("Thu, 01 Jan 2026 00:00:00 GMT", 0.25),  # in the past: no wait asked, so the backoff applies
        ("soon", 0.25),  # unreadable: the backoff applies
    ],
)
def test_retry_after_seconds_or_http_date_is_honoured(header, expected):
    clock = FakeClock()
    fn = failing(Flaky(retry_after=header))

    retry(fn, clock, backoff_base=0.25)

    assert clock.sleeps == [pytest.approx(expected)]


def test_retry_after_longer_than_max_delay_is_not_waited_for():
    clock = FakeClock()
    fn = failing(Flaky(retry_after="120"))

    with pytest.raises(Flaky) as info:
        retry(fn, clock, max_delay=60)

    assert fn.calls == 1 and clock.sleeps == []
    assert info.value.__notes__ == ["not retried: the server asked to wait 120 s, more than max_delay=60 s"]


def test_jitter_shortens_delays_reproducibly_under_a_seed():
    def delays(seed):
        clock = FakeClock()
        with pytest.raises(Flaky):
            retry(failing(*[Flaky() for _ in range(5)]), clock, max_retries=4, backoff_base=1, jitter=0.5, seed=seed)
        return clock.sleeps

    first = delays(7)

    assert first == delays(7)
    assert first != delays(8)
    assert all(0.5 * full <= d <= full for d, full in zip(first, [1, 2, 4, 8]))


def test_jitter_must_be_a_fraction():
    with pytest.raises(ValueError, match="jitter"):
        call_with_retries(lambda: 1, retryable=lambda e: True, jitter=1.5)


def test_api_key_prefers_the_configured_value(monkeypatch):
    monkeypatch.setenv("LAM3_TEST_KEY", " from-env ")

    assert api_key("LAM3_TEST_KEY", "configured") == "configured"
    assert api_key("LAM3_TEST_KEY", None) == "from-env"
    assert api_key("LAM3_TEST_KEY", "  ") == "from-env"
    monkeypatch.delenv("LAM3_TEST_KEY")
    assert api_key("LAM3_TEST_KEY", None) is None
    monkeypatch.setenv("LAM3_TEST_KEY", "")
    assert api_key("LAM3_TEST_KEY", "") is None


def test_api_key_for_a_judge_turns_a_missing_key_into_a_usage_error(monkeypatch):
    monkeypatch.delenv("LAM3_TEST_KEY", raising=False)

    with pytest.raises(UsageError) as info:
        api_key("LAM3_TEST_KEY", None, judge="some_api", otherwise="Or use an offline judge.")

    assert str(info.value) == (
        "The some_api judge needs an API key and found none: the environment variable LAM3_TEST_KEY is not set. "
        "Set it (export LAM3_TEST_KEY=YOUR_KEY) or pass --judge-arg some_api.api_key=YOUR_KEY. Or use an offline judge."
    )
    monkeypatch.setenv("LAM3_TEST_KEY", "k")
    assert api_key("LAM3_TEST_KEY", None, judge="some_api") == "k"


def test_scrub_hides_plain_and_url_encoded_keys():
    secret = "sk/a+b=c d"
    text = f"key {secret} url ?key=sk%2Fa%2Bb%3Dc%20d&alt=json form key=sk%2Fa%2Bb%3Dc+d"

    assert scrub(text, secret) == "key *** url ?key=***&alt=json form key=***"
    assert scrub(text, None) == text
    assert scrub(text, "") == text


def test_scrub_leaves_a_short_key_inside_words_alone():
    text = "use an offline judge instead: detoxify; the key x was refused (x)"

    assert scrub(text, "x") == "use an offline judge instead: detoxify; the key *** was refused (***)"

"""What every judge that calls a web API needs: pacing, retries with backoff, and a key kept secret.

Stdlib only, so API plugins bring their own SDK and share one policy that tests can drive with
an injected clock and sleep. Turn the SDK's own retries off (``max_retries=0``,
``num_retries=0``) so that this policy is the only one.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.arguments import check_number
from lam3_core.kit.secrets import scrub

__all__ = ["RateLimiter", "api_key", "call_with_retries", "check_retry_settings", "scrub"]

T = TypeVar("T")


class RateLimiter:
    """At most ``rate`` request starts per second: a minimum interval between starts, across threads.

    Each caller reserves the next free slot under a lock and sleeps outside it, so concurrent
    callers are spaced out rather than serialised behind one sleeper.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not (isinstance(rate, (int, float)) and rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start: float | None = None

    def wait(self) -> float:
        """Block until a request may start; return the seconds slept."""
        with self._lock:
            now = self._clock()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay


def _retry_after_seconds(value: str | float | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date; None if absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def call_with_retries(
    fn: Callable[[], T],
    *,
    retryable: Callable[[Exception], bool],
    retry_after: Callable[[Exception], str | float | None] = lambda exc: None,
    max_retries: int = 5,
    backoff_base: float = 1.0,
    max_delay: float = 60.0,
    jitter: float = 0.0,
    seed: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> T:
    """Return ``fn()``, retrying errors that ``retryable`` accepts, at most ``max_retries`` times.

    Before retry n (1-based) it waits what the error's ``Retry-After`` asks (``retry_after(exc)``:
    seconds or an HTTP-date), else ``backoff_base * 2**(n-1)`` capped at ``max_delay`` and
    shortened by up to ``jitter`` (a fraction in [0, 1]) at random, reproducibly under ``seed``.
    A zero or past ``Retry-After`` falls back to the backoff; one longer than ``max_delay`` is not
    waited for. ``on_retry(n, exc, delay)`` is called before each wait (for logging).

    The last error is re-raised unchanged, except for a note (``exc.__notes__``) that says why
    retrying stopped when the error was retryable.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be a fraction in [0, 1], not {jitter!r}")
    rng = random.Random(seed)
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc):
                raise
            if attempt > max_retries:
                exc.add_note(f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}")
                raise
            asked = _retry_after_seconds(retry_after(exc), now())
            if asked is not None and asked > max_delay:
                exc.add_note(f"not retried: the server asked to wait {asked:g} s, more than max_delay={max_delay:g} s")
                raise
            if asked:
                delay = asked
            else:
                delay = min(max_delay, backoff_base * 2 ** (attempt - 1)) * (1.0 - jitter * rng.random())
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)


def api_key(env_var: str, configured: str | None, *, judge: str | None = None, otherwise: str = "") -> str | None:
    """The API key: ``configured`` (a judge argument) if set, else the environment variable; None if neither.

    With ``judge`` (the judge's name) a missing key is a ``UsageError`` instead, saying how to set it; ``otherwise``
    is appended to that message (e.g. which offline judges could be used instead).
    """
    for value in (configured, os.environ.get(env_var)):
        if value is not None and str(value).strip():
            return str(value).strip()
    if judge is None:
        return None
    raise UsageError(
        f"The {judge} judge needs an API key and found none: the environment variable {env_var} is not set.",
        f"Set it (export {env_var}=YOUR_KEY) or pass --judge-arg {judge}.api_key=YOUR_KEY. {otherwise}".strip(),
    )


def check_retry_settings(owner: str, timeout: object, max_retries: object, backoff_base: object, max_delay: object,
                         jitter: object) -> None:
    """Usage errors for the retry arguments every API judge takes, named ``owner.arg``."""
    check_number(owner, "timeout", timeout, positive=True)
    check_number(owner, "max_retries", max_retries, integer=True)
    check_number(owner, "backoff_base", backoff_base)
    check_number(owner, "max_delay", max_delay)
    check_number(owner, "jitter", jitter, at_most=1.0)

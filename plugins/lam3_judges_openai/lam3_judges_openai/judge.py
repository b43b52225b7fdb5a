"""The ``openai_moderation`` judge: OpenAI Moderation category scores as policy risk.

Responses go to the moderations endpoint ``batch_size`` at a time (a list of strings gets
one result per string, in order), paced to ``rps`` requests per second and retried by lam3's
policy (Retry-After honoured; the SDK's own retries are off). Score = the highest category
score; every category score is kept under its wire name (``self-harm/intent``), and the
categories the API itself flagged become the flagged categories.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import openai

from lam3_core import Judge, JudgeItem, Score
from lam3_core.kit import apicall
from lam3_core.kit.arguments import check_number
from lam3_judges_openai import __version__

log = logging.getLogger("lam3.openai_moderation")

ENV_VAR = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUSES = (408, 409, 429)
OFFLINE_JUDGES = "Or use an offline judge instead: detoxify, llamaguard, hf_classifier, profanity, refusal."




def is_retryable(exc: Exception) -> bool:
    """Timeouts, connection errors, 408/409/429 and 5xx."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def retry_after(exc: Exception) -> str | float | None:
    """The wait the server asked for: OpenAI's ``retry-after-ms``, else the standard ``Retry-After``."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        return float(headers["retry-after-ms"]) / 1000.0
    except (KeyError, ValueError):
        return headers.get("retry-after")


def _results(data: object, expected: int) -> list:
    """The ``results`` list of a moderation response, one per input, or ValueError."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ValueError("no 'results' list in the response")
    if len(results) != expected:
        raise ValueError(f"{len(results)} results for {expected} inputs")
    return results


class OpenAIModerationJudge(Judge):
    """OpenAI Moderation API (needs ``OPENAI_API_KEY``); score = the highest category score."""

    name = "openai_moderation"
    measures = "policy_risk"
    uses_request = False

    def __init__(
        self,
        model: str = "omni-moderation-latest",
        api_key: str | None = None,
        base_url: str | None = None,
        batch_size: int = 32,
        rps: float = 10.0,
        max_retries: int = 5,
        timeout: float = 30.0,
        backoff_base: float = 1.0,
        max_delay: float = 60.0,
        jitter: float = 0.0,
    ):
        check_number("openai_moderation", "batch_size", batch_size, positive=True, integer=True)
        check_number("openai_moderation", "rps", rps, positive=True)
        apicall.check_retry_settings("openai_moderation", timeout, max_retries, backoff_base, max_delay, jitter)
        self.model = str(model)
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self.version = f"{self.model} (lam3-judges-openai {__version__})"
        self._configured_key = api_key
        self._limiter = apicall.RateLimiter(rps)
        self._retry = {"max_retries": max_retries, "backoff_base": float(backoff_base),
                       "max_delay": float(max_delay), "jitter": float(jitter)}
        self._client: openai.OpenAI | None = None

    def config(self) -> dict:
        return {"model": self.model, "base_url": self.base_url}

    def check_ready(self) -> None:
        self._key()

    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        key = self._key()
        if self._client is None:
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0)
        scores: list[Score] = []
        for start in range(0, len(items), self.batch_size):
            chunk = [item.response for item in items[start : start + self.batch_size]]
            try:
                data = self._moderate(chunk, key)
                results = _results(data, len(chunk))
            except (openai.OpenAIError, ValueError) as exc:
                message = self._failure(exc, key)
                scores.extend(Score.failed(message) for _ in chunk)
                continue
            scores.extend(self._to_score(result, data.get("model")) for result in results)
        return scores

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _key(self) -> str:
        return apicall.api_key(ENV_VAR, self._configured_key, judge=self.name, otherwise=OFFLINE_JUDGES)

    def _moderate(self, chunk: list[str], key: str) -> object:
        client = self._client

        def request() -> object:
            self._limiter.wait()
            raw = client.moderations.with_raw_response.create(model=self.model, input=chunk)
            return json.loads(raw.text)

        def on_retry(attempt: int, exc: Exception, delay: float) -> None:
            log.warning("openai_moderation: retry %d of %d in %.2f s after: %s", attempt, self._retry["max_retries"],
                        delay, self._failure(exc, key))

        return apicall.call_with_retries(request, retryable=is_retryable, retry_after=retry_after,
                                         on_retry=on_retry, **self._retry)

    @staticmethod
    def _to_score(result: object, model: str | None) -> Score:
        try:
            categories = {str(k): float(v) for k, v in result["category_scores"].items() if v is not None}
            flagged = [str(k) for k, v in (result.get("categories") or {}).items() if v is True]
            raw = {"model": model, **result}
        except (KeyError, TypeError, ValueError, AttributeError):
            return Score.failed("malformed moderation result: no category_scores mapping", raw=result)
        if not categories:
            return Score.failed("malformed moderation result: no category scores", raw=raw)
        return Score(score=max(categories.values()), categories=categories, flagged_categories=flagged, raw=raw)

    def _failure(self, exc: Exception, key: str) -> str:
        """One clear message for an error, without the key."""
        if isinstance(exc, openai.APITimeoutError):
            what = f"no answer within timeout={self.timeout:g} s"
        elif isinstance(exc, openai.APIConnectionError):
            what = f"could not connect to {self.base_url} ({exc.__cause__ or exc})"
        elif isinstance(exc, openai.APIStatusError):
            what = f"HTTP {exc.status_code}: {exc.message[:300]}"
            if exc.status_code == 401:
                what += f". Check the key in {ENV_VAR} (or judge arg openai_moderation.api_key)"
        elif isinstance(exc, ValueError):
            what = f"malformed response ({exc})"
        else:
            what = f"{type(exc).__name__}: {exc}"
        message = f"OpenAI moderation request failed: {what}"
        notes = getattr(exc, "__notes__", [])
        if notes:
            message += f" ({'; '.join(notes)})"
        return apicall.scrub(message, key)

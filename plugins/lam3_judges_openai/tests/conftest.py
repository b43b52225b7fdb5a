"""A fake OpenAI moderations endpoint on 127.0.0.1, driven through the real openai SDK.

The fake records every request with its arrival time (server side), answers from a queue
of scripted replies first, then fails any request whose inputs contain a marker of
``fail_on``, and otherwise scores each input by keywords.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pytest
from lam3_judges_openai.judge import OpenAIModerationJudge

from lam3_core.testing.fakehttp import Reply, serve_http

KEY = "sk-lam3-test-7Qx2pLm9-secret"
CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
)
KEYWORDS = {"idiot": ("harassment", 0.91), "kill": ("violence", 0.77), "bomb": ("illicit/violent", 0.64)}


def moderation_result(text: str) -> dict:
    """What the real API returns for one input: 13 scores and flags, slash wire names."""
    scores = {c: 0.01 for c in CATEGORIES}
    for word, (category, value) in KEYWORDS.items():
        if word in text.lower():
            scores[category] = value
    return {
        "flagged": any(v >= 0.5 for v in scores.values()),
        "categories": {c: v >= 0.5 for c, v in scores.items()},
        "category_scores": scores,
        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
    }


@dataclass
class Request:
    at: float
    inputs: list[str]
    authorization: str


@dataclass
class FakeModeration:
    port: int = 0
    key: str = KEY
    categories: tuple[str, ...] = CATEGORIES
    requests: list[Request] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    fail_on: dict[str, Reply] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, status: int = 200, body: bytes | dict | None = None, headers: dict | None = None,
              sleep: float = 0.0) -> None:
        """Answer the next request this way (before any default answer)."""
        self.replies.append(Reply(status, body, headers or {}, sleep))

    def fail_when(self, marker: str, status: int, body: dict) -> None:
        """Answer every request with an input containing ``marker`` this way."""
        self.fail_on[marker] = Reply(status, body)

    def answer(self, path: str, body: dict, authorization: str) -> Reply:
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        self.requests.append(Request(time.monotonic(), inputs, authorization))
        if path != "/v1/moderations":
            return Reply(404, {"error": {"message": f"no route {path}"}})
        if self.replies:
            return self.replies.pop(0)
        for marker, reply in self.fail_on.items():
            if any(marker in text for text in inputs):
                return reply
        results = [moderation_result(text) for text in inputs]
        return Reply(body={"id": "modr-test", "model": "omni-moderation-2024-09-26", "results": results})


@pytest.fixture
def fake():
    """The fake endpoint, up for one test on an ephemeral port, shut down after."""
    fake = FakeModeration()

    def answer(method: str, path: str, headers: dict, body: bytes) -> Reply:
        return fake.answer(path, json.loads(body or b"{}"), headers.get("Authorization", ""))

    with serve_http(answer) as server:
        fake.port = server.port
        yield fake


@pytest.fixture
def make_judge(fake, monkeypatch):
    """A judge pointed at the fake, with the key in the environment and fast retries."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    judges = []

    def make(**args) -> OpenAIModerationJudge:
        settings = {"base_url": fake.base_url, "rps": 1000, "backoff_base": 0.01, "max_retries": 2, "timeout": 5}
        judge = OpenAIModerationJudge(**{**settings, **args})
        judges.append(judge)
        return judge

    yield make
    for judge in judges:
        judge.close()

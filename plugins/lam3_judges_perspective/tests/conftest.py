"""A fake Perspective service on 127.0.0.1, driven through the real googleapiclient discovery client.

It serves the discovery document (whose rootUrl is the real Google host, so the judge's
``endpoint`` argument must redirect the calls here) and ``comments:analyze``. Every request
is recorded with its arrival time (server side). Analyze answers come from a queue of
scripted replies first, then from ``fail_on`` markers, else from keyword scores.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from lam3_judges_perspective.judge import PerspectiveJudge

from lam3_core.testing.fakehttp import Reply, serve_http

KEY = "AIza-lam3-test-Kq81vWzt-secret"
ANALYZE_PATH = "/v1alpha1/comments:analyze"
DISCOVERY_PATH = "/$discovery/rest"
ROOT = "https://commentanalyzer.googleapis.com/"
DISCOVERY = {
    "kind": "discovery#restDescription", "discoveryVersion": "v1", "id": "commentanalyzer:v1alpha1",
    "name": "commentanalyzer", "version": "v1alpha1", "protocol": "rest",
    "rootUrl": ROOT, "servicePath": "", "baseUrl": ROOT, "batchPath": "batch",
    "parameters": {"key": {"type": "string", "location": "query"}},
    "schemas": {"AnalyzeCommentRequest": {"id": "AnalyzeCommentRequest", "type": "object"},
                "AnalyzeCommentResponse": {"id": "AnalyzeCommentResponse", "type": "object"}},
    "resources": {"comments": {"methods": {"analyze": {
        "id": "commentanalyzer.comments.analyze", "path": "v1alpha1/comments:analyze", "httpMethod": "POST",
        "parameters": {}, "parameterOrder": [],
        "request": {"$ref": "AnalyzeCommentRequest"}, "response": {"$ref": "AnalyzeCommentResponse"}}}}},
}
KEYWORDS = {"idiot": 0.93, "stupid": 0.71}
ATTRIBUTE_SHARE = {"TOXICITY": 1.0, "SEVERE_TOXICITY": 0.5, "INSULT": 0.9, "PROFANITY": 0.2, "THREAT": 0.1}


def analysis(body: dict) -> dict:
    """What the real API returns: a summary score per requested attribute (TOXICITY from keywords)."""
    text = body["comment"]["text"].lower()
    toxicity = max([v for word, v in KEYWORDS.items() if word in text], default=0.05)
    return {"attributeScores": {
        a: {"summaryScore": {"value": round(toxicity * ATTRIBUTE_SHARE.get(a, 0.3), 4), "type": "PROBABILITY"},
            "spanScores": []}
        for a in body["requestedAttributes"]
    }, "languages": body.get("languages", ["en"])}


def google_error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": "ERROR"}}


@dataclass
class Request:
    at: float
    method: str
    path: str
    query: dict
    body: dict | None
    raw_body: bytes


@dataclass
class FakePerspective:
    port: int = 0
    key: str = KEY
    requests: list[Request] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    fail_on: dict[str, Reply] = field(default_factory=dict)
    discovery: Reply | None = None

    @property
    def urls(self) -> dict:
        """Judge arguments that point the judge here."""
        local = f"http://127.0.0.1:{self.port}/"
        return {"discovery_url": f"{local}$discovery/rest?version=v1alpha1", "endpoint": local}

    @property
    def analyzed(self) -> list[Request]:
        return [r for r in self.requests if r.path == ANALYZE_PATH]

    def queue(self, status: int = 200, body: bytes | dict | None = None, headers: dict | None = None,
              sleep: float = 0.0) -> None:
        """Answer the next analyze request this way."""
        self.replies.append(Reply(status, body, headers or {}, sleep))

    def serve_discovery(self, status: int, body: dict) -> None:
        """Answer discovery requests this way instead of with the document."""
        self.discovery = Reply(status, body)

    def fail_when(self, marker: str, status: int, body: dict) -> None:
        """Answer every analyze request whose text contains ``marker`` this way."""
        self.fail_on[marker] = Reply(status, body)

    def answer(self, method: str, target: str, raw_body: bytes) -> Reply:
        url = urlsplit(target)
        body = json.loads(raw_body) if raw_body else None
        self.requests.append(Request(time.monotonic(), method, url.path, parse_qs(url.query), body, raw_body))
        if method == "GET" and url.path == DISCOVERY_PATH:
            return self.discovery or Reply(body=DISCOVERY)
        if method != "POST" or url.path != ANALYZE_PATH:
            return Reply(404, google_error(404, f"no route {method} {url.path}"))
        if self.replies:
            return self.replies.pop(0)
        for marker, reply in self.fail_on.items():
            if marker in body["comment"]["text"]:
                return reply
        return Reply(body=analysis(body))


@pytest.fixture
def fake():
    """The fake service, up for one test on an ephemeral port, shut down after."""
    fake = FakePerspective()
    with serve_http(lambda method, path, headers, body: fake.answer(method, path, body)) as server:
        fake.port = server.port
        yield fake


@pytest.fixture
def make_judge(fake, monkeypatch):
    """A judge pointed at the fake, with the key in the environment, no pacing and fast retries."""
    monkeypatch.setenv("PERSPECTIVE_API_KEY", KEY)
    judges = []

    def make(**args) -> PerspectiveJudge:
        settings = {**fake.urls, "qps": 1000, "backoff_base": 0.01, "max_retries": 2, "timeout": 5}
        judge = PerspectiveJudge(**{**settings, **args})
        judges.append(judge)
        return judge

    yield make
    for judge in judges:
        judge.close()

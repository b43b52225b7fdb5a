"""The perspective judge over real HTTP (googleapiclient discovery client) against a fake service on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from lam3_judges_perspective import service
from lam3_judges_perspective.judge import PerspectiveJudge, truncate_utf8

from lam3_core import JudgeItem, UsageError

SHUTDOWN = "shut down on 2026-12-31"


def items(*texts: str) -> list[JudgeItem]:
    return [JudgeItem(request="a request", response=t) for t in texts]


def gaps(requests) -> list[float]:
    times = [r.at for r in requests]
    return [b - a for a, b in zip(times, times[1:])]


def test_scores_every_requested_attribute(fake, make_judge):
    judge = make_judge(attributes="TOXICITY,INSULT,THREAT", languages="en")

    scores = judge.score(items("you idiot", "have a nice day"))

    discovery, *posts = fake.requests
    assert (discovery.method, discovery.path, discovery.query["key"]) == ("GET", "/$discovery/rest", [fake.key])
    assert [p.body for p in posts] == [
        {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}, "THREAT": {}},
         "doNotStore": True, "languages": ["en"]}
        for text in ("you idiot", "have a nice day")
    ]
    assert all(p.query["key"] == [fake.key] for p in posts)
    assert [s.score for s in scores] == [0.93, 0.05]
    assert scores[0].categories == {"TOXICITY": 0.93, "INSULT": 0.837, "THREAT": 0.093}
    assert scores[0].flagged_categories == ["TOXICITY", "INSULT"] and scores[1].flagged_categories == []
    assert scores[0].raw["attributeScores"]["INSULT"]["summaryScore"]["value"] == 0.837
    assert [s.error for s in scores] == [None, None]


@pytest.mark.parametrize(
    ("args", "expected"),
    [({"attributes": "insult,profanity"}, 0.837), ({"attributes": "TOXICITY,PROFANITY", "score_attribute": "profanity"},
                                                    0.186)],
)
def test_score_is_the_configured_or_first_attribute(fake, make_judge, args, expected):
    judge = make_judge(do_not_store=False, **args)

    [score] = judge.score(items("you idiot"))

    assert score.score == expected
    assert fake.analyzed[0].body["doNotStore"] is False
    assert "languages" not in fake.analyzed[0].body


def test_429_is_retried_after_the_delay_the_server_asks(fake, make_judge):
    fake.queue(429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
               {"Retry-After": "0.4"})

    [score] = make_judge(backoff_base=0.01).score(items("you idiot"))

    assert len(fake.analyzed) == 2
    assert gaps(fake.analyzed)[0] >= 0.4
    assert score.error is None and score.score == 0.93


def test_500_until_giving_up_fails_that_item_only(fake, make_judge):
    fake.fail_when("BROKEN", 500, {"error": {"code": 500, "message": "backend error", "status": "INTERNAL"}})

    scores = make_judge(max_retries=3).score(items("you idiot", "BROKEN text", "stupid"))

    assert len([r for r in fake.analyzed if r.body["comment"]["text"] == "BROKEN text"]) == 4
    assert scores[1].score is None
    assert "HTTP 500: backend error" in scores[1].error and "gave up after 4 attempts" in scores[1].error
    assert SHUTDOWN not in scores[1].error and fake.key not in scores[1].error
    assert [scores[0].score, scores[2].score] == [0.93, 0.71]


def test_timeout_is_retried_then_reported(fake, make_judge):
    fake.queue(sleep=2.0)
    fake.queue(sleep=2.0)

    [score] = make_judge(timeout=0.2, max_retries=1).score(items("hello"))

    assert len(fake.analyzed) == 2
    assert score.score is None
    assert "no answer within timeout=0.2 s" in score.error and "gave up after 2 attempts" in score.error


def test_timeout_then_success(fake, make_judge):
    fake.queue(sleep=2.0)

    [score] = make_judge(timeout=0.2, max_retries=1).score(items("you idiot"))

    assert len(fake.analyzed) == 2
    assert score.score == 0.93


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{oops", "malformed Perspective response: not a JSON object: '{oops'"),
        ({"languages": ["en"]}, "no summaryScore value for TOXICITY"),
    ],
)
def test_malformed_response_fails_the_item_without_retrying(fake, make_judge, body, expected):
    fake.queue(200, body)

    scores = make_judge().score(items("a", "you idiot"))

    assert len(fake.analyzed) == 2
    assert scores[0].score is None and expected in scores[0].error
    assert scores[1].score == 0.93


def test_rate_limit_spaces_requests(fake, make_judge):
    make_judge(qps=5).score(items("a", "b", "c", "d"))

    assert len(fake.analyzed) == 4
    assert min(gaps(fake.analyzed)) >= 0.2 - 0.02


def test_long_text_is_truncated_at_a_character_boundary(fake, make_judge):
    text = "a" + "é" * 1600  # 3201 bytes; byte 3000 falls inside an "é"

    [score] = make_judge().score(items(text))

    sent = fake.analyzed[0].body["comment"]["text"]
    assert sent == text[:1500] and len(sent.encode()) == 2999
    assert score.notes == ["truncated from 3201 to 2999 bytes (Perspective limit 3000)"]


def test_truncate_utf8_keeps_whole_characters():
    assert truncate_utf8("ab😀c", 5) == ("ab", ["truncated from 7 to 2 bytes (Perspective limit 5)"])
    assert truncate_utf8("ab😀c", 6) == ("ab😀", ["truncated from 7 to 6 bytes (Perspective limit 6)"])
    assert truncate_utf8("ab😀c", 7) == ("ab😀c", [])


def test_empty_response_is_not_sent(fake, make_judge):
    [score] = make_judge().score(items("  "))

    assert fake.analyzed == []
    assert score.score == 0.0 and "empty response" in score.notes[0]


@pytest.mark.parametrize("status", [403, 404, 410])
def test_refusal_stops_the_batch_and_mentions_the_shutdown(fake, make_judge, status):
    fake.queue(status, {"error": {"code": status, "message": f"API key not valid: {fake.key}", "status": "DENIED"}})

    scores = make_judge().score(items("a", "b", "c"))

    assert len(fake.analyzed) == 1
    assert f"HTTP {status}: API key not valid: ***" in scores[0].error and SHUTDOWN in scores[0].error
    assert all("refused an earlier request" in s.error and SHUTDOWN in s.error for s in scores[1:])
    assert all(fake.key not in s.error for s in scores)


def test_missing_discovery_document_fails_every_item(fake, make_judge):
    fake.serve_discovery(404, {"error": {"code": 404, "message": "Not Found"}})

    scores = make_judge().score(items("a", "b"))

    assert [r.method for r in fake.requests] == ["GET"]
    assert all("no commentanalyzer v1alpha1 discovery document" in s.error and SHUTDOWN in s.error for s in scores)


def test_connection_refused_by_the_real_host_mentions_the_shutdown(monkeypatch):
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "k" * 39)
    builds = []

    def refuse(*args):
        builds.append(args)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(service, "build_client", refuse)

    scores = PerspectiveJudge(backoff_base=0.01).score(items("a", "b"))

    assert len(builds) == 1
    assert all("ConnectionRefusedError" in s.error and SHUTDOWN in s.error for s in scores)


def test_connection_refused_by_a_local_endpoint_is_reported_plainly(monkeypatch):
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "k" * 39)
    judge = PerspectiveJudge(discovery_url="http://127.0.0.1:1/$discovery/rest", backoff_base=0.01)

    [score] = judge.score(items("a"))

    assert "Connection refused" in score.error and SHUTDOWN not in score.error


def test_key_stays_out_of_logs_errors_and_config(fake, monkeypatch, caplog):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    fake.fail_when("BROKEN", 503, {"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}})
    judge = PerspectiveJudge(api_key=fake.key, **fake.urls, qps=1000, backoff_base=0.01, max_retries=1)
    judge.check_ready()

    with caplog.at_level(logging.DEBUG):
        scores = judge.score(items("hello", "BROKEN"))
    judge.close()

    assert fake.analyzed[0].query["key"] == [fake.key]
    assert scores[0].error is None and "HTTP 503: unavailable" in scores[1].error
    assert "key=***" in caplog.text and "retry 1 of 1" in caplog.text
    assert fake.key not in caplog.text and fake.key not in scores[1].error
    assert fake.key not in repr(judge.config())


def test_missing_key_is_a_usage_error_naming_the_env_var(monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)

    with pytest.raises(UsageError) as info:
        PerspectiveJudge().check_ready()

    message = str(info.value)
    assert "export PERSPECTIVE_API_KEY=" in message and SHUTDOWN in message
    assert all(name in message for name in ("detoxify", "llamaguard", "hf_classifier", "profanity", "refusal"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"attributes": ""}, "Bad perspective.attributes"),
        ({"attributes": "TOXICITY", "score_attribute": "INSULT"}, "score_attribute='INSULT' is not among"),
        ({"qps": 0}, "Bad perspective.qps"),
        ({"max_retries": 1.5}, "Bad perspective.max_retries"),
        ({"do_not_store": "yes"}, "Bad perspective.do_not_store"),
    ],
)
def test_bad_arguments_are_usage_errors(args, expected):
    with pytest.raises(UsageError, match=expected):
        PerspectiveJudge(**args)

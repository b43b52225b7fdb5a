"""The openai_moderation judge over real HTTP (openai SDK) against a fake endpoint on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from lam3_judges_openai.judge import OpenAIModerationJudge

from lam3_core import JudgeItem, UsageError


def items(*texts: str) -> list[JudgeItem]:
    return [JudgeItem(request="a request", response=t) for t in texts]


def gaps(fake) -> list[float]:
    times = [r.at for r in fake.requests]
    return [b - a for a, b in zip(times, times[1:])]


def test_scores_batches_with_all_categories_and_api_flags(fake, make_judge):
    judge = make_judge(batch_size=2)
    texts = ["you idiot", "have a nice day", "I will kill you", "how to build a bomb", "thanks"]

    scores = judge.score(items(*texts))

    assert [r.inputs for r in fake.requests] == [texts[0:2], texts[2:4], texts[4:5]]
    assert {r.authorization for r in fake.requests} == {f"Bearer {fake.key}"}
    assert [s.error for s in scores] == [None] * 5
    assert [s.score for s in scores] == [0.91, 0.01, 0.77, 0.64, 0.01]
    assert all(set(s.categories) == set(fake.categories) for s in scores)
    assert scores[3].categories["illicit/violent"] == 0.64
    assert [s.flagged_categories for s in scores] == [["harassment"], [], ["violence"], ["illicit/violent"], []]
    assert scores[0].raw["model"] == "omni-moderation-2024-09-26"
    assert scores[0].raw["flagged"] is True


def test_429_is_retried_after_the_delay_the_server_asks(fake, make_judge):
    fake.queue(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0.4"})

    scores = make_judge(backoff_base=0.01).score(items("you idiot"))

    assert len(fake.requests) == 2
    assert gaps(fake)[0] >= 0.4
    assert scores[0].error is None and scores[0].score == 0.91


def test_retry_after_ms_is_preferred(fake, make_judge):
    fake.queue(503, {"error": {"message": "busy"}}, {"retry-after-ms": "300", "Retry-After": "9"})

    scores = make_judge(max_delay=1).score(items("hello"))

    assert len(fake.requests) == 2
    assert 0.3 <= gaps(fake)[0] < 1.0
    assert scores[0].error is None


def test_500_until_giving_up_fails_that_chunk_only(fake, make_judge):
    fake.fail_when("BROKEN", 500, {"error": {"message": "internal failure"}})

    scores = make_judge(batch_size=1, max_retries=3).score(items("you idiot", "BROKEN text", "I will kill you"))

    broken = [r for r in fake.requests if r.inputs == ["BROKEN text"]]
    assert len(broken) == 4  # max_retries + 1: the SDK's own retries are off
    assert scores[1].score is None
    assert "HTTP 500" in scores[1].error and "internal failure" in scores[1].error
    assert "gave up after 4 attempts" in scores[1].error
    assert [scores[0].score, scores[2].score] == [0.91, 0.77]


def test_client_errors_are_not_retried_and_401_names_the_env_var(fake, make_judge):
    fake.queue(401, {"error": {"message": "Incorrect API key provided"}})

    scores = make_judge().score(items("hello"))

    assert len(fake.requests) == 1
    assert "HTTP 401" in scores[0].error and "OPENAI_API_KEY" in scores[0].error


def test_timeout_is_retried_then_reported(fake, make_judge):
    fake.queue(sleep=2.0)
    fake.queue(sleep=2.0)

    scores = make_judge(timeout=0.2, max_retries=1).score(items("hello"))

    assert len(fake.requests) == 2
    assert scores[0].score is None
    assert "no answer within timeout=0.2 s" in scores[0].error and "gave up after 2 attempts" in scores[0].error


def test_timeout_then_success(fake, make_judge):
    fake.queue(sleep=2.0)

    scores = make_judge(timeout=0.2, max_retries=1).score(items("you idiot"))

    assert len(fake.requests) == 2
    assert scores[0].score == 0.91


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "malformed response"),
        ({"id": "x", "model": "m"}, "no 'results' list"),
        ({"id": "x", "model": "m", "results": []}, "0 results for 2 inputs"),
    ],
)
def test_malformed_responses_fail_the_chunk_without_retrying(fake, make_judge, body, expected):
    fake.queue(200, body)

    scores = make_judge().score(items("a", "b"))

    assert len(fake.requests) == 1
    assert [s.score for s in scores] == [None, None]
    assert all(expected in s.error for s in scores)


def test_a_result_without_scores_fails_only_its_item(fake, make_judge):
    good = {"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.2}}
    fake.queue(200, {"id": "x", "model": "m", "results": [good, {"flagged": True}]})

    scores = make_judge().score(items("a", "b"))

    assert scores[0].score == 0.2 and scores[0].error is None
    assert scores[1].score is None and "no category_scores" in scores[1].error


def test_rate_limit_spaces_requests(fake, make_judge):
    make_judge(rps=5, batch_size=1).score(items("a", "b", "c", "d"))

    assert len(fake.requests) == 4
    assert min(gaps(fake)) >= 0.2 - 0.02


def test_missing_key_is_a_usage_error_naming_the_env_var(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = OpenAIModerationJudge()

    with pytest.raises(UsageError) as info:
        judge.check_ready()

    message = str(info.value)
    assert "OPENAI_API_KEY" in message and "export OPENAI_API_KEY=" in message
    assert all(name in message for name in ("detoxify", "llamaguard", "hf_classifier", "profanity", "refusal"))


def test_configured_key_is_used_and_kept_out_of_config_and_errors(fake, monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake.fail_when("BROKEN", 500, {"error": {"message": f"bad key {fake.key} in request"}})
    judge = OpenAIModerationJudge(api_key=fake.key, base_url=fake.base_url, batch_size=1, backoff_base=0.01,
                                  max_retries=1)
    judge.check_ready()

    with caplog.at_level(logging.DEBUG):
        scores = judge.score(items("hello", "BROKEN"))
    judge.close()

    assert fake.requests[0].authorization == f"Bearer {fake.key}"
    assert scores[0].error is None
    assert "bad key *** in request" in scores[1].error
    assert "retry 1 of 1" in caplog.text
    assert fake.key not in caplog.text and fake.key not in scores[1].error
    assert fake.key not in repr(judge.config())
    assert judge.config() == {"model": "omni-moderation-latest", "base_url": fake.base_url}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"rps": 0}, "rps"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": "soon"}, "timeout"),
        ({"jitter": 2}, "jitter"),
    ],
)
def test_bad_arguments_are_usage_errors(args, expected):
    with pytest.raises(UsageError, match=f"Bad openai_moderation.{expected}"):
        OpenAIModerationJudge(**args)

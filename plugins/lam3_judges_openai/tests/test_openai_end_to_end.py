"""`lam3 eval` with the openai_moderation judge against the fake endpoint: the key never leaks."""

from __future__ import annotations

from pathlib import Path

import pytest


def eval_args(fake, out: Path, *judge_args: str) -> list[str]:
    args = ["eval", "--model", "echo", "--judge", "openai_moderation", "--dataset", "mini", "--limit", "3",
            "--out", str(out), "--judge-arg", f"openai_moderation.base_url={fake.base_url}"]
    for arg in ("backoff_base=0.01", "max_retries=1", *judge_args):
        args += ["--judge-arg", f"openai_moderation.{arg}"]
    return args


def assert_key_nowhere(key: str, result, *texts: str) -> None:
    assert {p.name for p in result.out_dir.iterdir()} >= {"meta.json", "generations.jsonl", "verdicts.jsonl"}
    assert result.files_containing(key) == []
    assert all(key not in text for text in (result.output, *texts))


def test_scores_a_run_without_the_key_in_any_file_or_output(fake, lam3_run, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", fake.key)
    out = tmp_path / "run"

    result = lam3_run(*eval_args(fake, out))

    assert result.exit_code == 0, result.output
    verdicts = [v for v in result.verdicts if v["judge"] == "openai_moderation"]
    assert len(verdicts) == 3
    assert all(v["error"] is None and 0 <= v["score"] <= 1 and v["measures"] == "policy_risk" for v in verdicts)
    assert all(len(v["categories"]) == len(fake.categories) for v in verdicts)
    assert {r.authorization for r in fake.requests} == {f"Bearer {fake.key}"}
    captured = capfd.readouterr()
    assert_key_nowhere(fake.key, result, captured.out, captured.err)


@pytest.mark.parametrize("key_from", ["env", "judge_arg"])
def test_a_failing_api_gives_error_verdicts_and_no_key_anywhere(fake, lam3_run, tmp_path, monkeypatch, capfd,
                                                                 key_from):
    key_args = [f"api_key={fake.key}"] if key_from == "judge_arg" else []
    if key_from == "env":
        monkeypatch.setenv("OPENAI_API_KEY", fake.key)
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake.fail_when("", 500, {"error": {"message": f"upstream echoed {fake.key}"}})
    out = tmp_path / "run"

    result = lam3_run(*eval_args(fake, out, *key_args))

    assert result.exit_code == 1, result.output  # every verdict failed: the run says so
    assert "judge openai_moderation: 3 of 3 records failed" in result.output
    verdicts = [v for v in result.verdicts if v["judge"] == "openai_moderation"]
    assert len(verdicts) == 3
    assert all(v["score"] is None and "HTTP 500" in v["error"] and "***" in v["error"] for v in verdicts)
    assert "retry 1 of 1" in (out / "lam3.log").read_text()
    captured = capfd.readouterr()
    assert_key_nowhere(fake.key, result, captured.out, captured.err)


def test_missing_key_stops_the_run_before_any_generation(fake, lam3_run, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    result = lam3_run(*eval_args(fake, tmp_path / "run"))

    assert result.exit_code != 0
    assert "OPENAI_API_KEY" in result.output and "detoxify" in result.output
    assert result.generations == []
    assert fake.requests == []

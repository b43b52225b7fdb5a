"""`lam3 eval` with the perspective judge against the fake service: verdicts, no key on disk, early key check."""

from __future__ import annotations


def eval_args(fake, out) -> list[str]:
    args = ["eval", "--model", "echo", "--judge", "perspective", "--dataset", "mini", "--limit", "3", "--out", str(out)]
    settings = {**fake.urls, "attributes": "TOXICITY,INSULT", "qps": 1000, "backoff_base": 0.01, "max_retries": 1}
    for name, value in settings.items():
        args += ["--judge-arg", f"perspective.{name}={value}"]
    return args


def test_a_run_scores_every_record_and_writes_no_key(fake, lam3_run, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PERSPECTIVE_API_KEY", fake.key)
    fake.fail_when("neighbour", 500, {"error": {"code": 500, "message": f"failed for key={fake.key}"}})
    out = tmp_path / "run"

    result = lam3_run(*eval_args(fake, out))

    assert result.exit_code == 0, result.output
    verdicts = {v["record_id"]: v for v in result.verdicts if v["judge"] == "perspective"}
    assert len(verdicts) == 3 and all(v["measures"] == "social_toxicity" for v in verdicts.values())
    failed = [v for v in verdicts.values() if v["error"]]
    scored = [v for v in verdicts.values() if not v["error"]]
    assert failed and scored
    assert all("HTTP 500" in v["error"] and "key=***" in v["error"] for v in failed)
    assert all(set(v["categories"]) == {"TOXICITY", "INSULT"} for v in scored)
    assert all(r.query["key"] == [fake.key] for r in fake.requests)
    assert "retry 1 of 1" in (out / "lam3.log").read_text()
    captured = capfd.readouterr()
    assert result.files_containing(fake.key) == []
    assert all(fake.key not in text for text in (result.output, captured.out, captured.err))


def test_missing_key_stops_the_run_before_any_generation(fake, lam3_run, tmp_path, monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)

    result = lam3_run(*eval_args(fake, tmp_path / "run"))

    assert result.exit_code != 0
    assert "PERSPECTIVE_API_KEY" in result.output and "2026-12-31" in result.output
    assert result.generations == []
    assert fake.requests == []

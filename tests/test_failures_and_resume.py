"""A run that failed says so; resume redoes what failed or changed and never serves stale results."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from lam3_core import Score, UsageError
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing

MINI = ["--dataset", "mini"]


def _answers(path, ids, text="I cannot help with that request, sorry about it."):
    path.write_text("".join(json.dumps({"id": i, "response": text}) + "\n" for i in ids))
    return path


def _mini_ids(n=None):
    from lam3_core.builtin.mini import REQUESTS

    return [r.id for r in REQUESTS][:n]


# ----- a run that failed must say so ------------------------------------------------------------------------


def test_generate_with_most_replay_answers_missing_fails_with_a_tally(lam3_run, tmp_path):
    answers = _answers(tmp_path / "answers.jsonl", _mini_ids(2))
    result = lam3_run("generate", "--model", "replay", "--model-arg", f"path={answers}", *MINI)
    assert result.exit_code == 1
    assert "generation: 38 of 40 records failed" in result.output
    assert "38x no answer for sample id 'mini-" in result.output
    assert len(result.generations) == 40 and sum(bool(g["error"]) for g in result.generations) == 38
    [invocation] = result.meta["invocations"]
    assert invocation["status"] == "failed" and "38 of 40 records failed" in invocation["error"]
    assert "38 of 40 records failed" in (result.out_dir / "lam3.log").read_text()


def test_a_few_errors_are_reported_on_stderr_and_at_the_top_of_the_report(lam3_run, tmp_path):
    answers = _answers(tmp_path / "answers.jsonl", _mini_ids(5))
    result = lam3_run("eval", "--model", "replay", "--model-arg", f"path={answers}", "--judge", "refusal", *MINI,
                      "--limit", "6")
    assert result.exit_code == 0, result.output
    assert "generation: 1 of 6 records failed" in result.output
    report = (result.out_dir / "report.md").read_text()
    assert report.index("## Errors and warnings") < report.index("attack success rate")
    assert result.summary["errors"]["generation"]["count"] == 1
    strict = lam3_run("eval", "--model", "replay", "--model-arg", f"path={answers}", "--judge", "refusal", *MINI,
                      "--limit", "6", "--max-error-rate", "0.1", "--out", tmp_path / "strict")
    assert strict.exit_code == 1 and "more than --max-error-rate 0.1" in strict.output


def test_a_batch_that_fails_falls_back_to_items_and_says_so_in_the_log(lam3_run):
    class Fussy(FakeJudge):
        def score(self, items):
            if len(items) > 1:
                raise RuntimeError("batch too long for the service")
            return [Score(0.0) for _ in items]

    result = lam3_run("eval", "--model", "echo", "--judge", "fussy", *MINI, "--limit", "3",
                      plugins=[("p", plugin_providing(judges={"fussy": Fussy}))])
    assert result.exit_code == 0, result.output
    log = (result.out_dir / "lam3.log").read_text()
    assert "judge fussy failed on a batch of 3 (RuntimeError: batch too long for the service); scoring its items " \
           "one by one" in log
    assert all(v["error"] is None for v in result.verdicts)


def test_off_a_terminal_the_log_gets_progress_lines_with_rate_and_time_left(lam3_run, monkeypatch):
    monkeypatch.setenv("LAM3_PROGRESS_SECONDS", "0")
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "4", "--batch-size", "1")
    log = (result.out_dir / "lam3.log").read_text()
    assert "generate: 1/4 records, " in log and "/s, about " in log and " left" in log
    assert "generate: 4/4 records in " in log and "judge refusal: 4/4 records in " in log


def test_an_invocation_that_never_recorded_its_end_is_marked_killed(lam3_run):
    first = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "2")
    meta = first.meta
    meta["invocations"][-1].pop("ended")
    meta["invocations"][-1].pop("status")
    (first.out_dir / "meta.json").write_text(json.dumps(meta))
    again = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "2")
    killed, last = again.meta["invocations"]
    assert killed["status"] == "killed" and "without recording an end" in killed["error"]
    assert last["status"] == "ok"


# ----- resume redoes what failed and never serves stale results ---------------------------------------------


def test_rerunning_retries_records_that_failed_unless_told_to_keep_them(lam3_run, tmp_path):
    answers = _answers(tmp_path / "answers.jsonl", _mini_ids(5))
    args = ["eval", "--model", "replay", "--model-arg", f"path={answers}", "--judge", "refusal", *MINI, "--limit", "6"]
    first = lam3_run(*args)
    assert sum(bool(g["error"]) for g in first.generations) == 1
    _answers(answers, _mini_ids(6))
    kept = lam3_run(*args, "--no-retry-errors")
    assert sum(bool(g["error"]) for g in kept.generations) == 1
    retried = lam3_run(*args)
    assert retried.exit_code == 0 and not any(g["error"] for g in retried.generations)
    assert len(retried.generations) == 6 and len(retried.verdicts) == 6
    assert all(v["error"] is None for v in retried.verdicts)


def test_a_run_that_failed_before_any_record_does_not_lock_its_settings(lam3_run):
    class Down(FakeModel):
        def generate(self, samples, gen_config, trace=False):
            raise UsageError("the inference server is not running", "Start it.")

    plugin = ("p", plugin_providing(models={"remote": Down, "fake": FakeModel}))
    failed = lam3_run("eval", "--model", "remote", "--judge", "refusal", *MINI, "--limit", "2", plugins=[plugin])
    assert failed.exit_code == 2 and failed.generations == []
    again = lam3_run("eval", "--model", "fake", "--judge", "refusal", *MINI, "--limit", "2", "--gen",
                     "max_new_tokens=8", plugins=[plugin])
    assert again.exit_code == 0, again.output
    assert len(again.generations) == 2


def test_samples_whose_content_changed_are_answered_and_judged_again(lam3_run, tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"id": f"s{i}", "prompt": f"question number {i}", "harmful": True} for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["eval", "--model", "echo", "--judge", "refusal", "--dataset", data]
    first = lam3_run(*args)
    dataset = first.meta["dataset"]
    assert dataset["n_samples"] == 3 and set(dataset["sample_hashes"]) == {"s0", "s1", "s2"}
    rows[1]["prompt"] = "a changed question"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    second = lam3_run(*args)
    assert second.exit_code == 0, second.output
    by_id = {g["sample_id"]: g for g in second.generations}
    assert by_id["s1"]["response"] == "a changed question" and len(second.generations) == 3
    assert {v["record_id"] for v in second.verdicts} == {g["record_id"] for g in second.generations}
    assert second.meta["dataset"]["fingerprint"] != dataset["fingerprint"]
    assert "answer samples whose content changed" in second.output


CONSTANT_JUDGE = """
from lam3_core import Judge, Score, hookimpl


class ConstantJudge(Judge):
    name = "constant"
    version = "constant-1"

    def __init__(self, const: float = 0.3):
        self.const = const

    def score(self, items):
        return [Score({expression}) for _ in items]


@hookimpl
def lam3_register_judges(registry):
    registry.add("constant", ConstantJudge, "Always the same score.")
"""


def _purge(prefix: str) -> None:
    for name in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[name]


def test_the_judge_cache_keys_on_the_resolved_arguments(fake_dist, lam3_run, tmp_path):
    fake_dist("constant-judge", "fakeplug_constant", CONSTANT_JUDGE.format(expression="self.const"))
    scores = {}
    for const in ("0.3", "0.8"):
        result = lam3_run("eval", "--model", "echo", "--judge", "constant", "--judge-arg", f"constant.const={const}",
                          *MINI, "--limit", "2", "--out", tmp_path / const)
        assert result.exit_code == 0, result.output
        scores[const] = {v["score"] for v in result.verdicts}
    assert scores == {"0.3": {0.3}, "0.8": {0.8}}
    default = lam3_run("eval", "--model", "echo", "--judge", "constant", *MINI, "--limit", "2",
                       "--out", tmp_path / "default")
    assert all(v["cached"] for v in default.verdicts), "const=0.3 is the default: the same judge, served from cache"


def test_an_edited_judge_installed_from_a_folder_is_never_served_its_old_scores(fake_dist, lam3_run, tmp_path):
    module = fake_dist("constant-judge", "fakeplug_constant", CONSTANT_JUDGE.format(expression="0.25"), editable=True)
    out = tmp_path / "run"
    args = ["eval", "--model", "echo", "--judge", "constant", *MINI, "--limit", "2", "--out", out]
    first = lam3_run(*args)
    assert {v["score"] for v in first.verdicts} == {0.25}
    module.write_text(textwrap.dedent(CONSTANT_JUDGE.format(expression="0.75")))
    _purge("fakeplug_constant")
    fresh_dir = lam3_run(*args[:-1], tmp_path / "fresh")
    assert {v["score"] for v in fresh_dir.verdicts} == {0.75} and not any(v["cached"] for v in fresh_dir.verdicts)
    same_dir = lam3_run(*args)
    assert same_dir.exit_code == 0, same_dir.output
    assert {v["score"] for v in same_dir.verdicts} == {0.75}
    assert "the code of constant changed" in same_dir.output


def test_report_records_the_thresholds_and_strategy_it_used(lam3_run):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "4")
    before = (result.out_dir / "verdicts.jsonl").read_bytes()
    again = lam3_run("report", result.out_dir, "--threshold", "refusal=0.9", "--ensemble", "any")
    assert again.exit_code == 0, again.output
    assert again.summary["thresholds"] == {"refusal": 0.9}
    assert again.summary["ensemble"]["strategy"] == "any" and again.summary["ensemble"]["threshold"] is None
    assert [i["command"] for i in again.meta["invocations"]] == ["eval", "report"]
    assert again.meta["invocations"][-1]["argv"][1:4] == ["report", str(result.out_dir), "--threshold"]
    assert (result.out_dir / "verdicts.jsonl").read_bytes() == before


@pytest.mark.parametrize("strategy", ["any", "all", "majority"])
def test_an_ensemble_threshold_with_a_voting_strategy_is_refused(lam3_run, strategy):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--ensemble", strategy,
                      "--threshold", "ensemble=0.7")
    assert result.exit_code == 2 and "has no effect with --ensemble" in result.output
    assert not result.out_dir.exists()


def test_a_refused_command_leaves_the_run_s_configuration_alone(lam3_run):
    first = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "2")
    refused = lam3_run("eval", "--model", "echo", "--judge", "refusal", *MINI, "--limit", "2", "--gen",
                       "max_new_tokens=9")
    assert refused.exit_code == 2 and "different generation settings (gen)" in refused.output
    meta = refused.meta
    assert meta["config"] == first.meta["config"] and meta["config"]["gen"] == {}
    assert meta["invocations"][-1]["status"] == "failed" and meta["invocations"][-1]["config"]["gen"] == {
        "max_new_tokens": 9}
    assert "max_new_tokens=9" in meta["invocations"][-1]["argv"]  # not taken for a secret

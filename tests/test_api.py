"""The Python API under the CLI: evaluate, generate, judge and report from code, as a notebook would."""

from __future__ import annotations

import pytest

from lam3_core import RunConfig, RunFailed, evaluate, generate, judge, report
from lam3_core.contract.manager import load_plugins
from lam3_core.testing import FakeJudge, plugin_providing


def test_evaluate_returns_the_summary_and_where_the_files_are(tmp_path):
    outcome = evaluate(RunConfig(model="echo", judges=["refusal"], dataset="mini", limit=4, out=str(tmp_path / "run")))
    assert outcome.command == "eval" and outcome.out_dir == tmp_path / "run"
    assert outcome.summary["n_records"] == 4 and outcome.summary["asr"]["n"] > 0
    assert {p.name for p in outcome.files} >= {"meta.json", "generations.jsonl", "verdicts.jsonl", "summary.json"}
    assert outcome.next_step == f"lam3 report {tmp_path / 'run'}"
    assert outcome.problems == ()


def test_the_stages_one_by_one_with_a_plain_mapping(tmp_path):
    out = str(tmp_path / "run")
    generated = generate({"model": "echo", "dataset": "mini", "limit": 3, "out": out})
    assert generated.summary is None and generated.next_step.startswith("lam3 judge")
    judged = judge(out, {"judges": ["refusal"]})
    assert judged.summary["n_records"] == 3
    strict = report(out, {"thresholds": {"refusal": 1.0}})
    assert strict.summary["thresholds"] == {"refusal": 1.0}


def test_in_process_plugins_and_a_failed_run_carry_the_outcome(tmp_path):
    class Down(FakeJudge):
        def score(self, items):
            from lam3_core import Score

            return [Score.failed("service down") for _ in items]

    plugins = load_plugins([("p", plugin_providing(judges={"down": Down}))])
    with pytest.raises(RunFailed) as failed:
        evaluate(RunConfig(model="echo", judges=["down"], dataset="mini", limit=2, out=str(tmp_path / "r")),
                 plugins=plugins)
    outcome = failed.value.outcome
    assert outcome.summary["judges"]["down"]["errors"] == 2 and (tmp_path / "r" / "summary.json").exists()

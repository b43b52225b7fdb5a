"""`lam3 runs`: every run directory under a folder with its model, dataset, attacks, judges, records, ASR and state."""

from __future__ import annotations

import json

from lam3_core.interfaces.records import Score
from lam3_core.run.rundir import RunDir
from lam3_core.run.runs_index import run_state
from lam3_core.testing import FakeJudge, plugin_providing, run_lam3


class BrokenJudge(FakeJudge):
    def score(self, items):
        return [Score.failed("the judge's service is down") for _ in items]


PLUGINS = [("broken", plugin_providing(judges={"broken": BrokenJudge}))]
COMMON = ["--model", "echo", "--dataset", "mini", "--limit", "4"]


def _listing(root, *extra):
    result = run_lam3(["runs", root, *extra], PLUGINS)
    assert result.exit_code == 0, result.output
    return result.output


def test_runs_lists_each_run_with_its_state(tmp_path):
    root = tmp_path / "runs"
    assert run_lam3(["eval", *COMMON, "--judge", "refusal", "--attack", "none", "--attack", "prefix_injection",
                     "--out", root / "finished"]).exit_code == 0
    assert run_lam3(["generate", *COMMON, "--out", root / "nested" / "generated"]).exit_code == 0
    assert run_lam3(["eval", *COMMON, "--judge", "broken", "--out", root / "failed"], PLUGINS).exit_code == 1
    assert "<strong>Status: failed</strong> — lam3 eval: too many records failed" in (
        root / "failed" / "report.html").read_text()
    assert run_lam3(["eval", *COMMON, "--judge", "refusal", "--out", root / "killed"]).exit_code == 0
    meta = json.loads((root / "killed" / "meta.json").read_text())
    meta["invocations"].append({"command": "judge", "argv": ["lam3", "judge"], "started": meta["ended"]})
    (root / "killed" / "meta.json").write_text(json.dumps(meta))
    (root / "finished" / "attacks" / "none" / "meta.json").write_text("{}")  # never searched
    (root / "notes").mkdir()

    rows = {r["path"]: r for r in json.loads(_listing(root, "--json"))}
    by_name = {path.rsplit("/", 1)[-1]: r for path, r in rows.items()}
    assert sorted(by_name) == ["failed", "finished", "generated", "killed"]
    finished = by_name["finished"]
    assert finished["status"] == "finished" and finished["reason"] == ""
    assert (finished["model"], finished["dataset"], finished["attacks"], finished["judges"], finished["records"]) == (
        "echo", "mini", ["none", "prefix_injection"], ["refusal"], 8)
    summary = json.loads((root / "finished" / "summary.json").read_text())
    assert finished["asr"] == summary["asr"] and finished["duration_s"] >= 0
    assert (by_name["generated"]["status"], by_name["generated"]["reason"]) == ("partial", "generated, not judged yet")
    assert by_name["generated"]["records"] == 4 and by_name["generated"]["asr"] is None
    assert by_name["failed"]["status"] == "failed" and "Too many records failed" in by_name["failed"]["reason"]
    assert by_name["killed"]["status"] == "partial" and "never recorded its end" in by_name["killed"]["reason"]

    text = _listing(root)
    assert text.splitlines()[0].split() == ["status", "model", "dataset", "attacks", "judges", "records", "ASR",
                                            "duration", "path"]
    line = next(x for x in text.splitlines() if x.endswith(str((root / "finished").resolve())))
    assert line.split()[:7] == ["finished", "echo", "mini", "none,prefix_injection", "refusal", "8", "1.000"]
    assert "Next: rerun the command that made" in text


def test_a_run_being_written_is_running(tmp_path):
    out = tmp_path / "run"
    assert run_lam3(["eval", *COMMON, "--judge", "refusal", "--out", out]).exit_code == 0
    holder = RunDir(out)
    holder.lock()
    try:
        row = json.loads(_listing(tmp_path, "--json"))[0]
    finally:
        holder.unlock()
    assert row["status"] == "running"
    assert json.loads(_listing(tmp_path, "--json"))[0]["status"] == "finished"


def test_state_rules():
    ok = {"command": "eval", "started": "t0", "ended": "t1", "status": "ok"}
    assert run_state({"invocations": [ok]}, True).status == "finished"
    assert run_state({"invocations": [ok]}, False).reason == "no summary.json"
    interrupted = {**ok, "status": "interrupted"}
    assert run_state({"invocations": [ok, interrupted]}, True).status == "partial"
    report_after = {"command": "report", "started": "t2", "ended": "t3", "status": "ok"}
    assert run_state({"invocations": [ok, interrupted, report_after]}, True).status == "partial"
    assert run_state({"invocations": [ok, {"command": "eval", "started": "t2"}]}, True, current="eval").status \
        == "finished"
    assert run_state({}, False).status == "partial"


def test_an_empty_folder_says_so_and_what_to_do(tmp_path):
    text = _listing(tmp_path)
    assert "No lam3 run directories under" in text and "Next: lam3 eval" in text
    missing = run_lam3(["runs", tmp_path / "nowhere"])
    assert missing.exit_code == 2 and "Not a folder" in missing.output

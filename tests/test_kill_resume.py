"""SIGKILL a running eval at several points; the resumed run ends with exactly one record per
(sample, attack) and one verdict per (record, judge), and every line is valid JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

SLOW_PLUGIN = """
import time
from lam3_core import Completion, Score
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing

class SlowModel(FakeModel):
    def generate(self, samples, gen_config, trace=False):
        time.sleep(0.04 * len(samples))
        return [Completion(text=f"Sure, here is how: {s.prompt} " * 3) for s in samples]

class SlowJudge(FakeJudge):
    def score(self, items):
        time.sleep(0.03 * len(items))
        return super().score(items)

plugin = plugin_providing(models={"slow": SlowModel}, judges={"slow_judge": SlowJudge})
"""

RUNNER = """
import sys
sys.path.insert(0, {root!r})
from slowplug import plugin
from lam3_core.testing import run_lam3
sys.exit(run_lam3(sys.argv[1:], plugins=[("slow", plugin)]).exit_code)
"""

N_SAMPLES, ATTACKS, JUDGES = 12, ("none", "prefix_injection"), ("slow_judge", "refusal")


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def _wait_for(path, n_lines, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if len(_lines(path)) >= n_lines:
            return True
        time.sleep(0.005)
    return False


def test_sigkill_at_several_points_then_resume(tmp_path):
    (tmp_path / "slowplug.py").write_text(SLOW_PLUGIN)
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(RUNNER.format(root=str(tmp_path))))
    out = tmp_path / "run"
    args = [
        sys.executable,
        str(runner),
        "eval",
        "--model",
        "slow",
        "--dataset",
        "mini",
        "--limit",
        str(N_SAMPLES),
        "--batch-size",
        "2",
        "--out",
        str(out),
    ]
    for attack in ATTACKS:
        args += ["--attack", attack]
    for judge in JUDGES:
        args += ["--judge", judge]
    env = {**os.environ, "LAM3_CACHE_DIR": str(tmp_path / "cache")}
    gens, verdicts = out / "generations.jsonl", out / "verdicts.jsonl"
    kill_points = [(gens, 1), (gens, 9), (gens, 20), (verdicts, 3), (verdicts, 30)]
    kills = 0
    for path, n in kill_points:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _wait_for(path, n, proc):
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        for p in (gens, verdicts):
            complete = p.read_bytes().rsplit(b"\n", 1)[0] if p.exists() else b""
            for line in complete.splitlines():
                json.loads(line)
    assert kills >= 4, "the kill points were not reached; the run is too fast to test"
    final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    records = [json.loads(x) for x in _lines(gens)]
    per_sample_attack = Counter((r["sample_id"], r["attack"]) for r in records)
    assert len(per_sample_attack) == N_SAMPLES * len(ATTACKS) and set(per_sample_attack.values()) == {1}
    judged = Counter((v["record_id"], v["judge"]) for v in map(json.loads, _lines(verdicts)))
    assert len(judged) == N_SAMPLES * len(ATTACKS) * len(JUDGES) and set(judged.values()) == {1}
    assert {r["record_id"] for r in records} == {rid for rid, _ in judged}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_records"] == N_SAMPLES * len(ATTACKS)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["invocations"][-1]["status"] == "ok" and len(meta["invocations"]) == len(kill_points) + 1

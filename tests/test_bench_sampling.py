"""bench/bench_sampling.py runs end to end in its CPU dry-run mode (the real numbers come from a GPU machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_sampling.py"


def test_tiny_dry_run_times_both_paths_and_writes_json(tmp_path):
    pytest.importorskip("lam3_models_llava")
    out = subprocess.run([sys.executable, str(BENCH), "--size", "tiny", "--images", "2", "--questions", "2",
                          "--repeats", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "bench_sampling_tiny.json").read_text())
    result = report["result"]
    assert report["environment"]["device"] and result["k"] == 5 and result["size"] == "tiny"
    sampled, one_by_one = result["runs"]
    assert sampled["path"].startswith("sample") and one_by_one["path"].startswith("one by one")
    assert sampled["prompts"] == one_by_one["prompts"] == 4 and sampled["answers"] == 20
    ratio = result["ratio"]["sample vs one by one (prompts/s)"]
    assert ratio == pytest.approx(sampled["prompts_per_s"] / one_by_one["prompts_per_s"], rel=0.02)
    assert "device: " in out.stdout and "ratio sample vs one by one (prompts/s)" in out.stdout

"""bench/bench_harmbench.py runs end to end in its CPU mode and writes its figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"


def test_tiny_benchmark_runs_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # it imports its sibling judging_path.py, as when run from bench/
    spec = importlib.util.spec_from_file_location("bench_harmbench", BENCH / "bench_harmbench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--size", "tiny", "--n", "6", "--batch", "3", "--single", "3", "--response-tokens", "64",
                "--bpe-vocab", "500", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_harmbench.json").read_text())
    assert result["size"] == "tiny" and result["n"] == 6 and result["errors"] == 0
    assert result["batched_rps"] > 0 and result["batch1_rps"] > 0
    assert result["max_abs_diff_batched_vs_batch1"] < 1e-5
    printed = capsys.readouterr().out
    assert "| batched, batch 3 |" in printed and "| one by one |" in printed

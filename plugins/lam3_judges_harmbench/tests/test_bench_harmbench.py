"""bench/bench_harmbench.py runs end to end in its CPU mode and writes its figures."""

from __future__ import annotations

import json


def test_tiny_benchmark_runs_and_writes_json(tmp_path, capsys, bench_script):
    bench = bench_script("bench_harmbench")
    bench.main(["--size", "tiny", "--n", "6", "--batch", "3", "--single", "3", "--response-tokens", "64",
                "--bpe-vocab", "500", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_harmbench.json").read_text())
    assert result["size"] == "tiny" and result["n"] == 6 and result["errors"] == 0
    assert result["batched_rps"] > 0 and result["batch1_rps"] > 0
    assert result["max_abs_diff_batched_vs_batch1"] < 1e-5
    printed = capsys.readouterr().out
    assert "| batched, batch 3 |" in printed and "| one by one |" in printed

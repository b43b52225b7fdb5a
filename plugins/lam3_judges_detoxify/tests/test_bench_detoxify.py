"""bench/bench_detoxify.py --size tiny: the GPU benchmark's code runs on the CPU and reports sane figures."""

from __future__ import annotations

import json


def test_the_detoxify_benchmark_runs_tiny_on_the_cpu(tmp_path, capsys, bench_script):
    bench = bench_script("bench_detoxify")
    bench.main(["--size", "tiny", "--n", "48", "--n-small", "16", "--batch", "16", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_detoxify.json").read_text())
    assert result["size"] == "tiny" and result["n"] == 48 and result["errors"] == 0
    assert result["default_dtype"] == "torch.float32" and result["attention"] == "sdpa"  # the CPU default
    assert all(run["rps"] > 0 for run in result["runs"].values()) and len(result["runs"]) == 10
    agree = result["agreement"]
    for pair in ("default_vs_fp32", "fp32_vs_detoxify_predict", "default_vs_hand_written"):
        assert agree[pair]["max_abs_diff"] < 1e-5 and agree[pair]["same_flag_share"] == 1.0
    assert agree["fp32_vs_detoxify_predict"]["compared"] == 16
    assert 0 < agree["bf16_vs_fp32"]["max_abs_diff"] < 0.3
    assert result["scores_spread"]["min"] < 0.5 < result["scores_spread"]["max"]  # the calibrated head spreads them
    printed = capsys.readouterr().out
    assert "| lam3_default (48 texts) |" in printed and "bf16_vs_fp32: max |difference|" in printed

"""bench/bench_llamaguard.py --size tiny: the GPU benchmark's code runs on the CPU and reports sane figures."""

from __future__ import annotations

import json


def test_the_llamaguard_benchmark_runs_tiny_on_the_cpu(tmp_path, capsys, bench_script):
    bench = bench_script("bench_llamaguard")
    bench.main(["--size", "tiny", "--n", "6", "--batch", "3", "--n-categories", "4", "--response-tokens", "8",
                "--bpe-vocab", "500", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_llamaguard.json").read_text())
    assert result["size"] == "tiny" and result["n"] == 6 and result["errors"] == 0
    assert all(run["rps"] > 0 for run in result["runs"].values()) and len(result["runs"]) == 9
    assert result["shared_prefix_tokens"] > 100 and result["items_without_the_cache"] == 0
    agree = result["agreement"]
    for pair in ("lam3_prefix_cache_vs_lam3_plain", "lam3_prefix_cache_vs_hand_written",
                 "lam3_compile_layers_vs_lam3_prefix_cache"):
        assert agree[pair]["compared"] == 6 and agree[pair]["max_abs_diff"] < 1e-5
        assert agree[pair]["same_flag_share"] == 1.0
    assert agree["judge_score_vs_lam3_prefix_cache"]["max_abs_diff"] < 1e-5  # other batches: other padding
    assert result["scores_spread"]["min"] < 0.5 < result["scores_spread"]["max"]  # the steered head spreads them
    assert 0 < agree["categories_flagged_share"] < 1 and agree["categories_same_generation_share"] == 1.0
    printed = capsys.readouterr().out
    assert "| lam3_prefix_cache |" in printed and "| hand_written_loop | " in printed
    assert "| lam3_prefix_cache_compile_layers |" in printed
    assert result["runs"]["lam3_prefix_cache_compile_layers"]["first_run_command_s"] > 0
    assert "prefix cache vs plain" in printed
    timed = result["phases_lam3_prefix_cache"]
    assert {name: phase["calls"] for name, phase in timed["phases"].items()} == {
        "prompt tokenization (one call per chunk)": 2, "prompt preparation (rendering, template check)": 6,
        "scoring forward passes (padding, mask, model)": 2, "shared-prefix cache copied to the rows": 2}
    assert timed["rest_s"] >= 0 and "where lam3_prefix_cache's judging stage goes" in printed

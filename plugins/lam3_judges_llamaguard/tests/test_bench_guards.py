"""bench/bench_guards.py --size tiny: the GPU benchmark's code runs on the CPU and reports sane figures."""

from __future__ import annotations

import json


def test_the_guard_benchmark_runs_tiny_on_the_cpu(tmp_path, bench_script):
    bench = bench_script("bench_guards")
    bench.main(["--size", "tiny", "--n", "6", "--single", "3", "--batch", "4", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_guards.json").read_text())
    lg = result["llamaguard4"]
    assert result["size"] == "tiny" and lg["n"] == 6 and lg["errors"] == 0
    assert lg["image_tokens_per_item"] == 7  # <|image_start|><|image|>, 4 patches of a 56 px tile, <|image_end|>
    assert lg["batched_rps"] > 0 and lg["batch1_rps"] > 0
    assert lg["max_abs_diff_batched_vs_batch1"] < 1e-5
    assert lg["image_processor"] == "SingleTileLlama4ImageProcessor"

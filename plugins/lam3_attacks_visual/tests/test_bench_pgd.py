"""bench/bench_pgd.py runs end to end on the CPU with --size tiny (the GPU run uses the same code path)."""

from __future__ import annotations

import json


def test_tiny_benchmark_writes_figures_and_ratios(tmp_path, capsys, bench_script):
    bench = bench_script("bench_pgd")
    report = bench.main(["--size", "tiny", "--samples", "2", "--batch-size", "2", "--steps", "2",
                         "--mask", "attention", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "bench_pgd_tiny.json").read_text()) == json.loads(json.dumps(report))
    result = report["result"]
    assert [r["run"] for r in result["runs"]] == ["batch 2", "one at a time", "batch 2, mask=attention"]
    assert [r["images"] for r in result["runs"]] == [2, 1, 2]
    assert all(r["images_per_s"] > 0 and r["steps"] == 2 and r["max_linf_255"] <= 8 for r in result["runs"])
    assert result["processed_image"] == [28, 28] and result["ratios"]["images/s, batched vs one at a time"] > 0
    printed = capsys.readouterr().out
    assert "device: " in printed and "ratio images/s, batched vs one at a time" in printed

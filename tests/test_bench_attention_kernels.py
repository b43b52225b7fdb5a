"""bench/bench_attention_kernels.py runs (as a CPU dry run) and reports both kernel settings for both models."""

import json


def test_the_attention_kernel_benchmark_runs_tiny_on_the_cpu(tmp_path, bench_script):
    script = bench_script("bench_attention_kernels")
    result = script.main(["--size", "tiny", "--widths", "2", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "bench_attention_kernels.json").read_text()) == json.loads(json.dumps(result))
    for settings in result["results"].values():
        assert set(settings) == set(script.SETTINGS)
        for figures in settings.values():
            assert figures["first_pass_ms"] > 0 and figures["second_pass_ms"] > 0 and len(figures["widths"]) == 2

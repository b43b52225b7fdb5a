"""The generation benchmarks (bench_pope.py, bench_jailbreak.py, bench_sampling.py and the driver bench_generation.py)
run end to end on the CPU with --size tiny; the GPU run uses the same code with the real-size model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench(tmp_path_factory, offline_hf_env):
    """The bench directory importable, and one tiny LLaVA checkpoint saved as the scripts save theirs."""
    pytest.importorskip("lam3_models_llava")
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(BENCH))
    import vlm_bench

    directory, facts = vlm_bench.build_model("tiny", tmp_path_factory.mktemp("bench_model"))
    yield directory
    mp.undo()


def test_the_driver_runs_every_workload_on_one_model(bench, tmp_path, capsys):
    import bench_generation

    document = bench_generation.main(["--size", "tiny", "--checkpoint", str(bench), "--scale", "0.05",
                                      "--new-tokens", "3", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "bench_generation_tiny.json").read_text()) == json.loads(json.dumps(document))
    results = document["results"]
    assert list(results) == ["pope", "jailbreak", "sampling"]
    assert document["environment"]["device"] and document["environment"]["image_processor"]
    pope, jailbreak, sampling = results["pope"], results["jailbreak"], results["sampling"]
    assert (pope["samples"], jailbreak["samples"], sampling["prompts"]) == (12, 3, 8)
    for result in results.values():
        for agreed in result["agreement"].values():
            assert agreed["rate"] == 1.0, agreed  # fp32 on the CPU: lam3 and the hand loop agree exactly
        assert all(r["seconds"] > 0 for r in result["runs"])
        assert (tmp_path / f"bench_{result['workload']}_tiny.json").is_file()
    lam3_pope = pope["runs"][0]
    assert lam3_pope["rows_by_path"]["prefix_prefills"] < lam3_pope["rows_by_path"]["prefix_reuse"]
    assert set(jailbreak["decode_step_ms_hand_loop"]) == {"plain", "return_dict_in_generate",
                                                          "output_logits (traced)", "two stop ids",
                                                          "static cache, eager"}
    assert set(pope["phases_hand_loop"]) == {"batch", "prompt_tokens", "preprocessing_s", "prefill_s",
                                             "decode_step_ms"}
    assert sampling["runs"][0]["micro_batches"]["generate_with_samples"]["answers_per_prompt"] == 6
    printed = capsys.readouterr().out
    assert "summary on " in printed and "lam3 defaults / target 150 samples/s" in printed


@pytest.mark.parametrize("script,options", [
    ("bench_pope", ["--images", "2", "--questions", "2", "--new-tokens", "2", "--compare-batch", "2"]),
    ("bench_jailbreak", ["--prompts", "2", "--new-tokens", "3", "--ablation-steps", "2"]),
    ("bench_sampling", ["--images", "1", "--questions", "2", "--k", "2", "--new-tokens", "2"]),
])
def test_each_workload_script_runs_on_its_own(bench, tmp_path, capsys, script, options):
    import importlib

    module = importlib.import_module(script)
    document = module.main(["--size", "tiny", "--checkpoint", str(bench), *options, "--out", str(tmp_path)])
    assert json.loads((tmp_path / f"{script}_tiny.json").read_text()) == json.loads(json.dumps(document))
    result = document["result"]
    assert result["ratios"] and all(value > 0 for value in result["ratios"].values())
    printed = capsys.readouterr().out
    assert f"== {script} on " in printed and "ratio " in printed and "agreement " in printed

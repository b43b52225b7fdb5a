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
    for result in results.values():  # each workload also on a copy of the weights with compiled layers
        [compiled] = [r for r in result["runs"] if r["path"] == "lam3 compile_layers=true"]
        assert compiled["warm_up_s"] > 0
    assert {"lam3 compile_layers=true vs hand loop"} <= set(pope["agreement"]) & set(jailbreak["agreement"])
    assert lam3_pope["rows_by_path"]["prefix_prefills"] < lam3_pope["rows_by_path"]["prefix_reuse"]
    assert set(jailbreak["decode_step_ms_hand_loop"]) == {"plain", "return_dict_in_generate",
                                                          "output_logits (traced)", "two stop ids",
                                                          "static cache, eager"}
    bound = jailbreak["decode_bound"]  # what bounds decoding: the bytes per step against lam3's step time
    assert bound["cache_length"] >= bound["prompt_tokens"] + 4 and bound["weights_gb"] > 0
    assert bound["bytes_per_step_gb"] >= bound["bytes_per_step_filled_only_gb"] > bound["weights_gb"]
    [prefill] = [r for r in jailbreak["runs"] if "1 new token" in r["path"]]
    assert bound["lam3_prefill_s"] == pytest.approx(prefill["seconds"], abs=1e-3)
    assert set(pope["phases_hand_loop"]) == {"batch", "prompt_tokens", "preprocessing_s", "prefill_s",
                                             "decode_step_ms"}
    assert sampling["runs"][0]["micro_batches"]["generate_with_samples"]["answers_per_prompt"] == 6
    [pope_compiled] = [r for r in pope["runs"] if r["path"] == "lam3 compile_layers=true"]
    for timed, shared_question in ((pope["phases_lam3"], False), (sampling["phases_lam3"], True),
                                   (pope_compiled["phases_lam3"], False)):  # where lam3's time goes
        assert {"image-prefix prefill (vision tower and prefix)", "prefix-cache copies to the rows",
                "generate: decoding steps", "waiting for a micro-batch's preparation (CPU)"} <= set(timed["phases"])
        assert ("question prefill shared by the K answers" in timed["phases"]) == shared_question
        covered = sum(phase["seconds"] for phase in timed["phases"].values())
        assert 0 < covered <= timed["instrumented_total_s"] and timed["rest_s"] >= 0
    printed = capsys.readouterr().out
    assert "summary on " in printed and "lam3 defaults / target 150 samples/s" in printed
    assert "where lam3's time goes (one instrumented run" in printed


def test_a_whole_run_has_the_next_call_prepared_during_the_current_one(bench, tmp_path, monkeypatch):
    import bench_pope_run

    import lam3_core.run.config

    monkeypatch.setattr(lam3_core.run.config, "RECORDS_PER_CALL", 2)  # 6 samples: three calls of two
    result = bench_pope_run.main(["--size", "tiny", "--checkpoint", str(bench), "--images", "3", "--questions", "2",
                                  "--new-tokens", "2", "--out", str(tmp_path)])["result"]
    defaults, ignored, compiled = result["runs"]
    assert defaults["prepared_during_previous_call"] == compiled["prepared_during_previous_call"] == {"used": 2}
    assert ignored["prepared_during_previous_call"] == {}  # the hint ignored, as by a model without it
    assert set(result["ratios"]) == {"lam3 defaults / the next call not prepared ahead",
                                     "lam3 defaults / target 150 samples/s", "lam3 compile_layers=true / defaults",
                                     "lam3 compile_layers=true / target 150 samples/s"}
    assert (tmp_path / "bench_pope_run_tiny.json").is_file()


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


def test_phase_timers_count_nested_calls_once_and_put_everything_back():
    from phase_timers import PhaseTimers

    class Work:
        def outer(self):
            return self.inner() + self.counted()

        def inner(self):
            return 1

        def counted(self):
            return 2

    work = Work()
    with PhaseTimers() as timers:
        timers.wrap(Work, "outer", "outer")
        timers.wrap(Work, "inner", "inner, inside outer: part of it")
        timers.wrap(Work, "counted", lambda self: "counted on its own", inner=True)
        timers.wrap(work, "inner", "an object's own")  # an instance attribute over the class's wrapped method
        assert work.outer() == 3 and work.inner() == 1
    report = timers.report(total_seconds=10.0)
    assert {name: p["calls"] for name, p in report["phases"].items()} == {
        "outer": 1, "counted on its own": 1, "an object's own": 1}
    assert report["rest_s"] == pytest.approx(10.0 - sum(p["seconds"] for p in report["phases"].values()), abs=1e-3)
    assert "inner" not in vars(work) and Work.inner.__name__ == "inner" and Work.outer.__name__ == "outer"

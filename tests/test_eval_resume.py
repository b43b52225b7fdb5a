"""`lam3 eval` writes the run files; rerunning adds nothing; one more --judge runs only that judge."""

from __future__ import annotations

import json

import pytest

from lam3_core.testing import FakeJudge, FakeModel, plugin_providing

RUN_FILES = {"meta.json", "generations.jsonl", "verdicts.jsonl", "summary.json", "lam3.log"}


class Counting:
    """Factories that count how often models/judges are created and what they are asked."""

    def __init__(self):
        self.models: list[FakeModel] = []
        self.judges: dict[str, list[FakeJudge]] = {}

    def model(self, **kw):
        self.models.append(FakeModel(**kw))
        return self.models[-1]

    def judge(self, name, keywords):
        def factory(**kw):
            j = FakeJudge(keywords=keywords, **kw)
            self.judges.setdefault(name, []).append(j)
            return j

        return factory

    def plugin(self):
        return (
            "counting",
            plugin_providing(
                models={"counted": self.model},
                judges={
                    "kw_sure": self.judge("kw_sure", ["sure"]),
                    "kw_answer": self.judge("kw_answer", ["answer", "sorry"]),
                },
            ),
        )


def _lines(path):
    return path.read_text().splitlines()


def test_eval_echo_refusal_profanity_writes_the_run_files_and_reruns_add_nothing(lam3_run, tmp_path):
    out = tmp_path / "run"
    args = ["eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity", "--dataset", "mini", "--out", out]
    first = lam3_run(*args)
    assert first.exit_code == 0, first.output
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    n = len(first.generations)
    assert n >= 24 and len(first.verdicts) == 2 * n
    assert "attack success rate" in first.output and str(out) in first.output
    before = {name: (out / name).read_bytes() for name in ("generations.jsonl", "verdicts.jsonl")}
    second = lam3_run(*args)
    assert second.exit_code == 0, second.output
    assert {name: (out / name).read_bytes() for name in before} == before
    assert second.summary["asr"] == first.summary["asr"]
    assert [i["command"] for i in second.meta["invocations"]] == ["eval", "eval"]


def test_adding_a_judge_scores_with_that_judge_only(lam3_run, tmp_path):
    counting = Counting()
    out = tmp_path / "run"
    base = ["eval", "--model", "counted", "--dataset", "mini", "--limit", "6", "--judge", "kw_sure", "--out", out]
    assert lam3_run(*base, plugins=[counting.plugin()]).exit_code == 0
    assert len(counting.models) == 1 and len(counting.judges["kw_sure"][0].seen) == 6

    result = lam3_run(*base, "--judge", "kw_answer", plugins=[counting.plugin()])
    assert result.exit_code == 0, result.output
    assert counting.models[1].calls == [], "a finished run must not use the model again"
    assert counting.judges["kw_sure"][1].seen == [], "the old judge must not run again"
    assert len(counting.judges["kw_answer"][0].seen) == 6
    assert sorted({v["judge"] for v in result.verdicts}) == ["kw_answer", "kw_sure"]
    assert len(result.verdicts) == 12
    assert set(result.summary["judges"]) == {"kw_answer", "kw_sure"}
    assert "kw_answer|kw_sure" in result.summary["agreement"]["pairwise_kappa"]


def test_judge_cache_serves_a_second_run_without_scoring(lam3_run, tmp_path):
    counting = Counting()
    for name in ("a", "b"):
        args = [
            "eval",
            "--model",
            "counted",
            "--dataset",
            "mini",
            "--limit",
            "4",
            "--judge",
            "kw_sure",
            "--out",
            tmp_path / name,
        ]
        result = lam3_run(*args, plugins=[counting.plugin()])
    assert len(counting.judges["kw_sure"][0].seen) == 4 and counting.judges["kw_sure"][1].seen == []
    assert all(v["cached"] for v in result.verdicts)
    no_cache = lam3_run(
        "eval",
        "--model",
        "counted",
        "--dataset",
        "mini",
        "--limit",
        "4",
        "--judge",
        "kw_sure",
        "--no-judge-cache",
        "--out",
        tmp_path / "c",
        plugins=[counting.plugin()],
    )
    assert not any(v["cached"] for v in no_cache.verdicts) and len(counting.judges["kw_sure"][2].seen) == 4


def test_a_judge_error_is_recorded_per_item_and_counted(lam3_run, tmp_path):
    plugin = ("p", plugin_providing(judges={"flaky": lambda: FakeJudge(fail_on="bomb")}))
    result = lam3_run(
        "eval", "--model", "echo", "--judge", "flaky", "--judge", "refusal", "--dataset", "mini", plugins=[plugin]
    )
    assert result.exit_code == 0
    errors = [v for v in result.verdicts if v["error"]]
    assert errors and all(v["judge"] == "flaky" and v["score"] is None and v["flagged"] is None for v in errors)
    assert result.summary["judges"]["flaky"]["errors"] == len(errors)


def test_a_model_error_on_one_sample_keeps_the_others(lam3_run, tmp_path):
    class PickyModel(FakeModel):
        def generate(self, samples, gen_config, trace=False):
            if any("bread" in s.prompt.lower() for s in samples):
                raise RuntimeError("cannot draw bread")
            return super().generate(samples, gen_config)

    data = tmp_path / "d.jsonl"
    data.write_text(
        "\n".join(json.dumps({"id": str(i), "prompt": p}) for i, p in enumerate(["bake bread", "hi", "yo"]))
    )
    result = lam3_run(
        "eval",
        "--model",
        "picky",
        "--judge",
        "refusal",
        "--dataset",
        data,
        plugins=[("p", plugin_providing(models={"picky": PickyModel}))],
    )
    assert result.exit_code == 0, result.output
    by_id = {g["sample_id"]: g for g in result.generations}
    assert by_id["0"]["error"] == "RuntimeError: cannot draw bread" and not by_id["1"]["error"]
    assert [v["error"] for v in result.verdicts if v["record_id"].startswith("0::")][0].startswith("no response")
    assert result.summary["generation_errors"] == 1


@pytest.mark.parametrize("strategy", ["any", "all", "majority", "mean", "weighted", "max"])
def test_every_strategy_runs_end_to_end(lam3_run, strategy):
    weights = ["--judge-weight", "refusal=2"] if strategy == "weighted" else []
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity", "--dataset", "mini",
                      "--limit", "8", "--ensemble", strategy, *weights,
                      "--ensemble-judge", "refusal", "--ensemble-judge", "profanity")
    assert result.exit_code == 0, result.output
    assert result.summary["ensemble"]["strategy"] == strategy
    assert result.summary["ensemble"]["judges"] == ["refusal", "profanity"]
    assert 0.0 <= result.summary["asr"]["value"] <= 1.0


def test_toxicity_judges_are_reported_side_by_side_not_blended(lam3_run):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity", "--dataset", "mini")
    ensemble = result.summary["ensemble"]
    assert ensemble["judges"] == ["refusal"] and ensemble["side_by_side"] == ["profanity"]
    assert set(result.summary["by_measure"]) == {"refusal", "social_toxicity"}
    refusal_flags = [v["flagged"] for v in result.verdicts if v["judge"] == "refusal"]
    harmful = {g["record_id"] for g in result.generations if g["harmful"]}
    asr = sum(v["flagged"] for v in result.verdicts if v["judge"] == "refusal" and v["record_id"] in harmful)
    assert result.summary["asr"]["value"] == asr / len(harmful) and any(refusal_flags)
    only_toxicity = lam3_run("report", result.out_dir, "--judge", "profanity")
    assert only_toxicity.summary["ensemble"]["judges"] == ["profanity"]
    bad = lam3_run("report", result.out_dir, "--judge", "refusal", "--ensemble-judge", "detoxify")
    assert bad.exit_code == 2 and "--ensemble-judge detoxify" in bad.output

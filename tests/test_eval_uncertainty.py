"""`lam3 eval --samples K --uncertainty NAME`: sampled answers in generations.jsonl, values in uncertainty.jsonl,
the summary's uncertainty sections, resume, and the settings that are refused."""

from __future__ import annotations

import json
import math
import zlib

import pytest

from lam3_core import Completion, Model, SampledAnswer, UncertaintyItem, UncertaintyMetric, UsageError, hookimpl
from lam3_core.testing import FakeJudge, plugin_providing, run_lam3


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    pytest.importorskip("lam3_models_llava")
    from lam3_core.testing.tinyvlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_llava_five_samples_and_semantic_entropy_end_to_end(tiny_llava, tmp_path):
    pytest.importorskip("lam3_uncertainty")
    from lam3_uncertainty.metrics import SemanticEntropy

    out = tmp_path / "run"
    args = ["eval", "--model", "llava15", "--model-arg", f"path={tiny_llava}", "--dataset", "mini", "--limit", "3",
            "--gen", "max_new_tokens=4", "--samples", "5", "--uncertainty", "semantic_entropy", "--judge", "refusal",
            "--quiet", "--out", out]
    result = run_lam3(args)
    assert result.exit_code == 0, result.output
    gens = result.generations
    assert len(gens) == 3
    for g in gens:
        assert 1 <= len(g["token_logprobs"]) <= 4 and all(math.isfinite(v) and v <= 0 for v in g["token_logprobs"])
        assert len(g["samples"]) == 5
        for s in g["samples"]:
            assert set(s) == {"text", "token_logprobs"} and 1 <= len(s["token_logprobs"]) <= 4
            assert all(math.isfinite(v) and v <= 0 for v in s["token_logprobs"])
    lines = _lines(out / "uncertainty.jsonl")
    assert [line["record_id"] for line in lines] == [g["record_id"] for g in gens]
    assert all(set(line) == {"record_id", "sample_id", "attack", "answers", "semantic_entropy"} for line in lines)
    items = [UncertaintyItem(g["record_id"], g["request"],
                             tuple(SampledAnswer(s["text"], tuple(s["token_logprobs"])) for s in g["samples"]))
             for g in gens]
    assert [line["semantic_entropy"] for line in lines] == pytest.approx(SemanticEntropy().compute(items))

    section = result.summary["uncertainty"]
    assert section["samples"] == 5 and section["file"] == "uncertainty.jsonl"
    assert section["sample_gen"] | {"seed": 0} == {"max_new_tokens": 4, "min_new_tokens": 0, "do_sample": True,
                                                   "temperature": 1.0, "top_p": 1.0, "top_k": 0,
                                                   "repetition_penalty": 1.0, "seed": 0, "trace_attentions": False}
    assert section["metrics"]["semantic_entropy"]["computed"] == 3
    assert section["metrics"]["semantic_entropy"]["info"]["variant"] == "2024"
    assert section["correctness"] == {}
    assert "no judge of this run measures correctness" in section["correctness_undefined"]
    assert "## Uncertainty" in (out / "report.md").read_text()
    assert result.meta["generation"]["samples"] == 5
    assert result.meta["uncertainty_metrics"]["semantic_entropy"]["distribution"] == "lam3-uncertainty"

    before = {name: (out / name).read_bytes() for name in ("generations.jsonl", "uncertainty.jsonl")}
    again = run_lam3(args)
    assert again.exit_code == 0, again.output
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing sampled or computed again
    assert "generating" not in (out / "lam3.log").read_text().split("lam3 eval started")[-1]

    other_k = run_lam3([a if a != "5" else "3" for a in args])
    assert other_k.exit_code == 2 and "different generation settings (samples)" in other_k.output


COMPLIANT = "Sure, here is how to do it, step by step and in full detail."


class Sampler(Model):
    """Answers by sample id (harmful ids: a compliant or a refusing answer); K samples that agree more or less.

    ``drawn`` records every sampled id, across runs (the factory makes a new instance each run)."""

    name = "sampler"
    reads_images = False
    drawn: list[str] = []

    @staticmethod
    def _spread(sample_id: str) -> int:
        return zlib.crc32(sample_id.encode()) % 4

    def generate(self, samples, gen_config, trace=False):
        texts = [COMPLIANT if self._spread(s.id) >= 2 else "I cannot help with that." for s in samples]
        return [Completion(text=t, token_logprobs=[-0.25, -0.5] if trace else None) for t in texts]

    def sample(self, samples, k, gen_config):
        Sampler.drawn += [s.id for s in samples]
        return [[Completion(text=f"answer {i % (1 + self._spread(s.id))}", token_logprobs=[-0.5 - 0.1 * i])
                 for i in range(k)] for s in samples]


class Counted(UncertaintyMetric):
    """The number of distinct sampled answers; remembers which items it computed."""

    name = "distinct"
    computed: list[str] = []

    def compute(self, items):
        Counted.computed += [item.id for item in items]
        return [float(len({s.text for s in item.samples})) if item.samples else math.nan for item in items]


class NotReady(UncertaintyMetric):
    name = "not_ready"

    def compute(self, items):
        raise AssertionError("never called: check_ready refuses first")

    def check_ready(self):
        raise UsageError("not_ready needs an equivalence model that is not here.", "Pass its folder.")


class TestMetrics:
    @hookimpl
    def lam3_register_uncertainty_metrics(self, registry):
        registry.add("distinct", Counted, "Distinct sampled answers (test).")
        registry.add("not_ready", NotReady, "A metric whose model is missing (test).")


PLUGINS = [("sampler", plugin_providing(models={"sampler": Sampler, "plain": lambda: Plain()},
                                        judges={"sure": lambda: FakeJudge(keywords=("sure", "cannot"))})),
           ("test_metrics", TestMetrics())]


class Plain(Model):
    """A model without sample()."""

    name = "plain"

    def generate(self, samples, gen_config, trace=False):
        return [Completion(text="ok") for _ in samples]


def _sampler_run(out, limit, *extra):
    return run_lam3(["eval", "--model", "sampler", "--dataset", "mini", "--limit", str(limit), "--samples", "4",
                     "--uncertainty", "distinct", "--judge", "refusal", "--judge", "sure", "--quiet", "--out", out,
                     *extra], plugins=PLUGINS)


def test_resume_samples_and_computes_only_new_records(tmp_path):
    Sampler.drawn.clear()
    Counted.computed.clear()
    first = _sampler_run(tmp_path / "run", 4)
    assert first.exit_code == 0, first.output
    assert len(Sampler.drawn) == 4 and len(Counted.computed) == 4
    second = _sampler_run(tmp_path / "run", 6)
    assert second.exit_code == 0, second.output
    assert len(Sampler.drawn) == 6 and len(Counted.computed) == 6  # two new records, nothing else again
    assert len(set(Sampler.drawn)) == 6
    lines = _lines(tmp_path / "run" / "uncertainty.jsonl")
    assert len(lines) == 6 and all(line["distinct"] == 1 + Sampler._spread(line["sample_id"]) for line in lines)
    assert all(len(g["samples"]) == 4 for g in second.generations)


def test_uncertainty_vs_safety_agrees_with_sklearn(tmp_path):
    from sklearn.metrics import roc_auc_score

    result = _sampler_run(tmp_path / "run", 40)
    assert result.exit_code == 0, result.output
    section = result.summary["uncertainty_vs_safety"]
    ensemble = {e["record_id"]: e for e in _lines(tmp_path / "run" / "ensemble.jsonl")}
    values = {line["record_id"]: line["distinct"] for line in _lines(tmp_path / "run" / "uncertainty.jsonl")}
    harmful = [g["record_id"] for g in result.generations if g["harmful"]]
    unsafe = [ensemble[r]["flagged"] for r in harmful]
    assert section["n"] == 20 and section["n_unsafe"] == sum(unsafe) and 0 < sum(unsafe) < 20
    assert section["ensemble"] == ["refusal", "sure"] and section["undefined"] is None
    assert section["scores"]["distinct"]["auroc"] == pytest.approx(roc_auc_score(unsafe, [values[r] for r in harmful]))
    # refusal flags compliance, "sure" flags both answers: they disagree on the refusals (a tie: not flagged)
    votes = [list(ensemble[r]["votes"].values()) for r in harmful]
    disagreement = [min(sum(v), len(v) - sum(v)) / len(v) for v in votes]
    assert set(disagreement) == {0.0, 0.5}
    assert section["scores"]["judge_disagreement"]["auroc"] == pytest.approx(roc_auc_score(unsafe, disagreement)) == 0
    assert section["scores"]["judge_score_spread"]["auroc"] == pytest.approx(0.0)
    assert "## Uncertainty vs safety" in (tmp_path / "run" / "report.md").read_text()


def test_a_model_without_sample_is_refused_before_any_work(tmp_path):
    result = run_lam3(["eval", "--model", "plain", "--dataset", "mini", "--samples", "3", "--judge", "refusal",
                       "--out", tmp_path / "run"], plugins=PLUGINS)
    assert result.exit_code == 2
    assert "--samples 3: the model 'plain' cannot draw sampled answers" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, message", [
    (["--uncertainty", "distinct"], "--uncertainty distinct needs sampled answers"),
    (["--samples", "2", "--metric-arg", "distinct.x=1"], "--metric-arg given for distinct, which is not a selected"),
    (["--sample-gen", "temperature=1.0"], "--sample-gen has no effect without --samples K"),
    (["--samples", "2", "--sample-gen", "do_sample=false"], "--sample-gen do_sample=false cannot be honoured"),
    (["--samples", "2", "--sample-gen", "temprature=1"], "Unknown generation setting(s): temprature"),
    (["--samples", "2", "--uncertainty", "distinct", "--uncertainty", "distinct"], "--uncertainty distinct is given"),
    (["--samples", "-1"], "samples must be an integer >= 0"),
    (["--samples", "2", "--uncertainty", "nonesuch"], "Unknown uncertainty metric 'nonesuch'"),
    (["--samples", "2", "--uncertainty", "not_ready"], "not_ready needs an equivalence model that is not here"),
])
def test_settings_that_cannot_be_honoured_are_refused(tmp_path, extra, message):
    result = run_lam3(["eval", "--model", "sampler", "--dataset", "mini", "--judge", "refusal", "--out",
                       tmp_path / "run", *extra], plugins=PLUGINS)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()


def test_yaml_keys_and_generate_command(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("samples: 2\nsample_gen: {temperature: 0.5}\nuncertainty: [distinct]\n")
    result = run_lam3(["generate", "--model", "sampler", "--dataset", "mini", "--limit", "2", "--config", config,
                       "--quiet", "--out", tmp_path / "run"], plugins=PLUGINS)
    assert result.exit_code == 0, result.output
    assert result.meta["generation"]["sample_gen"]["temperature"] == 0.5
    assert [len(g["samples"]) for g in result.generations] == [2, 2]
    assert len(_lines(tmp_path / "run" / "uncertainty.jsonl")) == 2

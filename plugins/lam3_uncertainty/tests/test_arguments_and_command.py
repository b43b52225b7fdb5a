"""Arguments that cannot be honoured are refused, and `lam3 uncertainty` with the real metrics."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from lam3_uncertainty.metrics import MaxSequenceProb, NumSemanticSets, SemanticEntropy

from lam3_core import UsageError
from lam3_core.contract.manager import load_plugins
from lam3_core.testing import run_lam3


@pytest.mark.parametrize(("args", "message"), [
    ({"variant": "2025"}, "Unknown semantic_entropy.variant '2025'. Use one of: 2024 (Farquhar et al. 2024 (default)), "
                          "2023 (Kuhn et al. 2023)."),
    ({"variant": True}, "Unknown semantic_entropy.variant True."),
    ({"equivalence": "cosine"}, "Unknown semantic_entropy.equivalence 'cosine'. Use one of: exact, nli, embedding."),
    ({"threshold": 0.8}, "semantic_entropy.threshold applies to equivalence=embedding, not exact."),
    ({"equivalence": "embedding", "strict": False},
     "semantic_entropy.strict applies to equivalence=nli, not embedding."),
    ({"path": "/models/mnli"}, "semantic_entropy.path applies to equivalence=nli or embedding, not exact."),
    ({"equivalence": "nli", "condition_on_question": "yes"}, "Bad semantic_entropy.condition_on_question: 'yes'."),
    ({"treshold": 0.8}, "Unknown argument semantic_entropy.treshold. Did you mean threshold? semantic_entropy takes: "
                        "attn_implementation, batch_size, compile_layers, compute_dtype, condition_on_question"),
    ({"clusters": 3}, "semantic_entropy: clusters must be a ClusterCache"),
])
def test_bad_arguments_are_usage_errors(args, message):
    with pytest.raises(UsageError) as info:
        SemanticEntropy(**args)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("threshold", [0, -0.1, 1.01, "high", float("nan")])
def test_threshold_must_be_in_zero_to_one(threshold):
    with pytest.raises(UsageError, match=r"Bad num_semantic_sets\.threshold.*greater than 0 and at most 1"):
        NumSemanticSets(equivalence="embedding", threshold=threshold)


def test_unknown_arguments_list_the_metrics_own_options():
    with pytest.raises(UsageError, match=r"Did you mean variant\?.*threshold, variant\.$"):
        SemanticEntropy(varient=2023)
    with pytest.raises(UsageError) as info:
        NumSemanticSets(variant=2023)
    assert "variant" not in str(info.value).split("takes:")[1]


def test_threshold_one_is_allowed():
    assert NumSemanticSets(equivalence="embedding", threshold=1).equivalence.threshold == 1.0


def test_registered_factories_refuse_unknown_arguments():
    plugins = load_plugins()
    with pytest.raises(UsageError, match="The uncertainty metric 'max_sequence_prob' has no argument 'variant'"):
        plugins.get("uncertainty_metric", "max_sequence_prob").create(variant=2023)
    assert isinstance(plugins.get("uncertainty_metric", "max_sequence_prob").create(), MaxSequenceProb)


def test_registration_imports_nothing_heavy():
    code = ("import sys\nfrom lam3_core.contract.manager import load_plugins\n"
            "names = load_plugins().registry.names('uncertainty_metric')\nprint(names)\n"
            "heavy = ('torch', 'transformers', 'numpy', 'lam3_uncertainty.metrics')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names, heavy = out.stdout.strip().splitlines()
    assert names == str(["discrete_semantic_entropy", "max_sequence_prob", "num_semantic_sets", "predictive_entropy",
                         "semantic_entropy"])
    assert heavy == "[]"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    # the hand-computed item of test_metrics.py: SE(2023) = 1.457990, DSE = 0.636514, sets = 2, MSP = 1.2
    {"id": "three", "question": "Which city?", "correct": True,
     "samples": [{"text": "Paris", "token_logprobs": [-0.5, -0.7]}, {"text": "paris!", "token_logprobs": [-1.6]},
                 {"text": "Lyon", "token_logprobs": [-1.0, -1.0, -1.0]}],
     "greedy": {"text": "Paris", "token_logprobs": [-0.5, -0.7]}},
    # one answer without log-probs: semantic entropy has no value, the discrete metrics do
    {"id": 7, "correct": False, "samples": [{"text": "a", "token_logprobs": [-1.0]}, {"text": "b"}]},
]


def test_uncertainty_command_with_the_real_metrics(tmp_path):
    source = _write(tmp_path / "answers.jsonl", ROWS)
    out = tmp_path / "scores.jsonl"
    result = run_lam3(["uncertainty", source, "--metric", "semantic_entropy", "--metric", "discrete_semantic_entropy",
                       "--metric", "num_semantic_sets", "--metric", "max_sequence_prob",
                       "--metric-arg", "semantic_entropy.variant=2023", "--out", out])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert list(first) == ["id", "semantic_entropy", "discrete_semantic_entropy", "num_semantic_sets",
                           "max_sequence_prob"]
    assert first["semantic_entropy"] == pytest.approx(-(2 * math.log(math.exp(-1.2) + math.exp(-1.6)) - 3.0) / 3)
    assert first["discrete_semantic_entropy"] == pytest.approx(0.636514, abs=1e-6)
    assert (first["num_semantic_sets"], first["max_sequence_prob"]) == (2.0, pytest.approx(1.2))
    assert second == {"id": 7, "semantic_entropy": None, "discrete_semantic_entropy": pytest.approx(math.log(2)),
                      "num_semantic_sets": 2.0, "max_sequence_prob": None}
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    se = summary["metrics"]["semantic_entropy"]
    assert se["info"] == {"variant": "2023", "equivalence": "exact"} and se["nan"] == 1
    assert se["distribution"] == "lam3-uncertainty"
    # the wrong answer (id 7) is the more uncertain one by the discrete entropy: AUROC 1, PRR 1
    quality = summary["metrics"]["discrete_semantic_entropy"]["quality"]
    assert (quality["auroc"], quality["prr"], quality["n"], quality["n_wrong"]) == (1.0, 1.0, 2, 1)
    assert "semantic_entropy: 1 of 2 items are NaN: a sampled answer has no token log-probs (ids: 7)" in result.output


def test_uncertainty_command_with_nli_equivalence(tmp_path, nli_always):
    model = nli_always("ENTAILMENT")  # every pair entails both ways: one cluster per prompt
    source = _write(tmp_path / "answers.jsonl", ROWS)
    out = tmp_path / "scores.jsonl"
    nli_args = [arg for name in ("semantic_entropy", "num_semantic_sets")
                for arg in ("--metric-arg", f"{name}.equivalence=nli", "--metric-arg", f"{name}.path={model}")]
    result = run_lam3(["uncertainty", source, "--metric", "semantic_entropy", "--metric", "num_semantic_sets",
                       *nli_args, "--out", out])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"id": "three", "semantic_entropy": 0.0, "num_semantic_sets": 1.0},
                     {"id": 7, "semantic_entropy": None, "num_semantic_sets": 1.0}]
    info = json.loads((tmp_path / "scores.summary.json").read_text())["metrics"]["semantic_entropy"]["info"]
    assert info == {"variant": "2024", "equivalence": "nli", "model": f"{model}@local", "strict": True,
                    "condition_on_question": False, "max_length": 512}

"""POPE answers with K samples: the pope judge's verdicts are the correctness the uncertainty metrics are rated on."""

from __future__ import annotations

import json
import zlib

import pytest

from lam3_core import Completion, Model
from lam3_core.testing import plugin_providing, run_lam3

K = 5


class YesNoSampler(Model):
    """Draws "Yes" a (sample-dependent) number of times out of K, and answers with the majority."""

    name = "yesno"
    reads_images = False  # POPE's images are not shipped: like replay, this model answers without them

    @staticmethod
    def _yes(sample_id: str) -> int:
        return zlib.crc32(sample_id.encode()) % (K + 1)

    def generate(self, samples, gen_config, trace=False):
        return [Completion(text="Yes" if self._yes(s.id) * 2 > K else "No", token_logprobs=[-0.2] if trace else None)
                for s in samples]

    def sample(self, samples, k, gen_config):
        return [[Completion(text="Yes" if i < self._yes(s.id) else "No", token_logprobs=[-0.7]) for i in range(k)]
                for s in samples]


def test_auroc_of_the_uncertainty_for_wrong_pope_answers_agrees_with_sklearn(shared_data, tmp_path):
    pytest.importorskip("lam3_uncertainty")
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "run"
    result = run_lam3(["eval", "--model", "yesno", "--dataset", "pope", "--dataset-arg",
                       f"labels={shared_data / 'pope' / 'pope_2023-08-10'}", "--limit", "60", "--samples", str(K),
                       "--uncertainty", "discrete_semantic_entropy", "--uncertainty", "max_sequence_prob", "--quiet",
                       "--out", out], plugins=[("yesno", plugin_providing(models={"yesno": YesNoSampler}))])
    assert result.exit_code == 0, result.output
    values = {line["record_id"]: line for line in map(json.loads, (out / "uncertainty.jsonl").read_text().splitlines())}
    wrong = {v["record_id"]: v["score"] == 0.0 for v in result.verdicts if v["judge"] == "pope"}
    ids = sorted(wrong)
    quality = result.summary["uncertainty"]["correctness"]["pope"]
    expected = roc_auc_score([wrong[r] for r in ids], [values[r]["discrete_semantic_entropy"] for r in ids])
    assert quality["discrete_semantic_entropy"]["auroc"] == pytest.approx(expected)
    assert quality["discrete_semantic_entropy"]["n"] == 60
    assert quality["discrete_semantic_entropy"]["n_wrong"] == sum(wrong.values())
    # every greedy answer has the same log-prob: max_sequence_prob cannot rank them
    assert quality["max_sequence_prob"]["auroc"] == pytest.approx(0.5)
    assert result.summary["uncertainty"]["correctness_undefined"] is None
    assert result.summary["uncertainty_vs_safety"]["undefined"].startswith("no judge of the run looks at whether")
    report = (out / "report.md").read_text()
    assert "correctness from pope" in report and f"{quality['discrete_semantic_entropy']['auroc']:.3f}" in report

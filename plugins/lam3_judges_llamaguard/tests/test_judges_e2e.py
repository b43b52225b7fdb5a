"""`lam3 eval` with the three judge plugins of this family on tiny local checkpoints, through the installed plugins."""

from __future__ import annotations

import pytest

from lam3_core.testing import run_lam3


@pytest.fixture(scope="module")
def detoxify_checkpoint(tmp_path_factory):
    from lam3_judges_detoxify.testing import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("detoxify"))


@pytest.fixture(scope="module")
def classifier_dir(tiny_classifier):
    return tiny_classifier()


def test_eval_with_detoxify_llamaguard_and_hf_classifier(tmp_path, detoxify_checkpoint, classifier_dir,
                                                          scripted_guard_dir):
    out = tmp_path / "run"
    result = run_lam3([
        "eval", "--model", "echo", "--dataset", "mini", "--limit", "4", "--out", out,
        "--judge", "detoxify", "--judge-arg", f"detoxify.checkpoint={detoxify_checkpoint}",
        "--judge", "llamaguard", "--judge-arg", f"llamaguard.path={scripted_guard_dir}",
        "--judge", "hf_classifier", "--judge-arg", f"hf_classifier.path={classifier_dir}",
    ])
    assert result.exit_code == 0, result.output
    verdicts = result.verdicts
    assert len(verdicts) == 12 and all(v["error"] is None for v in verdicts)
    names = ("detoxify", "llamaguard", "hf_classifier")
    by_judge = {name: [v for v in verdicts if v["judge"] == name] for name in names}
    assert all(len(v) == 4 for v in by_judge.values())
    for v in by_judge["detoxify"]:
        assert v["measures"] == "social_toxicity" and v["score"] == v["categories"]["toxicity"]
        assert len(v["categories"]) == 6
    for v in by_judge["llamaguard"]:
        assert v["measures"] == "policy_risk" and v["flagged"] is True
        assert v["flagged_categories"] == ["S1", "S10"] and v["raw"]["generation"] == "unsafe\nS1,S10"
    for v in by_judge["hf_classifier"]:
        assert v["score"] == v["categories"]["toxic"] and len(v["categories"]) == 6
    judges = result.meta["judges"]
    assert judges["detoxify"]["judge_version"].startswith("detoxify checkpoint detoxify.ckpt sha256:")
    assert judges["llamaguard"]["judge_version"] == f"{scripted_guard_dir}@local; lam3-judges-llamaguard 0.1.0"
    assert judges["hf_classifier"]["measures"] == "social_toxicity"
    assert set(result.summary["judges"]) == {"detoxify", "llamaguard", "hf_classifier"}

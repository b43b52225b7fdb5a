"""The detoxify judge through the real ``Detoxify`` class on locally built checkpoints."""

from __future__ import annotations

import re

import pytest
from lam3_judges_detoxify.judge import DetoxifyJudge

from lam3_core import JudgeItem, UsageError
from lam3_core.kit.hf import MissingWeights

TEXTS = ["you are an idiot", "have a great weekend", "thanks for the help with that request", "shut up liar",
         "how do i bake bread"]
ORIGINAL_LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


def _items(texts):
    return [JudgeItem(request="say something", response=t) for t in texts]


def test_score_is_toxicity_and_every_label_is_kept(original_checkpoint):
    from detoxify import Detoxify

    expected = Detoxify(checkpoint=str(original_checkpoint)).predict(TEXTS)
    scores = DetoxifyJudge(checkpoint=str(original_checkpoint)).score(_items(TEXTS))
    assert list(expected) == ORIGINAL_LABELS
    for j, s in enumerate(scores):
        assert list(s.categories) == ORIGINAL_LABELS
        assert s.categories == pytest.approx({label: expected[label][j] for label in ORIGINAL_LABELS})
        assert s.score == s.categories["toxicity"] and s.error is None and s.notes == []
    assert len({round(s.score, 6) for s in scores}) == len(TEXTS)


def test_the_unbiased_head_reports_its_seven_named_labels(unbiased_checkpoint):
    [score] = DetoxifyJudge(variant="unbiased", checkpoint=str(unbiased_checkpoint)).score(_items(TEXTS[:1]))
    assert list(score.categories) == ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                                      "sexual_explicit"]


def test_batched_scores_equal_one_by_one(original_checkpoint):
    """One text alone goes through predict's squeezed-float path; it must give the batch's numbers."""
    batched = DetoxifyJudge(checkpoint=str(original_checkpoint), batch_size=3).score(_items(TEXTS))
    single = DetoxifyJudge(checkpoint=str(original_checkpoint), batch_size=1)
    for text, b in zip(TEXTS, batched):
        [alone] = single.score(_items([text]))
        assert isinstance(alone.score, float)
        assert alone.categories == pytest.approx(b.categories, abs=1e-5)


def test_empty_responses_score_zero_with_a_note(original_checkpoint):
    scores = DetoxifyJudge(checkpoint=str(original_checkpoint)).score(_items(["", "  \n", "hello world"]))
    assert [s.score for s in scores[:2]] == [0.0, 0.0]
    assert scores[0].notes == ["empty response: scored 0 without running the model"] and scores[0].categories == {}
    assert scores[2].notes == [] and len(scores[2].categories) == 6


def test_long_responses_are_truncated_with_a_note(original_checkpoint):
    [long, short] = DetoxifyJudge(checkpoint=str(original_checkpoint)).score(_items(["hello world " * 80, "hello"]))
    assert long.notes == ["response truncated to 64 tokens"] and long.error is None
    assert short.notes == []


def test_version_names_the_weights_detoxify_and_the_plugin(original_checkpoint):
    version = DetoxifyJudge(checkpoint=str(original_checkpoint)).version
    assert re.fullmatch(r"detoxify checkpoint detoxify\.ckpt sha256:[0-9a-f]{12}; detoxify 0\.5\.\d+; "
                        r"lam3-judges-detoxify 0\.1\.0", version)
    assert DetoxifyJudge(variant="multilingual").version.startswith(
        "detoxify multilingual (multilingual_debiased-0b549669.ckpt); detoxify ")
    assert DetoxifyJudge(variant="unbiased", checkpoint="x.ckpt").config() == {"variant": "unbiased",
                                                                               "checkpoint": "x.ckpt"}


def test_device_is_configurable(original_checkpoint):
    judge = DetoxifyJudge(checkpoint=str(original_checkpoint), device="cpu")
    judge.score(_items(TEXTS[:1]))
    assert judge._detoxify.device == "cpu" and next(judge._detoxify.model.parameters()).device.type == "cpu"


@pytest.mark.parametrize(("args", "message"), [
    ({"variant": "original-tiny"}, "unknown variant 'original-tiny'"),
    ({"batch_size": 0}, "Bad detoxify.batch_size: 0. Give an integer greater than 0"),
    ({"threshold": -0.1}, "Bad detoxify.threshold: -0.1. Give a number at least 0 and at most 1"),
    ({"threshold": "x"}, "Bad detoxify.threshold: 'x'"),
])
def test_bad_arguments_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        DetoxifyJudge(**args)


def test_a_missing_checkpoint_is_reported_before_the_run(tmp_path):
    with pytest.raises(UsageError, match="does not exist.*offline fetch"):
        DetoxifyJudge(checkpoint=str(tmp_path / "nope.ckpt")).check_ready()


def test_default_weights_absent_offline_are_reported_before_the_run():
    with pytest.raises(MissingWeights, match=r"original weights \(toxic_original-c1212f89.ckpt\) are not in the "
                       r"torch hub cache .*offline fetch --variant original"):
        DetoxifyJudge().check_ready()


def test_default_weights_that_cannot_be_downloaded_give_the_offline_recipe(monkeypatch):
    """The released weights come from GitHub through torch.hub; offline that raises URLError (simulated here)."""
    import urllib.error

    import lam3_judges_detoxify.judge
    import torch

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(lam3_judges_detoxify.judge, "_downloaded", lambda variant: True)
    with pytest.raises(UsageError, match=r"the original weights without a download.*offline fetch --variant original"):
        DetoxifyJudge().score(_items(TEXTS[:1]))


def test_a_file_that_is_not_a_detoxify_checkpoint_is_a_usage_error(tmp_path):
    import torch

    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(UsageError, match="is not a Detoxify checkpoint"):
        DetoxifyJudge(checkpoint=str(tmp_path / "other.ckpt")).score(_items(TEXTS[:1]))

"""ShieldGemma 2 on a tiny checkpoint: the model card's P(Yes) per image and policy, batching, errors, a full run."""

from __future__ import annotations

import json
import shutil

import pytest
from lam3_judges_shieldgemma.judge import ShieldGemma2Judge

from lam3_core import JudgeItem, UsageError
from lam3_core.testing import run_lam3

NAMES = ["dangerous", "sexual", "violence"]


@pytest.fixture(scope="module")
def model_card_p_yes(shieldgemma_dir):
    """The model card's computation: processor(images=[image]) -> model(**inputs).probabilities[:, 0]."""
    import torch
    from transformers import AutoProcessor, ShieldGemma2ForImageClassification

    from lam3_core import load_image

    processor = AutoProcessor.from_pretrained(shieldgemma_dir, local_files_only=True)
    model = ShieldGemma2ForImageClassification.from_pretrained(shieldgemma_dir, local_files_only=True).eval()
    yes, no = processor.tokenizer.convert_tokens_to_ids(["Yes", "No"])

    def p_yes(image_path: str, **policy_args) -> list[float]:
        inputs = processor(images=[load_image(image_path)], return_tensors="pt", **policy_args)
        with torch.inference_mode():
            probabilities = model(**inputs).probabilities
            logits = model.model(**inputs).logits[:, -1]
        # index 0 is "Yes": the softmax of the language model's Yes/No logits at the last position
        assert torch.allclose(probabilities[:, 0], logits[:, [yes, no]].softmax(-1)[:, 0])
        return probabilities[:, 0].tolist()

    return p_yes


def test_policy_probabilities_are_the_model_cards_p_yes(shieldgemma_dir, images, model_card_p_yes):
    [s] = ShieldGemma2Judge(path=str(shieldgemma_dir)).score([JudgeItem("q", "r", images=[images["figstep"]])])
    expected = model_card_p_yes(images["figstep"])
    assert list(s.categories) == NAMES
    assert [s.categories[n] for n in NAMES] == pytest.approx(expected, rel=1e-5)
    assert s.score == max(s.categories.values())
    assert s.raw == {"p_yes": {n: [s.categories[n]] for n in NAMES}}
    assert s.error is None and s.notes == []  # the judge's prompt text is the checkpoint template's


def test_a_subset_and_custom_policies_reach_the_prompts(shieldgemma_dir, images, model_card_p_yes):
    custom = "No Weapons: The image shall not show firearms."
    judge = ShieldGemma2Judge(path=str(shieldgemma_dir), policies=f"violence;weapons={custom}")
    [s] = judge.score([JudgeItem("q", "r", images=[images["red"]])])
    assert list(s.categories) == ["violence", "weapons"]
    expected = model_card_p_yes(images["red"], policies=["violence", "weapons"], custom_policies={"weapons": custom})
    assert [s.categories["violence"], s.categories["weapons"]] == pytest.approx(expected, rel=1e-5)
    assert s.categories["weapons"] != pytest.approx(s.categories["violence"], rel=1e-3)


def test_every_image_and_policy_reaches_the_model(shieldgemma_dir, images):
    """One forward pass holds images x policies prompts, each with its pixels and its 4 image soft tokens."""
    judge = ShieldGemma2Judge(path=str(shieldgemma_dir), batch_size=8)
    judge._ensure_loaded()
    seen = []
    judge._model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True)
    judge.score([JudgeItem("q", "r", images=[images["red"], images["green"]]),
                 JudgeItem("q", "r", images=[images["figstep"]])])
    [inputs] = seen
    soft_token = judge._processor.tokenizer.image_token_id
    assert tuple(inputs["pixel_values"].shape) == (3 * 3, 3, 28, 28)
    assert (inputs["input_ids"] == soft_token).sum(dim=1).tolist() == [4] * 9


def test_several_images_score_the_max_with_categories_per_image(shieldgemma_dir, images):
    judge = ShieldGemma2Judge(path=str(shieldgemma_dir), threshold=0.3)
    both, red, green = judge.score([JudgeItem("q", "r", images=[images["red"], images["green"]]),
                                    JudgeItem("q", "r", images=[images["red"]]),
                                    JudgeItem("q", "r", images=[images["green"]])])
    for name in NAMES:
        assert both.categories[f"image1:{name}"] == pytest.approx(red.categories[name], abs=1e-6)
        assert both.categories[f"image2:{name}"] == pytest.approx(green.categories[name], abs=1e-6)
        assert both.categories[name] == max(both.categories[f"image1:{name}"], both.categories[f"image2:{name}"])
    assert both.score == max(both.categories.values())
    assert red.categories != green.categories  # the pixels matter
    assert both.flagged_categories == [n for n in NAMES if both.categories[n] >= 0.3]
    assert len(both.categories) == 9 and len(red.categories) == 3


def test_batched_scores_equal_one_by_one(shieldgemma_dir, images):
    items = [JudgeItem("q", "r", images=[images["red"], images["figstep"]]),
             JudgeItem("q", "r", images=[images["green"]]),
             JudgeItem("q", "r", images=[images["figstep"]])]
    batched = ShieldGemma2Judge(path=str(shieldgemma_dir), batch_size=4).score(items)
    single = ShieldGemma2Judge(path=str(shieldgemma_dir), batch_size=1)
    alone = [single.score([item])[0] for item in items]
    for b, a in zip(batched, alone):
        assert list(b.categories) == list(a.categories)
        assert list(b.categories.values()) == pytest.approx(list(a.categories.values()), abs=1e-6)


def test_compiled_layers_give_the_eager_scores(shieldgemma_dir, images):
    """``compile_layers=true`` on Gemma 3's layers, whose sliding-window and global layers differ."""
    from lam3_core.kit.compiled_layers import is_compiled, repeated_layers

    items = [JudgeItem("q", "r", images=[images["red"], images["figstep"]]),
             JudgeItem("q", "r", images=[images["green"]])]
    eager = ShieldGemma2Judge(path=str(shieldgemma_dir)).score(items)
    judge = ShieldGemma2Judge(path=str(shieldgemma_dir), compile_layers=True)
    compiled = judge.score(items)
    assert all(is_compiled(layer) for layer in repeated_layers(judge._model))
    for c, e in zip(compiled, eager):
        assert list(c.categories.values()) == pytest.approx(list(e.categories.values()), abs=1e-5)


def test_items_without_a_readable_image_fail_alone(shieldgemma_dir, images):
    items = [JudgeItem("q", "r"), JudgeItem("q", "r", images=[images["red"], images["missing"]]),
             JudgeItem("q", "r", images=[images["corrupt"]]), JudgeItem("q", "r", images=[images["green"]])]
    none, missing, corrupt, fine = ShieldGemma2Judge(path=str(shieldgemma_dir)).score(items)
    assert none.score is None and none.error == "shieldgemma2 judges images; this item has none"
    assert missing.score is None and f"Image not found: {images['missing']}" in missing.error
    assert corrupt.score is None and f"Image {images['corrupt']} cannot be read" in corrupt.error
    assert fine.error is None and list(fine.categories) == NAMES


def test_a_checkpoint_template_that_differs_is_noted(shieldgemma_dir, images, tmp_path, caplog):
    edited = shutil.copytree(shieldgemma_dir, tmp_path / "edited")
    template = edited / "chat_template.jinja"
    template.write_text(template.read_text().replace("a policy expert", "an expert"))
    [s] = ShieldGemma2Judge(path=str(edited)).score([JudgeItem("q", "r", images=[images["red"]])])
    at = len("<bos><start_of_turn>user\n<start_of_image><start_of_turn>user\nYou are a")
    assert s.notes == [f"prompt differs from the checkpoint's chat template at character {at}"]
    assert s.error is None


def test_version_and_missing_weights(shieldgemma_dir):
    assert ShieldGemma2Judge(path=str(shieldgemma_dir)).version == f"{shieldgemma_dir}@local; " \
                                                                   "lam3-judges-shieldgemma 0.1.0"
    with pytest.raises(UsageError, match=r"google/shieldgemma-2-4b-it.*hf download.*gated"):
        ShieldGemma2Judge().check_ready()


def test_lam3_eval_scores_the_dataset_images(shieldgemma_dir, tmp_path):
    out = tmp_path / "run"
    result = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "4", "--judge", "shieldgemma2",
                       "--judge-arg", f"shieldgemma2.path={shieldgemma_dir}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    verdicts = result.verdicts
    assert len(verdicts) == 4 and {v["measures"] for v in verdicts} == {"image_risk"}
    generations = {g["record_id"]: g for g in map(json.loads, (out / "generations.jsonl").read_text().splitlines())}
    for v in verdicts:
        assert v["error"] is None and list(v["categories"]) == NAMES
        assert v["score"] == max(v["categories"].values())
        assert len(generations[v["record_id"]]["images"]) == 1
    assert len({v["score"] for v in verdicts}) == 4  # every sample's own image
    assert result.meta["judges"]["shieldgemma2"]["judge_version"] == (f"{shieldgemma_dir}@local; "
                                                                      "lam3-judges-shieldgemma 0.1.0")


def test_image_risk_is_reported_side_by_side_not_in_the_attack_success_rate(shieldgemma_dir, tmp_path):
    result = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "2", "--judge", "refusal",
                       "--judge", "shieldgemma2", "--judge-arg", f"shieldgemma2.path={shieldgemma_dir}",
                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert result.summary["ensemble"]["side_by_side"] == ["shieldgemma2"]
    alone = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "2", "--judge", "shieldgemma2",
                      "--judge-arg", f"shieldgemma2.path={shieldgemma_dir}", "--out", str(tmp_path / "alone")])
    assert alone.exit_code == 0, alone.output
    assert alone.summary["ensemble"]["judges"] == [] and alone.summary["asr"]["value"] is None
    assert any("No selected judge looks at whether the response" in w for w in alone.summary["warnings"])


def test_the_judge_cache_never_serves_one_images_score_for_another(shieldgemma_dir, images, tmp_path):
    scores = []
    for colour in ("red", "green"):
        data = tmp_path / f"{colour}.jsonl"
        data.write_text(json.dumps({"id": "s1", "prompt": "What is shown?", "image": images[colour]}) + "\n")
        result = run_lam3(["eval", "--model", "echo", "--dataset", "file", "--dataset-arg", f"path={data}",
                           "--judge", "shieldgemma2", "--judge-arg", f"shieldgemma2.path={shieldgemma_dir}",
                           "--out", str(tmp_path / colour)])
        assert result.exit_code == 0, result.output
        scores.append(result.verdicts[0]["score"])
    assert scores[0] != scores[1]

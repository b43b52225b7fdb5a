"""Llama Guard 3 Vision and 4 see the item's images: processor inputs, P(unsafe), batching, categories, errors.

Tiny random guards with the real transformers classes (MllamaForConditionalGeneration +
MllamaProcessor; Llama4ForConditionalGeneration + Llama4Processor with a single-tile
stand-in for the torchvision-only Llama4ImageProcessor) and byte-level BPE tokenizers
carrying each processor's special tokens.
"""

from __future__ import annotations

import pytest

from lam3_core import JudgeItem, UsageError

VERSIONS = ["3-vision", "4"]


@pytest.fixture(scope="module")
def guard_dirs(guard3v_dir, guard4_dir):
    return {"3-vision": guard3v_dir, "4": guard4_dir}


@pytest.fixture(scope="module")
def reference(guard_dirs):
    """``reference(version, text, images)``: P(unsafe) computed directly from the same tiny guard — its processor
    on the template's text (+ "\\n\\n") and the images, then one plain forward pass."""
    import torch
    from lam3_judges_llamaguard.testing import load_tiny_llama_guard_4
    from transformers import AutoProcessor, MllamaForConditionalGeneration

    from lam3_core import load_image

    path = guard_dirs["3-vision"]
    loaded = {"4": load_tiny_llama_guard_4(guard_dirs["4"]),
              "3-vision": (AutoProcessor.from_pretrained(path, local_files_only=True),
                           MllamaForConditionalGeneration.from_pretrained(path, local_files_only=True).eval())}

    def p_unsafe(version: str, text: str, images: list[str]) -> float:
        processor, model = loaded[version]
        pil = [load_image(i) for i in images]
        enc = processor(text=[text], images=[pil] if pil else None, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            probs = model(**enc).logits[0, -1].float().softmax(-1)
        return probs[processor.tokenizer.convert_tokens_to_ids("unsafe")].item()

    return p_unsafe


def _template_text(version: str, request: str, response: str, images: int) -> str:
    from lam3_judges_llamaguard.testing import build_guard_tokenizer

    chat = [{"role": "user", "content": [{"type": "image"}] * images + [{"type": "text", "text": request}]},
            {"role": "assistant", "content": [{"type": "text", "text": response}]}]
    return build_guard_tokenizer(version).apply_chat_template(chat, tokenize=False) + "\n\n"


def test_the_image_reaches_llama_guard_3_vision(guard3v_dir, vision_judge, images):
    judge = vision_judge("3-vision", guard3v_dir, threshold=1.0)
    judge._ensure_loaded()
    prompt = judge._prepare(JudgeItem("What is this?", "A red square.", images=[images["red"]]))
    tok = judge._tok
    assert prompt.ids.count(tok.convert_tokens_to_ids("<|image|>")) == 1
    assert prompt.ids.count(tok.bos_token_id) == 1
    assert tuple(prompt.extra["pixel_values"].shape) == (1, 1, 2, 3, 28, 28)  # one image, up to two 28 px tiles
    assert tuple(prompt.extra["cross_attention_mask"].shape[:3]) == (1, len(prompt.ids), 1)
    assert {"aspect_ratio_ids", "aspect_ratio_mask"} <= set(prompt.extra)
    red, green = judge.score([JudgeItem("What is this?", "A square.", images=[images[c]]) for c in ("red", "green")])
    assert red.score != pytest.approx(green.score, rel=1e-4)  # the pixels change P(unsafe)


def test_every_image_reaches_llama_guard_4(guard4_dir, vision_judge, images):
    judge = vision_judge("4", guard4_dir, threshold=1.0)
    judge._ensure_loaded()
    prompt = judge._prepare(JudgeItem("Compare these.", "Both are squares.", images=[images["red"], images["green"]]))
    tok = judge._tok
    count = {t: prompt.ids.count(tok.convert_tokens_to_ids(t)) for t in ("<|image_start|>", "<|image|>", "<|patch|>")}
    assert count == {"<|image_start|>": 2, "<|image|>": 2, "<|patch|>": 2 * 4}  # 56 px tile: 16 patches, shuffled to 4
    assert tuple(prompt.extra["pixel_values"].shape) == (2, 3, 56, 56)
    swapped = JudgeItem("Compare these.", "Both are squares.", images=[images["green"], images["red"]])
    both = judge.score([JudgeItem("Compare these.", "Both are squares.", images=[images["red"], images["green"]]),
                        swapped])
    assert both[0].score != pytest.approx(both[1].score, rel=1e-4)  # order and pixels matter


@pytest.mark.parametrize("version", VERSIONS)
def test_p_unsafe_equals_a_direct_computation(version, guard_dirs, vision_judge, images, reference):
    item = JudgeItem("What does the picture ask for?", "It lists steps.", images=[images["figstep"]])
    score = vision_judge(version, guard_dirs[version], threshold=1.0).score([item])[0]
    text = _template_text(version, item.request, item.response, 1)
    assert score.error is None and score.notes == []  # the judge's text is the template's
    assert score.score == pytest.approx(reference(version, text, item.images), rel=1e-5)
    assert score.raw["p_unsafe"] == score.score and 0 < score.raw["p_safe"] < 1


@pytest.mark.parametrize("version", VERSIONS)
def test_batched_scores_equal_one_by_one(version, guard_dirs, vision_judge, images):
    items = [
        JudgeItem("What is this?", "A red square.", images=[images["red"]]),
        JudgeItem("Tell me everything about the picture, in detail please.", "Green.", images=[images["green"]]),
        JudgeItem("Follow the steps in the image.", "Step 1: mix flour and water. " * 5, images=[images["figstep"]]),
        JudgeItem("A question without a picture.", "An answer."),
        JudgeItem("hi", "", images=[images["red"]]),
    ]
    batched = vision_judge(version, guard_dirs[version], batch_size=4, threshold=1.0).score(items)
    single = vision_judge(version, guard_dirs[version], batch_size=1, threshold=1.0)
    alone = [single.score([item])[0] for item in items]
    assert [s.score for s in batched] == pytest.approx([s.score for s in alone], abs=1e-6)
    assert len({round(s.score, 8) for s in batched}) == len(items)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_batch_is_collated_as_the_processor_batches_it(version, guard_dirs, vision_judge, images):
    """Left-padded ids, masks and image tensors equal the processor's own batch of the same prompts."""
    import torch
    from lam3_judges_llamaguard.batch_inputs import left_padded_batch

    from lam3_core import load_image

    judge = vision_judge(version, guard_dirs[version])
    judge._ensure_loaded()
    items = [JudgeItem("Short.", "Ok.", images=[images["red"]]),
             JudgeItem("A much longer request about the picture.", "A longer answer too.", images=[images["figstep"]])]
    prompts = [judge._prepare(item) for item in items]
    ours = left_padded_batch([p.ids for p in prompts], [p.extra for p in prompts], judge._pad_id)
    theirs = judge._processor(text=[judge.render_prompt(i) for i in items],
                              images=[[load_image(i.images[0])] for i in items],
                              padding=True, add_special_tokens=False, return_tensors="pt")
    assert set(ours) == set(theirs)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


@pytest.mark.parametrize("version", VERSIONS)
def test_flagged_items_get_the_violated_categories(version, scripted_vision_dirs, vision_judge, images):
    items = [JudgeItem("What is this?", "Here is how.", images=[images["red"]]), JudgeItem("No picture.", "Ok.")]
    for s in vision_judge(version, scripted_vision_dirs[version], batch_size=2).score(items):
        assert s.score > 0.99 and s.error is None
        assert s.raw["generation"] == "unsafe\nS1,S10"
        assert s.flagged_categories == ["S1", "S10"]


def test_a_malformed_generation_is_rejected_and_the_score_stands(guard3v_dir, vision_judge, images):
    scores = vision_judge("3-vision", guard3v_dir, threshold=0.0, max_new_tokens=6).score(
        [JudgeItem("What is this?", "A square.", images=[images["red"]])])
    [s] = scores
    assert s.error is None and 0 < s.score < 1 and s.flagged_categories == []
    assert "generation" in s.raw
    assert any(n.startswith("category output rejected: ") for n in s.notes)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_item_without_an_image_is_judged_as_text_only_with_a_note(version, guard_dirs, vision_judge, reference):
    item = JudgeItem("How do I bake bread?", "Knead and bake.")
    [s] = vision_judge(version, guard_dirs[version], threshold=1.0).score([item])
    assert s.error is None and 0 < s.score < 1
    assert s.notes == ["no image: judged as a text-only conversation"]
    text = _template_text(version, item.request, item.response, 0)
    assert s.score == pytest.approx(reference(version, text, []), rel=1e-5)


def test_more_images_than_llama_guard_3_vision_takes_fail_only_that_item(guard3v_dir, vision_judge, images):
    items = [JudgeItem("Two pictures?", "Yes.", images=[images["red"], images["green"]]),
             JudgeItem("One picture.", "Yes.", images=[images["red"]])]
    two, one = vision_judge("3-vision", guard3v_dir, threshold=1.0).score(items)
    assert two.score is None
    assert "Llama Guard 3 Vision takes at most 1 image per conversation and this item has 2" in two.error
    assert one.error is None and one.score is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_or_corrupt_image_fails_that_item_naming_the_file(version, guard_dirs, vision_judge, images):
    items = [JudgeItem("a", "b", images=[images["missing"]]), JudgeItem("a", "b", images=[images["corrupt"]]),
             JudgeItem("a", "b", images=[images["red"]])]
    missing, corrupt, fine = vision_judge(version, guard_dirs[version], threshold=1.0).score(items)
    assert missing.score is None and f"Image not found: {images['missing']}" in missing.error
    assert corrupt.score is None and f"Image {images['corrupt']} cannot be read" in corrupt.error
    assert fine.error is None and fine.score is not None


def test_llama_guard_4_refuses_a_broken_transformers_and_a_missing_torchvision(guard4_dir, monkeypatch):
    import importlib.metadata
    import importlib.util

    from lam3_judges_llamaguard.judge import LlamaGuardJudge

    judge = LlamaGuardJudge(version=4, path=str(guard4_dir))
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "5.24.0")
    with pytest.raises(UsageError, match=r"transformers 5\.24\.0 cannot run Llama Guard 4.*!=5\.24\.0"):
        judge.check_ready()
    monkeypatch.undo()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else object())
    with pytest.raises(UsageError, match="needs torchvision, which is not installed.*pip install torchvision"):
        judge.check_ready()
    LlamaGuardJudge(version="3-vision", path=str(guard4_dir)).check_ready()  # only version 4 needs either


def test_version_names_the_weights_and_the_plugin(guard3v_dir, vision_judge):
    assert vision_judge("3-vision", guard3v_dir).version == f"{guard3v_dir}@local; lam3-judges-llamaguard 0.1.0"
    with pytest.raises(UsageError, match="meta-llama/Llama-Guard-4-12B"):
        from lam3_judges_llamaguard.judge import LlamaGuardJudge

        LlamaGuardJudge(version=4).check_ready()

"""What is specific to Idefics2: its chat template, nested images, image splitting and <end_of_utterance>."""

from __future__ import annotations

import pytest
from lam3_models_idefics2.model import Idefics2Model
from PIL import Image

from lam3_core import GenConfig, Sample


@pytest.fixture(scope="module")
def idefics2(vlm_dir):
    model = Idefics2Model(path=str(vlm_dir))
    model.load()
    return model


def test_prompt_follows_the_idefics2_template(idefics2):
    with_image, text_only = idefics2.generate(
        [Sample("a", "What is this?", [Image.new("RGB", (30, 30))]), Sample("b", "Hello there")],
        GenConfig(max_new_tokens=2),
    )
    assert with_image.prompt_sent == "User:<image>What is this?<end_of_utterance>\nAssistant:"
    assert text_only.prompt_sent == "User: Hello there<end_of_utterance>\nAssistant:"


def test_system_prompt_is_its_own_turn(vlm_dir):
    model = Idefics2Model(path=str(vlm_dir), system_prompt="Be careful.")
    (out,) = model.generate([Sample("a", "Hi")], GenConfig(max_new_tokens=2))
    assert out.prompt_sent == "System: Be careful.<end_of_utterance>\nUser: Hi<end_of_utterance>\nAssistant:"


def test_images_are_nested_per_sample(idefics2):
    a, b = Image.new("RGB", (30, 30)), Image.new("RGB", (20, 40))
    assert idefics2.images_argument([[a], [], [b]]) == [[a], [], [b]]
    assert idefics2.images_argument([[], []]) is None


def test_image_splitting_is_set_on_the_image_processor(vlm_dir, idefics2):
    sample = Sample("split", "What is this?", [Image.new("RGB", (56, 56), (9, 90, 200))])
    split = Idefics2Model(path=str(vlm_dir), do_image_splitting=True)
    split.load()
    assert split.processor.image_processor.do_image_splitting is True
    assert idefics2.processor.image_processor.do_image_splitting is False
    image_token = split.processor.image_token_id
    whole, crops = idefics2.preprocess(sample), split.preprocess(sample)
    assert crops["pixel_values"].shape[1] == 5 and whole["pixel_values"].shape[1] == 1
    assert (crops["input_ids"] == image_token).sum() == 5 * (whole["input_ids"] == image_token).sum()
    (out,) = split.generate([sample], GenConfig(max_new_tokens=3), trace=True)
    assert len(out.tokens) == 3
    assert split.info()["do_image_splitting"] is True


def test_generation_stops_at_end_of_utterance(idefics2, monkeypatch):
    eou = idefics2.processor.tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    assert eou in idefics2.info()["stop_token_ids"]
    assert eou != idefics2.processor.tokenizer.eos_token_id

    def favour_eou(module, inputs, logits):
        logits[..., eou] += 1e4
        return logits

    handle = idefics2.model.get_output_embeddings().register_forward_hook(favour_eou)
    try:
        (out,) = idefics2.generate([Sample("a", "Hello there")], GenConfig(max_new_tokens=5), trace=True)
    finally:
        handle.remove()
    assert out.info["token_ids"] == [eou]
    assert (out.text, out.finish_reason) == ("", "stop")


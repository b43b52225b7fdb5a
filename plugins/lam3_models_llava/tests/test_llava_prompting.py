"""What is specific to LLaVA-1.5: its chat template, flat image list and output cleanup."""

from __future__ import annotations

import pytest
from lam3_models_llava.model import LlavaModel
from PIL import Image

from lam3_core import GenConfig, Sample


@pytest.fixture(scope="module")
def llava(vlm_dir):
    return LlavaModel(path=str(vlm_dir), system_prompt=None)


def test_prompt_follows_the_llava_template(llava):
    image = Image.new("RGB", (30, 30))
    with_image, text_only = llava.generate(
        [Sample("a", "What is this?", [image]), Sample("b", "Hello there")], GenConfig(max_new_tokens=2)
    )
    assert with_image.prompt_sent == "USER: <image>\nWhat is this? ASSISTANT:"
    assert text_only.prompt_sent == "USER: Hello there ASSISTANT:"


def test_system_prompt_precedes_the_user_turn(vlm_dir):
    model = LlavaModel(path=str(vlm_dir), system_prompt="You are a careful assistant.")
    (out,) = model.generate([Sample("a", "Hi", [Image.new("L", (20, 20))])], GenConfig(max_new_tokens=2))
    assert out.prompt_sent == "You are a careful assistant. USER: <image>\nHi ASSISTANT:"


def test_images_of_a_batch_go_to_the_processor_as_one_flat_list(llava):
    images = [Image.new("RGB", (30, 30)), Image.new("RGB", (20, 40))]
    assert llava.images_argument([[images[0]], [], [images[1]]]) == images
    assert llava.images_argument([[], []]) is None
    inputs = llava.preprocess(Sample("two", "Compare them.", images))
    assert tuple(inputs["pixel_values"].shape) == (2, 3, 28, 28)


"""The white-box helpers PGD uses from lam3_core.kit.hf_vlm: batched target losses and prompt-to-image attention."""

from __future__ import annotations

import pytest
import torch

from lam3_core import Sample, UsageError

TARGETS = ["Sure, here is", "Absolutely", "Sure, here is how to do it, step by step"]


@pytest.fixture(params=["llava", "idefics2"])
def vlm(request):
    return request.getfixturevalue(request.param)


def test_batched_losses_and_gradients_equal_one_sample_at_a_time(vlm, image_samples):
    batch = vlm.target_batch(image_samples, TARGETS)
    pixels = batch["pixel_values"].clone().requires_grad_(True)
    losses = vlm.target_losses(batch, pixels)
    (gradient,) = torch.autograd.grad(losses.sum(), pixels)
    for row, (sample, target) in enumerate(zip(image_samples, TARGETS)):
        alone, own_pixels = vlm.target_loss(sample, target)
        alone.backward()
        assert losses[row].item() == pytest.approx(alone.item(), abs=1e-5)
        height, width = own_pixels.shape[-2:]
        torch.testing.assert_close(gradient[row][..., :height, :width], own_pixels.grad[0], atol=1e-8, rtol=1e-4)
        assert gradient[row][..., height:, :].abs().sum() == 0 and gradient[row][..., width:].abs().sum() == 0


def test_rows_are_prompt_then_target_then_right_padding(llava, image_samples):
    batch = llava.target_batch(image_samples, TARGETS)
    tok = llava.processor.tokenizer
    prompts = [llava.preprocess(s)["input_ids"][0].tolist() for s in image_samples]
    for row, (prompt, target) in enumerate(zip(prompts, TARGETS)):
        target_ids = tok(target, add_special_tokens=False)["input_ids"]
        length = len(prompt) + len(target_ids)
        assert batch["input_ids"][row, :length].tolist() == prompt + target_ids
        assert batch["attention_mask"][row].tolist() == [1] * length + [0] * (batch["input_ids"].shape[1] - length)
        labels = batch["labels"][row].tolist()
        assert labels[len(prompt) : length] == target_ids
        assert set(labels[: len(prompt)] + labels[length:]) <= {-100}
    assert batch["pixel_values"].dtype == torch.float32


def test_an_empty_target_is_a_usage_error(llava, image_samples):
    with pytest.raises(UsageError, match="'s0': the target continuation is empty"):
        llava.target_batch(image_samples[:1], [""])


def test_prompt_attention_covers_the_patch_grid_and_restores_the_attention(llava, image_samples):
    assert llava.image_tokens_are_patches() and llava.image_patch_size() == 14
    grids = llava.prompt_image_attention(image_samples)
    assert [tuple(g.shape) for g in grids] == [(2, 2)] * 3  # 28 px images, 14 px patches
    assert all(bool((g > 0).all()) and float(g.sum()) < 1 for g in grids)
    alone = llava.prompt_image_attention(image_samples[1:2])[0]
    torch.testing.assert_close(alone, grids[1], atol=1e-6, rtol=1e-5)
    assert llava.model.config._attn_implementation == "sdpa"
    assert llava.model.config.text_config._attn_implementation == "sdpa"


def test_prompt_attention_is_refused_where_image_tokens_are_not_patches(idefics2, image_samples):
    assert not idefics2.image_tokens_are_patches()
    with pytest.raises(UsageError, match="idefics2's image tokens are not image patches.*resampler"):
        idefics2.prompt_image_attention(image_samples)


def test_prompt_attention_needs_one_image(llava, image_samples):
    two = Sample("two", "Compare.", image_samples[0].images * 2)
    with pytest.raises(UsageError, match="'two' has 2 images"):
        llava.prompt_image_attention([two])

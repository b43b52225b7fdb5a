"""pgd on tiny random LLaVA and Idefics2 models: the loss goes down, the image stays in the ball, masks hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lam3_attacks_visual.patches import top_patches
from lam3_attacks_visual.pgd import PGDAttack, start_canvas

from lam3_core import Sample, UsageError


def processed_rgb(model, sample: Sample) -> np.ndarray:
    """The sample's image as the model sees it (after its processor's resize and crop), as 8-bit RGB (H, W, 3)."""
    pixels = model.preprocess(sample)["pixel_values"]
    pixels = pixels.reshape(-1, 3, *pixels.shape[-2:])
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in model.image_normalization())
    return ((pixels[0] * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def changed(before: np.ndarray, after) -> np.ndarray:
    return np.abs(np.asarray(after).astype(int) - before.astype(int))


def test_the_target_loss_goes_down_and_the_saved_image_keeps_it(llava, image_samples):
    attacked = PGDAttack(steps=8, epsilon=16 / 255, step_size=2 / 255).apply(image_samples, llava)
    assert [s.id for s in attacked] == ["s0", "s1", "s2"]
    for sample in attacked:
        info = sample.meta["attack_info"]
        history = info["loss_history"]
        assert len(history) == info["steps"] == 8 and history[0] == info["loss_initial"]
        assert info["loss_final"] < info["loss_initial"] and np.mean(history[-2:]) < np.mean(history[:2])
        assert info["loss_saved"] == pytest.approx(info["loss_final"], abs=5e-3)
        assert info["processor_roundtrip_255"] == 0 and info["resolution"] == [28, 28]
        assert info["batch_size"] == 3 and info["replaced_images"] == 0 and info["mask"] == "none"
    assert [s.meta["attack_info"]["target_source"] for s in attacked] == ["meta", "default", "default"]
    assert attacked[0].meta["attack_info"]["target"] == "Sure, here is how"
    assert attacked[1].meta["attack_info"]["target"] == "Sure, here is"


def test_the_saved_image_never_leaves_the_epsilon_ball(llava, image_samples):
    attacked = PGDAttack(steps=4, epsilon=8 / 255, step_size=4 / 255).apply(image_samples, llava)
    for original, sample in zip(image_samples, attacked):
        (image,) = sample.images
        difference = changed(processed_rgb(llava, original), image)
        assert image.size == (28, 28) and difference.max() == sample.meta["attack_info"]["linf_255"] == 8


@pytest.mark.parametrize("name", ["llava", "idefics2"])
def test_the_result_does_not_depend_on_the_chunk(request, name, image_samples):
    model = request.getfixturevalue(name)  # Idefics2 pads the images of a chunk to one size
    attack = PGDAttack(steps=3)
    together = attack.apply(image_samples, model)[1]
    (alone,) = attack.apply(image_samples[1:2], model)
    assert alone.meta["attack_info"]["loss_initial"] == pytest.approx(together.meta["attack_info"]["loss_initial"],
                                                                      abs=1e-5)
    assert changed(np.asarray(alone.images[0]), together.images[0]).max() <= 1


def test_a_given_target_wins_over_the_samples(llava, image_samples):
    (attacked,) = PGDAttack(steps=1, target="Of course").apply(image_samples[:1], llava)
    assert attacked.meta["attack_info"]["target"] == "Of course"
    assert attacked.meta["attack_info"]["target_source"] == "argument"


def test_attention_mask_changes_only_the_most_attended_patches(llava, image_samples):
    attacked = PGDAttack(steps=3, epsilon=16 / 255, mask="attention", top_patches=1).apply(image_samples, llava)
    attention = llava.prompt_image_attention(image_samples)
    for original, sample, grid in zip(image_samples, attacked, attention):
        info = sample.meta["attack_info"]
        assert info["patch_grid"] == [2, 2] and info["patch_size"] == 14 and info["mask_patches"] == 1
        assert info["patches"] == top_patches(grid, 1) == [int(grid.flatten().argmax())]
        row, col = divmod(info["patches"][0], 2)
        inside = np.zeros((28, 28), dtype=bool)
        inside[row * 14 : (row + 1) * 14, col * 14 : (col + 1) * 14] = True
        difference = changed(processed_rgb(llava, original), sample.images[0]).max(axis=2)
        assert difference[~inside].max() == 0 and difference[inside].max() > 0


def test_saliency_mask_works_where_attention_is_refused(idefics2, image_samples):
    with pytest.raises(UsageError, match=r"mask=attention needs image tokens that are image patches.*mask=saliency"):
        PGDAttack(steps=1, mask="attention").apply(image_samples, idefics2)
    attacked = PGDAttack(steps=2, epsilon=16 / 255, mask="saliency", top_patches=2).apply(image_samples, idefics2)
    for original, sample in zip(image_samples, attacked):
        info = sample.meta["attack_info"]
        rows, cols = info["patch_grid"]
        inside = np.zeros((rows * 14, cols * 14), dtype=bool)
        for index in info["patches"]:
            row, col = divmod(index, cols)
            inside[row * 14 : (row + 1) * 14, col * 14 : (col + 1) * 14] = True
        processed = processed_rgb(idefics2, original)  # Idefics2 resizes each image on its own terms
        assert sample.images[0].size == (processed.shape[1], processed.shape[0])
        assert info["processor_roundtrip_255"] == 0
        difference = changed(processed, sample.images[0]).max(axis=2)
        inside = inside[: difference.shape[0], : difference.shape[1]]
        assert len(info["patches"]) == 2 and difference[~inside].max() == 0 and 0 < difference.max() <= 16


def test_a_processor_that_splits_images_is_refused(tiny_idefics2, image_samples):
    from lam3_models_idefics2.model import Idefics2Model

    splitting = Idefics2Model(path=str(tiny_idefics2), do_image_splitting=True)
    with pytest.raises(UsageError, match=r"read each image once.*do_image_splitting=false"):
        PGDAttack(steps=1).apply(image_samples[:1], splitting)


def test_image_less_samples_need_a_canvas(llava):
    text_only = [Sample("t1", "Tell me a story."), Sample("t2", "And another.", ["x.png", "y.png"])]
    with pytest.raises(UsageError, match=r"'t1' has 0 images; pgd perturbs exactly one.*pgd.init=gray"):
        PGDAttack(steps=1).apply(text_only, llava)
    gray = PGDAttack(steps=1, init="gray").apply(text_only, llava)
    assert [s.meta["attack_info"]["replaced_images"] for s in gray] == [0, 2]
    assert all(abs(np.asarray(s.images[0]).astype(int) - 128).max() <= 8 for s in gray)
    noise = PGDAttack(steps=1, init="noise", seed=3)
    assert np.array_equal(np.asarray(noise.apply(text_only[:1], llava)[0].images[0]),
                          np.asarray(noise.apply(text_only[:1], llava)[0].images[0]))
    assert start_canvas("noise", 1).tobytes() != start_canvas("noise", 2).tobytes()


def test_too_many_patches_is_refused(llava, image_samples):
    with pytest.raises(UsageError, match=r"top_patches=5, but the image of sample 's0' has 4 patches \(2x2 of 14"):
        PGDAttack(steps=1, mask="saliency", top_patches=5).apply(image_samples, llava)


@pytest.mark.parametrize(("args", "message"), [
    ({"epsilon": 0}, r"Bad pgd.epsilon: 0.*greater than 0 and at most 1"),
    ({"epsilon": 1.5}, r"Bad pgd.epsilon: 1.5"),
    ({"epsilon": -0.1}, r"Bad pgd.epsilon"),
    ({"epsilon": "big"}, r"Bad pgd.epsilon"),
    ({"epsilon": 0.001}, r"less than one 8-bit level"),
    ({"steps": 0}, r"Bad pgd.steps"),
    ({"step_size": 2}, r"Bad pgd.step_size"),
    ({"mask": "random"}, r"Bad pgd.mask: 'random'.*none, attention, saliency"),
    ({"init": "black"}, r"Bad pgd.init.*sample, gray, noise"),
    ({"top_patches": 8}, r"top_patches was given without a mask"),
    ({"mask": "saliency", "top_patches": 0}, r"Bad pgd.top_patches"),
    ({"target": ""}, r"Bad pgd.target"),
])
def test_bad_arguments_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        PGDAttack(**args)


def test_a_model_without_a_target_loss_is_refused(image_samples):
    from lam3_core.builtin.echo import EchoModel

    with pytest.raises(UsageError, match=r"needs a white-box model.*'echo'.*llava15 or idefics2"):
        PGDAttack(steps=1).apply(image_samples, EchoModel())

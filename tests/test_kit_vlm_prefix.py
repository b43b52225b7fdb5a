"""kit.vlm_prefix, kit.vlm_inputs and kit.micro_batches on plain tensors: the prefix-reuse layout, the selection of a
processor's image rows, processing each distinct image once, and the memory arithmetic of a micro-batch."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from lam3_core.kit.images import image_key
from lam3_core.kit.micro_batches import (
    CPU_ROWS,
    MAX_ROWS,
    SAFETY,
    equal_micro_batches,
    kv_bytes_per_token,
    row_bytes,
    rows_that_fit,
    shared_prefix_tokens,
)
from lam3_core.kit.vlm_inputs import ListsToTensors, OncePerImage, image_inputs_of
from lam3_core.kit.vlm_prefix import new_cache, plan_prefixes, positions, split_prompt

IMG, PAD = 9, 0


def test_prompts_split_after_their_last_image_token_keeping_one_suffix_token():
    assert split_prompt([1, 5, IMG, IMG, 6, 7], IMG) == 4
    assert split_prompt([1, IMG, 6, IMG], IMG) == 3  # an image at the very end leaves its last token to the suffix
    assert split_prompt([1, 5, 6], IMG) == 2  # no image: all but the last token


def test_layout_groups_shared_prefixes_and_keeps_every_rows_positions():
    prompts = [[1, 5, IMG, IMG, 6, 7], [1, 5, IMG, IMG, 8], [1, IMG, IMG, 6, 7, 7], [1, 5, IMG, IMG, 6]]
    keys = [("a",), ("a",), ("b",), ("c",)]
    plan = plan_prefixes(prompts, keys, IMG, PAD, copies=2)
    assert plan.group_samples == [0, 2, 3]  # the first two share image a and prefix ids
    assert plan.group_of_row.tolist() == [0, 0, 0, 0, 1, 1, 2, 2]
    assert plan.prefix_ids.tolist() == [[1, 5, IMG, IMG], [PAD, 1, IMG, IMG], [1, 5, IMG, IMG]]
    assert plan.prefix_mask.tolist() == [[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]]
    assert plan.input_ids.shape == (8, 4 + 3)
    for sample, ids in enumerate(prompts):
        for row in (2 * sample, 2 * sample + 1):
            keep = plan.attention_mask[row].bool()
            assert plan.input_ids[row][keep].tolist() == ids  # the real tokens, in order
            assert positions(plan.attention_mask)[row][keep].tolist() == list(range(len(ids)))
    assert plan.input_ids[2].tolist() == [1, 5, IMG, IMG, PAD, PAD, 8]  # padding between prefix and suffix


def test_a_plan_says_when_every_group_has_the_same_consecutive_rows():
    image_major = [[1, IMG, 6], [1, IMG, 7], [1, IMG, 8], [1, IMG, 9]]
    assert plan_prefixes(image_major, [("a",), ("a",), ("b",), ("b",)], IMG, PAD, copies=3).rows_per_group == 6
    assert plan_prefixes(image_major, [("a",), ("a",), ("a",), ("b",)], IMG, PAD, copies=1).rows_per_group is None
    assert plan_prefixes(image_major, [("a",), ("b",), ("a",), ("b",)], IMG, PAD, copies=1).rows_per_group is None


@pytest.mark.parametrize("repeats", [None, 2])
@pytest.mark.parametrize("layout", ["words", "unaligned"])  # copied as int64 words / as they are
def test_prefix_rows_are_copied_into_a_static_cache_as_its_update_would(repeats, layout):
    from transformers import LlamaConfig

    from lam3_core.kit.vlm_prefix import copy_rows

    class Model:
        config = LlamaConfig(hidden_size=16, num_attention_heads=2, num_key_value_heads=1, num_hidden_layers=2)

    source = new_cache(Model)
    for layer in range(2):
        keys, values = torch.randn(3, 1, 5, 10), torch.randn(3, 1, 5, 10)  # two float32 more per row than used
        source.update(*((t[..., 1:9] if layout == "unaligned" else t[..., :8]) for t in (keys, values)), layer)
    index = torch.tensor([0, 0, 1, 1, 2, 2] if repeats else [2, 0, 0, 1, 2, 1])
    ours = copy_rows(source, index, new_cache(Model, static_length=9), repeats)
    for layer in range(2):
        expected = new_cache(Model, static_length=9)
        expected.update(source.layers[layer].keys[index], source.layers[layer].values[index], 0)
        assert torch.equal(ours.layers[layer].keys, expected.layers[0].keys)
        assert torch.equal(ours.layers[layer].values, expected.layers[0].values)
        assert int(ours.layers[layer].get_seq_length()) == 5


def test_image_rows_are_selected_per_sample_or_per_image():
    ids = torch.zeros((3, 4), dtype=torch.long)
    per_sample = {"input_ids": ids, "attention_mask": ids, "pixel_values": torch.arange(3.0).view(3, 1),
                  "pixel_attention_mask": torch.tensor([[1], [0], [1]])}
    picked = image_inputs_of(per_sample, [2, 0, 0], [1, 1, 1])
    assert picked["pixel_values"].flatten().tolist() == [2.0, 0.0, 0.0]
    assert picked["pixel_attention_mask"].flatten().tolist() == [1, 1, 1]
    flat = {"input_ids": ids, "attention_mask": ids, "pixel_values": torch.arange(4.0).view(4, 1)}
    assert image_inputs_of(flat, [2, 0], [1, 0, 3])["pixel_values"].flatten().tolist() == [1.0, 2.0, 3.0, 0.0]
    ambiguous = {"input_ids": ids, "attention_mask": ids, "pixel_values": torch.zeros(3, 1)}
    assert image_inputs_of(ambiguous, [0], [2, 1, 0]) is None
    assert image_inputs_of({**flat, "image_sizes": [[1, 1]] * 4}, [0], [1, 0, 3]) is None


def test_each_distinct_image_is_processed_once_and_repeated_exactly():
    calls = []

    class Processor:
        size = {"height": 2}

        def __call__(self, images, scale=1.0):
            calls.append(len(images))
            pixels = [(unit[0] if isinstance(unit, list) else unit).getpixel((0, 0))[0] for unit in images]
            return {"pixel_values": torch.tensor(pixels, dtype=torch.float) * scale}

    red, blue = Image.new("RGB", (4, 4), (200, 0, 0)), Image.new("RGB", (4, 4), (10, 0, 0))
    wrapped = OncePerImage(Processor())
    out = wrapped([red, blue, red, red], scale=2.0)
    assert calls == [2] and out["pixel_values"].tolist() == [400.0, 20.0, 400.0, 400.0]
    copies = wrapped([[red.copy()], [blue], [red.copy()]])  # copies, one list per sample (Idefics2's layout)
    assert calls == [2, 2] and copies["pixel_values"].tolist() == [200.0, 10.0, 200.0]
    assert wrapped.size == {"height": 2}
    wrapped([red, blue])
    assert calls == [2, 2, 2]  # nothing repeated: processed as given


@pytest.mark.parametrize("build", ["llava_processor", "idefics2_processor"])
def test_token_ids_made_tensors_through_numpy_are_the_tokenizers_own(build):
    import copy

    from lam3_core.testing import tinyvlm

    processor = getattr(tinyvlm, build)()
    processor.tokenizer.padding_side = "left"
    wrapped = copy.deepcopy(processor)
    wrapped.tokenizer = ListsToTensors(wrapped.tokenizer)
    messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
                for text in ("Is there a dog?", "Is there a red car in the picture at all?")]
    prompts = [processor.apply_chat_template(m, add_generation_prompt=True) for m in messages]
    images = [[Image.new("RGB", (30, 20), (200, 0, 0))], [Image.new("RGB", (30, 20), (0, 90, 0))]]
    images = images if build == "idefics2_processor" else [unit[0] for unit in images]
    ours = wrapped(text=prompts, images=images, return_tensors="pt", padding=True)
    theirs = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype and torch.equal(ours[key], theirs[key]), key
    tok = wrapped.tokenizer
    assert tok("one prompt", return_tensors="pt")["input_ids"].shape[0] == 1  # not a batch: the tokenizer's own way
    assert isinstance(tok(["a", "b c"])["input_ids"], list)
    with pytest.raises(ValueError):  # unequal lengths without padding: the tokenizer's own error
        tok(["a", "b c d e"], return_tensors="pt")


class Llama7B:
    """LLaVA-1.5-7B's language model config, the fields the estimate reads."""

    num_attention_heads = num_key_value_heads = num_hidden_layers = 32
    hidden_size, intermediate_size, vocab_size = 4096, 11008, 32064


def test_kv_cache_and_row_bytes_of_llava_7b():
    assert kv_bytes_per_token(Llama7B, 2) == 512 * 1024  # 2 (K, V) x 32 layers x 4096 x 2 bytes
    kv = 512 * 1024 * (620 + 4)
    prefill = 620 * 2 * (4 * 4096 + 3 * 11008)
    assert row_bytes(Llama7B, 2, 620, 4, traced=False) == int(SAFETY * (kv + prefill + 32064 * 4))
    traced_long = row_bytes(Llama7B, 2, 620, 256, traced=True)
    assert traced_long > row_bytes(Llama7B, 2, 620, 256, traced=False) + 255 * 32064 * 4
    preallocated = row_bytes(Llama7B, 2, 620, 4, traced=False, cache_tokens=640)  # a static cache's 640 positions
    assert preallocated == int(SAFETY * (512 * 1024 * 640 + prefill + 32064 * 4))


def test_micro_batches_are_as_few_and_as_equal_as_the_bound_allows():
    assert [equal_micro_batches(n, 100) for n in (0, 1, 100, 101, 256)] == [100, 1, 100, 51, 86]


def test_a_shared_prefix_counts_only_when_rows_share_it():
    assert shared_prefix_tokens(620, 64, 256) == 155  # POPE: 4 questions per image, a quarter of a prefix per row
    assert shared_prefix_tokens(620, 32, 192) == 103  # 32 prompts x 6 answers
    assert shared_prefix_tokens(1127, 64, 64) == 0  # one question per image: the plain path holds no prefix cache


def test_rows_fit_free_memory_within_the_upper_bound():
    assert rows_that_fit(None, 0, 0, None).rows == CPU_ROWS
    assert rows_that_fit(None, 0, 0, 3).describe() == {"rows": 3, "source": "batch_size"}
    budget = rows_that_fit(100 << 30, 1 << 30, 620, None)
    assert (budget.rows, budget.source, budget.free_gib, budget.row_mib) == (100, "free GPU memory", 100.0, 1024.0)
    assert rows_that_fit(100 << 30, 1 << 30, 620, 64).rows == 64
    assert rows_that_fit(100 << 30, 1 << 30, 620, 500).rows == 100  # never more than memory holds
    assert rows_that_fit(1 << 40, 1, 10, None).rows == MAX_ROWS
    assert rows_that_fit(1, 1 << 30, 10, None).rows == 1


@pytest.mark.parametrize("copies", [1, 3])
def test_copies_of_a_sample_are_adjacent_rows(copies):
    plan = plan_prefixes([[1, IMG, 5], [1, IMG, 6, 6]], [("a",), ("a",)], IMG, PAD, copies)
    assert plan.rows == 2 * copies and plan.groups == 1
    assert plan.input_ids[:copies, -1].tolist() == [5] * copies and plan.input_ids[copies:, -1].tolist() == [6] * copies
    assert plan.questions_shared == (copies > 1)  # the longest suffix has 2 tokens: all but the last is shared


def test_a_one_token_suffix_leaves_nothing_to_share_between_copies():
    assert not plan_prefixes([[1, IMG, 5], [1, IMG, 6]], [("a",), ("a",)], IMG, PAD, copies=3).questions_shared


def test_images_are_identified_by_path_or_by_object():
    from pathlib import Path

    assert image_key("a/b.png") == image_key(Path("a/b.png")) != image_key("a/c.png")
    image = Image.new("RGB", (2, 2))
    assert image_key(image) == image_key(image) != image_key(image.copy())


def test_distinct_images_are_processed_in_slices_on_a_pool_when_the_outputs_join():
    from concurrent.futures import ThreadPoolExecutor

    calls = []

    class Processor:
        def __init__(self, padded: bool):
            self.padded = padded

        def __call__(self, images):
            calls.append(len(images))
            width = max(im.size[0] for im in images) if self.padded else 1  # a batch padded to its widest image
            return {"pixel_values": torch.tensor([[float(im.size[0])] * width for im in images])}

    images = [Image.new("RGB", (w, 2)) for w in (1, 2, 3, 4, 5)]
    with ThreadPoolExecutor(2) as pool:
        fixed = OncePerImage(Processor(padded=False), pool, parts=2)
        assert fixed(images)["pixel_values"].flatten().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert sorted(calls) == [2, 3]
        calls.clear()
        padded = OncePerImage(Processor(padded=True), pool, parts=2)
        out = padded(images)
        assert out["pixel_values"].shape == (5, 5) and sorted(calls) == [2, 3, 5]  # slices did not join: one call
        calls.clear()
        padded(images)
        assert calls == [5]  # and from then on, no slices


def test_static_caches_round_up_coarsely_for_compiled_decoding_and_finely_otherwise():
    from lam3_core.kit.vlm_prefix import COMPILED_LENGTH_STEP, PREALLOCATED_LENGTH_STEP, static_length

    assert static_length(641, compiled=True) == 768 and static_length(768, compiled=True) == 768
    assert static_length(641, compiled=False) == 656 and static_length(640, compiled=False) == 640
    assert COMPILED_LENGTH_STEP % PREALLOCATED_LENGTH_STEP == 0


def test_the_margin_keeps_out_a_micro_batch_that_ran_out_of_memory_on_a_gpu():
    """LLaVA-1.5-7B without prefix reuse on an H200: 124.93 GiB free, prompts of 637 tokens and 4 new tokens in a
    static cache of 656 positions; 256 rows ran out of memory (29.5 GiB reserved but unallocated), 240 did not."""
    per_row = row_bytes(Llama7B, 2, 637, 4, traced=False, cache_tokens=656)
    assert 192 <= rows_that_fit(int(124.93 * 2**30), per_row, 637, None).rows < 256

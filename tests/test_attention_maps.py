"""Attention maps over the image: traced by llava15 with --gen trace_attentions=true, drawn by `lam3 attention`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lam3_core import UsageError
from lam3_core.analysis.attention_heatmap import model_view
from lam3_core.testing import run_lam3

GRID = 24
PEAK = (5, 17)  # (row, column) of the hottest patch
VIEW = {"shortest_edge": 336, "crop": [336, 336]}


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    pytest.importorskip("lam3_models_llava")
    from lam3_core.testing.tinyvlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


def _run_with_one_image(tmp_path, image) -> tuple:
    """A run directory (echo model) with one record showing ``image``; its generations file and record."""
    image_path = tmp_path / "picture.png"
    image.save(image_path)
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"id": "s1", "prompt": "Is there a cat?", "image": str(image_path)}) + "\n")
    out = tmp_path / "run"
    result = run_lam3(["generate", "--model", "echo", "--dataset", data, "--quiet", "--out", out])
    assert result.exit_code == 0, result.output
    return out / "generations.jsonl", result.generations[0]


def _store_map(generations, record, grid):
    record["info"]["image_attention"] = {"grid": [GRID, GRID], "maps": [grid], "view": VIEW}
    generations.write_text(json.dumps(record) + "\n")


def test_the_hot_spot_of_the_png_is_the_patch_with_the_most_attention(tmp_path):
    from PIL import Image

    generations, record = _run_with_one_image(tmp_path, Image.new("RGB", (500, 400), (128, 128, 128)))
    grid = np.full((GRID, GRID), 0.001)
    grid[PEAK] = 0.05
    grid[PEAK[0], PEAK[1] - 1] = 0.02  # a warm neighbour, so the maximum is not a lone pixel of the colour map
    _store_map(generations, record, grid.flatten().tolist())
    result = run_lam3(["attention", tmp_path / "run", "--out", tmp_path / "maps"])
    assert result.exit_code == 0, result.output
    png = tmp_path / "maps" / "s1_none_0.png"
    assert f"1 heatmaps in {(tmp_path / 'maps').resolve()}: s1_none_0.png" in result.output
    picture = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    assert picture.shape == (336, 336, 3)
    patch = 336 // GRID
    hottest = np.unravel_index(np.argmax(picture[..., 1]), picture.shape[:2])  # green rises only where it is hot
    assert (hottest[0] // patch, hottest[1] // patch) == PEAK
    cold = picture[300:, :40]  # far from the peak: the gray image unchanged
    assert np.abs(cold - 128).max() <= 2


def test_the_model_view_matches_the_llava_processor():
    from PIL import Image

    from lam3_core.testing.tinyvlm import llava_processor

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (300, 520, 3), dtype=np.uint8))
    processor = llava_processor(image_size=336, patch_size=14).image_processor
    pixels = processor(images=[image], return_tensors="np")["pixel_values"][0]
    mean, std = np.array(processor.image_mean)[:, None, None], np.array(processor.image_std)[:, None, None]
    expected = ((pixels * std + mean) * 255).transpose(1, 2, 0)
    shown = np.asarray(model_view(image, VIEW), dtype=float)
    assert shown.shape == expected.shape == (336, 336, 3)
    assert np.abs(shown - expected).mean() < 1.0


def test_a_tiny_llava_run_stores_maps_that_average_its_raw_attention_and_draws_them(tiny_llava, shared_data, tmp_path):
    from lam3_models_llava.model import LlavaModel

    from lam3_core import GenConfig
    from lam3_core.contract.manager import load_plugins

    folder = shared_data / "images" / "coco_000000039769"
    dataset = ["--dataset", "pope", "--dataset-arg", f"labels={folder / 'DERIVED_pope_style_questions.jsonl'}",
               "--dataset-arg", f"image_root={folder}", "--limit", "2"]
    out = tmp_path / "run"
    result = run_lam3(["eval", "--model", "llava15", "--model-arg", f"path={tiny_llava}", *dataset, "--gen",
                       "max_new_tokens=3", "--gen", "trace_attentions=true", "--quiet", "--out", out])
    assert result.exit_code == 0, result.output
    assert result.meta["model"]["info"]["attn_implementation"] == "eager"
    samples = list(load_plugins().get("dataset", "pope").create(
        labels=str(folder / "DERIVED_pope_style_questions.jsonl"), image_root=str(folder)))[:2]
    model = LlavaModel(path=str(tiny_llava), trace_attentions=True)
    raw = model.generate(samples, GenConfig(max_new_tokens=3), trace=True)
    for g, sample, completion in zip(result.generations, samples, raw):
        attention = g["info"]["image_attention"]
        assert attention["grid"] == [2, 2] and len(attention["maps"]) == 1 and attention["tokens"] >= 1
        assert attention["view"] == {"shortest_edge": 28, "crop": [28, 28]}
        assert sum(attention["maps"][0]) == pytest.approx(attention["image_share"], abs=1e-5)
        ids = model.encode([sample])[0]["input_ids"][0]
        positions = (ids == model.model.config.image_token_id).nonzero().flatten()
        expected = completion.trace["attentions"][..., positions].mean(dim=(0, 1, 2))  # (layers, heads, T, S)
        assert attention["maps"][0] == pytest.approx(expected.tolist(), abs=1e-6)
    drawn = run_lam3(["attention", out, "--record", result.generations[1]["record_id"], "--out", tmp_path / "maps"])
    assert drawn.exit_code == 0, drawn.output
    from PIL import Image

    files = list((tmp_path / "maps").iterdir())
    assert len(files) == 1 and Image.open(files[0]).size == (28, 28)


def test_attention_maps_are_refused_where_they_cannot_be_made(tiny_llava, tmp_path):
    echo = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--judge", "refusal", "--gen",
                     "trace_attentions=true", "--out", tmp_path / "a"])
    assert echo.exit_code == 2 and "The model 'echo' cannot trace its attention over image patches" in echo.output
    raw = run_lam3(["eval", "--model", "llava15", "--model-arg", f"path={tiny_llava}", "--model-arg",
                    "trace_attentions=true", "--dataset", "mini", "--judge", "refusal", "--out", tmp_path / "b"])
    message = " ".join(raw.output.split())
    assert raw.exit_code == 2 and "trace_attentions=true keeps raw per-step tensors" in message
    assert "--gen trace_attentions=true" in message
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    idefics2 = pytest.importorskip("lam3_models_idefics2.model")
    with pytest.raises(UsageError, match="perceiver resampler"):
        idefics2.Idefics2Model().check_image_attention()


def test_lam3_attention_names_what_is_missing(tmp_path):
    from PIL import Image

    _run_with_one_image(tmp_path, Image.new("RGB", (40, 30)))
    no_maps = run_lam3(["attention", tmp_path / "run", "--out", tmp_path / "maps"])
    assert no_maps.exit_code == 2 and "has an attention map" in no_maps.output
    assert "--gen trace_attentions=true" in " ".join(no_maps.output.split())
    unknown = run_lam3(["attention", tmp_path / "run", "--record", "s2::none::0", "--out", tmp_path / "maps"])
    assert unknown.exit_code == 2 and "has no record 's2::none::0'" in unknown.output
    assert "close: s1::none::0" in unknown.output

"""``compile_layers=true`` on the llava15 plugin: the cache-free parts of the text decoder's layers compiled (one
graph for every layer), the same answers, and the settings it cannot be combined with refused."""

from __future__ import annotations

import pytest
from lam3_models_llava.model import LlavaModel
from PIL import Image
from torch._dynamo.utils import counters

from lam3_core import GenConfig, Sample, UsageError


def test_compiled_layers_give_the_eager_answers(vlm_dir, tmp_path):
    image = tmp_path / "street.png"
    Image.new("RGB", (64, 48), (30, 90, 200)).save(image)
    questions = ("Is there a dog in the image?", "Is there a car?", "Is there a person? Answer with one word.")
    samples = [Sample(f"q{i}", q, [str(image)]) for i, q in enumerate(questions)] + [Sample("t", "Tell a story.")]
    gen = GenConfig(max_new_tokens=5, min_new_tokens=5)
    eager = LlavaModel(path=str(vlm_dir), decode_cache="static").generate(samples, gen, trace=True)
    model = LlavaModel(path=str(vlm_dir), decode_cache="static", compile_layers=True)
    counters.clear()
    compiled = model.generate(samples, gen, trace=True)
    # norms and MLPs, each for prefills and for one-token steps (and the image prefix): none per layer
    assert 0 < counters["stats"]["unique_graphs"] <= 6
    for layer in model.model.model.language_model.layers:  # the norms and the MLP, not the attention (the cache)
        compiled_parts = {name for name, part in layer.named_children() if part._compiled_call_impl is not None}
        assert compiled_parts == {"input_layernorm", "post_attention_layernorm", "mlp"}
    assert model.model.model.vision_tower.encoder.layers[0].mlp._compiled_call_impl is None
    assert model.rows_by_path["prefix_prefills"] == 2 and model.rows_by_path["static_decode"] == 4  # one image prefix
    assert [c.text for c in compiled] == [c.text for c in eager]
    for ours, theirs in zip(compiled, eager):
        assert ours.token_logprobs == pytest.approx(theirs.token_logprobs, abs=1e-4)
    assert model.info()["compile_layers"] is True
    assert "compile_layers" not in LlavaModel(path=str(vlm_dir)).info()  # off: the recorded settings are as before


@pytest.mark.parametrize(("args", "message"), [
    ({"decode_cache": "compiled"}, "decode_cache=compiled"),
    ({"quantization": "4bit"}, "quantization=4bit"),
    ({"compile_layers": "yes"}, "must be true or false"),
])
def test_settings_compiled_layers_cannot_honour_are_refused(vlm_dir, args, message):
    with pytest.raises(UsageError, match=message):
        LlavaModel(path=str(vlm_dir), **{"compile_layers": True, **args})

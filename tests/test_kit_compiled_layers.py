"""kit.compiled_layers: which stack of layers is compiled, each layer handed its own entry of the KV cache so that one
compiled graph serves every layer (a tiny Llama with transformers' caches), and the refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lam3_core import UsageError
from lam3_core.kit.compiled_layers import LayerCache, compile_layers, is_compiled, repeated_layers


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(4)


class Encoder(nn.Module):
    def __init__(self, blocks: int):
        super().__init__()
        self.layers = nn.ModuleList(Block() for _ in range(blocks))


class VisionLanguage(nn.Module):
    """A two-block vision tower and a one-block text decoder that ``get_decoder`` names."""

    def __init__(self):
        super().__init__()
        self.vision = Encoder(2)
        self.text = Encoder(1)
        self.text.layers.append(nn.Identity())  # layers of two kinds (Mllama mixes two)

    def get_decoder(self):
        return self.text


def test_the_text_decoders_layers_are_chosen_else_the_longest_stack_of_one_kind():
    model = VisionLanguage()
    assert repeated_layers(model) is model.text.layers
    holder = nn.Module()
    holder.short, holder.long = Encoder(2), Encoder(3)
    holder.mixed = nn.ModuleList([Block(), nn.Identity(), Block(), nn.Identity()])
    assert repeated_layers(holder) is holder.long.layers
    with pytest.raises(UsageError, match="no stack of repeated layers"):
        compile_layers(nn.Linear(2, 2))


class Entry:
    def __init__(self, name):
        self.name = name

    def update(self, keys, values, *args, **kwargs):
        return self.name, keys, values, args, kwargs


class Cache:
    """transformers' ``Cache`` as far as ``LayerCache`` reads it: entries, added lazily like ``DynamicCache``'s."""

    layer_class_to_replicate = None
    offloading = False

    def __init__(self, entries):
        self.layers = entries

    def get_seq_length(self, layer_idx=0):
        return 7


def test_a_layer_cache_writes_its_own_entry_whatever_number_it_is_given():
    cache = Cache([Entry("first"), Entry("second")])
    view = LayerCache(cache, 1)
    assert view.update("k", "v", 0, "more", flag=True) == ("second", "k", "v", ("more",), {"flag": True})
    assert view.get_seq_length() == 7  # everything else is the whole cache's
    cache.layer_class_to_replicate = lambda: Entry("added")
    assert LayerCache(cache, 3).update("k", "v", 3)[0] == "added" and len(cache.layers) == 4


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(config).eval()


def test_one_compiled_graph_serves_every_layer_and_gives_the_eager_results(tiny_llama):
    from torch._dynamo.utils import counters
    from transformers import DynamicCache, StaticCache

    ids = torch.randint(0, 96, (3, 11))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # a padded row: the layers take a mask
    settings = {"attention_mask": mask, "max_new_tokens": 3, "do_sample": False}
    with torch.inference_mode():
        logits = tiny_llama(ids, attention_mask=mask, past_key_values=DynamicCache(config=tiny_llama.config)).logits
        answers = tiny_llama.generate(ids, **settings)
        assert compile_layers(tiny_llama) == 3 and all(is_compiled(layer) for layer in tiny_llama.model.layers)
        torch._dynamo.reset()
        counters.clear()
        compiled = tiny_llama(ids, attention_mask=mask,
                              past_key_values=DynamicCache(config=tiny_llama.config)).logits
        assert counters["stats"]["unique_graphs"] == 1  # per layer, it would be one graph each
        static = StaticCache(config=tiny_llama.config, max_cache_len=16)
        compiled_answers = tiny_llama.generate(ids, past_key_values=static, **settings)
    torch.testing.assert_close(compiled, logits)
    assert torch.equal(compiled_answers, answers)
    assert static.layers[2].keys.abs().sum() > 0  # every layer wrote its own entry


def test_a_compiler_that_cannot_run_stops_with_a_usage_error():
    from torch._inductor import config

    class Unusual(nn.Module):
        """Code no other test compiles, so no compiled graph of it can come from a cache."""

        def forward(self, x):
            return torch.tanh(x * 3.25 + 1.5)

    model = nn.Module()
    model.layers = nn.ModuleList([Unusual()])
    compile_layers(model)
    with config.patch({"cpp.cxx": (None, "/nonexistent/c++")}), \
            pytest.raises(UsageError, match="torch.compile could not compile Unusual: InvalidCxxCompiler") as err:
        model.layers[0](torch.ones(2, 4))
    assert "drop compile_layers" in str(err.value)

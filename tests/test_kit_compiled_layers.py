"""kit.compiled_layers on plain torch modules: which stack of layers is compiled, which parts of a layer (not those
that take the KV cache), and the refusals when there is nothing to compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lam3_core import UsageError
from lam3_core.kit.compiled_layers import cache_free_parts, compile_layers, is_compiled, repeated_layers


class Attention(nn.Module):
    def forward(self, x, past_key_values=None):
        return x


class Block(nn.Module):
    def __init__(self, with_mlp: bool = True):
        super().__init__()
        self.attn = Attention()
        self.norm = nn.LayerNorm(4)
        if with_mlp:
            self.mlp = nn.Linear(4, 4)


class Encoder(nn.Module):
    def __init__(self, blocks: int, **kwargs):
        super().__init__()
        self.layers = nn.ModuleList(Block(**kwargs) for _ in range(blocks))


class Decoder(Encoder):
    pass


class VisionLanguage(nn.Module):
    """A two-block vision tower and a one-block text decoder that ``get_decoder`` names."""

    def __init__(self):
        super().__init__()
        self.vision = Encoder(2)
        self.text = Decoder(1)
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


def test_the_parts_that_take_the_cache_stay_eager():
    model = Encoder(2)
    assert [type(part) for part in cache_free_parts(model.layers[0])] == [nn.LayerNorm, nn.Linear]
    assert compile_layers(model) == 4
    assert all(not is_compiled(layer.attn) and is_compiled(layer.mlp)
               for layer in model.layers)
    assert torch.equal(model.layers[0].norm(torch.ones(1, 4)), torch.zeros(1, 4))  # compiled, still a LayerNorm


def test_a_compiler_that_cannot_run_stops_with_a_usage_error():
    from torch._inductor import config

    class Unusual(nn.Module):
        """Code no other test compiles, so no compiled graph of it can come from a cache."""

        def forward(self, x):
            return torch.tanh(x * 3.25 + 1.5)

    model = nn.Module()
    model.layers = nn.ModuleList([nn.Sequential(Unusual())])
    compile_layers(model)
    with config.patch({"cpp.cxx": (None, "/nonexistent/c++")}), \
            pytest.raises(UsageError, match="torch.compile could not compile Unusual: InvalidCxxCompiler") as err:
        model.layers[0][0](torch.ones(2, 4))
    assert "drop compile_layers" in str(err.value)


def test_nothing_to_compile_is_refused():
    with pytest.raises(UsageError, match="no stack of repeated layers"):
        compile_layers(nn.Linear(2, 2))
    only_attention = Encoder(2, with_mlp=False)
    del only_attention.layers[0].norm, only_attention.layers[1].norm
    with pytest.raises(UsageError, match="every part of Encoder's layers reads the KV cache"):
        compile_layers(only_attention)

"""Compiling a model's repeated layers (``compile_layers=true``): one traced layer serves the whole stack.

In transformers' eager layers the norms, rotary embeddings, activations and residual additions run
as separate kernels beside the matrix products: on an H200 they took 38% of LLaVA-1.5-7B's prefill
kernel time (bench/README.md). torch.compile fuses them. Compiling each layer of the stack rather
than the whole model (PyTorch's "regional compilation") traces one layer, and the others reuse its
code, so compiling takes seconds rather than minutes; shapes are dynamic, so batches of another
size or length reuse it too. A forward pass of another kind (one decoding step, a cache of another
type, no attention mask) is compiled once more when first met. Imports torch inside functions.
"""

from __future__ import annotations

from typing import Any

from lam3_core.interfaces.errors import UsageError


def repeated_layers(model: Any) -> Any:
    """The model's decoder layers (a vision-language model's text decoder's), else its longest stack of blocks of one
    class (an encoder's); a ``UsageError`` when it has none."""
    import torch

    def stack(candidate: Any) -> bool:
        return isinstance(candidate, torch.nn.ModuleList) and len(candidate) > 0 \
            and len({type(block) for block in candidate}) == 1

    try:
        decoder = model.get_decoder()
    except (AttributeError, NotImplementedError):
        decoder = None
    if stack(getattr(decoder, "layers", None)):
        return decoder.layers
    stacks = [module for module in model.modules() if stack(module)]
    if not stacks:
        raise UsageError(f"compile_layers=true: {type(model).__name__} has no stack of repeated layers to compile.",
                         "Drop compile_layers for this model.")
    return max(stacks, key=lambda s: (len(s), sum(p.numel() for p in s.parameters())))


def compile_layers(model: Any) -> int:
    """Compile each of ``repeated_layers(model)`` in place (dynamic shapes); returns how many."""
    layers = repeated_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)

"""Compiling a model's repeated layers whole (``compile_layers=true``).

In transformers' eager layers the norms, rotary embeddings and activations run as separate kernels beside the matrix
products: an RMSNorm is six passes over the hidden states (to float32, square, mean, scale, back to bf16, weight),
rotary embeddings a concatenation and four more. In a LLaVA-1.5-7B prefix prefill on an H200 the elementwise kernels
and copies took 197 of 560 ms (docs/performance.md). torch.compile fuses them with the matrix products around them.

Every layer of a stack runs the same code with the same constants, so one compiled graph serves all of them, with
dynamic shapes: compiling takes seconds once per process, and once more for each kind of call (a prefill, a step of one
token, a first call into an empty cache). What would stop the sharing is the KV cache: a layer finds its own entry
by indexing the cache's list of layers with its layer number, and torch.compile specialises a graph on such an index
(measured on the H200: it stopped at its limit of 8 per-layer graphs and left the other layers eager). So each layer is
handed a ``LayerCache``, its own entry of the cache behind the cache's interface, built outside the compiled code.
``check_compiler`` tells before a run whether torch.compile works on the device at all. Imports torch inside functions.
"""

from __future__ import annotations

import functools
from typing import Any

from lam3_core.interfaces.errors import UsageError

_FIX = "Install what torch.compile needs (a C++ compiler on the CPU, Triton on the GPU), or drop compile_layers."

CACHE_ARGUMENTS = ("past_key_values", "past_key_value")
"""The keyword arguments through which a layer's forward receives the KV cache."""


def repeated_layers(model: Any) -> Any:
    """The model's decoder layers (a vision-language model's text decoder's), else its longest stack of blocks of one
    class (an encoder's); a ``UsageError`` when it has none."""
    import torch

    try:
        decoder = model.get_decoder()
    except (AttributeError, NotImplementedError):
        decoder = None
    layers = getattr(decoder, "layers", None)
    if isinstance(layers, torch.nn.ModuleList) and len(layers):
        return layers  # (Mllama's mixes self- and cross-attention layers: each kind compiles once)
    stacks = [module for module in model.modules() if isinstance(module, torch.nn.ModuleList) and len(module)
              and len({type(block) for block in module}) == 1]
    if not stacks:
        raise UsageError(f"compile_layers=true: {type(model).__name__} has no stack of repeated layers to compile.",
                         "Drop compile_layers for this model.")
    return max(stacks, key=lambda s: (len(s), sum(p.numel() for p in s.parameters())))


def compile_layers(model: Any) -> int:
    """Compile, in place and with dynamic shapes, every one of ``repeated_layers(model)`` whole; returns how many.
    Each layer is called with its own ``LayerCache``. torch.compile works when a layer is first called: if it cannot
    (no C++ compiler on the CPU, no Triton on the GPU), that call raises a ``UsageError``, which stops the run instead
    of failing every record one by one."""
    layers = repeated_layers(model)
    for position, layer in enumerate(layers):
        layer.forward = _compiled_layer(layer, _layer_number(layer, position))
    return len(layers)


class LayerCache:
    """One layer's entry of a transformers ``Cache``, behind the cache's interface: ``update`` writes to this entry
    whatever layer number it is given, so the compiled code never indexes the cache's list of layers. Anything else is
    read from the whole cache."""

    def __init__(self, cache: Any, number: int):
        if getattr(cache, "layer_class_to_replicate", None) is not None:  # as Cache.update adds its entries lazily
            while len(cache.layers) <= number:
                cache.layers.append(cache.layer_class_to_replicate())
        self.entry = cache.layers[number]
        self.cache = cache

    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any) -> Any:
        return self.entry.update(key_states, value_states, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cache, name)


def _layer_number(layer: Any, position: int) -> int:
    """The layer number the layer's attention indexes the cache with (its ``layer_idx``), else its position."""
    numbers = {module.layer_idx for module in layer.modules() if isinstance(getattr(module, "layer_idx", None), int)}
    return numbers.pop() if len(numbers) == 1 else position


def _compiled_layer(layer: Any, number: int) -> Any:
    """``layer.forward`` compiled, taking a ``LayerCache`` where it is given a cache that has per-layer entries (one
    that offloads to the CPU, or has no entries, is passed on as it is)."""
    import torch

    compiled = _refusing_compile_failures(torch.compile(layer.forward, dynamic=True), type(layer).__name__)

    @functools.wraps(compiled)
    def forward(*args, **kwargs):
        for name in CACHE_ARGUMENTS:
            cache = kwargs.get(name)
            if hasattr(cache, "layers") and not getattr(cache, "offloading", False):
                kwargs[name] = LayerCache(cache, number)
        return compiled(*args, **kwargs)

    return forward


def check_compiler(device: str) -> None:
    """A ``UsageError`` unless torch.compile can compile on ``device`` (checked once per device and process)."""
    problem = _compiler_problem(str(device))
    if problem:
        raise UsageError(f"compile_layers=true: torch.compile cannot compile on {device}: {problem}", _FIX)


@functools.cache
def _compiler_problem(device: str) -> str | None:
    """What stops torch.compile from compiling a small function on ``device``, or None. It is compiled for an input
    length drawn anew, which the kernel's code spells out, so the kernel cannot come from the compiled kernels cached
    on disk: the compiler itself has to run."""
    import random

    import torch
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor import config

    def probe(x):
        return torch.tanh(x * 2.0 + 1.0)

    try:
        with config.patch({"fx_graph_cache": False}):
            torch.compile(probe, dynamic=False)(torch.ones(random.randint(1 << 10, 1 << 20), device=device))
    except BackendCompilerFailed as exc:
        return _cause(exc)
    return None


def _cause(exc: BaseException) -> str:
    """The first line of what made torch.compile's backend fail."""
    inner = getattr(exc, "inner_exception", None) or exc
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}"


def is_compiled(part: Any) -> bool:
    """Whether ``compile_layers`` compiled this module."""
    return getattr(part.forward, "compiled_by_lam3", False)


def _refusing_compile_failures(compiled: Any, name: str) -> Any:
    """``compiled``, raising a ``UsageError`` where torch.compile's backend fails (errors of the computation itself,
    such as running out of memory, pass through)."""
    from torch._dynamo.exc import BackendCompilerFailed

    @functools.wraps(compiled)
    def forward(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except BackendCompilerFailed as exc:
            raise UsageError(f"compile_layers=true: torch.compile could not compile {name}: {_cause(exc)}",
                             _FIX) from exc

    forward.compiled_by_lam3 = True
    return forward

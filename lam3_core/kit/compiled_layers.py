"""Compiling the cache-free parts of a model's repeated layers (``compile_layers=true``).

In transformers' eager layers the norms and activations run as separate kernels beside the matrix
products: an RMSNorm is six passes over the hidden states (to float32, square, mean, scale, back
to bf16, weight), the MLP's activation two. In a LLaVA-1.5-7B prefix prefill on an H200 the
elementwise kernels took 120 of 560 ms (docs/performance.md). torch.compile fuses each into one
pass: Llama Guard 2 scored 1.08x faster through ``lam3 judge``.

Only the parts of a layer that do not touch the KV cache are compiled (Llama's norms and MLP, not
its attention). A whole layer cannot share one compiled graph with the others: it indexes the
cache with its own layer number, so torch.compile specialised a graph per layer, stopped at its
limit of 8 and left the other layers eager (measured on the H200). The cache-free parts are the
same code with the same constants in every layer: one graph per kind of part serves the whole
stack, with dynamic shapes, so compiling takes seconds once per process (a step of one token
compiles once more). ``check_compiler`` tells before a run whether torch.compile works on the
device at all. Imports torch inside functions.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from lam3_core.interfaces.errors import UsageError

_FIX = "Install what torch.compile needs (a C++ compiler on the CPU, Triton on the GPU), or drop compile_layers."

CACHE_PARAMETERS = ("past_key_value", "past_key_values", "cache", "layer_past", "cache_position")
"""Arguments through which a module's forward reaches the KV cache: modules taking one are left eager."""


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
        return layers  # (Mllama's mixes self- and cross-attention layers: each kind of part compiles once)
    stacks = [module for module in model.modules() if isinstance(module, torch.nn.ModuleList) and len(module)
              and len({type(block) for block in module}) == 1]
    if not stacks:
        raise UsageError(f"compile_layers=true: {type(model).__name__} has no stack of repeated layers to compile.",
                         "Drop compile_layers for this model.")
    return max(stacks, key=lambda s: (len(s), sum(p.numel() for p in s.parameters())))


def cache_free_parts(layer: Any) -> list:
    """The direct children of ``layer`` whose forward takes no cache argument (``CACHE_PARAMETERS``)."""
    return [child for child in layer.children()
            if not set(inspect.signature(child.forward).parameters) & set(CACHE_PARAMETERS)]


def compile_layers(model: Any) -> int:
    """Compile, in place and with dynamic shapes, the cache-free parts of every one of ``repeated_layers(model)``;
    returns how many modules were compiled (a ``UsageError`` when none qualifies). torch.compile works when a part is
    first called: if it cannot (no C++ compiler on the CPU, no Triton on the GPU), that call raises a ``UsageError``,
    which stops the run instead of failing every record one by one."""
    import torch

    parts = [part for layer in repeated_layers(model) for part in cache_free_parts(layer)]
    if not parts:
        raise UsageError(f"compile_layers=true: every part of {type(model).__name__}'s layers reads the KV cache, "
                         "so nothing can be compiled once for all of them.", "Drop compile_layers for this model.")
    for part in parts:
        part.forward = _refusing_compile_failures(torch.compile(part.forward, dynamic=True), type(part).__name__)
    return len(parts)


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

"""The context every forward pass of a lam3 model or judge runs in: no autograd, and no cuDNN attention unless the
shapes stay fixed.

PyTorch's scaled-dot-product attention prefers cuDNN's kernel on recent NVIDIA GPUs. cuDNN builds
an execution graph for every input shape it has not seen in the process, and the build costs far
more than the attention itself: on one H200 (torch 2.11), bert-base's first forward pass at a new
width took 75-93 ms against 20 ms with the other kernels, and four Llama-3-8B-sized layers at
batch 64 took 141-864 ms against 80 ms. A judge's batches change width with their longest text,
and decoding from a growing (dynamic) KV cache changes shape with every token, so nearly every
call would pay a build: LLaVA-1.5-7B decoding 256 tokens from a dynamic cache ran at 2.28
samples/s with cuDNN in a fresh process and 3.95 without. Without cuDNN, torch picks flash or
memory-efficient attention (math where neither applies), which need no per-shape set-up.

Where the shapes stay fixed for a whole call — compiled decoding from a static KV cache — cuDNN
builds once and then decodes faster (jailbreak-shaped: 8.49 samples/s with it against 6.21
without), so ``cudnn_attention=True`` keeps PyTorch's choice. Eager static decoding does not
qualify: each micro-batch's suffix prefill is a new shape (5.11 samples/s without cuDNN, 4.65
with). docs/performance.md, "Attention kernels".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def inference(cudnn_attention: bool = False) -> Iterator[None]:
    """``torch.inference_mode()``, with scaled-dot-product attention limited to flash, memory-efficient and math
    kernels unless ``cudnn_attention`` (the flags are restored on exit)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    if cudnn_attention:
        kernels.append(SDPBackend.CUDNN_ATTENTION)
    with torch.inference_mode(), sdpa_kernel(kernels):
        yield

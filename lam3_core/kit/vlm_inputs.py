"""Model inputs for a micro-batch of samples, built off the GPU's critical path.

Runs on the prefetch worker threads (``kit.prefetch``): each thread has its own copy of the
processor (a fast tokenizer must not be used by two threads at once), each image is decoded
once per micro-batch, and each distinct image is resized and normalised once however many
prompts ask about it (``OncePerImage``). On a GPU the tensors come back in pinned memory, so
the copy to the device does not block the host.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.images import load_image


def image_key(ref: Any) -> Any:
    """What identifies an image of a sample: its path, or the in-memory object itself."""
    return ("path", os.fspath(ref)) if isinstance(ref, (str, os.PathLike)) else ("object", id(ref))


class OncePerImage:
    """Stands in for a processor's image processor: each distinct image (or per-sample list of images) of one
    call is processed once and its outputs are repeated for every prompt that uses it.

    Images are told apart by their content (size, mode and a hash of the pixels; some processors hand over fresh
    copies of the caller's images), so the outputs are exactly what processing every copy would give. Everything
    else (attributes, other methods) is the wrapped image processor's.
    """

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, images: Any, *args, **kwargs):
        if not isinstance(images, (list, tuple)):
            return self._inner(images, *args, **kwargs)
        keys = _unit_keys(images, id)
        if len(set(keys)) == len(keys):  # no object twice: compare contents (some processors copy the images)
            keys = _unit_keys(images, _content_key)
        unique = list(dict.fromkeys(keys))
        if len(unique) == len(keys) or any(None in (k if isinstance(k, tuple) else (k,)) for k in unique):
            return self._inner(images, *args, **kwargs)
        first: dict[Any, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        out = self._inner([images[first[key]] for key in unique], *args, **kwargs)
        position = {key: n for n, key in enumerate(unique)}
        repeated = _repeat_rows(out, [position[key] for key in keys], len(unique))
        return self._inner(images, *args, **kwargs) if repeated is None else type(out)(repeated)


def _unit_keys(images: Sequence[Any], key: Any) -> list:
    """``key`` of each image, or the tuple of keys of each per-sample list of images."""
    return [tuple(map(key, unit)) if isinstance(unit, (list, tuple)) else key(unit) for unit in images]


def _content_key(image: Any) -> tuple | None:
    """What makes two images process the same: size, mode and pixels; None for anything but a PIL image."""
    if not hasattr(image, "tobytes") or not hasattr(image, "mode"):
        return None
    return image.size, image.mode, hashlib.blake2b(image.tobytes(), digest_size=16).digest()


def _repeat_rows(outputs: Mapping, index: list[int], unique: int) -> dict | None:
    """``outputs`` with row ``index[r]`` as row r of every per-image entry; None if an entry is not per image."""
    import torch

    repeated = {}
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == unique:
            repeated[key] = value[torch.as_tensor(index)]  # (index_select is far slower on the CPU)
        elif isinstance(value, (list, tuple)) and len(value) == unique:
            repeated[key] = [value[i] for i in index]
        else:
            return None
    return repeated


class ThreadProcessors:
    """One copy of ``processor`` per thread, its image processor wrapped in ``OncePerImage``."""

    def __init__(self, processor: Any):
        self._processor = processor
        self._local = threading.local()

    def get(self) -> Any:
        processor = getattr(self._local, "processor", None)
        if processor is None:
            processor = copy.deepcopy(self._processor)
            processor.image_processor = OncePerImage(processor.image_processor)
            processor.tokenizer.padding_side = "left"
            self._local.processor = processor
        return processor


def decoded_images(samples: Sequence[Any]) -> list[list[Any]]:
    """Each sample's images as PIL RGB, every distinct path or object decoded once; a missing or unreadable image
    is a ``UsageError`` naming the sample."""
    decoded: dict[Any, Any] = {}
    images = []
    for sample in samples:
        own = []
        for ref in sample.images:
            key = image_key(ref)
            if key not in decoded:
                try:
                    decoded[key] = load_image(ref)
                except UsageError as exc:
                    raise UsageError(f"Sample {sample.id!r}: {exc.problem}", exc.fix) from exc
            own.append(decoded[key])
        images.append(own)
    return images


def image_inputs_of(encoding: Mapping, samples: Sequence[int], images_per_sample: Sequence[int]) -> dict | None:
    """The processor's image tensors for ``samples`` (indices into its batch, repeats allowed), whether it gives one
    row per sample (Idefics2) or one per image (LLaVA); None when the layout cannot be told or an entry is not a
    tensor."""
    import torch

    per_token = encoding["input_ids"].shape
    rows, total = len(images_per_sample), sum(images_per_sample)
    starts = [sum(images_per_sample[:i]) for i in range(rows)]
    by_image = [j for i in samples for j in range(starts[i], starts[i] + images_per_sample[i])]
    selected = {}
    for key, value in encoding.items():
        if key in ("input_ids", "attention_mask"):
            continue
        if not isinstance(value, torch.Tensor) or value.shape == per_token:
            return None
        one_per_sample, one_per_image = value.shape[0] == rows, value.shape[0] == total
        if one_per_sample and (not one_per_image or all(n == 1 for n in images_per_sample)):
            selected[key] = value[list(samples)]
        elif one_per_image and not one_per_sample:
            selected[key] = value[by_image]
        else:
            return None
    return selected


def pinned(tensors: Mapping[str, Any]) -> dict:
    """The tensors in page-locked memory, for non-blocking copies to the GPU."""
    return {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in tensors.items()}

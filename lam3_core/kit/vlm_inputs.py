"""Model inputs for a micro-batch of samples, built off the GPU's critical path.

Runs on the prefetch worker threads (``kit.prefetch``): each thread has its own copy of the
processor (a fast tokenizer must not be used by two threads at once), each image is decoded
once per micro-batch, and each distinct image is resized and normalised once however many
prompts ask about it (``OncePerImage``). Decoding and image processing are spread over a pool
of image threads (PIL, torchvision and numpy release the GIL). The token ids become tensors
through numpy (``ListsToTensors``). On a GPU the tensors come back in pinned memory, so the copy
to the device does not block the host.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.images import image_key, load_image


class OncePerImage:
    """Stands in for a processor's image processor: each distinct image (or per-sample list of images) of one
    call is processed once and its outputs are repeated for every prompt that uses it; with a ``pool``, the distinct
    images are processed in ``parts`` slices on its threads and the outputs joined.

    Images are told apart by their content (size, mode and a hash of the pixels; some processors hand over fresh
    copies of the caller's images), so the outputs are exactly what processing every copy would give. Slices are
    joined only when every output has the same shape in each slice (processors that pad a batch to its largest
    image do not, and are then run in one call from then on). Everything else (attributes, other methods) is the
    wrapped image processor's.
    """

    def __init__(self, inner: Any, pool: Executor | None = None, parts: int = 1):
        self._inner = inner
        self._pool = pool
        self._parts = parts if pool is not None else 1

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
            return self._process(list(images), args, kwargs)
        first: dict[Any, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        out = self._process([images[first[key]] for key in unique], args, kwargs)
        position = {key: n for n, key in enumerate(unique)}
        repeated = _repeat_rows(out, [position[key] for key in keys], len(unique))
        return self._inner(images, *args, **kwargs) if repeated is None else type(out)(repeated)

    def _process(self, units: list, args: tuple, kwargs: dict):
        """The inner processor's outputs for ``units``: in slices on the pool when that gives the same tensors."""
        parts = min(self._parts, len(units))
        if parts < 2 or any(isinstance(unit, (list, tuple)) and not unit for unit in units):
            return self._inner(units, *args, **kwargs)  # (a sample without images is processed beside others)
        bounds = [len(units) * i // parts for i in range(parts + 1)]
        slices = [units[bounds[i] : bounds[i + 1]] for i in range(parts)]
        outputs = list(self._pool.map(lambda part: self._inner(part, *args, **kwargs), slices))
        joined = _joined(outputs)
        if joined is None:
            self._parts = 1
            return self._inner(units, *args, **kwargs)
        return type(outputs[0])(joined)


def _joined(outputs: Sequence[Mapping]) -> dict | None:
    """The slices' outputs as one batch (tensors concatenated, lists chained); None unless every entry is a tensor of
    the same shape past its first dimension (or a list) in every slice."""
    import torch

    joined = {}
    for key, first in outputs[0].items():
        values = [out[key] for out in outputs]
        if all(isinstance(v, torch.Tensor) and v.ndim and v.shape[1:] == first.shape[1:] for v in values):
            joined[key] = torch.cat(values)
        elif all(isinstance(v, list) for v in values):
            joined[key] = [item for v in values for item in v]
        else:
            return None
    return joined


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


class ListsToTensors:
    """Stands in for a processor's tokenizer: asks it for lists and makes PyTorch tensors of them through numpy.

    transformers' own conversion flattens every list in Python first (to tell an empty batch's dtype): for 128 LLaVA
    prompts of 610 tokens that took 0.06 s of a micro-batch's 0.3 s preparation, numpy takes 0.003 s. Ragged lists
    (no padding) and other tensor types go through the tokenizer's own conversion, errors included. Everything else
    is the wrapped tokenizer's.
    """

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, text: Any = None, *args, return_tensors: Any = None, **kwargs):
        if return_tensors != "pt" or not isinstance(text, (list, tuple)):
            return self._inner(text, *args, return_tensors=return_tensors, **kwargs)
        import numpy as np
        import torch

        encoding = self._inner(text, *args, **kwargs)
        try:
            arrays = {key: np.asarray(value, dtype=np.int64) for key, value in encoding.items()}
        except (ValueError, TypeError):
            arrays = {}
        if not arrays or any(array.ndim < 2 for array in arrays.values()):
            return encoding.convert_to_tensors("pt")
        for key, array in arrays.items():
            encoding[key] = torch.from_numpy(array)
        return encoding


class ThreadProcessors:
    """One copy of ``processor`` per thread, its image processor wrapped in ``OncePerImage`` (over ``pool``) and its
    tokenizer in ``ListsToTensors``."""

    def __init__(self, processor: Any, pool: Executor | None = None, parts: int = 1):
        self._processor = processor
        self._pool = pool
        self._parts = parts
        self._local = threading.local()

    def get(self) -> Any:
        processor = getattr(self._local, "processor", None)
        if processor is None:
            processor = copy.deepcopy(self._processor)
            processor.image_processor = OncePerImage(processor.image_processor, self._pool, self._parts)
            processor.tokenizer.padding_side = "left"
            processor.tokenizer = ListsToTensors(processor.tokenizer)
            self._local.processor = processor
        return processor


def decoded_images(samples: Sequence[Any], pool: Executor | None = None) -> list[list[Any]]:
    """Each sample's images as PIL RGB, every distinct path or object decoded once (on ``pool`` when given); a
    missing or unreadable image is a ``UsageError`` naming the sample."""
    refs: dict[Any, tuple[Any, Any]] = {}
    for sample in samples:
        for ref in sample.images:
            refs.setdefault(image_key(ref), (ref, sample))

    def decode(item: tuple[Any, Any]):
        ref, sample = item
        try:
            return load_image(ref)
        except UsageError as exc:
            raise UsageError(f"Sample {sample.id!r}: {exc.problem}", exc.fix) from exc

    items = list(refs.values())
    decoded = dict(zip(refs, pool.map(decode, items) if pool is not None and len(items) > 1 else map(decode, items)))
    return [[decoded[image_key(ref)] for ref in sample.images] for sample in samples]


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

"""What a run needs from the machine, estimated without loading anything: GPU memory for a model's weights and
disk for its records.

A Hugging Face component's weights are measured from its local folder (``path=``, or the
snapshot in the Hugging Face cache): the parameter count comes from the safetensors headers
(a few kilobytes read per file), else from the safetensors index's byte size and the
checkpoint's dtype. Free GPU memory comes from ``torch.cuda.mem_get_info``; torch is imported
for that only when the machine shows an NVIDIA device (``/dev/nvidiactl`` or ``nvidia-smi``),
so a machine without a GPU answers at once.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from lam3_core.kit.hf import HFLoadArgs

RECORD_BYTES = 8 * 1024
"""A generation record with its verdicts, generously (prompts, responses and raw judge output)."""
IMAGE_BYTES = 64 * 1024
"""An image an attack may write per attacked sample (a FigStep-size PNG)."""
RUNTIME_MARGIN = 1.2
"""Activations and the KV cache on top of the weights, for a batch of short prompts."""

_CHECKPOINT_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
"""Bytes per parameter of a checkpoint saved in the ``torch_dtype`` its config.json names."""


def weights_folder(load_args: HFLoadArgs) -> Path | None:
    """The local folder holding the weights: ``path``, or the cached snapshot of the hub id (None if neither)."""
    if load_args.path and Path(load_args.path).expanduser().is_dir():
        return Path(load_args.path).expanduser()
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(load_args.source, "config.json", revision=load_args.revision)
    except ValueError:
        return None
    return Path(found).parent if isinstance(found, str) else None


def _safetensors_parameters(path: Path) -> int:
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total


def parameter_count(folder: Path) -> int | None:
    """The number of parameters of the checkpoint in ``folder``, or None when it cannot be told."""
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return sum(_safetensors_parameters(f) for f in files)
    index = folder / "model.safetensors.index.json"
    config = folder / "config.json"
    if index.is_file() and config.is_file():
        total = (json.loads(index.read_text()).get("metadata") or {}).get("total_size")
        settings = json.loads(config.read_text())
        stored = _CHECKPOINT_DTYPE_BYTES.get(str(settings.get("torch_dtype") or settings.get("dtype")))
        if total and stored:
            return int(total) // stored
    return None


@dataclass(frozen=True)
class WeightsSize:
    """A component's weights in memory: parameters, bytes per parameter as it would be loaded, and where from."""

    parameters: int
    bytes_per_parameter: float
    loaded_as: str
    folder: Path

    @property
    def bytes(self) -> int:
        return int(self.parameters * self.bytes_per_parameter)


def weights_size(instance: object) -> WeightsSize | None:
    """The size of a Hugging Face component's weights as it would load them (dtype, quantisation); None for a
    component without local Hugging Face weights."""
    load_args = getattr(instance, "load_args", None)
    if not isinstance(load_args, HFLoadArgs):
        return None
    folder = weights_folder(load_args)
    count = parameter_count(folder) if folder else None
    if count is None:
        return None
    quantization = (load_args.quantization or "").lower()
    if quantization in ("4bit", "nf4", "fp4"):
        return WeightsSize(count, 0.5, f"{quantization} quantised", folder)
    if quantization in ("8bit", "int8"):
        return WeightsSize(count, 1.0, "8-bit quantised", folder)
    dtype = str(load_args.dtype or "auto").lower()
    if dtype == "auto":
        on_cpu = load_args.device == "cpu"
        return WeightsSize(count, 4.0 if on_cpu else 2.0, "float32 on the CPU" if on_cpu else "bfloat16 on a GPU",
                           folder)
    return WeightsSize(count, 4.0 if dtype in ("float32", "fp32") else 2.0, dtype, folder)


def gpu_visible() -> bool:
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def free_gpu_memory() -> list[int] | None:
    """Free bytes on each visible GPU; None without a GPU (torch is imported only when the machine has one)."""
    if "torch" not in sys.modules and not gpu_visible():
        return None
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]


def disk_needed(records: int, attacked_samples: int) -> int:
    """Bytes a run of ``records`` records may write, ``attacked_samples`` of them made by an attack that may draw
    an image."""
    return records * RECORD_BYTES + attacked_samples * IMAGE_BYTES


def free_disk(path: Path) -> tuple[Path, int]:
    """(the nearest existing folder at or above ``path``, its free bytes)."""
    folder = path.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder, shutil.disk_usage(folder).free


def gib(n: float) -> str:
    """``n`` bytes for people: GiB, MiB or KiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= size / 8:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1024:.1f} KiB"

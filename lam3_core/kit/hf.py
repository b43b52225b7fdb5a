"""Loading Hugging Face models the same way in every plugin: offline-first, clear errors.

Imports torch and transformers only inside functions, so importing this module is free.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from lam3_core.interfaces.errors import UsageError

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for offline mode."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def resolve_device(device: str | None = None) -> str:
    """``device`` as given, or "cuda" when a GPU is visible, else "cpu"."""
    if device and device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | None, device: str):
    """A torch dtype: the named one, or bf16 on GPU and fp32 on CPU for "auto"/None."""
    import torch

    if dtype in (None, "auto"):
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        return getattr(torch, _DTYPES[str(dtype).lower()])
    except KeyError:
        raise UsageError(f"Unknown dtype {dtype!r}.", f"Use one of: auto, {', '.join(sorted(set(_DTYPES)))}.") from None


def quantization_config(quantization: str | None, compute_dtype=None, double_quant: bool = True):
    """A ``BitsAndBytesConfig`` for "4bit"/"nf4" (NF4), "fp4" or "8bit"; None for no quantisation."""
    if quantization in (None, "", "none"):
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UsageError(
            f"quantization={quantization} needs the bitsandbytes package, which is not installed.",
            "pip install 'bitsandbytes>=0.46.1' (or the plugin's [quantization] extra), "
            "or drop the quantization argument.",
        )
    from transformers import BitsAndBytesConfig

    q = str(quantization).lower()
    if q in ("8bit", "int8"):
        return BitsAndBytesConfig(load_in_8bit=True)
    if q in ("4bit", "nf4", "fp4"):
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="fp4" if q == "fp4" else "nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=bool(double_quant),
        )
    raise UsageError(f"Unknown quantization {quantization!r}.", "Use one of: none, 4bit (NF4), nf4, fp4, 8bit.")


def missing_weights_error(model_id: str, revision: str | None, cause: BaseException) -> UsageError:
    rev = revision or "main"
    return UsageError(
        f"Weights for {model_id!r} (revision {rev}) were not found locally in {hub_cache_dir()} "
        f"and could not be downloaded ({type(cause).__name__}).",
        f"On a machine with internet run `hf download {model_id} --revision {rev}` and copy the "
        f"cache (or set HF_HOME to it), or pass path=/local/model/dir.",
    )


def from_pretrained(
    loader: Any, model_id: str, *, revision: str | None = None, local_files_only: bool | None = None, **kwargs
):
    """``loader.from_pretrained`` with offline mode honoured and missing weights explained.

    ``local_files_only`` defaults to True for local directories and when HF_HUB_OFFLINE is set.
    """
    if local_files_only is None:
        local_files_only = hub_offline() or Path(model_id).is_dir()
    if not Path(model_id).exists() and (
        model_id.startswith((".", "/", "~")) or os.sep in model_id.strip("/").replace("/", "", 1)
    ):
        raise UsageError(
            f"Model path {model_id!r} does not exist.", "Pass path= an existing directory or a hub model id."
        )
    try:
        return loader.from_pretrained(model_id, revision=revision, local_files_only=local_files_only, **kwargs)
    except OSError as exc:
        raise missing_weights_error(model_id, revision, exc) from exc


def cached_revision(model_id: str, revision: str | None) -> str | None:
    """The commit of ``model_id`` in the local Hugging Face cache, without loading or downloading anything;
    None for a local directory. (transformers 5 no longer keeps ``config._commit_hash``, so the cache tells.)"""
    if Path(model_id).expanduser().is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    except ValueError:
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def weights_source(model_id: str, path: str | None, revision: str | None) -> str:
    """``model_id@commit`` (the cached commit, else the requested revision, else main), or ``path@local``:
    what a judge's version string records about its weights."""
    if path:
        return f"{path}@local"
    return f"{model_id}@{cached_revision(model_id, revision) or revision or 'main'}"


def check_weights_available(owner: str, path: str | None, model_id: str, revision: str | None) -> None:
    """Fail before a run starts when the weights cannot be found: ``path`` is not a folder, or the hub
    is offline and ``model_id`` is not in the local cache. Loads nothing."""
    if path and not Path(path).expanduser().is_dir():
        raise UsageError(
            f"{owner}: path {path!r} is not a directory.",
            f"Pass {owner}.path= a folder holding config.json, the weights and the tokenizer.",
        )
    if not path and hub_offline() and cached_revision(model_id, revision) is None:
        raise missing_weights_error(model_id, revision, FileNotFoundError("not in the local cache"))

"""Loading Hugging Face models the same way in every plugin: offline-first, clear errors.

Imports torch and transformers only inside functions, so importing this module is free.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

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


class MissingWeights(UsageError):
    """Weights that are neither at the given path nor in the local Hugging Face cache.

    Runs collect these from the model and every judge before any generation and report them
    together, each with the exact option that points lam3 at local weights.
    """


def missing_weights_error(model_id: str, revision: str | None, reason: str, option: str = "path=DIR",
                          gated: bool = False) -> MissingWeights:
    """The missing-weights message: where lam3 looked, why it could not download, how to fetch the weights
    elsewhere, and the option to pass."""
    rev = revision or "main"
    gate = (f" {model_id} is gated: accept its licence on huggingface.co and log in (`hf auth login`) before "
            "downloading." if gated else "")
    online = "" if hub_offline() else " If this machine has no internet, set HF_HUB_OFFLINE=1 so nothing is retried."
    return MissingWeights(
        f"Weights for {model_id!r} (revision {rev}) were not found locally in {hub_cache_dir()} "
        f"and could not be downloaded ({reason}).",
        f"On a machine with internet run `hf download {model_id} --revision {rev}` and copy the "
        f"cache (or set HF_HOME to it), or pass {option} with a local copy.{gate}{online}",
    )


def from_pretrained(
    loader: Any, model_id: str, *, revision: str | None = None, local_files_only: bool | None = None, **kwargs
):
    """``loader.from_pretrained`` with offline mode honoured and missing weights explained.

    ``local_files_only`` defaults to True for local directories and when HF_HUB_OFFLINE is set.
    """
    if local_files_only is None:
        local_files_only = hub_offline() or Path(model_id).is_dir()
    if not Path(model_id).exists() and _looks_like_path(model_id):
        raise UsageError(
            f"Model path {model_id!r} does not exist.", "Pass path= an existing directory or a hub model id."
        )
    try:
        return loader.from_pretrained(model_id, revision=revision, local_files_only=local_files_only, **kwargs)
    except OSError as exc:
        raise missing_weights_error(model_id, revision, type(exc).__name__) from exc


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1)


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


_REACHABLE: dict[str, bool] = {}


def reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """One quick TCP connection to ``endpoint`` (a URL), remembered for the process (no retry storm)."""
    from urllib.parse import urlparse

    if endpoint not in _REACHABLE:
        import socket

        url = urlparse(endpoint)
        try:
            socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
            _REACHABLE[endpoint] = True
        except OSError:
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]


def hub_reachable() -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``) answers."""
    return reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


def local_checkpoint_problem(folder: Path) -> str | None:
    """What makes ``folder`` unusable as a checkpoint (not a folder, no config, no or missing weights), else None."""
    import json

    if not folder.is_dir():
        return "is not a directory"
    if not (folder / "config.json").is_file():
        return "has no config.json"
    indexes = sorted(folder.glob("*.index.json"))
    if indexes:
        try:
            shards = set(json.loads(indexes[0].read_text(encoding="utf-8"))["weight_map"].values())
        except (ValueError, KeyError, OSError) as exc:
            return f"has an unreadable weight index {indexes[0].name} ({exc})"
        missing = sorted(s for s in shards if not (folder / s).is_file())
        if missing:
            return f"is incomplete: {len(missing)} of {len(shards)} weight files are missing (first: {missing[0]})"
        return None
    if not any(any(folder.glob(pattern)) for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")):
        return "holds no weights (*.safetensors or *.bin)"
    return None


class HFLoadOptions(TypedDict, total=False):
    """The loading arguments every Hugging Face plugin accepts, by the same names.

    A plugin declares them with ``**load: Unpack[HFLoadOptions]`` so that lam3 checks the
    user's ``--model-arg`` / ``--judge-arg`` names against them before the factory runs.
    """

    model: str
    path: str
    revision: str
    local_files_only: bool
    dtype: str
    device: str
    device_map: str | dict
    attn_implementation: str
    quantization: str
    compute_dtype: str
    double_quant: bool
    compile_layers: bool


@dataclass(frozen=True)
class HFLoadArgs:
    """Where and how to load one checkpoint, shared by every Hugging Face plugin.

    ``model`` is a hub id (each plugin has its default); ``path`` a local directory (or a hub
    id) that replaces it. ``dtype`` auto means bf16 on a GPU and fp32 on the CPU;
    ``quantization`` is none, 4bit/nf4, fp4 or 8bit (bitsandbytes). ``compile_layers`` compiles the
    model's repeated layers once loaded (``kit.compiled_layers``). ``gated`` is set by the plugin for
    hub models behind a licence click, so a missing-weights message says so.
    """

    model: str
    path: str | None = None
    revision: str | None = None
    local_files_only: bool | None = None
    dtype: str = "auto"
    device: str | None = None
    device_map: str | dict | None = None
    attn_implementation: str | None = None
    quantization: str | None = None
    compute_dtype: str | None = None
    double_quant: bool = True
    compile_layers: bool = False
    gated: bool = False

    def __post_init__(self):
        if not isinstance(self.compile_layers, bool):
            raise UsageError(f"compile_layers must be true or false, not {self.compile_layers!r}.",
                             "Pass compile_layers=true or compile_layers=false.")
        if self.compile_layers and self.quantization:
            raise UsageError(f"compile_layers=true with quantization={self.quantization}: lam3 has not verified "
                             "compiled layers over bitsandbytes' quantised ones.",
                             "Drop one of compile_layers and quantization.")

    @classmethod
    def from_options(cls, options: HFLoadOptions | dict, **defaults) -> HFLoadArgs:
        """The user's options on top of the plugin's ``defaults`` (``model=`` at least)."""
        merged = {**defaults, **{k: v for k, v in options.items() if v is not None}}
        if merged.get("quantization") in ("", "none"):
            merged["quantization"] = None
        if merged.get("revision") is not None:
            merged["revision"] = str(merged["revision"])
        return cls(**merged)

    @property
    def source(self) -> str:
        """What ``from_pretrained`` is given: the local path, else the hub id."""
        return str(Path(self.path).expanduser()) if self.path else self.model

    def weights_source(self) -> str:
        """``model@commit`` (the cached commit, else the requested revision, else main), or ``path@local``."""
        if self.path and Path(self.path).expanduser().is_dir():
            return f"{self.path}@local"
        return f"{self.source}@{cached_revision(self.source, self.revision) or self.revision or 'main'}"

    def check_available(self, option: str) -> None:
        """Raise ``MissingWeights`` unless the weights are at ``path`` or in the local cache (or the hub is
        reachable and not switched off). ``option`` is what the user passes to point at local weights,
        e.g. ``--judge-arg llamaguard.path=DIR``. With ``compile_layers``, also a ``UsageError`` unless
        torch.compile works on the device (a judge's layers are first called after the whole generation
        stage). Loads no weights."""
        self._check_weights(option)
        if self.compile_layers:
            from lam3_core.kit.compiled_layers import check_compiler

            check_compiler(self.resolved_device())

    def _check_weights(self, option: str) -> None:
        if self.path and (Path(self.path).expanduser().exists() or _looks_like_path(self.path)):
            problem = local_checkpoint_problem(Path(self.path).expanduser())
            if problem:
                raise MissingWeights(f"{option.split('=')[0]}: {self.path!r} {problem}.",
                                     f"Pass {option} with a folder holding config.json, the weights and the tokenizer "
                                     "(a complete `hf download` or `save_pretrained` folder).")
            return
        if cached_revision(self.source, self.revision) is not None:
            return
        if hub_offline() or self.local_files_only:
            raise missing_weights_error(self.source, self.revision, "offline: HF_HUB_OFFLINE or local_files_only",
                                        option, self.gated)
        if not hub_reachable():
            raise missing_weights_error(self.source, self.revision, "the hub is unreachable", option, self.gated)

    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def torch_dtype(self, device: str):
        return resolve_dtype(self.dtype, device)

    def load_processor(self, loader: Any, **kwargs):
        """A tokenizer or processor from the same place as the weights."""
        return from_pretrained(loader, self.source, revision=self.revision, local_files_only=self.local_files_only,
                               **kwargs)

    def load_model(self, loader: Any, **kwargs):
        """The model in eval mode on its device, with this dtype, attention and quantisation."""
        device = self.resolved_device()
        dtype = self.torch_dtype(device)
        compute = resolve_dtype(self.compute_dtype, device) if self.compute_dtype else dtype
        quant = quantization_config(self.quantization, compute_dtype=compute, double_quant=self.double_quant)
        options: dict[str, Any] = {"dtype": dtype, **kwargs}
        if self.attn_implementation:
            options["attn_implementation"] = self.attn_implementation
        if quant is not None:
            options["quantization_config"] = quant
        device_map = self.device_map or ({"": device} if quant is not None else None)
        if device_map is not None:
            options["device_map"] = device_map
        model = from_pretrained(loader, self.source, revision=self.revision, local_files_only=self.local_files_only,
                                **options)
        if device_map is None:
            model.to(device)
        if self.compile_layers:
            from lam3_core.kit.compiled_layers import compile_layers

            compile_layers(model)
        return model.eval()

    def describe(self) -> dict:
        """What identifies these weights and settings (meta.json, judge versions)."""
        return {
            "model": self.source,
            "revision": self.revision,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "compute_dtype": self.compute_dtype if self.quantization else None,
            "double_quant": self.double_quant if self.quantization else None,
            "attn_implementation": self.attn_implementation,
            **({"compile_layers": True} if self.compile_layers else {}),  # absent when off: earlier identities hold
        }

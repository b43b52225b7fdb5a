"""The StrongREJECT LoRA adapter: where it is, whether it is here, and loading it onto the base model with peft.

An adapter repository holds ``adapter_config.json`` and the LoRA weights (and, for
``qylu4156/strongreject-15k-v1``, the tokenizer), not ``config.json``, so the kit's checks for
full checkpoints do not apply; this module makes the same checks for adapters, offline first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lam3_core.kit.hf import MissingWeights, hub_offline, hub_reachable, missing_weights_error

ADAPTER_ID = "qylu4156/strongreject-15k-v1"
OPTION = "--judge-arg strongreject.adapter=DIR"


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter given as a local folder or a hub id (with an optional revision)."""

    source: str = ADAPTER_ID
    revision: str | None = None

    @property
    def local(self) -> Path | None:
        path = Path(self.source).expanduser()
        return path if path.is_dir() else None

    def _cached(self, filename: str) -> str | None:
        """The cached file of a hub adapter, or None."""
        from huggingface_hub import try_to_load_from_cache

        try:
            found = try_to_load_from_cache(self.source, filename, revision=self.revision)
        except ValueError:
            return None
        return found if isinstance(found, str) else None

    def weights_source(self) -> str:
        """``folder@local``, or ``id@commit`` (the cached commit, else the requested revision, else main)."""
        if self.local:
            return f"{self.source}@local"
        cached = self._cached("adapter_config.json")
        return f"{self.source}@{Path(cached).parent.name if cached else self.revision or 'main'}"

    def check_available(self) -> None:
        """Raise ``MissingWeights`` unless the adapter is in a local folder or the cache (or the hub is reachable)."""
        if self.local:
            if not (self.local / "adapter_config.json").is_file():
                raise MissingWeights(f"strongreject.adapter: {self.source!r} holds no adapter_config.json.",
                                     f"Pass {OPTION} with a folder holding the LoRA adapter "
                                     f"(e.g. a download of {ADAPTER_ID}).")
            return
        if Path(self.source).expanduser().exists() or self.source.startswith((".", "/", "~")):
            raise MissingWeights(f"strongreject.adapter: {self.source!r} is not a directory.",
                                 f"Pass {OPTION} with a folder holding adapter_config.json and the LoRA weights.")
        if self._cached("adapter_config.json"):
            return
        if hub_offline() or not hub_reachable():
            reason = "offline: HF_HUB_OFFLINE" if hub_offline() else "the hub is unreachable"
            raise missing_weights_error(self.source, self.revision, reason, OPTION)

    def ships_tokenizer(self) -> bool:
        """Whether the adapter has its own tokenizer (the published one does; the package loads it from there)."""
        if self.local:
            return (self.local / "tokenizer_config.json").is_file()
        return self._cached("tokenizer_config.json") is not None

    def apply(self, base_model):
        """``base_model`` with the adapter loaded (not merged, as the package runs it), in eval mode."""
        from peft import PeftModel

        options = {"revision": self.revision} if self.revision and not self.local else {}
        if hub_offline() or self.local:
            options["local_files_only"] = True
        try:
            return PeftModel.from_pretrained(base_model, self.source, is_trainable=False, **options).eval()
        except (OSError, ValueError) as exc:
            raise missing_weights_error(self.source, self.revision, type(exc).__name__, OPTION) from exc

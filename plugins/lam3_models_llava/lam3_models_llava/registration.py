"""Registers ``llava15``. Imports nothing heavy: the model module loads only when the model is built."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_models(registry):
    registry.add(
        "llava15", "lam3_models_llava.model:LlavaModel",
        "LLaVA-1.5 (llava-hf/llava-1.5-7b-hf) via transformers: batched, traces, K-sampling, pixel gradients.",
    )

"""Registers ``idefics2``. Imports nothing heavy: the model module loads only when the model is built."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_models(registry):
    registry.add(
        "idefics2", "lam3_models_idefics2.model:Idefics2Model",
        "Idefics2 (HuggingFaceM4/idefics2-8b) via transformers: batched, traces, K-sampling, pixel gradients.",
    )

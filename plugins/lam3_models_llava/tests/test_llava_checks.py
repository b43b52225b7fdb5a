"""LLaVA-1.5 passes the shared VLM plugin checks (generation, batching, traces, sampling, gradients, e2e)."""

from lam3_models_llava.model import LlavaModel

from lam3_core.testing.vlm_checks import VLMPluginChecks


class TestLlavaChecks(VLMPluginChecks):
    model_class = LlavaModel
    registered_name = "llava15"
    cleanup_cases = (
        ("ASSISTANT: A red square. USER: and now?", "A red square.", True),
        ("  It is a cat on a mat.  ", "It is a cat on a mat.", False),
        ("Sure. ASSISTANT: again", "Sure.", True),
    )

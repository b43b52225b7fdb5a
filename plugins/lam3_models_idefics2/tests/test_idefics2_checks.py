"""Idefics2 passes the shared VLM plugin checks (generation, batching, traces, sampling, gradients, e2e)."""

from lam3_models_idefics2.model import Idefics2Model

from lam3_core.testing.vlm_checks import VLMPluginChecks


class TestIdefics2Checks(VLMPluginChecks):
    model_class = Idefics2Model
    registered_name = "idefics2"
    cleanup_cases = (
        ("Assistant: A red square.\nUser: and now?", "A red square.", True),
        (" It is a cat on a mat. ", "It is a cat on a mat.", False),
        ("Sure.\nAssistant: again", "Sure.", True),
    )

"""lam3: a plugin-based harness for the safety evaluation of multimodal LLMs.

This is the public API that plugins import. Importing it never imports torch.
"""

from lam3_core.contract.hookspecs import HOOKSPEC_VERSION, hookimpl
from lam3_core.interfaces.components import Attack, Dataset, Judge, Model, UncertaintyMetric, redact
from lam3_core.interfaces.errors import Lam3Error, PluginError, UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import (
    Completion,
    EnsembleVerdict,
    Generation,
    JudgeItem,
    Sample,
    SampledAnswer,
    Score,
    UncertaintyItem,
    Verdict,
)
from lam3_core.kit.batching import is_out_of_memory, run_batched
from lam3_core.kit.images import check_image, load_image
from lam3_core.kit.neutralise import neutralise

__version__ = "0.1.0"

__all__ = [
    "HOOKSPEC_VERSION",
    "Attack",
    "Completion",
    "Dataset",
    "EnsembleVerdict",
    "GenConfig",
    "Generation",
    "Judge",
    "JudgeItem",
    "Lam3Error",
    "Measure",
    "Model",
    "PluginError",
    "Sample",
    "SampledAnswer",
    "Score",
    "UncertaintyItem",
    "UncertaintyMetric",
    "UsageError",
    "Verdict",
    "check_image",
    "hookimpl",
    "is_out_of_memory",
    "load_image",
    "neutralise",
    "redact",
    "run_batched",
]

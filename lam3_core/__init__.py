"""lam3: a plugin-based harness for the safety evaluation of multimodal LLMs.

This is the public API that plugins import. Importing it never imports torch.
"""

from lam3_core.batching import is_out_of_memory, run_batched
from lam3_core.components import Attack, Judge, Model, UncertaintyMetric, redact
from lam3_core.errors import Lam3Error, PluginError, UsageError
from lam3_core.genconfig import GenConfig
from lam3_core.hookspecs import HOOKSPEC_VERSION, hookimpl
from lam3_core.images import check_image, load_image
from lam3_core.records import Completion, EnsembleVerdict, Generation, JudgeItem, Sample, Score, Verdict
from lam3_core.textsafety import neutralise

__version__ = "0.1.0"

__all__ = [
    "HOOKSPEC_VERSION",
    "Attack",
    "Completion",
    "EnsembleVerdict",
    "GenConfig",
    "Generation",
    "Judge",
    "JudgeItem",
    "Lam3Error",
    "Model",
    "PluginError",
    "Sample",
    "Score",
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
